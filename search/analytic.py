"""Cheap deterministic stand-ins for proxy accuracy and device latency.

They make the search loop testable and benchmarkable in milliseconds per candidate: the
controller-learning benchmark (``bench/search_controller.py``), resume and parallelism tests,
and ``--accuracy analytic`` / ``--latency analytic`` (hidden CLI options). Both are smooth,
monotone-ish functions of an architecture's layers (from :func:`mnas_pred.layers.arch_layers`),
so that accuracy and latency pull in opposite directions as in the real problem. They are not
models of any real device or dataset.
"""

from __future__ import annotations

import hashlib
import math

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.layers import arch_layers


def _unit_hash(text: str) -> float:
    """A deterministic number in [0, 1) from a string (stable across processes, unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def analytic_latency_ms(arch: Architecture | str, resolution: int = 224, scale: float = 1.0) -> float:
    """A roofline-flavoured latency: MACs at an op-dependent throughput, plus a per-layer
    overhead and a cost for squeeze-excitation and pooled skips (memory-bound work).
    For the default space at 224x224: 4–23 ms, median about 9 ms (MnasNet-A1: 9.8 ms)."""
    total = 0.0
    for lay in arch_layers(arch, resolution, 1000):
        gmacs_per_s = {"stem": 40.0, "conv": 60.0, "sepconv": 25.0, "mbconv": 35.0, "head": 60.0}[lay.op]
        if lay.kernel == 5 and lay.op in ("sepconv", "mbconv"):
            gmacs_per_s *= 0.8  # 5x5 depthwise kernels are less efficient per MAC
        total += lay.macs / (gmacs_per_s * 1e6)  # ms
        total += 0.012  # per-layer launch overhead
        if lay.se_ratio > 0:
            total += 0.03
        if lay.skip == "pool":
            total += 0.01 + 2e-9 * lay.in_h * lay.in_w * lay.cin
    return scale * total


def analytic_accuracy(arch: Architecture | str, seed: int = 0) -> float:
    """A saturating function of capacity (MACs at 224) with small bonuses for the choices that
    help in practice (inverted bottlenecks, squeeze-excitation, residuals, larger kernels) and a
    deterministic ±0.5% per-architecture jitter standing in for training noise."""
    arch = parse_arch(arch)
    layers = arch_layers(arch, 224, 1000)
    macs = sum(lay.macs for lay in layers)
    blocks = arch.blocks
    n = len(blocks)
    frac = lambda pred: sum(1 for b in blocks if pred(b)) / n  # noqa: E731
    acc = 0.55 + 0.35 * (1.0 - math.exp(-macs / 250e6))
    acc += 0.025 * frac(lambda b: b.op == "mbconv" and b.expansion >= 6)
    acc += 0.015 * frac(lambda b: b.op == "mbconv")
    acc += 0.015 * frac(lambda b: b.se_ratio > 0)
    acc += 0.015 * frac(lambda b: b.skip != "none")
    acc += 0.01 * frac(lambda b: b.kernel >= 5)
    acc += 0.01 * (_unit_hash(f"{seed}:{arch.to_string()}") - 0.5)
    return min(acc, 0.999)
