"""The one extension point of the profiler: a :class:`Device` that times ONNX models.

A device only knows how to run a model file and return raw timings: end-to-end samples and,
from a separate profiled run set, ONNX Runtime's per-node trace. Everything else (which models,
statistics, mapping nodes to layers, outlier handling, storage) is the protocol's job
(``device_profiler.protocol``), shared by every device.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class MeasureSettings:
    """How one model is timed (design.md §4). Stored with every measurement."""

    threads: int = 1
    warmup: int = 10
    runs: int = 50
    profile_runs: int = 10  # runs of the separate profiled session used for per-layer times
    repeats: int = 1  # independent end-to-end bursts; the protocol may add one when bursts disagree

    def __post_init__(self):
        from mnas_pred.limits import check

        check(threads=self.threads, warmup=self.warmup, runs=self.runs, profile_runs=self.profile_runs,
              repeats=self.repeats)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DeviceInfo:
    """Identity and properties of a device. ``key`` identifies it in the store (e.g.
    ``local:<hostname>:<cpu model>``, ``adb:<serial>``, ``ssh:<user@host>``); ``model`` is the
    hardware model that predictors are tied to (phones of the same model share a predictor)."""

    key: str
    kind: str  # "local" | "adb" | "ssh"
    model: str
    properties: dict = field(default_factory=dict)  # SoC, ABI, OS, CPU freqs, governor, temperature, ...
    runtime: str = "onnxruntime"
    runtime_version: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RawTiming:
    """What a device returns for one model: end-to-end samples and the per-node trace.

    ``node_events`` are ONNX Runtime profiler events with ``cat == "Node"`` whose names end in
    ``_kernel_time``, as ``(node_name, op_type, dur_us, run_index)``; the warm-up run is already
    dropped. ``metadata`` carries run-time readings (temperature, affinity mask, frequencies)."""

    samples_ms: list[float]
    node_events: list[tuple[str, str, float, int]]
    profiled_runs: int
    metadata: dict = field(default_factory=dict)


class DeviceError(RuntimeError):
    """The device failed in a way the user must act on (not found, unauthorized, lost).
    ``fix`` says what to do; the CLI prints it on one line with exit code 2."""

    def __init__(self, problem: str, fix: str | None = None, *, transient: bool = False):
        self.problem, self.fix, self.transient = problem, fix, transient
        super().__init__(problem if not fix else f"{problem}; {fix}")


class Device(abc.ABC):
    """Runs ONNX models on one target and returns raw timings."""

    @abc.abstractmethod
    def info(self) -> DeviceInfo:
        """Identity and current properties of the device."""

    @abc.abstractmethod
    def time_model(self, onnx_path: Path, settings: MeasureSettings) -> RawTiming:
        """Warm up, time ``settings.runs`` end-to-end runs, then a separate profiled run set."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (worker processes, remote files)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
