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
