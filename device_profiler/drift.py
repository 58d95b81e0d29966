"""Drift of a device during a campaign: a fixed reference model re-timed every few models.

The campaign loop (:mod:`device_profiler.campaign`) calls :meth:`DriftCheck.before_model`
before each model and :meth:`DriftCheck.after_model` after each one it measured; one check per
device (each phone drifts on its own)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from device_profiler._base import Device
from device_profiler.model_files import ModelFiles
from device_profiler.protocol import measure_model
from mnas_pred.records import DeviceInfo, Measurement, MeasureSettings

DEFAULT_REFERENCE = "mnasnet-b1"


class DriftCheck:
    """Re-measures a fixed reference model (end to end only) at the start of a run and after
    every ``every`` measured models. The ratio of its latency now to its first latency is the
    machine's drift (thermal throttling, a neighbour's load); it is recorded with every
    measurement (``run_metadata.drift_ratio``) so that consumers can correct or drop a period.
    ``history`` lists every re-measurement: ``after_models``, ``latency_ms``, ``ratio``."""

    def __init__(self, device: Device, files: ModelFiles, reference: str, every: int, settings: MeasureSettings,
                 info: DeviceInfo):
        from mnas_pred.arch import parse_arch

        self.device, self.files, self.every, self.info = device, files, every, info
        self.reference = parse_arch(reference).to_string()
        self.settings = dataclasses.replace(settings, profile_runs=0)
        self.baseline_ms: float | None = None
        self.ratio: float | None = None
        self.since = 0
        self.history: list[dict] = []
        self._path: Path | None = None  # held until close(): it is timed again and again

    def _measure(self, after: int) -> None:
        if self._path is None:
            self._path = self.files.path(self.reference)
        m = measure_model(self.device, self._path, self.settings, [], device_info=self.info)
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
        if self._path is not None:
            self.files.release(self.reference)
            self._path = None
