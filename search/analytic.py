"""Cheap deterministic stand-ins for proxy accuracy and device latency.

They make the search loop testable and benchmarkable in milliseconds per candidate: the
controller-learning benchmark (``bench/search_controller.py``), resume and parallelism tests,
and ``--accuracy analytic`` / ``--latency analytic`` (hidden CLI options). Both are smooth,
monotone-ish functions of an architecture's layers (from :func:`mnas_pred.layers.arch_layers`),
so that accuracy and latency pull in opposite directions as in the real problem. They are not
models of any real device or dataset. :class:`AnalyticLatencyModel` and :class:`AnalyticDevice`
put the latency behind the search's protocols (:mod:`search.latency`).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.layers import arch_layers
from search.latency import LatencyMeasurement, LatencyMeasurer, LatencyModel


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


class AnalyticLatencyModel(LatencyModel):
    """:func:`analytic_latency_ms` times a scale that :meth:`refit` fits (the median ratio of
    measured to predicted latency). Its interval is a deterministic per-architecture
    ±(0–``spread``), enough to exercise uncertainty-driven re-validation."""

    def __init__(self, resolution: int = 224, scale: float = 1.0, spread: float = 0.2):
        self.resolution = resolution
        self.scale = scale
        self.spread = spread

    def predict(self, archs, tokens=None):
        return np.array([analytic_latency_ms(a, self.resolution, self.scale) for a in archs], dtype=np.float64)

    def predict_interval(self, archs, coverage=0.8, tokens=None):
        point = self.predict(archs)
        width = np.array([self.spread * _unit_hash("interval:" + a.to_string()) for a in archs])
        return point * (1 - width), point * (1 + width)

    def refit(self, archs, measured_ms, out_dir):
        base = np.array([analytic_latency_ms(a, self.resolution) for a in archs])
        return AnalyticLatencyModel(self.resolution, float(np.median(np.asarray(measured_ms) / base)), self.spread)

    def get_state(self):
        return {"scale": self.scale}

    def set_state(self, state):
        self.scale = float(state["scale"])


class AnalyticDevice(LatencyMeasurer):
    """A stand-in device: the analytic latency, distorted by a constant factor plus a
    deterministic ±``jitter`` per architecture, so that the analytic predictor is off by about
    ``factor - 1`` until it is refitted."""

    def __init__(self, resolution: int = 224, factor: float = 1.2, jitter: float = 0.03):
        self.resolution, self.factor, self.jitter = resolution, factor, jitter

    def measure(self, arch, store=True):
        noise = 1 + self.jitter * (2 * _unit_hash("device:" + arch.to_string()) - 1)
        return LatencyMeasurement(analytic_latency_ms(arch, self.resolution) * self.factor * noise)

    def key(self):
        return f"analytic:x{self.factor}"
