"""Android phones over adb, timed with LiteRT's ``benchmark_model`` (``--runtime litert``).

Everything about the phone (finding it, its errors, the big cores from ``cpuinfo_max_freq``,
waiting to cool down, pushing files by sha256, quoting every argument) is the ORT phone's
(:class:`device_profiler.adb.AdbDevice`); this device only swaps the runner:

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

import shlex
from pathlib import Path

from device_profiler._shell import quote_join
from device_profiler.adb import DEVICES_FIX, AdbDevice, _sha256_file, affinity_mask, big_cores, parse_getprop
from device_profiler.litert import benchmark_model as bm
from device_profiler.litert.runner import BenchmarkModelRunner
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming


class LiteRtAdbDevice(AdbDevice):
    """An Android phone reached with ``adb -s SERIAL``, timing ``.tflite`` models."""

    model_format = "tflite"

    def __init__(self, serial: str, adb: str | None = None, benchmark_model: str | None = None,
                 accelerator: str = "cpu", gpu_accelerator: str | None = None, **kw):
        tool = bm.locate_tool(benchmark_model, "android_arm64")
        if accelerator not in ("cpu", "gpu"):
            raise DeviceError(f"unknown accelerator '{accelerator}'", "use --accelerator cpu or gpu")
        if gpu_accelerator and not Path(gpu_accelerator).is_file():
            raise DeviceError(f"--gpu-accelerator {gpu_accelerator} does not exist",
                              f"pass the path of {bm.GPU_ACCELERATOR_NAMES[0]} for Android arm64")
        super().__init__(serial, adb=adb, **kw)
        self.tool = Path(tool)
        self.accelerator = accelerator
        self.gpu_accelerator = Path(gpu_accelerator) if gpu_accelerator else None
        self._tool_runner: BenchmarkModelRunner | None = None

    # --------------------------------------------------------------- session setup
    def _install_runner(self) -> None:
        """Push the tool (and the accelerator) once per session (skipped when unchanged)."""
        self._install_tool(self.tool, bm.TOOL_NAME, executable=True)
        use_gpu = self.accelerator == "gpu"
        if use_gpu and self.gpu_accelerator is not None:
            self._install_tool(self.gpu_accelerator, self.gpu_accelerator.name, executable=False)
        elif use_gpu:
            present = self._remote_names()
            if not present & set(bm.GPU_ACCELERATOR_NAMES):
                raise DeviceError(f"adb device {self.serial}: --accelerator gpu needs LiteRT's GPU accelerator "
                                  f"and {self.remote_dir} has none",
                                  f"pass --gpu-accelerator PATH ({bm.GPU_ACCELERATOR_NAMES[0]}, android_arm64, "
                                  f"from the release of your benchmark_model; {bm.DOWNLOAD_PAGE})")
        self._tool_runner = BenchmarkModelRunner(
            execute=self._shell, tool=f"./{bm.TOOL_NAME}", where=f"adb device {self.serial}",
            workdir=self.remote_dir, library_dir=self.remote_dir, use_gpu=use_gpu, burst_runs=self.burst_runs)

    def _remote_names(self) -> set[str]:
        rc, out, _ = self._shell(f"ls {shlex.quote(self.remote_dir)}")
        return set(out.split()) if rc == 0 else set()

    def _ensure_ready(self) -> None:
        """The phone part of the ORT device's setup (directory, properties, CPUs), then this
        runtime's tools instead of onnxruntime_perf_test."""
        if self._ready:
            return
        self._shell_ok(quote_join(["mkdir", "-p", self.remote_dir]), f"creating {self.remote_dir}",
                       "pass a writable --remote-dir (default /data/local/tmp/mnas-pred)")
        self._props = parse_getprop(self._shell_ok("getprop", "getprop", DEVICES_FIX))
        self._probe()
        self._install_runner()
        self._ready = True

    # --------------------------------------------------------------- Device API
    def info(self) -> DeviceInfo:
        base = super().info()
        props = {k: v for k, v in base.properties.items() if k not in ("perf_test_sha256", "ort_lib_sha256")}
        props["runner"] = bm.TOOL_NAME
        props["benchmark_model_sha256"] = self._tool_sha.get(bm.TOOL_NAME, "")
        if self.accelerator == "gpu":
            name = self.gpu_accelerator.name if self.gpu_accelerator else ""
            props["gpu_accelerator"] = name
            props["gpu_accelerator_sha256"] = self._tool_sha.get(name, "")
        sha = self._tool_sha.get(bm.TOOL_NAME, "")
        return DeviceInfo(key=base.key, kind=base.kind, model=base.model, properties=props, runtime="litert",
                          runtime_version=f"{bm.TOOL_NAME}-sha256:{sha[:12]}" if sha else "",
                          accelerator=self.accelerator)

    def time_model(self, model_path: Path, settings: MeasureSettings) -> RawTiming:
        model_path = Path(model_path)
        self._ensure_ready()
        thermal = self.wait_cool()
        cores = big_cores(self._cpus, settings.threads)
        mask = affinity_mask(cores) if cores else "1"
        sha = _sha256_file(model_path)
        model = f"model-{sha[:16]}.tflite"
        self._push(model_path, self._rpath(model))
        try:
            raw = self._tool_runner.time(model, model_path, settings, cpu_mask=mask)
        finally:
            try:
                self._shell(f"cd {shlex.quote(self.remote_dir)} && rm -f {shlex.quote(model)}")
            except DeviceError:
                pass  # the device is gone; the error that matters is already propagating
        raw.metadata.update({
            **thermal,
            "temperature_c_after": self.temperature_c(),
            "affinity_mask": mask,
            "cores": cores,
            "cpu_max_khz": [self._cpus[c]["max_khz"] for c in cores if c in self._cpus],
            "governor": sorted({self._cpus[c]["governor"] for c in cores if c in self._cpus}),
            "model_sha256": sha,
            "benchmark_model_sha256": self._tool_sha.get(bm.TOOL_NAME, ""),
        })
        return raw
