"""LiteRT on this machine's CPU (``--runtime litert`` without ``--serial``/``--ssh``).

:class:`LocalLiteRtDevice` times ``.tflite`` files end to end through ai-edge-litert in a fresh worker
process per model (``_litert_worker.py``), with the local ONNX Runtime device's process handling:
pinned cores, fixed threads, a higher priority where permitted, a standby worker started ahead, a
timeout that costs one model. Measurements are end to end only: ai-edge-litert's Python API has no
per-op profiler, so ``RawTiming`` carries no per-layer times and the measurement says why
(``metadata["per_layer"]``). Per-layer times on this CPU come from LiteRT's own ``benchmark_model``
tool (a linux_x86_64 build, ``--benchmark-model``), which is a separate device.
"""

from __future__ import annotations

import dataclasses
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from device_profiler.adb_parsing import affinity_mask
from device_profiler.local import LocalDevice
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming

WORKER = Path(__file__).with_name("_litert_worker.py")
END_TO_END_ONLY = ("none: ai-edge-litert's Python API has no per-op profiler; give --benchmark-model "
                   "(LiteRT's linux_x86_64 benchmark_model) for per-layer times")


def litert_version() -> str:
    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return ""


def run_once(path: str | Path, x):
    """The ``.tflite``'s output on one input array, in this process (CPU, one thread): for checks, not timing."""
    import numpy as np

    from mnas_pred.compat import require

    require("ai_edge_litert")
    from device_profiler.litert._litert_worker import _model

    model = _model(str(path), 1)
    inputs, outputs = model.create_input_buffers(0), model.create_output_buffers(0)
    inputs[0].write(np.ascontiguousarray(x, dtype=np.float32))
    model.run_by_index(0, inputs, outputs)
    signature = next(iter(model.get_signature_list()))
    shape = next(iter(model.get_output_tensor_details(signature).values()))["shape"]
    return outputs[0].read(int(np.prod(shape)), np.float32).reshape(shape)


class LocalLiteRtDevice(LocalDevice):
    """LiteRT (CPU, XNNPACK) on this machine; same options as :class:`~device_profiler.local.LocalDevice`."""

    runtime_label = "LiteRT"
    model_format = "tflite"

    @property
    def profiles_layers(self) -> bool:
        """Per-layer times only through --benchmark-model: ai-edge-litert's Python API has no per-op profiler."""
        return bool(self.benchmark_model)

    def __init__(self, *args, benchmark_model: str | None = None, **kwargs):
        from mnas_pred.compat import require

        require("ai_edge_litert")  # one line naming the extra, before any worker starts
        super().__init__(*args, **kwargs)
        self.benchmark_model = benchmark_model
        self._runner = None

    def _tool_runner(self):
        """LiteRT's benchmark_model (linux_x86_64 build) run here: end to end and per layer."""
        if self._runner is None:
            try:
                from device_profiler.litert.runner import BenchmarkModelRunner, local_shell
            except ImportError:
                raise DeviceError("--benchmark-model on this machine's CPU is not available in this installation",
                                  "drop --benchmark-model to measure end to end through ai-edge-litert") from None
            self._runner = BenchmarkModelRunner(execute=local_shell, tool=str(self.benchmark_model),
                                                where="local CPU")
        return self._runner

    def info(self) -> DeviceInfo:
        base = super().info()
        version, props = litert_version(), dict(base.properties)
        if self.benchmark_model:  # the timings come from that binary: it is the runtime (as on phones and boards)
            import hashlib

            try:
                with open(self.benchmark_model, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            except OSError as e:
                raise DeviceError(f"cannot read --benchmark-model '{self.benchmark_model}': {e.strerror}",
                                  "give the path of LiteRT's benchmark_model (linux_x86_64 build)") from None
            version, props["benchmark_model_sha256"] = f"benchmark_model-sha256:{digest[:12]}", digest
        return dataclasses.replace(base, runtime="litert", runtime_version=version, properties=props,
                                   accelerator="cpu")

    def _spawn(self) -> subprocess.Popen:
        import os
        import sys

        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        try:
            return subprocess.Popen(
                [self.python or sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, env=env, cwd=self.workdir,
            )
        except OSError as e:
            raise DeviceError(f"cannot start the LiteRT worker ({self.python}): {e}",
                              "check the Python environment") from None

    def time_model(self, model_path: Path, settings: MeasureSettings) -> RawTiming:
        model_path = Path(model_path).resolve()
        if not model_path.is_file():
            raise DeviceError(f"model file '{model_path}' does not exist", "convert the model first")
        cpus = self.pinned_cpus(settings.threads)
        if self.benchmark_model:  # the tool pins itself through taskset (its own samples and per-layer profile)
            return self._tool_runner().time(str(model_path), model_path, settings,
                                            cpu_mask=affinity_mask(cpus))
        request = {"model": str(model_path), "threads": settings.threads, "warmup": settings.warmup,
                   "runs": settings.runs, "cpus": cpus, "nice": self.nice}
        result, machine = self._run_worker(model_path, request, cpus)  # with the steal/load readings
        return RawTiming(
            samples_ms=[float(x) for x in result["samples_ms"]], node_events=[], profiled_runs=0,
            metadata={
                "affinity": result.get("affinity", cpus), "nice": result.get("nice"), "threads": settings.threads,
                "worker_pid": result.get("pid"), "model_load_s": result.get("load_s"), "cpu_ms": result.get("cpu_ms"),
                "fully_accelerated": result.get("fully_accelerated"), "per_layer": END_TO_END_ONLY, "machine": machine,
            },
        )


def local_row(accelerator: str, cores: int) -> dict:
    """What ``mnas-pred devices --runtime litert`` says about this machine (state and note)."""
    from device_profiler.litert import EXTRA_MODULES
    from device_profiler.litert.convert import converter_versions, default_cache_dir
    from mnas_pred.compat import EXTRAS, available

    missing = [m for m in EXTRA_MODULES if not available(m)]
    if missing:
        return {"state": "unavailable", "note": f"LiteRT needs {EXTRAS[missing[0]].install}"}
    if accelerator != "cpu":
        return {"state": "unavailable", "note": "LiteRT here measures on the CPU only (GPU: a phone, --serial)"}
    return {"state": "ready", "note": f"litert {litert_version()} (ai-edge-litert: end to end; per layer with "
                                      f"--benchmark-model), litert-torch {converter_versions()['litert-torch']}, "
                                      f"{cores} cores; converted models cached in {default_cache_dir()}"}


def open_local(spec) -> LocalDevice:
    """The local LiteRT device of a :class:`~mnas_pred.records.DeviceSpec`: end to end through
    ai-edge-litert, or end to end and per layer through LiteRT's ``benchmark_model`` tool when
    ``spec.benchmark_model`` names a linux_x86_64 build (``--benchmark-model``)."""
    return LocalLiteRtDevice(cpus=list(spec.cpus) if spec.cpus else None, benchmark_model=spec.benchmark_model)


__all__ = ["END_TO_END_ONLY", "LocalLiteRtDevice", "litert_version", "local_row", "open_local", "run_once"]
