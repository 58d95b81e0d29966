"""What a device's run-to-run noise allows a latency predictor to reach.

A predictor that knew every network's true latency exactly would still be scored against *one*
measurement of each held-out network, off by that measurement's noise. The share of held-out
networks within ±10% can therefore be no higher than the share of single measurements within
±10% of the true value. :func:`precision_ceiling` estimates it two ways and keeps the lower:

* empirically, from repeated single measurements of one network (``mnas-pred check-device``:
  one per process; a profiling campaign: its reference runs): the share within ±10% of their
  median (heavy tails of a shared machine show here; resolution 1/n, so only from 10 values);
* with a normal model of the relative noise, ``sigma = 1.4826 * MAD`` of the log latencies (robust
  to a few outliers): ``P(|Z| <= ln(1.1) / sigma)``.

The MAPE floor is the mean absolute relative deviation of single measurements from the median.
Example: sigma 2.1% gives a normal-model ceiling of 100% within ±10% and 98% within ±5%; sigma 6%
gives 89% and 58%.
"""

from __future__ import annotations

import math
import statistics

MIN_ROBUST = 10  # fewer values: the MAD and the empirical share are too coarse to use


def robust_sigma(values: list[float]) -> float:
    """1.4826 * median absolute deviation of ``log(values)``: the standard deviation of the
    relative noise, unmoved by a few outliers (with fewer than 10 values, the plain standard
    deviation of the logs)."""
    logs = [math.log(v) for v in values if v > 0]
    if len(logs) < 2:
        return 0.0
    if len(logs) < MIN_ROBUST:
        return statistics.stdev(logs)
    mid = statistics.median(logs)
    return 1.4826 * statistics.median(abs(x - mid) for x in logs)


def precision_ceiling(process_medians: list[float], tolerance: float) -> float:
    """The highest share of networks a perfect predictor can get within ``±tolerance`` when
    each is scored against one measurement with this noise (see the module docstring)."""
    if len(process_medians) < 2:
        return 1.0
    mid = statistics.median(process_medians)
    empirical = sum(abs(v / mid - 1) <= tolerance for v in process_medians) / len(process_medians)
    if len(process_medians) < MIN_ROBUST:
        empirical = 1.0
    sigma = robust_sigma(process_medians)
    if sigma <= 0:
        return empirical
    normal = math.erf(math.log1p(tolerance) / sigma / math.sqrt(2))
    return min(empirical, normal)


def mape_floor(process_medians: list[float]) -> float:
    if len(process_medians) < 2:
        return 0.0
    mid = statistics.median(process_medians)
    return statistics.fmean(abs(v / mid - 1) for v in process_medians)


def noise_floor(values: list[float]) -> dict:
    """Spread, ceilings at ±10% and ±5%, and the MAPE floor of repeated measurements of one network."""
    return {"n": len(values), "spread": round(robust_sigma(values), 4),
            "ceiling_within_10pct": round(precision_ceiling(values, 0.10), 4),
            "ceiling_within_5pct": round(precision_ceiling(values, 0.05), 4),
            "mape_floor": round(mape_floor(values), 4)}


def sentence(floor: dict, what: str = "") -> str:
    """One line: "run-to-run spread 2.1% (...): expect ±10% accuracy <= 99%, ..."."""
    return (f"run-to-run spread {100 * floor['spread']:.1f}%{f' ({what})' if what else ''}: expect ±10% accuracy "
            f"<= {100 * floor['ceiling_within_10pct']:.0f}%, ±5% <= {100 * floor['ceiling_within_5pct']:.0f}%, "
            f"MAPE >= {100 * floor['mape_floor']:.1f}%")
