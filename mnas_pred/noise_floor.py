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

**Pooled measurements** (``MeasureSettings.repeats`` = k > 1, profile-device ``--repeats k``): each
network's label is taken from k separate processes, modelled here as the median of k process
medians (the protocol pools the k processes' samples, whose median lies between them). Each
process is one more independent draw from the device's spread, so the label's noise is that of
the median of k draws with replacement from the measured process medians: exact for odd k (the
middle order statistic: ``P(median <= x) = P(Binomial(k, F(x)) >= (k + 1) / 2)`` with ``F`` the
empirical distribution), exact over the multisets of k values for even k (the mean of the two
middle ones) while there are at most ``EXACT_LIMIT`` of them, else ``RESAMPLE_DRAWS`` seeded
draws. The ceilings and the MAPE floor are then read off that distribution, as above (the normal
model: the same on a quantile grid of the normal). With k = 1 it is the single-process figure.
Independent draws are the best case: processes run back to back share the machine's state, and
where they do, :func:`back_to_back_floor` (windows of k consecutive processes) is the lower,
truer figure.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from bisect import bisect_right
from collections import Counter
from itertools import combinations_with_replacement

from mnas_pred.records import REFERENCE_PROCESSES

MIN_ROBUST = 10  # fewer values: the MAD and the empirical share are too coarse to use
MIN_EMPIRICAL = 30  # from this many, the empirical share alone (a quiet 2-core VM: two clusters of processes ~9% apart, not a normal spread)
EXACT_LIMIT = 200_000  # even k: the multisets of k values enumerated exactly up to this many (k=2, n=600), else resampled
RESAMPLE_DRAWS = 20_000  # seeded medians of k draws where enumerating is too dear (standard error of a share < 0.4%)
NORMAL_GRID = 401  # quantiles standing for the normal model when pooling (odd: its middle one is the median)
EDGE = 1e-9  # 11 / 10 - 1 is 0.10000000000000009: a value on the tolerance's edge counts as within


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


def median_of_k(values: list[float], k: int, seed: int = 0) -> list[tuple[float, float]]:
    """The distribution of the median of ``k`` independent draws (with replacement) from
    ``values``, each equally likely, as (median, probability) pairs (see the module docstring)."""
    xs = sorted(values)
    n = len(xs)
    if k <= 1 or n < 2:
        return [(x, 1 / n) for x in xs]
    if k % 2:  # the middle order statistic: P(median <= v) = P(at least (k + 1) / 2 draws <= v)
        out, below = [], 0.0
        for v in sorted(set(xs)):
            at_most = _binomial_tail(k, bisect_right(xs, v) / n, (k + 1) // 2)
            out.append((v, at_most - below))
            below = at_most
        return out
    if math.comb(n + k - 1, k) <= EXACT_LIMIT:  # each multiset weighted by its orderings
        orderings = math.factorial(k)
        return [(statistics.median(xs[i] for i in combo),
                 orderings / math.prod(math.factorial(c) for c in Counter(combo).values()) / n ** k)
                for combo in combinations_with_replacement(range(n), k)]
    rng = random.Random(seed)
    return [(statistics.median(rng.choices(xs, k=k)), 1 / RESAMPLE_DRAWS) for _ in range(RESAMPLE_DRAWS)]


def _binomial_tail(k: int, p: float, at_least: int) -> float:
    return sum(math.comb(k, j) * p ** j * (1 - p) ** (k - j) for j in range(at_least, k + 1))


def _share_within(distribution: list[tuple[float, float]], low: float, high: float) -> float:
    return min(1.0, sum(p for v, p in distribution if low - EDGE <= v <= high + EDGE))


def precision_ceiling(process_medians: list[float], tolerance: float, repeats: int = 1) -> float:
    """The highest share of networks a perfect predictor can get within ``±tolerance`` when
    each is scored against one measurement with this noise, a measurement being the median of
    ``repeats`` processes (see the module docstring)."""
    if len(process_medians) < 2:
        return 1.0
    mid = statistics.median(process_medians)
    empirical = _share_within(median_of_k(process_medians, repeats), mid * (1 - tolerance), mid * (1 + tolerance))
    if len(process_medians) >= MIN_EMPIRICAL:  # enough to see the real shape (often not normal)
        return empirical
    if len(process_medians) < MIN_ROBUST:
        empirical = 1.0
    return min(empirical, normal_ceiling(robust_sigma(process_medians), tolerance, repeats))


def normal_ceiling(sigma: float, tolerance: float, repeats: int = 1) -> float:
    """``P(|Z| <= ln(1 + tolerance) / sigma)``: the share of single measurements with relative
    noise ``sigma`` (normal in log space) within ``±tolerance`` of the true value; for the median
    of ``repeats`` such measurements, the same share on the normal's quantile grid."""
    if sigma <= 0:
        return 1.0
    bound = math.log1p(tolerance)
    if repeats <= 1:
        return math.erf(bound / sigma / math.sqrt(2))
    return _share_within(median_of_k(_normal_log_grid(sigma), repeats), -bound, bound)


def _normal_log_grid(sigma: float) -> list[float]:
    """``NORMAL_GRID`` equally likely quantiles of N(0, sigma): the log latencies of the normal model."""
    unit = statistics.NormalDist()
    return [sigma * unit.inv_cdf((i + 0.5) / NORMAL_GRID) for i in range(NORMAL_GRID)]


def mape_floor(process_medians: list[float], repeats: int = 1) -> float:
    """The mean absolute relative deviation of a measurement (the median of ``repeats``
    processes) from the median of all: no predictor scores a lower MAPE on average."""
    if len(process_medians) < 2:
        return 0.0
    mid = statistics.median(process_medians)
    return sum(p * abs(v / mid - 1) for v, p in median_of_k(process_medians, repeats))


def noise_floor(values: list[float], repeats: int = 1) -> dict:
    """Spread, ceilings at ±10% and ±5%, and the MAPE floor of repeated measurements of one
    network: for one process, and (``pooled``) for a measurement pooled from ``repeats``."""
    floor = {"n": len(values), "spread": round(robust_sigma(values), 4),
             "ceiling_within_10pct": round(precision_ceiling(values, 0.10), 4),
             "ceiling_within_5pct": round(precision_ceiling(values, 0.05), 4),
             "mape_floor": round(mape_floor(values), 4)}
    if repeats > 1:
        floor["pooled"] = {"repeats": repeats,
                           "ceiling_within_10pct": round(precision_ceiling(values, 0.10, repeats), 4),
                           "ceiling_within_5pct": round(precision_ceiling(values, 0.05, repeats), 4),
                           "mape_floor": round(mape_floor(values, repeats), 4)}
    return floor


def back_to_back_floor(values_in_order: list[float], repeats: int) -> dict:
    """The pooled figures from the medians of ``repeats`` *consecutive* values (every window of
    the sequence, in the order they were measured): what pooling gives when the processes run
    back to back, as the protocol runs one network's, and share the machine's slow moments.
    :func:`noise_floor`'s ``pooled`` treats them as independent; on a loaded 2-core VM
    consecutive processes correlated at 0.68 and pooled less well (±10%: 89% here, 95% there).
    Empty with fewer than ``MIN_EMPIRICAL`` windows."""
    windows = [statistics.median(values_in_order[i:i + repeats]) for i in range(len(values_in_order) - repeats + 1)]
    if repeats <= 1 or len(windows) < MIN_EMPIRICAL:
        return {}
    mid = statistics.median(values_in_order)
    share = [(w, 1 / len(windows)) for w in windows]
    return {"repeats": repeats, "windows": len(windows),
            "ceiling_within_10pct": round(_share_within(share, mid * 0.9, mid * 1.1), 4),
            "ceiling_within_5pct": round(_share_within(share, mid * 0.95, mid * 1.05), 4),
            "mape_floor": round(statistics.fmean(abs(w / mid - 1) for w in windows), 4)}


def drift_corrected_floor(values_in_order: list[float], repeats: int, every: int,
                          reference_processes: int = REFERENCE_PROCESSES) -> dict:
    """The pooled figures for drift-corrected labels: the check's processes replayed as a
    profiling campaign of one network. Consecutive processes form measurements of ``repeats``
    processes; before the first and after every ``every`` measurements come ``reference_processes``
    processes that play the reference run; each measurement is divided by the level interpolated
    between the reference runs around it (:mod:`mnas_pred.drift_correction`'s formula, the same
    running median of levels), and the shares are those of the corrected values within the
    tolerance of their median. Every phase of the campaign over the sequence is replayed and the
    corrected values pooled. Where the machine's speed moves slower than the references come,
    this is much lower than :func:`back_to_back_floor` (on a loaded 2-core VM the predictor's
    MAPE on corrected labels, 3.6%, was below the uncorrected back-to-back floor, 4.0%).
    The check's processes are shorter than a profiled model's, so its references come closer in
    time than profile-device's: an optimistic figure. Empty with fewer than 3 reference runs or
    ``MIN_ROBUST`` corrected measurements in one replay, or ``every`` 0."""
    from mnas_pred.drift_correction import interpolated, levels  # pandas: loaded only here

    if every <= 0 or not values_in_order:
        return {}
    import pandas as pd

    cycle = reference_processes + every * repeats
    corrected: list[float] = []
    distinct = 0  # corrected measurements of one replay (the others reuse the same processes)
    for phase in range(cycle):
        seq = values_in_order[phase:]
        refs, labels = [], []  # reference medians; (reference index k, position j, value)
        i = 0
        while i + reference_processes <= len(seq):
            refs.append(statistics.median(seq[i:i + reference_processes]))
            i += reference_processes
            for j in range(every):
                if i + repeats > len(seq):
                    break
                labels.append((len(refs) - 1, j, statistics.median(seq[i:i + repeats])))
                i += repeats
        if len(refs) < 3:
            break
        level = levels(pd.Series(refs)).tolist()
        for k, j, v in labels:
            if k + 1 < len(refs):  # bracketed by two reference runs, as a finished campaign's are
                corrected.append(v / float(interpolated(level[k], level[k + 1], j, every)))
                distinct += phase == 0
    if distinct < MIN_ROBUST:
        return {}
    mid = statistics.median(corrected)
    share = [(c, 1 / len(corrected)) for c in corrected]
    return {"repeats": repeats, "every": every, "measurements": distinct, "replayed": len(corrected),
            "spread": round(robust_sigma(corrected), 4),
            "ceiling_within_10pct": round(_share_within(share, mid * 0.9, mid * 1.1), 4),
            "ceiling_within_5pct": round(_share_within(share, mid * 0.95, mid * 1.05), 4),
            "mape_floor": round(statistics.fmean(abs(c / mid - 1) for c in corrected), 4)}


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


def floor_from_sigma(sigma: float, n: int, repeats: int = 1) -> dict:
    """:func:`noise_floor`'s figures from a normal model with relative spread ``sigma``."""
    floor = {"n": n, "spread": round(sigma, 4), "ceiling_within_10pct": round(normal_ceiling(sigma, 0.10), 4),
             "ceiling_within_5pct": round(normal_ceiling(sigma, 0.05), 4),
             "mape_floor": round(sigma * math.sqrt(2 / math.pi), 4)}
    if repeats > 1 and sigma > 0:  # the MAPE floor as for one process: E|log| of the pooled median
        mape = sum(p * abs(x) for x, p in median_of_k(_normal_log_grid(sigma), repeats))
        floor["pooled"] = {"repeats": repeats, "ceiling_within_10pct": round(normal_ceiling(sigma, 0.10, repeats), 4),
                           "ceiling_within_5pct": round(normal_ceiling(sigma, 0.05, repeats), 4),
                           "mape_floor": round(mape, 4)}
    return floor


def groups_floor(groups: list[list[float]], what: str, repeats: int = 1) -> dict:
    """The noise floor of single processes (and of measurements pooled from ``repeats``) from
    groups of back-to-back processes (the reference runs of a campaign, 3 processes each), with
    its one-line summary; {} without 2+ values in a group."""
    sigma, dof = within_group_sigma(groups)
    if dof < 2:
        return {}
    floor = floor_from_sigma(sigma, dof + len([g for g in groups if len(g) > 1]), repeats)
    # Back-to-back processes share the machine's state of the moment: on a quiet 2-core VM their
    # spread was 2.9% where check-device's 105 processes over 30 s spread 6.3%. A lower bound.
    return {**floor, "source": what, "lower_bound": True,
            "summary": sentence(floor, what) + "; a lower bound: mnas-pred check-device measures over 30 s"}


def settings_repeats(settings) -> int:
    """The ``repeats`` most of these measurements were taken with (their settings as JSON text
    or dicts, as the store keeps them; 1 where a setting does not say)."""
    parsed = (json.loads(x) if isinstance(x, str) else x for x in settings)
    counts = Counter(int(d.get("repeats", 1)) if isinstance(d, dict) else 1 for d in parsed)
    return counts.most_common(1)[0][0] if counts else 1


def sentence(floor: dict, what: str = "") -> str:
    """One line: "run-to-run spread 2.1% (...): expect ±10% accuracy <= 99%, ..."; with a
    ``pooled`` floor, "...; with 3 processes per measurement: ±10% <= 100%, ..." after it."""
    line = (f"run-to-run spread {100 * floor['spread']:.1f}%{f' ({what})' if what else ''}: "
            f"expect {_ceilings(floor)}")
    pooled = floor.get("pooled")
    return line + (f"; with {pooled['repeats']} processes per measurement: {_ceilings(pooled)}" if pooled else "")


def pooled_sentence(pooled: dict, label: str) -> str:
    """``label`` (e.g. "with --repeats 3 (the default)") and the pooled ceilings."""
    return f"{label}: expect {_ceilings(pooled)}"


def _ceilings(floor: dict) -> str:
    return (f"±10% accuracy <= {100 * floor['ceiling_within_10pct']:.0f}%, "
            f"±5% <= {100 * floor['ceiling_within_5pct']:.0f}%, MAPE >= {100 * floor['mape_floor']:.1f}%")
