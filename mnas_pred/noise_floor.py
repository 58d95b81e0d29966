"""What a device's run-to-run noise allows a latency predictor to reach.

A predictor that knew every network's true latency exactly would still be scored against *one*
measurement of each held-out network, off by that measurement's noise. The share of held-out
networks within ±10% can therefore be no higher than the share of single measurements within
±10% of the true value. :func:`precision_ceiling` estimates it two ways and keeps the lower (from 30 values, the
empirical one alone: the process medians of a quiet 2-core VM fell into two clusters ~9% apart,
which a normal model with the same spread overstates):

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
MIN_EMPIRICAL = 30  # from this many, the empirical share alone (a quiet 2-core VM: two clusters of processes ~9% apart, not a normal spread)


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
    if len(process_medians) >= MIN_EMPIRICAL:  # enough to see the real shape (often not normal)
        return empirical
    if len(process_medians) < MIN_ROBUST:
        empirical = 1.0
    return min(empirical, normal_ceiling(robust_sigma(process_medians), tolerance))


def normal_ceiling(sigma: float, tolerance: float) -> float:
    """``P(|Z| <= ln(1 + tolerance) / sigma)``: the share of single measurements with relative
    noise ``sigma`` (normal in log space) within ``±tolerance`` of the true value."""
    return math.erf(math.log1p(tolerance) / sigma / math.sqrt(2)) if sigma > 0 else 1.0


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


def within_group_sigma(groups: list[list[float]]) -> tuple[float, int]:
    """The pooled standard deviation of ``log`` values inside groups (each group: one network
    timed in a few processes back to back, so drift between groups does not count), with the
    degrees of freedom: ``sqrt(sum((x - group mean)^2) / (n - groups))``."""
    ss, n, k = 0.0, 0, 0
    for g in groups:
        logs = [math.log(v) for v in g if v > 0]
        if len(logs) < 2:
            continue
        mean = statistics.fmean(logs)
        ss += sum((x - mean) ** 2 for x in logs)
        n += len(logs)
        k += 1
    dof = n - k
    return (math.sqrt(ss / dof) if dof > 0 else 0.0), dof


def floor_from_sigma(sigma: float, n: int) -> dict:
    """:func:`noise_floor`'s figures from a normal model with relative spread ``sigma``."""
    return {"n": n, "spread": round(sigma, 4), "ceiling_within_10pct": round(normal_ceiling(sigma, 0.10), 4),
            "ceiling_within_5pct": round(normal_ceiling(sigma, 0.05), 4),
            "mape_floor": round(sigma * math.sqrt(2 / math.pi), 4)}


def groups_floor(groups: list[list[float]], what: str) -> dict:
    """The noise floor of single processes from groups of back-to-back processes (the reference
    runs of a campaign, 3 processes each), with its one-line summary; {} without 2+ values in a group."""
    sigma, dof = within_group_sigma(groups)
    if dof < 2:
        return {}
    floor = floor_from_sigma(sigma, dof + len([g for g in groups if len(g) > 1]))
    # Back-to-back processes share the machine's state of the moment: on a quiet 2-core VM their
    # spread was 2.9% where check-device's 105 processes over 30 s spread 6.3%. A lower bound.
    return {**floor, "source": what, "lower_bound": True,
            "summary": sentence(floor, what) + "; a lower bound: mnas-pred check-device measures over 30 s"}


def sentence(floor: dict, what: str = "") -> str:
    """One line: "run-to-run spread 2.1% (...): expect ±10% accuracy <= 99%, ..."."""
    return (f"run-to-run spread {100 * floor['spread']:.1f}%{f' ({what})' if what else ''}: expect ±10% accuracy "
            f"<= {100 * floor['ceiling_within_10pct']:.0f}%, ±5% <= {100 * floor['ceiling_within_5pct']:.0f}%, "
            f"MAPE >= {100 * floor['mape_floor']:.1f}%")
