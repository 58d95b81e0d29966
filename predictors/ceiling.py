"""What the measured labels allow a model-level predictor to reach (bench/predictor_accuracy.py).

Two ceilings for a train/test split of profiled networks, to read beside the predictors' scores:

* :func:`layer_oracle`: the layer-sum design with a *perfect* layer model. The model-level
  calibration (:class:`predictors.calibration.Calibration`) is fitted on the training networks'
  measured per-layer sums and applied to the test networks' measured per-layer sums. What it
  misses is what no per-layer model followed by this calibration can recover (between-layer
  work, per-network effects); what a predictor misses beyond it is the layer model's error.
* :func:`label_noise`: every stored latency is the median of ``k`` processes (``--repeats``),
  each the median of its timed runs. The spread of the process medians *inside* each measurement
  (drift between measurements excluded) gives the noise of one stored label, and what a perfect
  predictor scored against such labels can reach (normal model, :mod:`mnas_pred.noise_floor`).
  Processes run back to back share the machine's state, so this is a lower bound of the noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from mnas_pred.noise_floor import normal_ceiling, within_group_sigma
from predictors.calibration import CALIBRATION_INPUTS, Calibration
from predictors.metrics import latency_metrics

#: Draws of the simulation of a median of ``k`` normal process medians.
_MEDIAN_DRAWS = 20_000


def layer_oracle(train, test) -> dict:
    """Model-level metrics on ``test`` (:class:`predictors.data.TrainingData`) of the calibration
    fitted on ``train``'s measured per-layer sums; ``{}`` when a split lacks per-layer times."""
    sums = []
    for data in (train, test):
        per_model = data.layers.groupby("model_key")["latency_ms"].agg(["sum", "size"])
        per_model = per_model.reindex(data.models["model_key"])
        if data.models.empty or per_model["sum"].isna().any():
            return {}
        sums.append((per_model["sum"].to_numpy(np.float64), per_model["size"].to_numpy(np.float64)))
    calibration = Calibration(CALIBRATION_INPUTS).fit(*sums[0], train.models["latency_ms"].to_numpy(np.float64))
    predicted = calibration(*sums[1])
    return {**latency_metrics(test.models["latency_ms"].to_numpy(np.float64), predicted),
            "calibration": calibration.coef}


def process_medians(bursts: Iterable[dict]) -> list[float]:
    """The median of each process's timed runs (bursts grouped by ``attempt``; outliers left out)."""
    runs: dict[int, list[float]] = {}
    for burst in bursts:
        if not burst.get("outlier", False):
            runs.setdefault(int(burst.get("attempt", 0)), []).extend(float(v) for v in burst.get("samples_ms", ()))
    return [float(np.median(v)) for v in runs.values() if v]


def median_noise_factor(k: int) -> float:
    """Standard deviation of the median of ``k`` standard normal draws (1 for ``k`` = 1)."""
    if k <= 1:
        return 1.0
    draws = np.random.default_rng(0).standard_normal((_MEDIAN_DRAWS, k))
    return float(np.std(np.median(draws, axis=1)))


def label_noise(groups: list[list[float]]) -> dict:
    """Noise of stored labels from each measurement's process medians (``groups``); ``{}`` without
    a measurement of two or more processes."""
    sigma, dof = within_group_sigma(groups)
    sizes = [len(g) for g in groups if len(g) > 1]
    if dof < 2 or not sizes:
        return {}
    k = int(np.median(sizes))
    label_sigma = sigma * median_noise_factor(k)
    return {
        "measurements": len(sizes), "processes_per_label": k,
        "process_spread": round(sigma, 4), "label_spread": round(label_sigma, 4),
        # a perfect predictor scored against one such label per test network
        "ceiling_within_10pct": round(100 * normal_ceiling(label_sigma, 0.10), 2),
        "ceiling_within_5pct": round(100 * normal_ceiling(label_sigma, 0.05), 2),
        "mape_floor": round(100 * label_sigma * math.sqrt(2 / math.pi), 2),
    }
