"""The measurement protocol, shared by every device (design.md §4).

A device returns raw timings (:class:`~device_profiler._base.RawTiming`); this module turns
them into a :class:`Measurement`:

* The end-to-end samples are cut into short consecutive *bursts* (``BURST_SIZE`` runs). On a
  shared machine a transient slowdown (another process, 3–20x for a moment) inflates a few
  bursts; a burst whose median is more than ``tolerance`` slower than the fastest burst's is
  an outlier. Outlier bursts are kept in the stored samples (flagged) but left out of
  the statistics, and one more independent run set (a fresh ``time_model`` call, i.e. a fresh
  process on the local device) is taken, up to ``max_attempts`` in all. The spread of the kept
  burst medians is stored with the value, so a consumer can weigh noisy measurements down.
* Devices that report the CPU time of every run (``RawTiming.metadata["cpu_ms"]``, the local
  device does) get their preempted runs corrected first: a run whose process had less CPU time
  than ``MIN_ON_CPU`` of its wall time was waiting for another process or the hypervisor (on
  the development machine the correlation of slowdown and CPU share was -0.99). With one
  thread its CPU time replaces its wall time; with more it is dropped (see
  :func:`effective_samples`). Their count and wall times are kept in the metadata.
* ``settings.repeats`` > 1 asks for that many independent run sets from the start; pooling
  them averages out process-level drift (10–15% between processes on the development machine).
* Per-layer times come from the separate profiled run set (the first attempt's): the per-node
  trace is mapped to layers (stem, ``blockB_layerL``, head; unmapped nodes such as layout
  reorders go to ``other``), each layer's time is its median over the profiled runs, and their
  sum is compared with the end-to-end median (``Measurement.layer_sum_ratio``).
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from device_profiler import trace
from device_profiler._base import Device
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, Measurement, MeasureSettings, RawTiming

BURST_SIZE = 10
TOLERANCE = 0.10  # a burst median this much (relative) slower than the fastest burst's is an outlier
MAX_ATTEMPTS = 3  # independent run sets at most, re-measuring when bursts disagree
MIN_ON_CPU = 0.9  # a run with less CPU time than this share of its wall time was preempted

# torch.onnx.export keeps exporter state in module globals (opset, export mode), so two threads
# of one process (several phones profiling at once, device_profiler.fleet) must not export at
# the same time. An export takes 0.2-0.6 s against seconds of measuring, so serializing costs little.
_EXPORT_LOCK = threading.Lock()


def latency_stats(samples_ms: Iterable[float]) -> dict:
    """Median, p10, p90, mean, min, standard deviation and coefficient of variation (std/mean)."""
    x = np.asarray(list(samples_ms), dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return {
        "median_ms": float(np.median(x)),
        "p10_ms": float(np.percentile(x, 10)),
        "p90_ms": float(np.percentile(x, 90)),
        "mean_ms": mean,
        "min_ms": float(x.min()),
        "std_ms": std,
        "cv": std / mean if mean > 0 else 0.0,
        "n": int(x.size),
    }


def split_bursts(samples_ms: list[float], burst_size: int = BURST_SIZE) -> list[list[float]]:
    """Consecutive bursts of ``burst_size`` samples; a short tail joins the last burst."""
    n = len(samples_ms)
    if n <= burst_size:
        return [list(samples_ms)] if n else []
    k = n // burst_size
    bursts = [list(samples_ms[i * burst_size:(i + 1) * burst_size]) for i in range(k)]
    bursts[-1].extend(samples_ms[k * burst_size:])
    return bursts


def split_preempted(samples_ms: list[float], cpu_ms: list[float] | None,
                    min_on_cpu: float = MIN_ON_CPU) -> tuple[list[float], list[float]]:
    """Separate the runs during which the measuring process was preempted (CPU time below
    ``min_on_cpu`` of the wall time: it waited for another process or the hypervisor) from the
    clean ones. Devices that do not report CPU times (``cpu_ms`` None) have only clean runs."""
    if not cpu_ms or len(cpu_ms) != len(samples_ms):
        return list(samples_ms), []
    clean = [w for w, c in zip(samples_ms, cpu_ms) if c >= min_on_cpu * w]
    preempted = [w for w, c in zip(samples_ms, cpu_ms) if c < min_on_cpu * w]
    return clean, preempted


def effective_samples(samples_ms: list[float], cpu_ms: list[float] | None, threads: int,
                      min_on_cpu: float = MIN_ON_CPU) -> list[float]:
    """The run times to compute statistics on, in run order. A preempted run's wall time is its
    own work plus the time it waited for others. With one thread all of the model's work happens
    on the measuring thread, so its CPU time is the run time without the wait (on the
    development machine, the CPU time of preempted runs matched the wall time of clean runs
    within 2%): it replaces the wall time. With several threads CPU time sums over threads and
    says nothing about wall time, so preempted runs are dropped."""
    if not cpu_ms or len(cpu_ms) != len(samples_ms):
        return list(samples_ms)
    out = []
    for w, c in zip(samples_ms, cpu_ms):
        if c >= min_on_cpu * w:
            out.append(w)
        elif threads == 1:
            out.append(c)
    return out


def flag_outlier_bursts(burst_medians: list[float], tolerance: float = TOLERANCE) -> list[bool]:
    """True for each burst whose median is more than ``tolerance`` (relative) slower than the
    fastest burst's. Measured against the fastest on purpose: interference only ever adds
    time, and on a loaded machine most bursts can be slow, which would make a median-based
    reference the slow value. On a quiet machine bursts agree within a few percent and none
    is flagged."""
    ref = min(burst_medians)
    return [m > ref * (1.0 + tolerance) for m in burst_medians]


def measure_onnx(
    device: Device,
    onnx_path: Path,
    settings: MeasureSettings,
    layer_names: list[str],
    *,
    arch: str = "",
    resolution: int = 0,
    num_classes: int = 0,
    model_sha256: str = "",
    device_info: DeviceInfo | None = None,
    tolerance: float = TOLERANCE,
    max_attempts: int = MAX_ATTEMPTS,
    burst_size: int = BURST_SIZE,
) -> Measurement:
    """Time an exported model with the protocol (bursts, outlier re-measurement, per-layer map)."""
    start = time.perf_counter()
    device_info = device_info or device.info()
    wanted = max(1, settings.repeats)
    max_attempts = max(max_attempts, wanted)
    bursts: list[dict] = []
    profiled: RawTiming | None = None
    metadata: list[dict] = []
    attempt = clean_total = 0
    all_samples: list[float] = []
    while True:
        # Later attempts only re-measure end to end; the per-layer profile is taken once.
        s = settings if profiled is None else dataclasses.replace(settings, profile_runs=0)
        raw = device.time_model(onnx_path, s)
        if not raw.samples_ms:
            raise DeviceError(f"the device returned no timings for {Path(onnx_path).name}", transient=True)
        if profiled is None and (raw.node_events or raw.layer_ms):
            profiled = raw
        meta = dict(raw.metadata)
        cpu_ms = meta.pop("cpu_ms", None)
        clean, preempted = split_preempted(raw.samples_ms, cpu_ms)
        meta["preempted_runs"] = len(preempted)
        if preempted:
            meta["preempted_wall_ms"] = preempted  # the record; the statistics use effective_samples()
        metadata.append(meta)
        all_samples.extend(raw.samples_ms)
        clean_total += len(clean)
        for b in split_bursts(effective_samples(raw.samples_ms, cpu_ms, s.threads), burst_size):
            bursts.append({"attempt": attempt, "median_ms": float(np.median(b)), "samples_ms": b})
        attempt += 1
        flags = flag_outlier_bursts([b["median_ms"] for b in bursts], tolerance) if bursts else []
        if attempt >= wanted and ((bursts and not any(flags)) or attempt >= max_attempts):
            break
    for b, flag in zip(bursts, flags):
        b["outlier"] = flag
    if not bursts:  # preempted in every run of every attempt: better a noisy value than none
        bursts = [{"attempt": -1, "median_ms": float(np.median(all_samples)), "samples_ms": all_samples,
                   "outlier": False, "preempted": True}]
    kept_bursts = [b for b in bursts if not b["outlier"]] or bursts
    kept = [x for b in kept_bursts for x in b["samples_ms"]]
    stats = latency_stats(kept)
    kept_medians = [b["median_ms"] for b in kept_bursts]
    spread = (max(kept_medians) - min(kept_medians)) / stats["median_ms"] if stats["median_ms"] > 0 else 0.0

    layers: dict[str, float] = {}
    profiled_runs = 0
    if profiled is not None:
        profiled_runs = profiled.profiled_runs
        layers = (dict(profiled.layer_ms) if profiled.layer_ms  # a runtime that attributes layers itself
                  else trace.layer_times_ms(profiled.node_events, profiled_runs, layer_names, reduce="median"))
    meta = {**metadata[0], "attempt_metadata": metadata[1:]} if len(metadata) > 1 else dict(metadata[0])
    meta["preempted_fraction"] = round(1 - clean_total / max(len(all_samples), 1), 4)
    return Measurement(
        arch=arch, resolution=resolution, num_classes=num_classes, model_sha256=model_sha256,
        latency_ms=stats["median_ms"], latency_p10_ms=stats["p10_ms"], latency_p90_ms=stats["p90_ms"],
        latency_mean_ms=stats["mean_ms"], latency_min_ms=stats["min_ms"], cv=stats["cv"], spread=spread,
        samples_ms=kept, bursts=bursts, layers_ms=layers, layer_sum_ms=float(sum(layers.values())),
        profiled_runs=profiled_runs, attempts=attempt, settings=settings, device=device_info,
        metadata=meta, measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - start,
    )


def _export_one_thread(arch, path: Path, resolution: int, num_classes: int) -> bytes:
    """Export with one torch thread: the TorchScript export is mostly Python, and with the
    default thread pool it took up to 2 s instead of 0.2 s whenever the other core was busy.
    The caller's thread count is restored (the search stage trains in the same process)."""
    import torch

    from mnas_pred.export import export_onnx

    with _EXPORT_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return export_onnx(arch, path, resolution=resolution, num_classes=num_classes)
        finally:
            torch.set_num_threads(before)


def measure_arch(
    device: Device,
    arch,
    resolution: int = 224,
    settings: MeasureSettings | None = None,
    *,
    num_classes: int = 1000,
    device_info: DeviceInfo | None = None,
    workdir: str | Path | None = None,
) -> Measurement:
    """Build an architecture (random weights), export it to ONNX in a temporary folder, and
    measure it on ``device``. The search stage calls this to re-validate its candidates."""
    from mnas_pred.arch import parse_arch
    from mnas_pred.export import sha256
    from mnas_pred.layers import arch_layers

    settings = settings or MeasureSettings()
    arch = parse_arch(arch)
    arch_str = arch.to_string()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mnas-pred-model-", dir=workdir) as tmp:
        path = Path(tmp) / "model.onnx"
        data = _export_one_thread(arch, path, resolution, num_classes)
        export_s = time.perf_counter() - t0
        layers = arch_layers(arch, resolution, num_classes)
        m = measure_onnx(
            device, path, settings, [lay.name for lay in layers],
            arch=arch_str, resolution=resolution, num_classes=num_classes, model_sha256=sha256(data),
            device_info=device_info,
        )
    m.params, m.macs = sum(lay.params for lay in layers), sum(lay.macs for lay in layers)
    m.metadata["export_s"] = round(export_s, 4)
    m.duration_s = time.perf_counter() - t0
    return m


def sample_archs(space, n: int, seed: int = 0) -> list:
    """``n`` architectures drawn uniformly from ``space``; the first ``k`` are the same for every
    ``n >= k`` (see :meth:`mnas_pred.space.SearchSpace.sample_tokens`)."""
    return space.sample(n, seed)


@dataclass
class ProfileEvent:
    """What the progress callback of :func:`profile` receives after each architecture."""

    done: int  # architectures handled so far (measured, skipped or failed)
    total: int
    arch: str
    status: str  # "measured" | "skipped" (already in the store) | "failed" | "dropped" (a device left the run)
    measurement: Measurement | None = None
    error: str | None = None
    device: str = ""  # the device key, for runs on several devices (device_profiler.fleet)


def stopped_error(error: DeviceError, total: int, measured: int, skipped: int, failed: int) -> DeviceError:
    """The error that stopped a run, with where the run stands and how to continue, in one line."""
    left = total - measured - skipped - failed
    return DeviceError(
        f"{error.problem}; stopped with {measured} of {total} models measured in this run, {skipped} already "
        f"stored, {failed} failed, {left} not tried",
        f"{error.fix + '; then ' if error.fix else ''}re-run the same command: it measures only what is missing",
        transient=error.transient)


@dataclass
class ProfileReport:
    device: DeviceInfo
    total: int = 0
    measured: int = 0
    skipped: int = 0
    failed: list[dict] = field(default_factory=list)  # {"arch", "error"}
    measurement_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    drift: list[dict] = field(default_factory=list)  # reference re-measurements: after_models, latency_ms, ratio

    @property
    def models_per_hour(self) -> float:
        return 3600.0 * self.measured / self.seconds if self.seconds > 0 and self.measured else 0.0

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["models_per_hour"] = self.models_per_hour
        return d


class _DriftCheck:
    """Re-measures a fixed reference model (end to end only) at the start of a run and after
    every ``every`` measured models. The ratio of its latency now to its first latency is the
    machine's drift (thermal throttling, a neighbour's load); it is recorded with every
    measurement (``run_metadata.drift_ratio``) so that consumers can correct or drop a period."""

    def __init__(self, device: Device, reference: str, every: int, settings: MeasureSettings, resolution: int,
                 num_classes: int, info: DeviceInfo):
        self.device, self.reference, self.every, self.info = device, reference, every, info
        self.settings = dataclasses.replace(settings, profile_runs=0)
        self.resolution, self.num_classes = resolution, num_classes
        self.baseline_ms: float | None = None
        self.ratio: float | None = None
        self.since = 0
        self.history: list[dict] = []
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._path: Path | None = None

    def _measure(self, after: int) -> None:
        if self._path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mnas-pred-reference-")
            self._path = Path(self._tmp.name) / "reference.onnx"
            _export_one_thread(self.reference, self._path, self.resolution, self.num_classes)
        m = measure_onnx(self.device, self._path, self.settings, [], device_info=self.info)
        if self.baseline_ms is None:
            self.baseline_ms = m.latency_ms
        self.ratio = m.latency_ms / self.baseline_ms
        self.since = 0
        self.history.append({"after_models": after, "latency_ms": m.latency_ms, "ratio": self.ratio})

    def before_model(self, measured_so_far: int) -> None:
        if self.baseline_ms is None or self.since >= self.every:
            self._measure(measured_so_far)

    def after_model(self, m: Measurement) -> None:
        self.since += 1
        m.metadata["drift_ratio"] = self.ratio

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def profile(
    device: Device,
    archs: Iterable,
    store,
    settings: MeasureSettings | None = None,
    resolution: int = 224,
    progress: Callable[[ProfileEvent], None] | None = None,
    *,
    num_classes: int = 1000,
    retries: int = 1,
    max_consecutive_failures: int = 3,
    drift_reference: str = "mnasnet-b1",
    drift_every: int = 0,
) -> ProfileReport:
    """Measure every architecture that ``store`` (a :class:`mnas_pred.store.MeasurementStore`)
    does not hold yet for this device, resolution and settings, committing each one as soon as
    it is measured: an interrupted run loses at most the model in flight and re-running the
    same call resumes. A model that fails transiently is retried ``retries`` times, then
    recorded as failed; ``max_consecutive_failures`` failures in a row stop the run (the device
    is probably gone) by raising the last :class:`DeviceError`. ``drift_every`` > 0 re-measures
    ``drift_reference`` after that many models and records the drift ratio (see ``_DriftCheck``)."""
    from mnas_pred.arch import parse_arch

    settings = settings or MeasureSettings()
    archs = [parse_arch(a).to_string() for a in archs]
    info = device.info()
    report = ProfileReport(device=info, total=len(archs))
    drift = (_DriftCheck(device, drift_reference, drift_every, settings, resolution, num_classes, info)
             if drift_every > 0 else None)
    device.prestart()  # the local device's first worker starts while the first model is exported
    start = time.perf_counter()
    consecutive_failures = 0
    try:
        for i, arch in enumerate(archs, start=1):
            if store.has(info.key, arch, resolution, settings, num_classes=num_classes):
                report.skipped += 1
                if progress:
                    progress(ProfileEvent(i, len(archs), arch, "skipped"))
                continue
            if drift is not None:
                drift.before_model(report.measured)
            error: DeviceError | None = None
            for _ in range(retries + 1):
                try:
                    m = measure_arch(device, arch, resolution, settings, num_classes=num_classes, device_info=info)
                    error = None
                    break
                except DeviceError as e:
                    error = e
                    if not e.transient:
                        raise
            if error is not None:
                consecutive_failures += 1
                report.failed.append({"arch": arch, "error": str(error)})
                if progress:
                    progress(ProfileEvent(i, len(archs), arch, "failed", error=str(error)))
                if consecutive_failures >= max_consecutive_failures:
                    raise stopped_error(error, report.total, report.measured, report.skipped, len(report.failed))
                continue
            consecutive_failures = 0
            if drift is not None:
                drift.after_model(m)
            mid, new = store.insert(info, arch, resolution, settings, m)
            report.measurement_ids.append(mid)
            if new:
                report.measured += 1
            else:  # another process profiling into the same database stored it meanwhile
                report.skipped += 1
            report.seconds = time.perf_counter() - start
            if progress:
                progress(ProfileEvent(i, len(archs), arch, "measured", measurement=m))
    finally:
        if drift is not None:
            report.drift = drift.history
            drift.close()
    report.seconds = time.perf_counter() - start
    return report
