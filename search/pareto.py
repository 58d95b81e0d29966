"""The accuracy–latency Pareto front: candidates no other candidate beats on both at once."""

from __future__ import annotations


def pareto_front(candidates: list[dict], accuracy_key: str = "accuracy", latency_key: str = "latency_ms") -> list[dict]:
    """Non-dominated candidates (higher accuracy, lower latency), sorted by latency.
    A sweep over latency keeps each candidate more accurate than every faster one."""
    front, best_acc = [], float("-inf")
    for c in sorted(candidates, key=lambda c: (c[latency_key], -c[accuracy_key])):
        if c[accuracy_key] > best_acc:
            front.append(c)
            best_acc = c[accuracy_key]
    return front


#: Hypervolume reference point: latency 2T (in units of the target T) and accuracy 0. Every
#: candidate up to twice the target counts; the maximum, accuracy 1 at latency 0, is 2.0.
HV_REFERENCE = (2.0, 0.0)


def hypervolume(candidates: list[dict], target_ms: float, reference: tuple[float, float] = HV_REFERENCE,
                accuracy_key: str = "accuracy", latency_key: str = "latency_ms") -> float:
    """Area of the (latency / ``target_ms``, accuracy) plane that the candidates dominate, bounded by
    ``reference`` = (latency in units of T, accuracy): larger is better, and a front that adds or
    improves any point within the reference box grows it. Latency is divided by T so that searches
    for different targets (and devices) give comparable numbers.

    Sweeping the front by latency: between one front point and the next faster-but-better one the
    dominated strip is as high as the slower point's accuracy."""
    ref_lat, ref_acc = reference
    pts = [{"a": c[accuracy_key], "l": c[latency_key] / target_ms} for c in candidates]
    front = [p for p in pareto_front(pts, "a", "l") if p["l"] < ref_lat and p["a"] > ref_acc]
    ends = [p["l"] for p in front[1:]] + [ref_lat]
    return float(sum((end - p["l"]) * (p["a"] - ref_acc) for p, end in zip(front, ends)))
