"""LiteRT's ``benchmark_model`` on this machine's CPU (``--runtime litert --benchmark-model PATH``
without ``--serial``/``--ssh``): a linux_x86_64 build gives per-layer times here too.

Same identity and core choice as the local ONNX Runtime device (:class:`device_profiler.local.
LocalDevice`: ``local:<hostname>:<cpu>``, the allowed cores, ``--cpus``), but no Python worker:
each run set is one invocation of the tool through ``sh -c``, pinned with ``taskset`` where the
machine has it (:class:`device_profiler.litert.runner.BenchmarkModelRunner`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

from device_profiler.litert import benchmark_model as bm
from device_profiler.litert.runner import BenchmarkModelRunner, local_shell
from device_profiler.local import LocalDevice
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming


class LocalBenchmarkModelDevice(LocalDevice):
    """This CPU, timed by a local ``benchmark_model`` (end to end and per layer)."""

    model_format = "tflite"

    def __init__(self, benchmark_model: str | None = None, cpus: list[int] | None = None, **kw):
        tool = Path(bm.locate_tool(benchmark_model, "linux_x86_64")).resolve()
        super().__init__(cpus=cpus, **kw)
        self.tool = tool
        self._tool_sha = hashlib.sha256(tool.read_bytes()).hexdigest()
        self._tool_runner = BenchmarkModelRunner(execute=local_shell, tool=str(tool), where="local CPU")

    def info(self) -> DeviceInfo:
        base = super().info()
        props = {**base.properties, "runner": bm.TOOL_NAME, "benchmark_model": str(self.tool),
                 "benchmark_model_sha256": self._tool_sha}
        return dataclasses.replace(base, properties=props, runtime="litert", accelerator="cpu",
                                   runtime_version=f"{bm.TOOL_NAME}-sha256:{self._tool_sha[:12]}")

    def prestart(self) -> None:
        """No worker process to start: the tool is the process."""

    def time_model(self, model_path: Path, settings: MeasureSettings) -> RawTiming:
        model_path = Path(model_path).resolve()
        cpus = self.pinned_cpus(settings.threads)
        mask = format(sum(1 << c for c in cpus), "x") if cpus and shutil.which("taskset") else None
        raw = self._tool_runner.time(str(model_path), model_path, settings, cpu_mask=mask)
        raw.metadata.update({"affinity": cpus if mask else None, "affinity_mask": mask or "",
                             "benchmark_model_sha256": self._tool_sha})
        return raw
