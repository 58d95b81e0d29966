"""Honest evaluation: held-out networks (or configurations), k-fold, every predictor side by side.

With whole-model data the folds split *networks* (:func:`model_folds`): all measurements and
all layers of one architecture at one resolution are in the same fold, so a test network's
layers are never seen in training; per-layer CSV rows (which belong to no network) are always
training data. With per-layer CSVs only, the folds split *configurations*
(:func:`config_folds`): repeated measurements of one configuration stay together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mnas_pred.errors import MnasPredError
from predictors._base import LatencyPredictor
from predictors.baselines import config_keys
from predictors.data import NO_MODEL, TrainingData
from predictors.lgbm import feature_frame
from predictors.metrics import latency_metrics

LEVELS = ("layer", "model")


@dataclass
class Evaluation:
    """Metrics per level and predictor, and the predictions behind them (for plots)."""

    metrics: dict = field(default_factory=lambda: {level: {} for level in LEVELS})
    predictions: dict = field(default_factory=dict)  # level -> DataFrame(predictor, measured_ms, predicted_ms, ...)
    split: str = ""
    folds: int = 0

    def as_dict(self) -> dict:
        return {"split": self.split, "folds": self.folds,
                "metrics": {level: m for level, m in self.metrics.items() if m}}


def model_folds(data: TrainingData, k: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """``k`` (train keys, test keys) pairs over distinct networks; every network is tested once."""
    keys = np.array(sorted(data.models["model_key"].unique()))
    if len(keys) < k:
        raise MnasPredError(f"{len(keys)} measured networks cannot make {k} folds", f"measure at least {k} networks or lower --folds")
    order = np.random.default_rng(seed).permutation(len(keys))
    fold_of = np.empty(len(keys), dtype=np.int64)
    fold_of[order] = np.arange(len(keys)) % k
    return [(keys[fold_of != f].tolist(), keys[fold_of == f].tolist()) for f in range(k)]


def model_holdout(data: TrainingData, n_train: int, n_test: int | None = None, seed: int = 0) -> tuple[TrainingData, TrainingData]:
    """Train on ``n_train`` networks, test on ``n_test`` *other* networks (default: the rest)."""
    keys = np.array(sorted(data.models["model_key"].unique()))
    n_test = len(keys) - n_train if n_test is None else n_test
    if n_train < 1 or n_test < 1 or n_train + n_test > len(keys):
        raise MnasPredError(f"cannot split {len(keys)} networks into {n_train} for training and {n_test} for testing", "measure more networks")
    order = np.random.default_rng(seed).permutation(keys)
    return data.subset_models(order[:n_train]), data.subset_models(order[n_train:n_train + n_test], keep_csv_layers=False)


def config_folds(data: TrainingData, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train mask, test mask) pairs over distinct layer configurations."""
    keys = config_keys(data.layers).to_numpy()
    distinct, group = np.unique(keys, return_inverse=True)
    if len(distinct) < k:
        raise MnasPredError(f"{len(distinct)} layer configurations cannot make {k} folds", "give more measurements or lower --folds")
    order = np.random.default_rng(seed).permutation(len(distinct))
    fold_of = np.empty(len(distinct), dtype=np.int64)
    fold_of[order] = np.arange(len(distinct)) % k
    return [(fold_of[group] != f, fold_of[group] == f) for f in range(k)]


def _layer_frame(name: str, test: TrainingData, predicted: np.ndarray, fold: int) -> pd.DataFrame:
    feats = feature_frame(test.layers)
    return pd.DataFrame({
        "predictor": name, "fold": fold, "measured_ms": test.layers["latency_ms"].to_numpy(np.float64),
        "predicted_ms": predicted, "op": test.layers["op"].astype(str).to_numpy(), "macs": feats["macs"].to_numpy(),
        "model_key": test.layers["model_key"].to_numpy(),
    })


def _model_frame(name: str, test: TrainingData, predicted: np.ndarray, fold: int) -> pd.DataFrame:
    return pd.DataFrame({
        "predictor": name, "fold": fold, "measured_ms": test.models["latency_ms"].to_numpy(np.float64),
        "predicted_ms": predicted, "model_key": test.models["model_key"].to_numpy(),
        "arch": test.models["arch"].to_numpy(),
    })


def predict_on(predictors: dict[str, LatencyPredictor], test: TrainingData, fold: int = 0) -> dict[str, list[pd.DataFrame]]:
    """Layer-level (and model-level, when ``test`` has networks) predictions of every predictor."""
    out: dict[str, list[pd.DataFrame]] = {"layer": [], "model": []}
    test_layers = TrainingData(test.layers[test.layers["model_key"] != NO_MODEL] if test.has_models else test.layers, test.models)
    for name, p in predictors.items():
        if len(test_layers.layers):
            out["layer"].append(_layer_frame(name, test_layers, p.predict_layers(test_layers.layers), fold))
        if test.has_models:
            pred = p.predict(test.models["arch"], test.models["resolution"], test.models["num_classes"])
            out["model"].append(_model_frame(name, test, pred, fold))
    return out


def summarize(frames: dict[str, list[pd.DataFrame]], split: str, folds: int) -> Evaluation:
    ev = Evaluation(split=split, folds=folds)
    for level, parts in frames.items():
        if not parts:
            continue
        df = pd.concat(parts, ignore_index=True)
        ev.predictions[level] = df
        for name, g in df.groupby("predictor", sort=False):
            ev.metrics[level][name] = latency_metrics(g["measured_ms"], g["predicted_ms"])
    return ev


def evaluate(predictors: dict[str, LatencyPredictor], data: TrainingData) -> Evaluation:
    """Metrics of fitted predictors on other data (e.g. a saved predictor on new measurements)."""
    return summarize(predict_on(predictors, data), split="none (all given data is test data)", folds=0)


def cross_validate(data: TrainingData, make: dict, folds: int = 5, seed: int = 0,
                   init_from: dict | None = None) -> Evaluation:
    """k-fold cross-validation of every predictor in ``make`` (name → factory returning an
    unfitted predictor). ``init_from``: name → predictor to adapt from (few-sample adaptation)."""
    init_from = init_from or {}
    frames: dict[str, list[pd.DataFrame]] = {"layer": [], "model": []}
    if data.has_models:
        splits = [(data.subset_models(tr), data.subset_models(te, keep_csv_layers=False)) for tr, te in model_folds(data, folds, seed)]
        split = "by network"
    else:
        splits = [(data.subset_layers(tr), data.subset_layers(te)) for tr, te in config_folds(data, folds, seed)]
        split = "by layer configuration"
    for fold, (train, test) in enumerate(splits):
        fitted = {name: factory().fit(train, init_from=init_from.get(name)) for name, factory in make.items()}
        for level, parts in predict_on(fitted, test, fold).items():
            frames[level].extend(parts)
    return summarize(frames, split, folds)
