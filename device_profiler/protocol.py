"""The measurement protocol, shared by every device (design.md §4).

A device returns raw timings (:class:`~device_profiler._base.RawTiming`); this module turns
them into a :class:`Measurement`:

* The end-to-end samples are cut into short consecutive *bursts* (``BURST_SIZE`` runs). A
  device whose samples are burst medians already (``RawTiming.runs_per_sample`` > 1: a phone's
  ``onnxruntime_perf_test`` prints only aggregates) has one burst per sample. On a
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
* ``settings.repeats`` (default 3) asks for that many independent run sets from the start; pooling
  them averages out process-level drift (10–15% between processes on the development machine).
* Per-layer times come from the separate profiled run set (the first attempt's): the per-node
  trace is mapped to layers (stem, ``blockB_layerL``, head; ONNX Runtime's layout reorders go to
  their neighbours' layer or, at a boundary, to ``between_layers``: :mod:`device_profiler.trace`),
  each layer's time is its median over the profiled runs, and their sum is compared with the
  end-to-end median (``Measurement.layer_sum_ratio``). A runtime that attributes layers itself
  gives ``RawTiming.layer_ms``, which is used as it is.

The statistics are in :mod:`device_profiler.stats`; the loop over many models and devices is
:mod:`device_profiler.campaign`.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from device_profiler import trace
from device_profiler._base import Device
from device_profiler.formats import open_model_files
from device_profiler.model_files import ModelFiles
from device_profiler.stats import (
    BURST_SIZE,
    MAX_ATTEMPTS,
    TOLERANCE,
    effective_samples,
    flag_outlier_bursts,
    latency_stats,
    split_bursts,
    split_preempted,
)
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, Measurement, MeasureSettings, RawTiming


def measure_model(
    device: Device,
    model_path: Path,
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
    """Time a model file (in ``device.model_format``) with the protocol (bursts, outlier
    re-measurement, per-layer map)."""
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
        raw = device.time_model(model_path, s)
        if not raw.samples_ms:
            raise DeviceError(f"the device returned no timings for {Path(model_path).name}", transient=True)
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
        # a sample that is a burst median already is a burst of its own
        size = burst_size if raw.runs_per_sample <= 1 else 1
        for b in split_bursts(effective_samples(raw.samples_ms, cpu_ms, s.threads), size):
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
        # A device that relates its profile to the end-to-end runs of the same call (the local
        # device: run_metadata.profile.e2e_ms) gets it brought to the final value's machine state
        # when outlier bursts or later attempts made that value differ from those runs.
        profile_e2e = (profiled.metadata.get("profile") or {}).get("e2e_ms")
        if profile_e2e and not profiled.layer_ms and stats["median_ms"] > 0:
            scale = stats["median_ms"] / profile_e2e
            layers = {k: v * scale for k, v in layers.items()}
            profiled.metadata["profile"]["final_scale"] = round(scale, 4)
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


def measure_arch(
    device: Device,
    arch,
    resolution: int = 224,
    settings: MeasureSettings | None = None,
    *,
    num_classes: int = 1000,
    device_info: DeviceInfo | None = None,
    files: ModelFiles | None = None,
) -> Measurement:
    """Build an architecture (random weights), get its model file in the device's format
    (``files``, or a provider opened for this call) and measure it on ``device``. The campaign
    loop calls this for every model; the search stage to re-validate its candidates."""
    from mnas_pred.arch import parse_arch
    from mnas_pred.layers import arch_layers

    settings = settings or MeasureSettings()
    arch_str = parse_arch(arch).to_string()
    if files is None:
        with open_model_files(device.model_format, resolution, num_classes) as own:
            return measure_arch(device, arch_str, resolution, settings, num_classes=num_classes,
                                device_info=device_info, files=own)
    t0 = time.perf_counter()
    path = files.path(arch_str)
    try:
        export_s = time.perf_counter() - t0
        layers = arch_layers(arch_str, resolution, num_classes)
        m = measure_model(
            device, path, settings, [lay.name for lay in layers],
            arch=arch_str, resolution=resolution, num_classes=num_classes, model_sha256=files.sha256(path),
            device_info=device_info,
        )
    finally:
        files.release(arch_str)
    m.params, m.macs = sum(lay.params for lay in layers), sum(lay.macs for lay in layers)
    m.metadata["export_s"] = round(export_s, 4)  # the wait for the model file (an export, or a conversion)
    m.duration_s = time.perf_counter() - t0
    return m
