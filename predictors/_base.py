"""The :class:`LatencyPredictor` contract shared by every predictor (scikit-learn conventions).

Hyper-parameters are the ``__init__`` arguments and are stored unchanged; :meth:`fit` learns and
returns ``self``; everything learned lives in attributes ending in ``_``. A predictor has two
levels, matching design.md §6:

* a *layer model* (:meth:`_fit_layers`, :meth:`predict_layer_members`): latency of one layer
  from its configuration, any layer table (profiled layers, external CSVs, query layers);
* a *model-level calibration* (:class:`predictors.calibration.Calibration`, in ``calibration_``),
  linear in the sum of a network's per-layer predictions (and, for some predictors, its layer
  count), fitted on whole-model measurements. Being linear, it keeps a network's latency a *sum
  over layers*, which is what makes the lookup table of :mod:`predictors.lookup` exact.

A predictor trained on per-layer data only (external CSVs) has the identity calibration: a
network's latency is the plain sum of its layers.

Layer models may be ensembles: :meth:`predict_layer_members` returns one row per member; the
point prediction is their geometric mean (the members predict log latency), and the spread
between members feeds :meth:`predict_interval`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.stats import norm

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.errors import MnasPredError
from mnas_pred.features import layers_frame
from predictors.calibration import TINY_MS, Calibration, fit_calibration


class LatencyPredictor:
    """Predicts the latency (ms) of layers and of whole networks on one device.

    Subclasses set :attr:`kind`, :attr:`calibration_inputs` and implement :meth:`_fit_layers`,
    :meth:`predict_layer_members`, :meth:`_layer_state` and :meth:`_set_layer_state`.
    """

    kind: str = ""
    #: Which of :data:`predictors.calibration.CALIBRATION_INPUTS` the calibration uses; ``()`` = plain sum.
    calibration_inputs: tuple[str, ...] = ("sum", "n_layers")
    #: Whether :meth:`fit` can start from another device's predictor of the same kind.
    supports_init_from: bool = False

    # ------------------------------------------------------------------ scikit-learn conventions
    def get_params(self) -> dict:
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self"}

    def set_params(self, **params) -> LatencyPredictor:
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise MnasPredError(f"{self.kind} predictor has no parameter '{name}'", f"use one of {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "calibration_")

    # ------------------------------------------------------------------ fitting
    def fit(self, data, init_from: LatencyPredictor | None = None) -> LatencyPredictor:
        """Fit on :class:`predictors.data.TrainingData`: the layer model on every layer with a
        measured latency, then the calibration on the whole-model measurements (if any).
        ``init_from`` (same kind) starts from another device's predictor (few-sample adaptation)."""
        if data.layers.empty:
            raise MnasPredError("no per-layer measurements to fit on", "give --db with profiled models or --measurements CSV")
        if init_from is not None:
            if not self.supports_init_from:
                raise MnasPredError(f"the {self.kind} predictor cannot start from another predictor", "use --kind lgbm with --init-from")
            if init_from.kind != self.kind:
                raise MnasPredError(
                    f"--init-from holds a {init_from.kind} predictor, not {self.kind}", f"give a {self.kind} predictor file"
                )
        y = data.layers["latency_ms"].to_numpy(np.float64)
        self._fit_layers(data.layers, y, init_from)
        self.calibration_ = Calibration(())  # the plain sum while the calibration's inputs are computed
        self.calibration_ = fit_calibration(self, data, init_from)
        self.n_train_layers_ = len(data.layers)
        self.n_train_models_ = len(data.models)
        return self

    def _fit_layers(self, table: pd.DataFrame, latency_ms: np.ndarray, init_from: LatencyPredictor | None) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ prediction
    def predict_layer_members(self, table: pd.DataFrame) -> np.ndarray:
        """Per-member layer latencies (ms), shape ``(n_members, len(table))``."""
        raise NotImplementedError

    def predict_layers(self, table: pd.DataFrame) -> np.ndarray:
        """Point prediction (ms) for every row of a layer table."""
        return _geometric_mean(self.predict_layer_members(table))

    def layer_sums(self, archs, resolutions=None, num_classes=None, members: bool = False):
        """Sum of per-layer point predictions and layer count of each network.

        ``resolutions``/``num_classes``: one value or one per network (default 224/1000).
        Returns ``(sums, counts)``, or with ``members=True`` ``(sums, member_sums, counts)``
        where ``member_sums`` has one row per ensemble member."""
        self._check_fitted()
        archs = [parse_arch(a) for a in archs]
        n = len(archs)
        res = _per_item(resolutions, n, 224)
        ncls = _per_item(num_classes, n, 1000)
        sums = np.zeros(n)
        member_sums = np.zeros((self.num_members, n)) if members else None
        counts = np.zeros(n)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, key in enumerate(zip(res, ncls)):
            groups.setdefault(key, []).append(i)
        for (r, c), idx in groups.items():
            table = layers_frame([archs[i] for i in idx], r, c)
            arch_id = table["arch_id"].to_numpy()
            with np.errstate(over="ignore", invalid="ignore"):  # a damaged model's inf is refused by _calibrate
                per_member = self.predict_layer_members(table)
            sums[idx] = np.bincount(arch_id, weights=_geometric_mean(per_member), minlength=len(idx))
            if members:
                for m in range(self.num_members):
                    member_sums[m, idx] = np.bincount(arch_id, weights=per_member[m], minlength=len(idx))
            counts[idx] = np.bincount(arch_id, minlength=len(idx))
        return (sums, member_sums, counts) if members else (sums, counts)

    def predict(self, archs: Iterable[Architecture | str], resolution=None, num_classes=None) -> np.ndarray:
        """Latency (ms) of networks given as architectures or strings (batched)."""
        sums, counts = self.layer_sums(list(archs), resolution, num_classes)
        return self.calibration_(sums, counts)

    def predict_interval(self, archs, coverage: float = 0.8, resolution=None, num_classes=None):
        """``(low, high)`` ms bounds meant to hold the measured latency with probability
        ``coverage``: log-normal around the point prediction, with the spread between ensemble
        members plus the calibration's residual spread on the training networks (zero for
        layer-only training data)."""
        sums, member_sums, counts = self.layer_sums(list(archs), resolution, num_classes, members=True)
        return self.interval_from_members(self.calibration_(sums, counts), self.calibration_(member_sums, counts[None, :]), coverage)

    def interval_from_members(self, point: np.ndarray, member_preds: np.ndarray, coverage: float):
        if not 0 < coverage < 1:
            raise MnasPredError(f"coverage must lie in (0, 1), got {coverage}", "use e.g. 0.8")
        spread = np.std(np.log(np.maximum(member_preds, TINY_MS)), axis=0) if member_preds.shape[0] > 1 else 0.0
        sigma = np.sqrt(spread**2 + self.calibration_.log_residual_std**2)
        z = norm.ppf(0.5 + coverage / 2)
        return point * np.exp(-z * sigma), point * np.exp(z * sigma)

    @property
    def num_members(self) -> int:
        return 1

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise MnasPredError(f"this {self.kind} predictor is not fitted", "call fit() or load a predictor file")

    # ------------------------------------------------------------------ persistence (JSON, never pickle)
    def to_dict(self) -> dict:
        """Plain JSON-able state: params, calibration and the layer model (LightGBM text)."""
        self._check_fitted()
        return {
            "kind": self.kind,
            "params": self.get_params(),
            "calibration": dict(self.calibration_.coef),
            "model_log_residual_std": self.calibration_.log_residual_std,
            "n_train_layers": self.n_train_layers_,
            "n_train_models": self.n_train_models_,
            "layer_model": self._layer_state(),
        }

    @classmethod
    def from_dict(cls, state: dict) -> LatencyPredictor:
        obj = cls(**state["params"])
        obj.calibration_ = Calibration(cls.calibration_inputs, {k: float(state["calibration"][k]) for k in ("sum", "n_layers", "intercept")},
                                       state["model_log_residual_std"])
        obj.n_train_layers_ = int(state["n_train_layers"])
        obj.n_train_models_ = int(state["n_train_models"])
        obj._set_layer_state(state["layer_model"])
        return obj

    def _layer_state(self) -> dict:
        raise NotImplementedError

    def _set_layer_state(self, state: dict) -> None:
        raise NotImplementedError


def _geometric_mean(member_values: np.ndarray) -> np.ndarray:
    member_values = np.asarray(member_values, np.float64)
    if member_values.shape[0] == 1:
        return member_values[0]
    return np.exp(np.mean(np.log(np.maximum(member_values, TINY_MS)), axis=0))


def _per_item(value, n: int, default) -> list:
    if value is None:
        return [default] * n
    if isinstance(value, (int, np.integer)):
        return [int(value)] * n
    values = list(value)
    if len(values) != n:
        raise MnasPredError(f"got {len(values)} values for {n} networks", "give one value or one per network")
    return [default if v is None or (isinstance(v, float) and np.isnan(v)) else int(v) for v in values]
