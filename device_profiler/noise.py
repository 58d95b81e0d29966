"""How noisy a device is, and what that allows a latency predictor to reach.

Two jobs:

* **Machine readings while measuring** (local device): CPU steal time from ``/proc/stat`` (the
  share of time the hypervisor gave this VM's virtual CPUs to someone else), and the load average.
  :class:`CpuTimes` snapshots are taken around each timed run set; :func:`busy_readings` turns
  two of them into the fractions stored with the measurement.
* **check-device** (:func:`check_device`): time the reference network (MnasNet-B1) in many
  separate processes for a fixed wall time. Each process's median is one measurement as the
  profiler would take it; their spread is the device's run-to-run noise, the floor under any
  predictor evaluated on that device's measurements.

How the precision is derived: :mod:`mnas_pred.noise_floor`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mnas_pred.noise_floor import back_to_back_floor, drift_corrected_floor, noise_floor, pooled_sentence, sentence

STEAL_WARN = 0.05  # a run set during which the VM lost more than this share of CPU time is flagged
STEAL_REMEASURE = 0.10  # ... and above this share it is taken again (device_profiler.local)
POOLED_KEYS = ("ceiling_within_10pct", "ceiling_within_5pct", "mape_floor")
FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass(frozen=True)
class CpuTimes:
    """One ``/proc/stat`` ``cpu`` line (clock ticks), for all CPUs or one (``cpu`` = -1 for all)."""

    cpu: int
    user: int = 0
    nice: int = 0
    system: int = 0
    idle: int = 0
    iowait: int = 0
    irq: int = 0
    softirq: int = 0
    steal: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f) for f in FIELDS)

    @property
    def busy(self) -> int:
        return self.user + self.nice + self.system + self.irq + self.softirq


def parse_proc_stat(text: str) -> dict[int, CpuTimes]:
    """The ``cpu`` lines of ``/proc/stat``: key -1 for the aggregate line, N for ``cpuN``.
    Kernels older than 2.6.11 have no steal column (then 0); guest columns are ignored (they are
    already inside user/nice)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].startswith("cpu"):
            continue
        key = parts[0][3:]
        if key and not key.isdigit():
            continue
        values = [int(v) for v in parts[1:1 + len(FIELDS)] if v.isdigit()]
        values += [0] * (len(FIELDS) - len(values))
        out[int(key) if key else -1] = CpuTimes(int(key) if key else -1, *values)
    return out


def read_proc_stat(path: str | Path = "/proc/stat") -> dict[int, CpuTimes]:
    """:func:`parse_proc_stat` of this machine's ``/proc/stat`` ({} where there is none)."""
    try:
        return parse_proc_stat(Path(path).read_text())
    except OSError:
        return {}


def busy_readings(before: dict[int, CpuTimes], after: dict[int, CpuTimes], cpus: list[int] | None = None) -> dict:
    """Between two snapshots: ``steal`` (share of the CPUs' time stolen by the hypervisor),
    ``busy`` (share spent running anything, this process included), over ``cpus`` (default: the
    aggregate line). Empty when the snapshots do not cover them."""
    keys = cpus if cpus else [-1]
    if not all(k in before and k in after for k in keys):
        return {}
    total = sum(after[k].total - before[k].total for k in keys)
    if total <= 0:
        return {}
    steal = sum(after[k].steal - before[k].steal for k in keys)
    busy = sum(after[k].busy - before[k].busy for k in keys)
    return {"steal": round(steal / total, 4), "busy": round(busy / total, 4)}


def machine_readings(before: dict[int, CpuTimes], cpus: list[int] | None = None) -> dict:
    """Steal and busy shares since ``before`` on ``cpus``, the 1-minute load average and the
    CPU count, for the measurement's metadata; ``noisy`` names what was off, if anything."""
    out = busy_readings(before, read_proc_stat(), cpus)
    if hasattr(os, "getloadavg"):
        out["load1"] = round(os.getloadavg()[0], 2)
    out["cpu_count"] = os.cpu_count()
    reasons = []
    if out.get("steal", 0.0) > STEAL_WARN:
        reasons.append(f"{out['steal']:.0%} of the CPU time stolen by the hypervisor")
    if out.get("load1") is not None and out["cpu_count"] and out["load1"] > out["cpu_count"]:
        reasons.append(f"load average {out['load1']} on {out['cpu_count']} CPUs")
    if reasons:
        out["noisy"] = "; ".join(reasons)
    return out


# ---------------------------------------------------------------------- check-device
@dataclass
class NoiseReport:
    """What :func:`check_device` found. Fractions, not percentages."""

    device: str
    reference: str
    resolution: int
    threads: int
    processes: int
    seconds: float
    median_ms: float
    process_medians_ms: list[float]
    spread: float  # robust sigma of log per-process medians (1.4826 * MAD)
    within_process_cv: float  # median CV of the runs inside one process
    ceiling_within_10pct: float  # highest share of held-out networks a predictor can get within ±10%
    ceiling_within_5pct: float
    mape_floor: float
    machine: dict = field(default_factory=dict)  # steal, load during the check (local device)
    # the same for a measurement pooled from `repeats` processes (profile-device --repeats; with
    # 1, the figures above): {"repeats", "ceiling_within_10pct", "ceiling_within_5pct", "mape_floor"}
    pooled: dict = field(default_factory=dict)
    runtime: str = ""  # "onnxruntime 1.20.1, cpu", "litert ..., gpu"
    # the pooled figures for drift-corrected labels (the processes replayed as a campaign with a
    # reference every `every` measurements; mnas_pred.noise_floor.drift_corrected_floor): what
    # fit-predictor trains and is scored on by default. {} when the check is too short.
    drift_corrected: dict = field(default_factory=dict)

    def sentence(self) -> str:
        return sentence({"spread": self.spread, "ceiling_within_10pct": self.ceiling_within_10pct,
                         "ceiling_within_5pct": self.ceiling_within_5pct, "mape_floor": self.mape_floor},
                        f"{self.processes} processes of {self.reference}, median {self.median_ms:.2f} ms")

    def pooled_sentence(self, default_repeats: int | None = None) -> str:
        """"with --repeats 3 (the default), ...: expect ±10% accuracy <= 89%, ..." ("" for one process):
        from windows of consecutive processes where the check has enough, else independent ones."""
        k = self.pooled.get("repeats", 1)
        if k <= 1:
            return ""
        label = f"with --repeats {k}{' (the default)' if k == default_repeats else ''}, the median of {k} processes"
        b2b = self.pooled.get("back_to_back")
        if not b2b:  # too short a check to see consecutive processes: independent ones
            return pooled_sentence(self.pooled, f"{label} (independent)")
        p = self.pooled
        return (pooled_sentence(b2b, f"{label} back to back, as profile-device runs them") + " (were they "
                f"independent: {100 * p['ceiling_within_10pct']:.0f}%, {100 * p['ceiling_within_5pct']:.0f}%, "
                f"{100 * p['mape_floor']:.1f}%)")

    def corrected_sentence(self, default_every: int | None = None) -> str:
        """"drift-corrected, a reference every 5 measurements (the default): expect ..." ("" without figures)."""
        c = self.drift_corrected
        if not c:
            return ""
        label = (f"drift-corrected as fit-predictor trains, --drift-every {c['every']}"
                 f"{' (the default)' if c['every'] == default_every else ''} and {c['repeats']} process(es) a "
                 f"measurement ({c['measurements']} corrected measurements, the check replayed at every phase)")
        return pooled_sentence(c, label) + (" (optimistic: the check's processes are shorter than a profiled "
                                            "model's, so its references come sooner)")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = self.sentence()
        if self.drift_corrected:
            d["drift_corrected"]["summary"] = self.corrected_sentence()
        if self.pooled.get("repeats", 1) > 1:
            d["pooled"]["summary"] = self.pooled_sentence()
        return d


def summarize(device: str, reference: str, resolution: int, threads: int, medians: list[float], cvs: list[float],
              seconds: float, machine: dict | None = None, repeats: int = 1, drift_every: int = 0) -> NoiseReport:
    """The report of process medians ``medians``: for one process, pooled from ``repeats``, and
    drift-corrected with a reference every ``drift_every`` measurements (0: not)."""
    floor = noise_floor(medians, repeats)
    if floor.get("pooled") and (back_to_back := back_to_back_floor(medians, repeats)):
        floor["pooled"]["back_to_back"] = back_to_back
    return NoiseReport(
        device=device, reference=reference, resolution=resolution, threads=threads, processes=len(medians),
        seconds=round(seconds, 1), median_ms=round(statistics.median(medians), 4) if medians else 0.0,
        process_medians_ms=[round(m, 4) for m in medians], spread=floor["spread"],
        within_process_cv=round(statistics.median(cvs), 4) if cvs else 0.0,
        ceiling_within_10pct=floor["ceiling_within_10pct"], ceiling_within_5pct=floor["ceiling_within_5pct"],
        mape_floor=floor["mape_floor"], machine=machine or {},
        pooled=floor.get("pooled") or {"repeats": 1, **{k: floor[k] for k in POOLED_KEYS}},
        drift_corrected=drift_corrected_floor(medians, repeats, drift_every),
    )


def check_device(device, *, seconds: float = 30.0, min_processes: int = 5, reference: str = "mnasnet-b1",
                 resolution: int = 224, num_classes: int = 1000, threads: int = 1, runs: int = 20, warmup: int = 5,
                 repeats: int = 1, drift_every: int = 0,
                 progress: Callable[[int, float], None] | None = None) -> NoiseReport:
    """Time ``reference`` on ``device`` in separate processes (one ``time_model`` call each: a
    fresh worker on the local device, a fresh ``onnxruntime_perf_test`` on a phone) until
    ``seconds`` have passed and at least ``min_processes`` ran; see :class:`NoiseReport` (its
    ``pooled`` figures: a measurement that is the median of ``repeats`` processes; its
    ``drift_corrected`` ones: such measurements with a reference every ``drift_every``). The
    reference is in the device's own model format (ONNX, or .tflite for LiteRT)."""
    from device_profiler.formats import open_model_files
    from device_profiler.stats import effective_samples
    from mnas_pred.arch import parse_arch
    from mnas_pred.records import MeasureSettings

    settings = MeasureSettings(threads=threads, warmup=warmup, runs=runs, profile_runs=0)
    info = device.info()
    medians: list[float] = []
    cvs: list[float] = []
    stat_before = read_proc_stat()
    with open_model_files(device.model_format, resolution, num_classes) as files:
        path = files.path(parse_arch(reference).to_string())
        device.prestart()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds or len(medians) < min_processes:
            raw = device.time_model(path, settings)
            samples = effective_samples(raw.samples_ms, raw.metadata.get("cpu_ms"), threads) or raw.samples_ms
            medians.append(statistics.median(samples))
            if len(samples) > 1:
                cvs.append(statistics.stdev(samples) / statistics.fmean(samples))
            if progress is not None:
                progress(len(medians), time.perf_counter() - start)
        elapsed = time.perf_counter() - start
    machine = machine_readings(stat_before) if info.kind == "local" else {}
    report = summarize(info.key, reference, resolution, threads, medians, cvs, elapsed, machine, repeats, drift_every)
    report.runtime = f"{info.runtime} {info.runtime_version}, {info.accelerator}"
    return report
