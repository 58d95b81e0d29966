"""Linux boards over ssh, timed with LiteRT's ``benchmark_model`` (``--runtime litert``).

The board is reached and described as for ONNX Runtime (:class:`device_profiler.ssh.SshDevice`:
the system ``ssh``, files through ``ssh … cat``, the board's ``python3`` reading ``/sys`` for
its CPUs); only the runner differs: the linux_arm64 ``benchmark_model`` (``--benchmark-model
PATH``) is copied once to the remote directory (skipped when its sha256 matches), made
executable, and run pinned to the fastest cores with ``taskset``
(:class:`device_profiler.litert.runner.BenchmarkModelRunner`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from device_profiler._shell import first_line, quote_join
from device_profiler.adb_parsing import affinity_mask, big_cores
from device_profiler.litert import benchmark_model as bm
from device_profiler.litert.runner import BenchmarkModelRunner
from device_profiler.ssh import SshDevice
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming


class LiteRtSshDevice(SshDevice):
    """A Linux board reached with ``ssh HOST``, timing ``.tflite`` models."""

    model_format = "tflite"

    def __init__(self, host: str, benchmark_model: str | None = None, *, taskset: bool = True, **kw):
        tool = bm.locate_tool(benchmark_model, "linux_arm64")
        super().__init__(host, **kw)
        self.tool = Path(tool)
        self.taskset = taskset
        self._tool_sha = ""
        self._tool_runner: BenchmarkModelRunner | None = None

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        super()._ensure_ready()
        data = self.tool.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        remote = self._rpath(bm.TOOL_NAME)
        rc, out, _ = self._ssh(quote_join(["sha256sum", remote]))
        if not (rc == 0 and out.split()[:1] == [sha]):
            rc, out, err = self._ssh(f"cat > {quote_join([remote])} && chmod 755 {quote_join([remote])}",
                                     stdin_bytes=data)
            if rc != 0:
                raise DeviceError(f"ssh host {self.host}: copying {bm.TOOL_NAME} failed ({first_line(err + out)})",
                                  "check free space and permissions of the remote directory")
        self._tool_sha = sha
        self._tool_runner = BenchmarkModelRunner(execute=self._ssh, tool=f"./{bm.TOOL_NAME}",
                                            where=f"ssh host {self.host}", workdir=self.remote_dir)

    def info(self) -> DeviceInfo:
        base = super().info()
        props = {**base.properties, "runner": bm.TOOL_NAME, "benchmark_model_sha256": self._tool_sha}
        return DeviceInfo(key=base.key, kind=base.kind, model=base.model, properties=props, runtime="litert",
                          runtime_version=f"{bm.TOOL_NAME}-sha256:{self._tool_sha[:12]}", accelerator="cpu")

    def time_model(self, model_path: Path, settings: MeasureSettings) -> RawTiming:
        model_path = self.checked_model_path(model_path)
        self._ensure_ready()
        if self._info is None:
            self._info = self.remote_info()
        # big_cores takes every core when their speeds are unknown: then no taskset at all
        cpus = {int(n): {"max_khz": v.get("max_khz") or 0} for n, v in self._info.get("cpus", {}).items()}
        known = self.taskset and any(v["max_khz"] for v in cpus.values())
        cores = big_cores(cpus, settings.threads) if known else []
        mask = affinity_mask(cores) if cores else None
        data = model_path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        name = f"model-{sha[:16]}.tflite"
        rc, out, err = self._ssh(f"cat > {quote_join([self._rpath(name)])}", stdin_bytes=data)
        if rc != 0:
            raise DeviceError(f"ssh host {self.host}: copying the model failed ({first_line(err + out)})",
                              "check free space in the remote directory")
        try:
            raw = self._tool_runner.time(name, model_path, settings, cpu_mask=mask)
        finally:
            try:
                self._ssh(quote_join(["rm", "-f", self._rpath(name)]))
            except DeviceError:
                pass
        raw.metadata.update({"affinity_mask": mask or "", "cores": cores, "model_sha256": sha,
                             "benchmark_model_sha256": self._tool_sha})
        return raw
