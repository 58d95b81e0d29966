"""Drift of a device during a campaign: a fixed reference model re-timed every few models.

The campaign loop (:mod:`device_profiler.campaign`) calls :meth:`DriftCheck.before_model`
before each model and :meth:`DriftCheck.after_model` after each one it measured; one check per
device (each phone drifts on its own).

A fixed reference network (MnasNet-B1) is timed end to end (three processes pooled) at the start
of a campaign, after every ``every`` measured models, and once more when the campaign ends
(:meth:`DriftCheck.finish`: the last models then lie between two reference runs, not after the
last one, held). Each reference run is handed to ``on_reference`` as it finishes (the campaign
stores it in the store's ``reference_runs``, also the last one, which no measurement follows).
Every measurement records which
reference run it follows and how many models after it (``run_metadata.drift``); the
drift-corrected latency is computed when the store is read (:mod:`mnas_pred.drift_correction`),
interpolating between the reference runs before and after each measurement, the latter known
only later.

Noisy machine: a reference run more than ``slow_factor`` (1.5) times slower than the fastest one
of the campaign means the machine is much slower now than it can be (another job, throttling,
a noisy VM neighbour). The reference is then re-timed after a pause, up to ``retries`` times;
if the machine stays slow the reference run is marked ``slow`` and every measurement after it
carries the mark until the next reference run, so a number taken while the machine was several
times slower is never stored without saying so (exports give ``drift_flag``; ``fit-predictor``
reports the flagged count, and the correction divides the slowdown out).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from device_profiler._base import Device
from device_profiler.model_files import ModelFiles
from device_profiler.protocol import measure_model
from mnas_pred.records import REFERENCE_PROCESSES, DeviceInfo, Measurement, MeasureSettings

DEFAULT_REFERENCE = "mnasnet-b1"
SLOW_FACTOR = 1.5
RETRIES = 2
PAUSE_S = (2.0, 5.0)


def process_medians(m: Measurement) -> list[float]:
    """The median of each process (attempt) of a measurement, in order: the spread among the
    back-to-back processes of one reference run is the device's process-to-process noise, free
    of drift (:func:`mnas_pred.noise_floor.groups_floor`)."""
    import statistics

    by_attempt: dict[int, list[float]] = {}
    for b in m.bursts:
        by_attempt.setdefault(int(b["attempt"]), []).extend(b["samples_ms"])
    return [round(statistics.median(v), 5) for _a, v in sorted(by_attempt.items()) if v]


class DriftCheck:
    """Re-measures a fixed reference model (end to end only) at the start of a run and after
    every ``every`` measured models (see the module docstring). ``history`` lists every
    re-measurement: ``after_models``, ``latency_ms``, ``ratio`` (to the first), ``cv``, ``slow``,
    ``retried``, ``machine``."""

    def __init__(self, device: Device, files: ModelFiles, reference: str, every: int, settings: MeasureSettings,
                 info: DeviceInfo, *, slow_factor: float = SLOW_FACTOR, retries: int = RETRIES,
                 pause_s: tuple[float, ...] = PAUSE_S, on_reference: Callable[[dict], None] | None = None):
        from mnas_pred.arch import parse_arch

        self.device, self.files, self.every, self.info = device, files, every, info
        self.reference = parse_arch(reference).to_string()
        # three processes pooled: one reference run's level is then ~1.7x less noisy than a
        # single process's, and it is the denominator of every correction after it
        self.settings = dataclasses.replace(settings, profile_runs=0, repeats=max(settings.repeats, REFERENCE_PROCESSES))
        self.slow_factor, self.retries, self.pause_s = slow_factor, retries, pause_s
        self.on_reference = on_reference  # called with each reference run (see reference_run)
        self.campaign = uuid.uuid4().hex[:12]
        self.baseline_ms: float | None = None
        self.best_ms: float | None = None
        self.ratio: float | None = None
        self.since = 0
        self._stale = False  # see expire()
        self.history: list[dict] = []
        self._path: Path | None = None  # held until close(): it is timed again and again

    def _time_reference(self) -> Measurement:
        if self._path is None:
            self._path = self.files.path(self.reference)
        return measure_model(self.device, self._path, self.settings, [], device_info=self.info)

    def _measure(self, after: int) -> None:
        m = self._time_reference()
        retried = 0
        while self.best_ms is not None and m.latency_ms > self.slow_factor * self.best_ms and retried < self.retries:
            time.sleep(self.pause_s[min(retried, len(self.pause_s) - 1)])  # a transient load may pass
            m = self._time_reference()
            retried += 1
        slow = self.best_ms is not None and m.latency_ms > self.slow_factor * self.best_ms
        if self.baseline_ms is None:
            self.baseline_ms = m.latency_ms
        self.best_ms = m.latency_ms if self.best_ms is None else min(self.best_ms, m.latency_ms)
        self.ratio = m.latency_ms / self.baseline_ms
        self.since, self._stale = 0, False
        self.history.append({"after_models": after, "latency_ms": m.latency_ms, "ratio": self.ratio,
                             "cv": round(m.cv, 4), "slow": slow, "retried": retried,
                             "process_ms": process_medians(m), "machine": m.metadata.get("machine", {})})
        if self.on_reference is not None:
            self.on_reference(self.reference_run(len(self.history) - 1))

    def reference_run(self, k: int) -> dict:
        """Reference run ``k`` as the store keeps it (``MeasurementStore.add_reference_run``); its
        latency rounded as the measurements after it record it."""
        h = self.history[k]
        return {"campaign": self.campaign, "reference": k, "arch": self.reference,
                "latency_ms": round(h["latency_ms"], 5), "cv": h["cv"], "slow": h["slow"], "process_ms": h["process_ms"],
                "after_models": h["after_models"], "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}

    @property
    def reference_ms(self) -> list[float]:
        """The reference runs so far, in order (rounded as stored)."""
        return [round(h["latency_ms"], 5) for h in self.history]

    def before_model(self, measured_so_far: int) -> None:
        if self.baseline_ms is None or self.since >= self.every or self._stale:
            self._measure(measured_so_far)

    def expire(self) -> None:
        """The newest reference run no longer tells the machine's state (the device was left idle
        or the machine busy with other work since): re-time it before the next model."""
        self._stale = True

    def finish(self, measured_so_far: int) -> None:
        """The campaign's last reference run, after its last model (none if no model followed the
        previous one): the correction then interpolates the last segment instead of holding it."""
        if self.baseline_ms is not None and self.since > 0:
            self._measure(measured_so_far)

    def after_model(self, m: Measurement) -> None:
        last = self.history[-1]
        m.metadata["drift_ratio"] = self.ratio
        m.metadata["drift"] = {
            "campaign": self.campaign, "reference": len(self.history) - 1, "models_since": self.since,
            "reference_ms": round(last["latency_ms"], 5), "reference_cv": last["cv"], "slow": last["slow"],
            "reference_process_ms": last["process_ms"],
        }
        self.since += 1

    def close(self) -> None:
        if self._path is not None:
            self.files.release(self.reference)
            self._path = None
