"""The periodic reference measurement of a profiling campaign, and what it tells about the machine.

A fixed reference network (MnasNet-B1) is timed end to end at the start of a campaign and after
every ``every`` measured models. Every measurement records which reference run it follows and
how many models after it (``run_metadata.drift``); the drift-corrected latency is computed when
the store is read (:mod:`mnas_pred.drift_correction`), interpolating between the reference run
before and the one after each measurement, which is only known later.

Noisy machine: a reference run more than ``slow_factor`` (1.5) times slower than the fastest one
of the campaign means the machine is much slower now than it can be (another job, throttling,
a noisy VM neighbour). The reference is then re-timed after a pause, up to ``retries`` times;
if the machine stays slow the reference run is marked ``slow`` and every measurement after it
carries the mark until a normal reference run, so a number taken while the machine was several
times slower is never stored without saying so (``mnas-pred measurements`` and ``fit-predictor``
report them; the correction divides their slowdown out).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import uuid
from pathlib import Path

from mnas_pred.records import DeviceInfo, Measurement, MeasureSettings

SLOW_FACTOR = 1.5
RETRIES = 2
PAUSE_S = (2.0, 5.0)
REFERENCE_PROCESSES = 3


class DriftCheck:
    """Times the reference before the first model and after every ``every`` models (see the
    module docstring). ``history`` lists every reference run: after_models, latency_ms, ratio
    (to the first), cv, slow, retried."""

    def __init__(self, device, reference: str, every: int, settings: MeasureSettings, resolution: int,
                 num_classes: int, info: DeviceInfo, *, slow_factor: float = SLOW_FACTOR, retries: int = RETRIES,
                 pause_s: tuple[float, ...] = PAUSE_S):
        self.device, self.reference, self.every, self.info = device, reference, every, info
        # three processes pooled: one reference run's level is then ~1.7x less noisy than a
        # single process's, and it is the denominator of every correction after it
        self.settings = dataclasses.replace(settings, profile_runs=0, repeats=max(settings.repeats, REFERENCE_PROCESSES))
        self.resolution, self.num_classes = resolution, num_classes
        self.slow_factor, self.retries, self.pause_s = slow_factor, retries, pause_s
        self.campaign = uuid.uuid4().hex[:12]
        self.baseline_ms: float | None = None
        self.best_ms: float | None = None
        self.ratio: float | None = None
        self.since = 0
        self.history: list[dict] = []
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._path: Path | None = None

    def _time_reference(self) -> Measurement:
        from device_profiler.protocol import _export_one_thread, measure_onnx

        if self._path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mnas-pred-reference-")
            self._path = Path(self._tmp.name) / "reference.onnx"
            _export_one_thread(self.reference, self._path, self.resolution, self.num_classes)
        return measure_onnx(self.device, self._path, self.settings, [], device_info=self.info)

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
        self.since = 0
        self.history.append({"after_models": after, "latency_ms": m.latency_ms, "ratio": self.ratio,
                             "cv": round(m.cv, 4), "slow": slow, "retried": retried,
                             "machine": m.metadata.get("machine", {})})

    @property
    def slow(self) -> bool:
        return bool(self.history and self.history[-1]["slow"])

    def before_model(self, measured_so_far: int) -> None:
        if self.baseline_ms is None or self.since >= self.every:
            self._measure(measured_so_far)

    def after_model(self, m: Measurement) -> None:
        last = self.history[-1]
        m.metadata["drift_ratio"] = self.ratio
        m.metadata["drift"] = {
            "campaign": self.campaign, "reference": len(self.history) - 1, "models_since": self.since,
            "reference_ms": round(last["latency_ms"], 5), "reference_cv": last["cv"], "slow": last["slow"],
        }
        self.since += 1

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
