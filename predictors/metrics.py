"""Accuracy metrics of latency predictions (design.md §6), the same at layer and model level.

``within_10pct``/``within_5pct``: share (in percent) of predictions whose relative error is at
most 10%/5% (nn-Meter's headline metric); ``mape``: mean absolute percentage error (percent);
``rmse_ms``; ``spearman``/``kendall``: rank correlations (ranking is what the search uses);
``n``: number of predictions.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, spearmanr

METRIC_NAMES = ("within_10pct", "within_5pct", "mape", "rmse_ms", "spearman", "kendall", "n")


def latency_metrics(measured_ms, predicted_ms) -> dict:
    y = np.asarray(measured_ms, np.float64)
    p = np.asarray(predicted_ms, np.float64)
    n = int(len(y))
    if n == 0:
        return {name: None for name in METRIC_NAMES[:-1]} | {"n": 0}
    rel = np.abs(p - y) / y
    if n > 1 and np.ptp(y) > 0 and np.ptp(p) > 0:
        rho, tau = float(spearmanr(y, p).statistic), float(kendalltau(y, p).statistic)
    else:  # rank correlation is undefined for constant inputs
        rho = tau = None
    return {
        "within_10pct": float(100 * np.mean(rel <= 0.10)),
        "within_5pct": float(100 * np.mean(rel <= 0.05)),
        "mape": float(100 * np.mean(rel)),
        "rmse_ms": float(np.sqrt(np.mean((p - y) ** 2))),
        "spearman": rho,
        "kendall": tau,
        "n": n,
    }
