"""Where the search gets latency from: a :class:`LatencyOracle` over a predictor and a device.

* ``--use-predictor FILE``: every candidate's latency is predicted (microseconds); every
  ``--revalidate-every K`` controller updates a :class:`RevalidationPolicy` picks the
  ``--revalidate-top M`` best not-yet-measured candidates, they are measured on the device and
  stored in ``--db``, the predicted-vs-measured error is logged, and when it exceeds
  ``--refit-threshold`` the predictor is refitted with the new measurements and the search goes
  on with it.
* no predictor: every candidate is measured on the device (the original MnasNet).

Two small protocols keep the search independent of the profiler and predictor packages:
:class:`LatencyModel` (``predict``, ``refit``) and :class:`LatencyMeasurer` (``measure``). The
real implementations (:class:`PredictorFileModel`, :class:`DeviceMeasurer`) import
``predictors`` and ``device_profiler`` only when used; the analytic ones (:mod:`search.analytic`)
serve tests and benchmarks.

Every device measurement is also appended to ``measurements.jsonl`` in the output folder, so an
architecture is never measured twice in one search and a resumed search sees exactly the values
the interrupted one saw.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.errors import MnasPredError
from mnas_pred.files import append_json_line
from search.analytic import _unit_hash, analytic_latency_ms
from search.killpoint import kill_point
from search.state_schema import MeasurementRow, parse_cache_line, read_cache_lines


# ------------------------------------------------------------------------------------ protocols
class LatencyModel(abc.ABC):
    """Predicts latency (ms) of architectures at the deployment resolution."""

    @abc.abstractmethod
    def predict(self, archs: list[Architecture]) -> np.ndarray:
        """Predicted latency of each architecture."""

    @abc.abstractmethod
    def refit(self, archs: list[Architecture], measured_ms: np.ndarray, out_dir: Path) -> LatencyModel:
        """A model refitted with these new device measurements (the originals stay untouched);
        may write files under ``out_dir`` that :meth:`get_state` refers to."""

    def predict_interval(self, archs: list[Architecture], coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` bounds; a model without uncertainty returns its point prediction twice."""
        point = self.predict(archs)
        return point, point

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:  # noqa: B027 - optional hook
        """Restore a refitted model from :meth:`get_state` (resume)."""


class LatencyMeasurer(abc.ABC):
    """Measures architectures on the device."""

    @abc.abstractmethod
    def measure(self, arch: Architecture) -> float:
        """Measured latency (ms) of one architecture."""

    def measure_with_spread(self, arch: Architecture, store: bool = True) -> tuple[float, dict | None]:
        """Latency and its spread over the timed runs (``p10_ms``, ``p90_ms``, ``cv``, ``runs``),
        or ``None`` where the device gives no spread. ``store=False`` keeps the measurement out of
        the measurement store (reference networks: a refit must not learn from them)."""
        return self.measure(arch), None

    @abc.abstractmethod
    def key(self) -> str:
        """Identity of the device (measurements of other devices are not reused)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""


# ------------------------------------------------------------------------------------ analytic
class AnalyticLatencyModel(LatencyModel):
    """:func:`search.analytic.analytic_latency_ms` times a scale that :meth:`refit` fits
    (the median ratio of measured to predicted latency). Its interval is a deterministic
    per-architecture ±(0–``spread``), enough to exercise uncertainty-driven re-validation."""

    def __init__(self, resolution: int = 224, scale: float = 1.0, spread: float = 0.2):
        self.resolution = resolution
        self.scale = scale
        self.spread = spread

    def predict(self, archs):
        return np.array([analytic_latency_ms(a, self.resolution, self.scale) for a in archs], dtype=np.float64)

    def predict_interval(self, archs, coverage=0.8):
        point = self.predict(archs)
        width = np.array([self.spread * _unit_hash("interval:" + a.to_string()) for a in archs])
        return point * (1 - width), point * (1 + width)

    def refit(self, archs, measured_ms, out_dir):
        base = np.array([analytic_latency_ms(a, self.resolution) for a in archs])
        return AnalyticLatencyModel(self.resolution, float(np.median(np.asarray(measured_ms) / base)), self.spread)

    def get_state(self):
        return {"scale": self.scale}

    def set_state(self, state):
        self.scale = float(state["scale"])


class AnalyticDevice(LatencyMeasurer):
    """A stand-in device: the analytic latency, distorted by a constant factor plus a
    deterministic ±``jitter`` per architecture, so that the analytic predictor is off by about
    ``factor - 1`` until it is refitted."""

    def __init__(self, resolution: int = 224, factor: float = 1.2, jitter: float = 0.03):
        self.resolution, self.factor, self.jitter = resolution, factor, jitter
        self.calls = 0

    def measure(self, arch):
        self.calls += 1
        noise = 1 + self.jitter * (2 * _unit_hash("device:" + arch.to_string()) - 1)
        return analytic_latency_ms(arch, self.resolution) * self.factor * noise

    def key(self):
        return f"analytic:x{self.factor}"


# ------------------------------------------------------------------------------------ real device
class DeviceMeasurer(LatencyMeasurer):
    """Measures on a real device with the profiler's protocol and stores every measurement
    (``--db``), exactly as ``profile-device`` does, so that refits and later predictor fits
    can use them."""

    def __init__(self, serial: str | None = None, ssh: str | None = None, db: str | os.PathLike | None = None,
                 resolution: int = 224, num_classes: int = 1000, settings=None):
        from device_profiler import DeviceError, MeasureSettings, open_device
        from device_profiler.adb import TOOLS_FIX

        try:
            self.device = open_device(serial=serial, ssh=ssh)
            self.info = self.device.info()
        except DeviceError as e:
            fix = e.fix
            if fix == TOOLS_FIX:  # search has no --perf-test: the tools are pushed once by profile-device
                fix = (f"push them once with `mnas-pred profile-device --serial {serial} --perf-test PATH "
                       "--ort-lib PATH -n 1` (search reuses the tools on the phone)")
            raise MnasPredError(e.problem, fix) from None
        self.settings = settings or MeasureSettings()
        self.resolution, self.num_classes = resolution, num_classes
        self.db = Path(db) if db else None
        self._store = None

    @property
    def store(self):
        if self._store is None and self.db is not None:
            from mnas_pred.store import MeasurementStore

            self._store = MeasurementStore(self.db)
        return self._store

    def key(self):
        return self.info.key

    def measure(self, arch):
        return self.measure_with_spread(arch)[0]

    def measure_with_spread(self, arch, store=True):
        from device_profiler import DeviceError
        from device_profiler.protocol import measure_arch

        try:
            m = measure_arch(self.device, arch, self.resolution, self.settings, num_classes=self.num_classes,
                             device_info=self.info)
        except DeviceError as e:
            raise MnasPredError(f"measuring on {self.info.key} failed: {e.problem}", e.fix) from None
        if store and self.store is not None:
            self.store.add(self.info, arch.to_string(), self.resolution, self.settings, m)
        return float(m.latency_ms), {"p10_ms": float(m.latency_p10_ms), "p90_ms": float(m.latency_p90_ms),
                                     "cv": float(m.cv), "runs": len(m.samples_ms)}

    def close(self):
        self.device.close()
        if self._store is not None:
            self._store.close()


# ------------------------------------------------------------------------------------ the oracle
class MeasurementCache:
    """Device measurements of this search, by architecture; appended to a JSON-lines file."""

    def __init__(self, path: str | os.PathLike | None, device_key: str):
        self.path = Path(path) if path else None
        self.device_key = device_key
        self.values: dict[str, float] = {}
        self.spreads: dict[str, dict] = {}  # where the device gave one (LatencyMeasurer.measure_with_spread)
        if self.path and self.path.exists():
            what = "measurement log"
            for lineno, line in enumerate(read_cache_lines(self.path, what), start=1):
                row = parse_cache_line(line, MeasurementRow, self.path, lineno, what)
                if row is None:
                    break  # torn by a kill
                if row.device == device_key:
                    self.values[row.arch] = row.latency_ms
                    if row.spread is not None:
                        self.spreads[row.arch] = row.spread.model_dump()

    def get(self, arch: str) -> float | None:
        return self.values.get(arch)

    def put(self, arch: str, ms: float, spread: dict | None = None) -> None:
        self.values[arch] = float(ms)
        row = {"device": self.device_key, "arch": arch, "latency_ms": float(ms)}
        if spread is not None:
            self.spreads[arch] = row["spread"] = spread
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_json_line(self.path, row)


def _relative_to(path: str, folder: Path) -> str:
    """``path`` relative to ``folder`` when it lies inside it, else unchanged."""
    try:
        return str(Path(path).resolve().relative_to(folder.resolve()))
    except ValueError:
        return path


REVALIDATE_BY = ("reward", "optimistic")


@dataclass(frozen=True)
class RevalidationPolicy:
    """When and which candidates to re-measure, and when to refit the predictor.

    ``by = "reward"`` re-measures the best not-yet-measured candidates by their (predicted)
    reward. ``by = "optimistic"`` ranks them by the reward they would have at the low end of the
    predictor's latency interval (``predict_interval``): a candidate that could be the best if
    the predictor overestimates it gets measured, one that is confidently predicted does not —
    the predictor's uncertainty decides where device time goes (design.md §6)."""

    every: int = 5  # controller updates between re-validations
    top: int = 2  # best not-yet-measured candidates measured each time
    refit_threshold: float = 0.1  # mean absolute relative error that triggers a refit
    by: str = "reward"

    def __post_init__(self):
        if self.every < 1 or self.top < 0 or self.refit_threshold < 0:
            raise MnasPredError("--revalidate-every must be >= 1, --revalidate-top and --refit-threshold >= 0",
                                "e.g. --revalidate-every 5 --revalidate-top 2 --refit-threshold 0.1")
        if self.by not in REVALIDATE_BY:
            raise MnasPredError(f"unknown --revalidate-by '{self.by}'", f"use one of {', '.join(REVALIDATE_BY)}")

    def due(self, update: int) -> bool:
        """After controller update ``update`` (1-based)?"""
        return self.top > 0 and update % self.every == 0

    def select(self, rows: list[dict], measured: set[str], score: dict[str, float] | None = None) -> list[str]:
        """The ``top`` best not-yet-measured candidates (one per architecture), by ``score``
        (architecture → value, higher first) where given, else by the rows' rewards."""
        first: dict[str, dict] = {}
        for row in rows:
            if row["arch"] not in measured:
                first.setdefault(row["arch"], row)
        key = (lambda a: (-score[a], first[a]["step"])) if score is not None else \
            (lambda a: (-first[a]["reward"], first[a]["step"]))
        return sorted(first, key=key)[: self.top]


@dataclass
class RevalidationReport:
    update: int
    archs: list[str]
    predicted_ms: list[float]
    measured_ms: list[float]
    mean_abs_rel_error: float
    refitted: bool
    error_after_refit: float | None = None
    extra: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        return [
            {"update": self.update, "arch": a, "predicted_ms": p, "measured_ms": m,
             "rel_error": (p - m) / m, "refitted": self.refitted}
            for a, p, m in zip(self.archs, self.predicted_ms, self.measured_ms)
        ]


class LatencyOracle:
    """Latency of candidates for the search: predicted (``model``), measured (``device``), or both.

    ``latency(archs)`` returns ``(predicted_ms, measured_ms)`` arrays with NaN where there is no
    value: with a model, every candidate is predicted and measured only if it was re-validated
    before; without one, every candidate is measured. The search rewards the measured value where
    there is one, else the predicted one.
    """

    def __init__(self, model: LatencyModel | None, device: LatencyMeasurer | None, cache: MeasurementCache,
                 policy: RevalidationPolicy | None = None, refit_dir: str | os.PathLike | None = None):
        if model is None and device is None:
            raise ValueError("a latency oracle needs a predictor, a device, or both")
        self.model, self.device, self.cache = model, device, cache
        self.policy = policy
        self.refit_dir = Path(refit_dir) if refit_dir else Path(".")
        self.device_measurements = 0  # measurements this process took (not cache hits)
        self.refits = 0
        # measured by re-validation: the training set of refits
        self.revalidated: list[str] = []
        # Measurements the search has reached, i.e. may reward with. A resumed search finds in the
        # cache also what the interrupted run measured after its last checkpoint; those are reused
        # (not measured again) but rewarded only once the replayed run reaches them again, so the
        # resumed search matches an uninterrupted one at every kill point.
        self.reached: set[str] = set(cache.values)
        self.on_phase: Callable[[str], None] | None = None  # what it is doing now, for the live display

    @property
    def uses_predictor(self) -> bool:
        return self.model is not None

    def measured(self, arch: str) -> float | None:
        """The measured latency of ``arch`` if the search has reached its measurement."""
        return self.cache.get(arch) if arch in self.reached else None

    def _measure(self, arch: Architecture) -> float:
        key = arch.to_string()
        self.reached.add(key)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if self.device is None:
            raise RuntimeError("no device to measure on")
        kill_point("measure-before")
        ms, spread = self.device.measure_with_spread(arch)
        self.device_measurements += 1
        self.cache.put(key, float(ms), spread)
        kill_point("measure-after")
        return ms

    def latency(self, archs: list[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        n = len(archs)
        predicted = np.full(n, np.nan)
        measured = np.full(n, np.nan)
        if self.model is not None:
            if n:
                predicted = np.asarray(self.model.predict(archs), dtype=np.float64)
            for i, a in enumerate(archs):
                ms = self.measured(a.to_string())
                if ms is not None:
                    measured[i] = ms
        else:
            for i, a in enumerate(archs):
                measured[i] = self._measure(a)
        return predicted, measured

    def revalidate(self, update: int, archs: list[str]) -> RevalidationReport | None:
        """Measure ``archs`` on the device, compare with the predictions, refit if needed."""
        if not archs or self.model is None or self.device is None:
            return None
        parsed = [parse_arch(a) for a in archs]
        predicted = np.asarray(self.model.predict(parsed), dtype=np.float64)
        measured = np.array([self._measure(a) for a in parsed])
        for a in archs:
            if a not in self.revalidated:
                self.revalidated.append(a)
        error = float(np.mean(np.abs(predicted - measured) / measured))
        refitted, after = False, None
        threshold = self.policy.refit_threshold if self.policy else float("inf")
        extra = {}
        if error > threshold:
            if self.on_phase:
                self.on_phase(f"refitting the predictor (error {100 * error:.1f}% > {100 * threshold:g}%)")
            train = [parse_arch(a) for a in self.revalidated]
            train_ms = np.array([self.cache.get(a) for a in self.revalidated])
            kill_point("refit-before")
            try:
                self.model = self.model.refit(train, train_ms, self.refit_dir)
                kill_point("refit-after")
            except MnasPredError as e:  # e.g. too little data yet: go on with the current predictor
                extra["refit_error"] = str(e)
            else:
                self.refits += 1
                refitted = True
                after = float(np.mean(np.abs(self.model.predict(parsed) - measured) / measured))
        return RevalidationReport(update, list(archs), predicted.tolist(), measured.tolist(), error, refitted, after,
                                  extra)

    def get_state(self) -> dict:
        model = self.model.get_state() if self.model is not None else None
        if model and "path" in model:  # a refitted predictor file: relative, so a moved folder resumes
            model = {**model, "path": _relative_to(model["path"], self.refit_dir)}
        return {"model": model, "revalidated": list(self.revalidated), "refits": self.refits,
                "reached": sorted(self.reached)}

    def set_state(self, state: dict) -> None:
        model = state.get("model")
        if self.model is not None and model is not None:
            if "path" in model and (self.refit_dir / model["path"]).exists():
                model = {**model, "path": str(self.refit_dir / model["path"])}
            self.model.set_state(model)
        self.revalidated = list(state.get("revalidated", []))
        self.refits = int(state.get("refits", 0))
        if "reached" in state:  # checkpoints before it: everything in the cache counts as reached
            self.reached = set(state["reached"])

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
