"""The statistics of the measurement protocol: latency figures of a set of samples, bursts and
their outliers, and runs that were preempted (design.md §4). Pure functions of numbers; the
protocol (:mod:`device_profiler.protocol`) decides when to use them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

BURST_SIZE = 10
TOLERANCE = 0.10  # a burst median this much (relative) slower than the fastest burst's is an outlier
MAX_ATTEMPTS = 3  # independent run sets at most, re-measuring when bursts disagree
MIN_ON_CPU = 0.9  # a run with less CPU time than this share of its wall time was preempted

def latency_stats(samples_ms: Iterable[float]) -> dict:
    """Median, p10, p90, mean, min, standard deviation and coefficient of variation (std/mean)."""
    x = np.asarray(list(samples_ms), dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return {
        "median_ms": float(np.median(x)),
        "p10_ms": float(np.percentile(x, 10)),
        "p90_ms": float(np.percentile(x, 90)),
        "mean_ms": mean,
        "min_ms": float(x.min()),
        "std_ms": std,
        "cv": std / mean if mean > 0 else 0.0,
        "n": int(x.size),
    }


def split_bursts(samples_ms: list[float], burst_size: int = BURST_SIZE) -> list[list[float]]:
    """Consecutive bursts of ``burst_size`` samples; a short tail joins the last burst."""
    n = len(samples_ms)
    if n <= burst_size:
        return [list(samples_ms)] if n else []
    k = n // burst_size
    bursts = [list(samples_ms[i * burst_size:(i + 1) * burst_size]) for i in range(k)]
    bursts[-1].extend(samples_ms[k * burst_size:])
    return bursts


def split_preempted(samples_ms: list[float], cpu_ms: list[float] | None,
                    min_on_cpu: float = MIN_ON_CPU) -> tuple[list[float], list[float]]:
    """Separate the runs during which the measuring process was preempted (CPU time below
    ``min_on_cpu`` of the wall time: it waited for another process or the hypervisor) from the
    clean ones. Devices that do not report CPU times (``cpu_ms`` None) have only clean runs."""
    if not cpu_ms or len(cpu_ms) != len(samples_ms):
        return list(samples_ms), []
    clean = [w for w, c in zip(samples_ms, cpu_ms) if c >= min_on_cpu * w]
    preempted = [w for w, c in zip(samples_ms, cpu_ms) if c < min_on_cpu * w]
    return clean, preempted


def effective_samples(samples_ms: list[float], cpu_ms: list[float] | None, threads: int,
                      min_on_cpu: float = MIN_ON_CPU) -> list[float]:
    """The run times to compute statistics on, in run order. A preempted run's wall time is its
    own work plus the time it waited for others. With one thread all of the model's work happens
    on the measuring thread, so its CPU time is the run time without the wait (on the
    development machine, the CPU time of preempted runs matched the wall time of clean runs
    within 2%): it replaces the wall time. With several threads CPU time sums over threads and
    says nothing about wall time, so preempted runs are dropped."""
    if not cpu_ms or len(cpu_ms) != len(samples_ms):
        return list(samples_ms)
    out = []
    for w, c in zip(samples_ms, cpu_ms):
        if c >= min_on_cpu * w:
            out.append(w)
        elif threads == 1:
            out.append(c)
    return out


def flag_outlier_bursts(burst_medians: list[float], tolerance: float = TOLERANCE) -> list[bool]:
    """True for each burst whose median is more than ``tolerance`` (relative) slower than the
    fastest burst's. Measured against the fastest on purpose: interference only ever adds
    time, and on a loaded machine most bursts can be slow, which would make a median-based
    reference the slow value. On a quiet machine bursts agree within a few percent and none
    is flagged."""
    ref = min(burst_medians)
    return [m > ref * (1.0 + tolerance) for m in burst_medians]
