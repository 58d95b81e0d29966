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

import numpy as np

from device_profiler import noise, trace
from device_profiler._base import Device
from device_profiler.stats import MIN_ON_CPU, effective_samples
from mnas_pred.errors import DeviceError
from mnas_pred.limits import check_local_threads
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming
from mnas_pred.threads import allowed_cpus

WORKER = Path(__file__).with_name("_ort_worker.py")
STEAL_REMEASURES = 1
#: Profiled runs of the calibration model, once per device: the median over them is the overhead.
CALIBRATION_RUNS = 40


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


MIN_CLEAN_RUNS = 3  # fewer clean profiled runs than this: use the preempted ones too (one thread)


def drop_preempted_runs(node_events: list, runs: int, on_cpu: list[float], warmup: int, threads: int):
    """Leave out the profiled runs during which the worker was preempted: their node times
    include the wait. On a machine so busy that fewer than ``MIN_CLEAN_RUNS`` runs were clean
    (every 5 ms run preempted at a load of 5 on 2 cores), with one thread the runs are combined
    node by node: each node's median over all runs. A wait sits in the node that was running when
    the process was descheduled; a single node is hit in a minority of the runs, so its median
    leaves the waits out, where a whole layer (several nodes) is hit in most runs on such a
    machine (per-layer medians then gave sums of 1.5-2x the end-to-end time; scaling every node
    by its run's CPU share instead shrank the nodes that did not wait: 0.44-0.63). The combined
    profile is one run, indexed as the first kept one. With several threads the least preempted
    run is kept. Returns ``(events, runs, dropped, combined)``."""
    preempted = {i for i, r in enumerate(on_cpu) if r < MIN_ON_CPU and i >= warmup}
    if not preempted or len(on_cpu) <= warmup:
        return node_events, runs, 0, False
    if runs - len(preempted) >= MIN_CLEAN_RUNS:
        kept = [e for e in node_events if e[3] not in preempted]
        return kept, runs - len(preempted), len(preempted), False
    if threads == 1:
        return median_run(node_events), 1, 0, True
    if len(preempted) >= runs:
        preempted.discard(max(range(warmup, len(on_cpu)), key=lambda i: on_cpu[i]))
    kept = [e for e in node_events if e[3] not in preempted]
    return kept, runs - len(preempted), len(preempted), False


def median_run(node_events: list) -> list:
    """One run made of every node's median time over the runs (0 in a run it is missing from),
    in the execution order of the first run, indexed as the first run."""
    run_ids = sorted({e[3] for e in node_events})
    if not run_ids:
        return []
    times: dict[str, dict[int, float]] = {}
    order: list[tuple[str, str]] = []
    for name, op, dur, run in node_events:
        if name not in times:
            times[name] = {}
            order.append((name, op))
        times[name][run] = times[name].get(run, 0.0) + dur
    return [(name, op, float(np.median([times[name].get(r, 0.0) for r in run_ids])), run_ids[0]) for name, op in order]


class LocalDevice(Device):
    """ONNX Runtime CPU on this machine.

    ``cpus``: cores to pin the worker to; default: the last ``threads`` cores this process may
    use (core 0 usually takes most interrupts). ``timeout_s``: a worker that has not answered
    by then is killed and the model fails with a transient :class:`DeviceError`. ``nice``: the
    worker's scheduling priority (-10: ahead of ordinary processes, where permitted; None: leave
    it); the value it got is recorded with each measurement.
    """

    kind = "local"
    runtime_label = "ONNX Runtime"  # names the runtime in a failed or timed-out worker's message

    def __init__(self, cpus: list[int] | None = None, timeout_s: float = 300.0, python: str | None = None,
                 nice: int | None = -10):
        self.cpus = list(cpus) if cpus else None
        self.nice = nice
        self.timeout_s = timeout_s
        self.python = python or sys.executable
        self._standby: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None  # profiles go here; made on first use
        self._ort_version: str | None = None
        # The profiler's per-node overhead is a constant of this machine, runtime and thread count
        # (with several threads it also records the pool's scheduling): measured once per thread
        # count, by the first profiled worker (see _read_profile), and kept for the device's life.
        self._profiler_overhead: dict[int, dict] = {}

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

    def _run_worker(self, onnx_path: Path, request: dict, cpus: list[int]) -> tuple[dict, dict]:
        """One worker process: its JSON result and the machine readings around it."""
        proc = self._take_worker()
        stat_before = noise.read_proc_stat()
        try:
            out, err = proc.communicate(json.dumps(request) + "\n", timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise DeviceError(f"{self.runtime_label} worker timed out after {self.timeout_s:.0f} s on {onnx_path.name}",
                              "the model was skipped; re-run to retry it", transient=True) from None
        finally:
            self._standby = None
            self.prestart()  # the next model's worker warms up while the caller exports
        machine = noise.machine_readings(stat_before, cpus)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        try:
            result = json.loads(lines[-1]) if lines and proc.returncode == 0 else None
        except ValueError:  # a library printed after the worker's JSON line: a failed model, not a traceback
            result = {"error": f"unreadable worker output: {lines[-1][:200]!r}"}
        if not isinstance(result, dict) or "error" in result or "samples_ms" not in result:
            why = (result or {}).get("error") or (err.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise DeviceError(f"{self.runtime_label} failed on {onnx_path.name}: {why}",
                              "the model was skipped; re-run to retry it", transient=True)
        return result, machine

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
            "calibration_model": self._calibration_model()
            if settings.profile_runs and settings.threads not in self._profiler_overhead else None,
            "calibration_runs": CALIBRATION_RUNS,
        }
        # A run set during which the hypervisor stole a large share of the CPU is taken again
        # (once): its times are the VM's neighbours', not the model's. If the steal persists, the
        # measurement is kept with the reading (metadata "machine", exported as machine_noisy).
        for attempt in range(1 + STEAL_REMEASURES):
            result, machine = self._run_worker(onnx_path, request, cpus)
            if machine.get("steal", 0.0) <= noise.STEAL_REMEASURE or attempt == STEAL_REMEASURES:
                break
            for name in (result.get("profile_path"), result.get("calibration_path")):
                if name:
                    self._trace_file(name).unlink(missing_ok=True)
        machine["remeasured_for_steal"] = attempt
        node_events: list = []
        profiled_runs = dropped_profiled_runs = 0
        combined = False
        profile_meta: dict = {}
        if result.get("profile_path"):
            node_events, profiled_runs, profile_meta = self._read_profile(result, settings)
            dropped_profiled_runs, combined = profile_meta.pop("dropped"), profile_meta.pop("combined")
        return RawTiming(
            samples_ms=[float(x) for x in result["samples_ms"]],
            node_events=node_events,
            profiled_runs=profiled_runs,
            metadata={
                "affinity": result.get("affinity", cpus), "nice": result.get("nice"), "threads": settings.threads,
                "worker_pid": result.get("pid"), "session_create_s": result.get("session_s"),
                "worker_phases_s": result.get("phases_s"),
                "cpu_ms": result.get("cpu_ms"), "preempted_profiled_runs": dropped_profiled_runs,
                "profile_runs_combined_by_node": combined, **profile_meta, "machine": machine,
                "ort_version": result.get("ort_version"),
            },
        )

    def _calibration_model(self) -> str:
        path = Path(self.workdir) / "profiler_calibration.onnx"
        if not path.is_file():
            path.write_bytes(trace.calibration_model())
        return str(path)

    def _trace_file(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else Path(self.workdir) / path

    def _profiler_overhead_us(self, result: dict, warmup: int, threads: int) -> dict:
        """The profiler's per-node overhead: measured on the calibration model by the worker that was
        asked to (the device's first profiled one) and kept on the device; until a measurement
        succeeds (no clean calibration run), the next profiled worker is asked again."""
        if result.get("calibration_path"):
            calibration = self._trace_file(result["calibration_path"])
            cal_records, _ = trace.kernel_records(trace.load_trace(calibration), drop_first_runs=warmup)
            calibration.unlink(missing_ok=True)
            on_cpu = result.get("calibration_on_cpu") or []
            clean = {i for i, r in enumerate(on_cpu) if i >= warmup and r >= MIN_ON_CPU}  # absolute run indices
            measured = trace.overhead_from_calibration(cal_records, clean)
            if measured["runs"]:
                self._profiler_overhead[threads] = {**measured, "worker_pid": result.get("pid")}
        return dict(self._profiler_overhead.get(threads) or {"one_input": 0.0, "per_extra_input": 0.0, "runs": 0})

    def _read_profile(self, result: dict, settings: MeasureSettings) -> tuple[list, int, dict]:
        """Node events of the profiled runs, with the profiler's own per-node overhead (measured
        once per device on the calibration model) removed and brought to the machine state of this
        call's end-to-end runs (see :func:`device_profiler.trace.state_scale`).
        Returns ``(events, runs, metadata)``; the metadata says how the raw profile relates to
        the end-to-end runs."""
        warmup = result["profile_warmup"]
        profile = self._trace_file(result["profile_path"])
        records, runs = trace.kernel_records(trace.load_trace(profile), drop_first_runs=warmup)
        profile.unlink(missing_ok=True)
        overhead = self._profiler_overhead_us(result, warmup, settings.threads)
        paired = [float(x) for x in result.get("paired_ms") or []]
        calibrated = trace.run_totals_ms(trace.subtract_overhead(records, overhead))  # the per-node overhead only
        if settings.threads > 1:  # profiling slows the pool's parallel sections too (trace.pool_overhead_us)
            overhead = {**overhead, "per_parallel_section": trace.pool_overhead_us(records, calibrated, dict(enumerate(paired)))}
        on_cpu = result.get("profile_on_cpu") or []
        raw_totals, nodes_per_run = trace.run_totals_ms(records), len(records) / max(runs, 1)
        events, runs, dropped, combined = drop_preempted_runs(trace.subtract_overhead(records, overhead), runs, on_cpu,
                                                            warmup, settings.threads)
        meta: dict = {"profiler_overhead_us": overhead, "dropped": dropped, "combined": combined}
        if not events:
            # The trace held no node event (a profile cut short): the end-to-end runs stand on their
            # own, and the protocol's next attempt, if any, profiles again. An error here would throw
            # away good end-to-end samples for want of a profile.
            meta["profile_missing"] = "the profiler trace held no node events"
            return [], 0, meta
        # run indices count the warm-up runs, as the events' do; paired_ms[i] preceded profiled run i
        # (with one thread a preempted unprofiled run counts with its CPU time)
        kept_runs = {e[3] for e in events}
        paired_by_run = {i: paired[i] for i in kept_runs if 0 <= i < len(paired)}
        if combined and paired[warmup:]:  # the combined run stands for all of them
            paired_by_run = {min(kept_runs): float(np.median(paired[warmup:]))}
            raw_totals = {min(kept_runs): float(np.median(list(raw_totals.values())))}
        if paired_by_run:
            e2e = float(np.median(effective_samples(result["samples_ms"], result.get("cpu_ms"), settings.threads)
                                  or result["samples_ms"]))
            totals = trace.run_totals_ms(events)
            paired_e2e = float(np.median(list(paired_by_run.values())))
            meta["profile"] = {
                "nodes_per_run": round(nodes_per_run, 1),
                "raw_sum_ms": round(float(np.median([raw_totals.get(r, 0.0) for r in paired_by_run])), 4),
                "corrected_sum_ms": round(float(np.median([totals.get(r, 0.0) for r in paired_by_run])), 4),
                "paired_e2e_ms": round(paired_e2e, 4),
                "e2e_ms": round(e2e, 4),
                # raw profile / unprofiled run of the same moment, and the same after the overhead
                "paired_ratio_raw": trace.paired_ratio(raw_totals, paired_by_run),
                "paired_ratio": trace.paired_ratio(totals, paired_by_run),
                # the same with the calibrated per-node overhead only (several threads: before the pool's)
                "paired_ratio_calibrated": trace.paired_ratio(calibrated, paired_by_run),
                # machine speed during the profile relative to the end-to-end runs (1 = same; with
                # several threads it includes the cost of the paired runs' pool not spinning)
                "state_ratio": round(paired_e2e / e2e, 4),
                # per layer, before any correction (median over the same runs): with layers_ms, how
                # the profile of each layer relates to what is stored
                "layers_raw_ms": {k: round(v, 5) for k, v in trace.layer_times_ms(
                    [r[:4] for r in records if r[3] in paired_by_run], len(paired_by_run),
                    trace.path_layers(records), reduce="median").items()},
            }
            scale = trace.state_scale(paired_by_run.values(), e2e)
            events = [(n, op, dur * scale, r) for n, op, dur, r in events]
        return events, runs, meta

    def close(self) -> None:
        if self._standby is not None:
            self._kill(self._standby)  # idle, holding no work: nothing is lost
            self._standby = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
