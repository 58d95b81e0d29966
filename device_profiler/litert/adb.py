"""Android phones over adb, timed with LiteRT's ``benchmark_model`` (``--runtime litert``).

Everything about the phone (finding it, its errors, the big cores from ``cpuinfo_max_freq``,
waiting to cool down, pushing files once by sha256, quoting every argument) is
:class:`device_profiler.adb_phone.AdbPhone`'s and its transport's; this runner adds:

- ``benchmark_model`` (the android_arm64 prebuilt, ``--benchmark-model PATH`` or
  ``$MNAS_PRED_BENCHMARK_MODEL``) is pushed to ``remote_dir`` (default ``/data/local/tmp/mnas-pred``)
  and made executable; with ``--accelerator gpu`` the GPU accelerator ``.so``
  (``--gpu-accelerator PATH``) is pushed beside it under its own name, and every run has
  ``LD_LIBRARY_PATH`` set to that directory (the tool ``dlopen``s it by bare name);
- every run is ``cd DIR && env LD_LIBRARY_PATH=DIR taskset MASK ./benchmark_model --graph=...``
  (:class:`device_profiler.litert.runner.BenchmarkModelRunner`): end-to-end bursts, then one
  profiled run for per-layer times. A GPU run that fell back to the CPU is an error.
"""

from __future__ import annotations

from pathlib import Path

from device_profiler.adb_phone import AdbPhone
from device_profiler.adb_transport import DEFAULT_REMOTE_DIR
from device_profiler.litert import benchmark_model as bm
from device_profiler.litert.runner import BenchmarkModelRunner
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming


class LiteRtAdbDevice(AdbPhone):
    """An Android phone reached with ``adb -s SERIAL``, timing ``.tflite`` models."""

    model_format = "tflite"

    def __init__(self, serial: str, adb: str | None = None, benchmark_model: str | None = None,
                 accelerator: str = "cpu", gpu_accelerator: str | None = None, remote_dir: str = DEFAULT_REMOTE_DIR,
                 burst_runs: int = 10, **phone_options):
        tool = bm.locate_tool(benchmark_model, "android_arm64")
        if accelerator not in ("cpu", "gpu"):
            raise DeviceError(f"unknown accelerator '{accelerator}'", "use --accelerator cpu or gpu")
        if gpu_accelerator and not Path(gpu_accelerator).is_file():
            raise DeviceError(f"--gpu-accelerator {gpu_accelerator} does not exist",
                              f"pass the path of {bm.GPU_ACCELERATOR_NAMES[0]} for Android arm64")
        super().__init__(serial, adb, remote_dir, **phone_options)
        self.tool = Path(tool)
        self.accelerator = accelerator
        self.gpu_accelerator = Path(gpu_accelerator) if gpu_accelerator else None
        self.burst_runs = max(1, int(burst_runs))
        self._tool_sha: dict[str, str] = {}
        self._tool_runner: BenchmarkModelRunner | None = None

    def install_tools(self) -> None:
        """Push the tool (and the GPU accelerator) once per session (skipped when unchanged)."""
        t = self.transport
        self._tool_sha[bm.TOOL_NAME] = t.install_tool(self.tool, bm.TOOL_NAME, True, bm.missing_tool_fix())
        use_gpu = self.accelerator == "gpu"
        if use_gpu and self.gpu_accelerator is not None:
            name = self.gpu_accelerator.name
            self._tool_sha[name] = t.install_tool(self.gpu_accelerator, name, False, "")
        elif use_gpu and not any(t.has_file(name) for name in bm.GPU_ACCELERATOR_NAMES):
            raise DeviceError(f"adb device {self.serial}: --accelerator gpu needs LiteRT's GPU accelerator "
                              f"and {self.remote_dir} has none",
                              f"pass --gpu-accelerator PATH ({bm.GPU_ACCELERATOR_NAMES[0]}, android_arm64, "
                              f"from the release of your benchmark_model; {bm.DOWNLOAD_PAGE})")
        self._tool_runner = BenchmarkModelRunner(
            execute=t.shell, tool=f"./{bm.TOOL_NAME}", where=f"adb device {self.serial}",
            workdir=self.remote_dir, library_dir=self.remote_dir, use_gpu=use_gpu, burst_runs=self.burst_runs)

    def info(self) -> DeviceInfo:
        self._ensure_ready()
        sha = self._tool_sha.get(bm.TOOL_NAME, "")
        props = {"runner": bm.TOOL_NAME, "benchmark_model_sha256": sha}
        if self.accelerator == "gpu" and self.gpu_accelerator is not None:
            props["gpu_accelerator"] = self.gpu_accelerator.name
            props["gpu_accelerator_sha256"] = self._tool_sha.get(self.gpu_accelerator.name, "")
        return self.phone_info(props, runtime="litert", runtime_version=f"{bm.TOOL_NAME}-sha256:{sha[:12]}",
                               accelerator=self.accelerator)

    def time_model(self, model_path: Path, settings: MeasureSettings) -> RawTiming:
        with self.model_on_phone(model_path, settings.threads, ".tflite") as model:
            raw = self._tool_runner.time(model.name, Path(model_path), settings, cpu_mask=model.cpu_mask)
        raw.metadata.update({**self.model_metadata(model),
                             "benchmark_model_sha256": self._tool_sha.get(bm.TOOL_NAME, "")})
        return raw
