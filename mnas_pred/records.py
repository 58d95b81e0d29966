"""The plain records every stage exchanges: how a model is timed (:class:`MeasureSettings`),
which device timed it (:class:`DeviceSpec` selects one, :class:`DeviceInfo` describes it), what
a device returns for one model (:class:`RawTiming`) and what the protocol makes of it
(:class:`Measurement`).

They live in the core so that the store, the predictors and the search can read and write
them without importing the profiler (``device_profiler`` re-exports them for its callers).
Records hold values; they compute nothing that needs a model or a device.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Literal

from mnas_pred.errors import DeviceError, MnasPredError

#: profile-device --drift-every (and what check-device replays): the reference network re-timed
#: after every 5 models, because the machine's speed moves within seconds (README, "Why a
#: reference every 5 models").
DRIFT_EVERY = 5
#: processes pooled into one reference run (device_profiler.drift), and what
#: mnas_pred.noise_floor.drift_corrected_floor replays a reference run with
REFERENCE_PROCESSES = 3


@dataclass(frozen=True)
class MeasureSettings:
    """How one model is timed (design.md §4). Stored with every measurement."""

    threads: int = 1
    warmup: int = 10
    runs: int = 50
    profile_runs: int = 10  # runs of the separate profiled session used for per-layer times
    # independent end-to-end run sets (fresh processes), pooled; the profile is taken in the first only.
    # 3: between processes the same network moves ~6% on a 2-core VM, and one process's value is
    # only as repeatable as that (bench/profiler_repeatability.py: 5.7% median difference with 1, 1.1% with 3)
    repeats: int = 3

    def __post_init__(self):
        from mnas_pred.limits import check

        check(threads=self.threads, warmup=self.warmup, runs=self.runs, profile_runs=self.profile_runs,
              repeats=self.repeats)

    def as_dict(self) -> dict:
        return asdict(self)


DEVICE_KINDS = ("local", "adb", "ssh")
RUNTIMES = ("ort", "litert")
ACCELERATORS = ("cpu", "gpu")


@dataclass(frozen=True)
class DeviceSpec:
    """Which device to open, as a value (``device_profiler.open_device(spec)``): the kind of
    target, its address (adb serial or ssh ``user@host``; None for the local CPU), the runtime
    and accelerator to time models with, and the tools that selecting it needs. Its text form
    (``local``, ``adb:SERIAL``, ``ssh:HOST``) names the device as ``mnas-pred devices`` and older results
    folders did; the store keys measurements by the opened device's ``DeviceInfo.key`` (the
    same for adb and ssh, ``local:<host>:<cpu>`` for this machine)."""

    kind: Literal["local", "adb", "ssh"] = "local"
    address: str | None = None
    runtime: Literal["ort", "litert"] = "ort"
    accelerator: Literal["cpu", "gpu"] = "cpu"
    adb: str | None = None  # the adb binary (default: found on PATH or in the Android SDK)
    perf_test: str | None = None  # onnxruntime_perf_test for the phone (pushed once)
    ort_lib: str | None = None  # libonnxruntime.so for the phone (pushed once)
    benchmark_model: str | None = None  # LiteRT's benchmark_model tool for phones and boards
    gpu_accelerator: str | None = None  # LiteRT's GPU accelerator .so, pushed beside benchmark_model
    cpus: tuple[int, ...] | None = None  # local CPU: the cores the worker runs on

    def __post_init__(self):
        if self.kind not in DEVICE_KINDS:
            raise MnasPredError(f"unknown device kind '{self.kind}'", f"use one of {', '.join(DEVICE_KINDS)}")
        if self.kind != "local" and not self.address:
            flag = "--serial" if self.kind == "adb" else "--ssh"
            raise MnasPredError(f"an {self.kind} device needs an address", f"give {flag}")
        if self.runtime not in RUNTIMES:
            raise MnasPredError(f"unknown runtime '{self.runtime}'", f"use --runtime {' or '.join(RUNTIMES)}")
        if self.accelerator not in ACCELERATORS:
            raise MnasPredError(f"unknown accelerator '{self.accelerator}'",
                                f"use --accelerator {' or '.join(ACCELERATORS)}")
        if self.cpus is not None and not isinstance(self.cpus, tuple):
            object.__setattr__(self, "cpus", tuple(self.cpus))

    @classmethod
    def select(cls, serial: str | None = None, ssh: str | None = None, **options) -> DeviceSpec:
        """The device of the command-line flags: ``--serial`` → a phone over adb, ``--ssh`` → a
        Linux board, neither → the local CPU."""
        if serial and ssh:
            raise DeviceError("both --serial and --ssh were given", "choose one device per run")
        if serial:
            return cls("adb", serial, **options)
        if ssh:
            return cls("ssh", ssh, **options)
        return cls(**options)

    @classmethod
    def parse(cls, text: str, **options) -> DeviceSpec:
        """The spec of a device named as the search names it: ``local``, ``adb:SERIAL`` or
        ``ssh:HOST``."""
        kind, sep, address = text.partition(":")
        if kind == "local" and not address:
            return cls(**options)
        if sep and kind in ("adb", "ssh") and address:
            return cls(kind, address, **options)
        raise MnasPredError(f"device '{text}' is not one of local, adb:SERIAL, ssh:HOST",
                            "name a device as `mnas-pred devices` lists it")

    def __str__(self) -> str:
        return self.kind if self.kind == "local" else f"{self.kind}:{self.address}"


@dataclass(frozen=True)
class DeviceInfo:
    """Identity and properties of a device. ``key`` identifies it in the store (e.g.
    ``local:<hostname>:<cpu model>``, ``adb:<serial>``, ``ssh:<user@host>``); ``model`` is the
    hardware model that predictors are tied to (phones of the same model share a predictor)."""

    key: str
    kind: str  # "local" | "adb" | "ssh"
    model: str
    properties: dict = field(default_factory=dict)  # SoC, ABI, OS, CPU freqs, governor, temperature, ...
    runtime: str = "onnxruntime"  # "onnxruntime" | "litert"
    runtime_version: str = ""
    accelerator: str = "cpu"  # "cpu" | "gpu"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RawTiming:
    """What a device returns for one model: end-to-end samples and the per-node trace.

    A sample is one run's end-to-end time when ``runs_per_sample`` is 1 (ONNX Runtime in
    process: local, ssh). A runner that prints only aggregates (``onnxruntime_perf_test`` on a
    phone) gives one sample per burst of ``runs_per_sample`` runs, its median: such a sample is
    a burst already, and the protocol treats it as one (see :mod:`device_profiler.protocol`).
    ``node_events`` are ONNX Runtime profiler events with ``cat == "Node"`` whose names end in
    ``_kernel_time``, as ``(node_name, op_type, dur_us, run_index)``; the warm-up run is already
    dropped. A runtime whose profile is not ONNX Runtime's (LiteRT) leaves them empty and gives
    ``layer_ms`` instead: layer name as :mod:`mnas_pred.layers` names it -> ms per run.
    ``metadata`` carries run-time readings (temperature, affinity mask, frequencies)."""

    samples_ms: list[float]
    node_events: list[tuple[str, str, float, int]]
    profiled_runs: int
    metadata: dict = field(default_factory=dict)
    layer_ms: dict[str, float] | None = None
    runs_per_sample: int = 1


@dataclass
class Measurement:
    """One model measured on one device: end-to-end statistics and samples, per-layer times,
    the per-layer-sum vs end-to-end gap, and everything needed to reproduce or weigh it.
    ``params`` and ``macs`` are counted by whoever built the model (the store persists them)."""

    arch: str
    resolution: int
    num_classes: int
    model_sha256: str
    latency_ms: float  # median of the kept end-to-end samples
    latency_p10_ms: float
    latency_p90_ms: float
    latency_mean_ms: float
    latency_min_ms: float
    cv: float
    spread: float  # (max - min) / median of the kept burst medians
    samples_ms: list[float]  # the kept samples, in run order (preempted runs as effective_samples() counts them)
    bursts: list[dict]  # every burst: attempt, median_ms, outlier, samples_ms
    layers_ms: dict[str, float]  # per layer, network order; "between_layers" = boundary nodes (device_profiler.trace)
    layer_sum_ms: float  # sum of layers_ms (0 when the device gave no profile)
    profiled_runs: int
    attempts: int
    settings: MeasureSettings
    device: DeviceInfo
    metadata: dict = field(default_factory=dict)  # affinity, worker pid, timings of the run
    measured_at: str = ""
    duration_s: float = 0.0
    params: int | None = None
    macs: int | None = None

    @property
    def layer_sum_ratio(self) -> float:
        """Per-layer sum / end-to-end median (1.0 = additive; NaN without a profile)."""
        return self.layer_sum_ms / self.latency_ms if self.layers_ms and self.latency_ms > 0 else float("nan")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["layer_sum_ratio"] = self.layer_sum_ratio
        return d


__all__ = ["DeviceInfo", "DeviceSpec", "MeasureSettings", "Measurement", "RawTiming"]
