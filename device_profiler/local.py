"""The local device: ONNX Runtime CPU on this machine, one worker process per model.

Every model is timed in a fresh worker process (``_ort_worker.py``, JSON over its stdin/stdout):
a crash or hang of ONNX Runtime costs that model only, never the run, and every model starts
from the same process state. The worker is pinned to fixed cores (``os.sched_setaffinity``)
with a fixed intra-op thread count, inter-op 1 and the default graph optimization level.

The next worker is started as soon as the previous one has finished, so its Python start-up and
``import onnxruntime`` (~0.15 s) overlap with the export of the next model instead of adding to
every measurement. It never runs during a timed burst.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from device_profiler import trace
from device_profiler._base import Device
from device_profiler.stats import MIN_ON_CPU
from mnas_pred.errors import DeviceError
from mnas_pred.limits import check_local_threads
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming
from mnas_pred.threads import allowed_cpus

WORKER = Path(__file__).with_name("_ort_worker.py")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown-cpu"


def cpu_properties(cpus: list[int]) -> dict:
    """Frequencies and governor of the given cores where the kernel exposes them (many VMs
    do not; then only the nominal MHz from /proc/cpuinfo is known)."""
    props: dict = {}
    freqs = {}
    for c in cpus:
        base = f"/sys/devices/system/cpu/cpu{c}/cpufreq"
        entry = {
            k: _read(f"{base}/{f}")
            for k, f in (("governor", "scaling_governor"), ("cur_khz", "scaling_cur_freq"),
                         ("max_khz", "cpuinfo_max_freq"), ("min_khz", "cpuinfo_min_freq"))
        }
        entry = {k: v for k, v in entry.items() if v is not None}
        if entry:
            freqs[str(c)] = entry
    if freqs:
        props["cpufreq"] = freqs
    mhz = [line.split(":", 1)[1].strip() for line in (_read("/proc/cpuinfo") or "").splitlines()
           if line.lower().startswith("cpu mhz")]
    if mhz:
        props["cpuinfo_mhz"] = mhz
    temps = []
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")) if Path("/sys/class/thermal").is_dir() else []:
        t = _read(str(zone / "temp"))
        if t and t.lstrip("-").isdigit():
            temps.append({"zone": zone.name, "type": _read(str(zone / "type")), "celsius": int(t) / 1000})
    if temps:
        props["temperatures"] = temps
    return props


def drop_preempted_runs(node_events: list, runs: int, on_cpu: list[float], warmup: int, threads: int):
    """Leave out the profiled runs during which the worker was preempted: their node times
    include the wait. When every run was preempted, keep the one that waited least and, with one
    thread (all work on the measuring thread), scale its node times by its CPU share so that
    they add up to its CPU time. Returns ``(events, runs, dropped, scaled)``."""
    preempted = {i for i, r in enumerate(on_cpu) if r < MIN_ON_CPU and i >= warmup}
    if not preempted or len(on_cpu) <= warmup:
        return node_events, runs, 0, False
    scaled = False
    if len(preempted) >= runs:
        best = max(range(warmup, len(on_cpu)), key=lambda i: on_cpu[i])
        preempted.discard(best)
        if threads == 1:
            share = on_cpu[best]
            node_events = [(n, op, dur * share, r) if r == best else (n, op, dur, r) for n, op, dur, r in node_events]
            scaled = True
    kept = [e for e in node_events if e[3] not in preempted]
    return kept, runs - len(preempted), len(preempted), scaled


class LocalDevice(Device):
    """ONNX Runtime CPU on this machine.

    ``cpus``: cores to pin the worker to; default: the last ``threads`` cores this process may
    use (core 0 usually takes most interrupts). ``timeout_s``: a worker that has not answered
    by then is killed and the model fails with a transient :class:`DeviceError`. ``nice``: the
    worker's scheduling priority (-10: ahead of ordinary processes, where permitted; None: leave
    it); the value it got is recorded with each measurement.
    """

    kind = "local"

    def __init__(self, cpus: list[int] | None = None, timeout_s: float = 300.0, python: str | None = None,
                 nice: int | None = -10):
        self.cpus = list(cpus) if cpus else None
        self.nice = nice
        self.timeout_s = timeout_s
        self.python = python or sys.executable
        self._standby: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None  # profiles go here; made on first use
        self._ort_version: str | None = None

    # ------------------------------------------------------------------ identity
    def pinned_cpus(self, threads: int) -> list[int]:
        allowed = allowed_cpus()
        if self.cpus:
            bad = sorted(set(self.cpus) - set(allowed))
            if bad:
                raise DeviceError(f"cannot pin to cores {bad}: this process may only use {allowed}",
                                  "choose cores from that list")
            return self.cpus
        check_local_threads(threads)  # the cap the CLI checks before any file is touched
        return allowed[-threads:]

    def info(self) -> DeviceInfo:
        host = socket.gethostname()
        model = cpu_model()
        cpus = allowed_cpus()
        props = {
            "hostname": host,
            "cpu_model": model,
            "cpu_count": os.cpu_count(),
            "allowed_cpus": cpus,
            "os": platform.platform(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            **cpu_properties(cpus),
        }
        return DeviceInfo(
            key=f"local:{host}:{model}", kind="local", model=model, properties=props,
            runtime="onnxruntime", runtime_version=self._runtime_version(),
        )

    def _runtime_version(self) -> str:
        if self._ort_version is None:
            from importlib.metadata import PackageNotFoundError, version

            try:
                self._ort_version = version("onnxruntime")
            except PackageNotFoundError:
                self._ort_version = ""
        return self._ort_version

    # ------------------------------------------------------------------ worker processes
    @property
    def workdir(self) -> str:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mnas-pred-local-")
        return self._tmp.name

    def _spawn(self) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            return subprocess.Popen(
                [self.python, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, env=env, cwd=self.workdir,
            )
        except OSError as e:
            raise DeviceError(f"cannot start the ONNX Runtime worker ({self.python}): {e}",
                              "check the Python environment") from None

    def _take_worker(self) -> subprocess.Popen:
        proc = self._standby if self._standby is not None and self._standby.poll() is None else None
        self._standby = None
        return proc or self._spawn()

    def prestart(self) -> None:
        """Start the next worker now, so its start-up overlaps with other work (an export)."""
        if self._standby is None or self._standby.poll() is not None:
            self._standby = self._spawn()

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass

    def time_model(self, onnx_path: Path, settings: MeasureSettings) -> RawTiming:
        onnx_path = Path(onnx_path).resolve()
        if not onnx_path.is_file():
            raise DeviceError(f"model file '{onnx_path}' does not exist", "export the model first")
        cpus = self.pinned_cpus(settings.threads)
        prefix = str(Path(self.workdir) / f"profile_{onnx_path.stem}")
        request = {
            "model": str(onnx_path), "threads": settings.threads, "warmup": settings.warmup,
            "runs": settings.runs, "profile_runs": settings.profile_runs, "profile_warmup": 2,
            "profile_prefix": prefix, "cpus": cpus, "nice": self.nice, "min_on_cpu": MIN_ON_CPU,
        }
        proc = self._take_worker()
        try:
            out, err = proc.communicate(json.dumps(request) + "\n", timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise DeviceError(f"ONNX Runtime worker timed out after {self.timeout_s:.0f} s on {onnx_path.name}",
                              "the model was skipped; re-run to retry it", transient=True) from None
        finally:
            self._standby = None
            self.prestart()  # the next model's worker warms up while the caller exports
        lines = [ln for ln in out.splitlines() if ln.strip()]
        result = json.loads(lines[-1]) if lines and proc.returncode == 0 else None
        if result is None or "error" in result or "samples_ms" not in result:
            why = (result or {}).get("error") or (err.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise DeviceError(f"ONNX Runtime failed on {onnx_path.name}: {why}",
                              "the model was skipped; re-run to retry it", transient=True)
        node_events: list = []
        profiled_runs = dropped_profiled_runs = 0
        scaled = False
        if result.get("profile_path"):
            profile = Path(result["profile_path"])
            if not profile.is_absolute():
                profile = Path(self.workdir) / profile
            events = trace.load_trace(profile)
            node_events, profiled_runs = trace.node_events(events, drop_first_runs=result["profile_warmup"])
            profile.unlink(missing_ok=True)
            node_events, profiled_runs, dropped_profiled_runs, scaled = drop_preempted_runs(
                node_events, profiled_runs, result.get("profile_on_cpu") or [], result["profile_warmup"],
                settings.threads,
            )
        return RawTiming(
            samples_ms=[float(x) for x in result["samples_ms"]],
            node_events=node_events,
            profiled_runs=profiled_runs,
            metadata={
                "affinity": result.get("affinity", cpus), "nice": result.get("nice"), "threads": settings.threads,
                "worker_pid": result.get("pid"), "session_create_s": result.get("session_s"),
                "cpu_ms": result.get("cpu_ms"), "preempted_profiled_runs": dropped_profiled_runs,
                "profile_scaled_by_cpu_share": scaled,
                "ort_version": result.get("ort_version"),
            },
        )

    def close(self) -> None:
        if self._standby is not None:
            self._kill(self._standby)  # idle, holding no work: nothing is lost
            self._standby = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
