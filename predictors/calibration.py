"""The model-level calibration a predictor composes (design.md §6).

A network's latency is linear in the sum of its per-layer predictions (and, for some predictors,
its layer count)::

    latency_ms = sum · Σ layer_ms + n_layers · count + intercept

fitted on whole-model measurements. It absorbs what per-layer times miss (framework overhead,
layout conversions, cache effects). Being linear, it keeps a network's latency a *sum over
layers*, which is what makes the lookup table of :mod:`predictors.lookup` exact. With no
whole-model measurements (external per-layer CSVs) it is the identity: the plain sum.

The predictor persists it as two fields of its state (``calibration``: the three coefficients;
``model_log_residual_std``), as it always has.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mnas_pred.errors import MnasPredError

#: Calibration inputs a predictor may use, in this order: sum of layer predictions, layer count.
CALIBRATION_INPUTS = ("sum", "n_layers")
#: Fewer whole-model measurements than this: the calibration is one scale factor.
MIN_MODELS_FOR_LINEAR_CALIBRATION = 8
#: Folds of the cross-fitted calibration (see :func:`out_of_fold_sums`).
CALIBRATION_FOLDS = 5
#: The smallest latency (ms) a predictor hands out.
TINY_MS = 1e-6


class Calibration:
    """``latency_ms = coef["sum"] · sums + coef["n_layers"] · counts + coef["intercept"]``.

    ``inputs``: which of :data:`CALIBRATION_INPUTS` it may use (``()``: it stays the plain sum).
    ``log_residual_std``: spread of log(measured / calibrated) on the networks it was fitted on,
    part of every prediction interval (0 for the identity).
    """

    def __init__(self, inputs: tuple[str, ...] = CALIBRATION_INPUTS, coef: dict | None = None,
                 log_residual_std: float = 0.0):
        self.inputs = tuple(inputs)
        self.coef = {"sum": 1.0, "n_layers": 0.0, "intercept": 0.0} if coef is None else dict(coef)
        self.log_residual_std = float(log_residual_std)

    def __repr__(self) -> str:
        return f"Calibration({self.coef}, log_residual_std={self.log_residual_std:.4g})"

    def fit(self, sums: np.ndarray, counts: np.ndarray, latency_ms: np.ndarray) -> Calibration:
        """Fit on networks' layer-prediction ``sums``, layer ``counts`` and measured ``latency_ms``."""
        coef = {"sum": 1.0, "n_layers": 0.0, "intercept": 0.0}
        y = np.asarray(latency_ms, np.float64)
        if len(y) < MIN_MODELS_FOR_LINEAR_CALIBRATION:
            # Too few networks for an intercept: one scale factor (median ratio, robust).
            coef["sum"] = float(np.median(y / np.maximum(sums, TINY_MS)))
        else:
            cols = [sums] + ([counts] if "n_layers" in self.inputs else []) + [np.ones_like(sums)]
            design = np.column_stack(cols)
            # Relative (1/y-weighted) least squares: the metrics are relative errors, and a
            # plain fit would let the largest networks dominate.
            w = 1.0 / y
            sol, *_ = np.linalg.lstsq(design * w[:, None], y * w, rcond=None)
            if sol[0] <= 0:  # a degenerate fit (e.g. all networks alike): keep the scale only
                coef["sum"] = float(np.median(y / np.maximum(sums, TINY_MS)))
            else:
                coef["sum"] = float(sol[0])
                if "n_layers" in self.inputs:
                    coef["n_layers"] = float(sol[1])
                coef["intercept"] = float(sol[-1])
        self.coef = coef
        self.log_residual_std = float(np.std(np.log(y) - np.log(self(sums, counts))))
        return self

    def __call__(self, sums, counts) -> np.ndarray:
        """Calibrated latency (ms) of networks from their layer sums and counts (any shape)."""
        c = self.coef
        with np.errstate(over="ignore", invalid="ignore"):
            out = c["sum"] * np.asarray(sums, np.float64) + c["n_layers"] * np.asarray(counts, np.float64) + c["intercept"]
        check_finite(out)
        return np.maximum(out, TINY_MS)


def fit_calibration(predictor, data, init_from=None) -> Calibration:
    """The calibration of ``predictor`` (its layer model fitted) on ``data``'s whole-model
    measurements, from out-of-fold layer sums where there are enough networks. Without such
    measurements: the identity, or ``init_from``'s calibration when adapting to a device whose
    data has an empty model table (keep the other device's overhead model)."""
    models = data.models
    calibration = Calibration(predictor.calibration_inputs)
    if models is None or models.empty or not calibration.inputs:
        if init_from is not None and models is not None and models.empty:
            calibration.coef = dict(init_from.calibration_.coef)
        return calibration
    sums_counts = out_of_fold_sums(predictor, data, init_from)
    if sums_counts is None:  # in-sample sums (the predictor's calibration is the plain sum meanwhile)
        sums_counts = predictor.layer_sums(models["arch"], models["resolution"], models.get("num_classes"))
    return calibration.fit(*sums_counts, models["latency_ms"].to_numpy(np.float64))


def network_folds(data):
    """The networks of ``data`` split into :data:`CALIBRATION_FOLDS` folds by model key (seeded):
    one ``(model rows, layer training mask)`` pair per fold, where the mask keeps every layer but
    those of the fold's networks (layers of external CSVs, which belong to no network, are always
    training rows). ``None`` when there are too few networks to cross-fit."""
    models = data.models
    if models is None or models.empty or "model_key" not in models:
        return None
    keys = models["model_key"].astype(str).to_numpy()
    distinct = np.unique(keys)
    k = min(CALIBRATION_FOLDS, len(distinct))
    if k < 2:
        return None
    order = np.random.default_rng(0).permutation(len(distinct))
    fold_of = np.empty(len(distinct), dtype=np.int64)
    fold_of[order] = np.arange(len(distinct)) % k
    layer_keys = data.layers["model_key"].astype(str).to_numpy() if "model_key" in data.layers else np.full(len(data.layers), "")
    folds = [(np.flatnonzero(np.isin(keys, distinct[fold_of == f])), ~np.isin(layer_keys, distinct[fold_of == f])) for f in range(k)]
    return folds if all(train.any() for _, train in folds) else None


def map_folds(fit_fold, folds) -> list:
    """``fit_fold(rows, train)`` on every fold. The folds are independent fits (LightGBM trains
    outside the GIL): two at a time."""
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda fold: fit_fold(*fold), folds))


def layer_model_clone(predictor, **params):
    """An unfitted copy of ``predictor`` (with ``params`` changed) whose calibration is the plain sum."""
    clone = type(predictor)(**{**predictor.get_params(), **params})
    clone.calibration_ = Calibration(())
    return clone


def out_of_fold_sums(predictor, data, init_from=None):
    """Out-of-fold ``(sums, counts)`` of the whole-model measurements for the calibration.

    The calibration maps a network's summed layer predictions to its measured latency. Fitted
    on sums from the layer model that was trained on these very networks' layers, it would
    learn the in-sample relation (layer errors near zero) and under-correct, and its residual
    spread would understate the error on new networks. So the networks are split into
    :data:`CALIBRATION_FOLDS` folds by model key (:func:`network_folds`), and each fold's sums
    come from a layer model fitted without that fold's networks. The predictor's own layer model
    is still fitted on everything. Returns ``None`` (use the in-sample sums) when there are too
    few networks to cross-fit."""
    models = data.models
    folds = network_folds(data) if predictor.calibration_inputs else None
    if folds is None:
        return None
    y = data.layers["latency_ms"].to_numpy(np.float64)
    sums, counts = np.zeros(len(models)), np.zeros(len(models))
    ncls = models["num_classes"] if "num_classes" in models else None

    def fold_sums(rows, train):
        clone = layer_model_clone(predictor)
        clone._fit_layers(data.layers[train].reset_index(drop=True), y[train], init_from)
        return clone.layer_sums(models["arch"].iloc[rows], models["resolution"].iloc[rows], None if ncls is None else ncls.iloc[rows])

    for (rows, _), (s, c) in zip(folds, map_folds(fold_sums, folds)):
        sums[rows], counts[rows] = s, c
    return sums, counts


def check_finite(latency_ms: np.ndarray) -> None:
    """Never hand out ``inf``/``nan`` as a latency (a damaged or crafted predictor can produce them)."""
    if not np.isfinite(latency_ms).all():
        raise MnasPredError("the predictor gave a latency that is not a finite number",
                            "its file is damaged or was fitted on broken data: fit it again")
