"""The MnasNet reward: ``ACC(m) * (LAT(m) / T) ** w`` with ``w = alpha if LAT <= T else beta``.

``alpha = beta = -0.07`` (the default) is the paper's soft constraint: a model twice as fast as
the target earns about 5% more reward, one twice as slow about 5% less, so the search trades
accuracy against latency on both sides of ``T``. ``alpha = 0, beta = -1`` is the hard constraint:
no bonus below ``T`` and a steep penalty above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnas_pred.errors import MnasPredError

DEFAULT_ALPHA = -0.07
DEFAULT_BETA = -0.07


@dataclass(frozen=True)
class RewardFunction:
    target_ms: float
    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA

    def __post_init__(self):
        if not (self.target_ms > 0 and np.isfinite(self.target_ms)):
            raise MnasPredError(f"--target-ms must be a positive number of milliseconds, got {self.target_ms}",
                                "pass the latency you want on the device, e.g. --target-ms 5")
        if not (np.isfinite(self.alpha) and np.isfinite(self.beta)):
            raise MnasPredError("--alpha and --beta must be finite numbers", "e.g. --alpha -0.07 --beta -0.07")

    def __call__(self, accuracy, latency_ms):
        """Reward of one candidate or of arrays of candidates (element-wise)."""
        acc = np.asarray(accuracy, dtype=np.float64)
        lat = np.asarray(latency_ms, dtype=np.float64)
        w = np.where(lat <= self.target_ms, self.alpha, self.beta)
        out = acc * np.power(lat / self.target_ms, w)
        return float(out) if out.ndim == 0 else out
