"""The real latency predictor (``predictors`` package) behind :class:`search.latency.LatencyModel`.

``--use-predictor FILE`` loads a predictor file with :func:`predictors.io.load_predictor`
(JSON + LightGBM text, never a pickle; a file for another search space is refused). Refitting
after a re-validation fits a predictor of the same kind and hyperparameters on everything the
measurement store (``--db``) holds for the search's device — the measurements the search just
added included — starting from the loaded predictor where the kind supports it (LightGBM: the
loaded model is the prior that the store's data corrects, which works from a handful of
measurements), on the same kind of labels as the loaded predictor (drift-corrected or raw,
:attr:`PredictorFileModel.drift_correction`). The store is read whole once, at the first refit
(:class:`StoreSnapshot`); each later refit reads only the rows stored since. Each refit is written to ``refits/predictor-N.json`` in the results folder, and a resumed
search loads the latest one.

Every latency query of the search (rewards, optimistic re-validation scores, Pareto re-scoring)
is a token lookup (:class:`predictors.lookup.LookupTable`, built once per predictor, search space
and resolution from the current predictor: a refit builds a new one), on the tokens the strategy
proposed where the caller passes them. It equals the per-layer path up to float rounding
(tests/search/test_predictor_adapter.py). An architecture outside the search space (no tokens)
goes through the per-layer path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnas_pred.errors import ArchitectureError, MnasPredError
from mnas_pred.space import SearchSpace
from search.latency import LatencyMeasurer, LatencyModel


class StoreSnapshot:
    """The measurement store's rows read so far: everything at the first refit, then at each
    later refit only the measurements stored since (the search's own among them). The rows are
    kept raw and the drift correction is applied to all of them together at each refit, with
    every reference run stored by then (a small table, read whole; no re-read of the
    measurements): corrected on the new rows alone, they would be divided by a baseline of their own."""

    def __init__(self, db: Path):
        self.db = db
        self.models = self.layers = None  # read at the first refit

    def training_data(self, device_key: str | None, drift_correction: bool = True):
        import pandas as pd

        from mnas_pred.drift_correction import add_drift_correction
        from mnas_pred.store import MeasurementStore
        from predictors.data import from_store_frames

        seen = self.models is not None and len(self.models) > 0
        last = int(self.models["measurement_id"].max()) if seen else None
        with MeasurementStore(self.db, create=False) as store:  # everything, then the rows stored since
            models = store.models_frame(after_id=last, drift_correction=False)
            layers = store.layers_frame(after_id=last)
            # the stored runs alone: those of older campaigns come from the measurements held here
            references = store.reference_runs_frame(from_metadata=False) if drift_correction else None
        if not seen:
            self.models, self.layers = models, layers
        elif len(models):
            self.models = pd.concat([self.models, models], ignore_index=True)
            self.layers = pd.concat([self.layers, layers], ignore_index=True)
        if len(self.models) == 0:
            raise MnasPredError(f"database '{self.db}' holds no measurements",
                                f"run `mnas-pred profile-device --db {self.db}` first")
        frame = add_drift_correction(self.models, references) if drift_correction else self.models
        return from_store_frames(frame, self.layers, source=str(self.db), device=device_key,
                                 drift_correction=drift_correction)


class PredictorFileModel(LatencyModel):
    def __init__(self, path: str | Path, space: SearchSpace, resolution: int, db: str | Path | None = None,
                 refit_index: int = 0, predictor_file=None, original=None):
        from predictors.io import load_predictor

        self.path = Path(path)
        self.space, self.resolution = space, resolution
        self.db = Path(db) if db else None
        self.pf = predictor_file if predictor_file is not None else load_predictor(self.path, space=space)
        self.original = original if original is not None else self.pf  # the prior of every refit
        self.refit_index = refit_index
        self.device_key: str | None = None
        self.snapshot: StoreSnapshot | None = None  # read at the first refit, shared by the refitted models
        self._table = self._table_of = None  # the lookup table, and the predictor file it was built from

    @property
    def table(self):
        """The lookup table of the current predictor: built on first use and kept until a refit
        replaces ``pf`` (asked on every query, so it must not rebuild the file's cache key each time)."""
        if self._table_of is not self.pf:
            self._table, self._table_of = self.pf.lookup_table(self.resolution, self.space), self.pf
        return self._table

    def _tokens(self, archs, given) -> tuple[np.ndarray, list[int]]:
        """Token rows of the architectures in the space (``given`` where the caller has them),
        and the positions of those outside it."""
        rows, outside = [], []
        for i, a in enumerate(archs):
            if given is not None and given[i] is not None:
                rows.append(given[i])
                continue
            try:
                rows.append(self.space.encode(a))
            except ArchitectureError:
                outside.append(i)
        return np.array(rows, dtype=np.int64).reshape(len(rows), self.space.num_decisions), outside

    def _query(self, archs, given, by_table, by_layers) -> tuple[np.ndarray, ...]:
        """``by_table(tokens)`` for the architectures in the space, ``by_layers(archs)`` for the
        others (both return a tuple of arrays), merged back in the order given."""
        archs = list(archs)
        tokens, outside = self._tokens(archs, given)
        fast = by_table(tokens)
        if not outside:
            return tuple(np.asarray(v, dtype=np.float64) for v in fast)
        slow = by_layers([archs[i] for i in outside])
        inside = np.setdiff1d(np.arange(len(archs)), outside)
        merged = tuple(np.empty(len(archs)) for _ in fast)
        for m, f, s in zip(merged, fast, slow):
            m[inside], m[outside] = f, s
        return merged

    def predict(self, archs, tokens=None):
        return self._query(archs, tokens, lambda t: (self.table.predict(t),),
                           lambda a: (self.pf.predictor.predict(a, self.resolution, self.space.num_classes),))[0]

    def predict_interval(self, archs, coverage=0.8, tokens=None):
        return self._query(archs, tokens, lambda t: self.table.predict_interval(t, coverage), lambda a: (
            self.pf.predictor.predict_interval(a, coverage, self.resolution, self.space.num_classes)))

    @property
    def drift_correction(self) -> bool:
        """The labels the loaded predictor learnt (a file that does not say: corrected, as
        fit-predictor's default): refits learn, and re-validation compares with, the same kind."""
        return self.original.drift_correction is not False

    def check_device(self, device: LatencyMeasurer, allow_other: bool = False, log=None) -> None:
        """Refuse (or, with ``allow_other``, note) a predictor fitted on another device model."""
        from predictors.io import check_runtime, device_names

        info = device.info
        if info is None:  # a stand-in device (tests): nothing to compare
            return
        self.device_key = info.key
        check_runtime(self.pf, info.runtime, info.accelerator)  # another runtime: refused, --allow-other-device or not
        names = device_names(self.pf)
        if not names or names & {info.key, info.model}:
            return
        fitted_on = self.pf.device.get("name") or sorted(names)[0]
        if not allow_other:
            raise MnasPredError(
                f"predictor '{self.path}' was fitted on device '{fitted_on}', this search measures on '{info.model}'",
                "fit one for this device (profile-device, fit-predictor --init-from to adapt), or pass --allow-other-device")
        if log:
            log(f"note: predictor fitted on '{fitted_on}', searching for '{info.model}' (--allow-other-device); "
                "re-validation will refit it with this device's measurements")

    def refit(self, archs, measured_ms, out_dir):
        from predictors.io import save_predictor
        from predictors.workflow import fit_predictor

        if self.snapshot is None:
            if self.db is None or not self.db.exists():
                raise MnasPredError("refitting the predictor needs the measurement database", "pass --db FILE")
            self.snapshot = StoreSnapshot(self.db)
        data = self.snapshot.training_data(self.device_key, self.drift_correction)
        init = self.original if self.original.predictor.supports_init_from else None
        pf, _ = fit_predictor(data, self.pf.kind, self.space, folds=0, init_from=init, baselines=[],
                              params=self.pf.predictor.get_params())
        index = self.refit_index + 1
        path = save_predictor(pf, Path(out_dir) / f"predictor-{index}.json")
        refitted = PredictorFileModel(path, self.space, self.resolution, self.db, index, pf, self.original)
        refitted.device_key, refitted.snapshot = self.device_key, self.snapshot
        return refitted

    def get_state(self):
        return {"path": str(self.path), "refit_index": self.refit_index}

    def set_state(self, state):
        from predictors.io import load_predictor

        if state["refit_index"] != self.refit_index:
            self.pf = load_predictor(state["path"], space=self.space)
            self.path, self.refit_index = Path(state["path"]), int(state["refit_index"])
