"""The campaign's reference runs: what each measurement records, and a slow machine flagged."""

from __future__ import annotations

from pathlib import Path

from device_profiler._base import Device
from device_profiler.drift import DriftCheck
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming
from tests.mnas_pred.test_store import ARCHS, measurement

INFO = DeviceInfo(key="stub:1", kind="local", model="stub")


class ScriptedDevice(Device):
    """Returns the latencies of a script, one per call (a reference run pools several calls)."""

    def __init__(self, latencies):
        self.latencies = list(latencies)
        self.calls = 0

    def info(self):
        return INFO

    def time_model(self, model_path, settings):
        ms = self.latencies[min(self.calls, len(self.latencies) - 1)]
        self.calls += 1
        return RawTiming(samples_ms=[ms] * settings.runs, node_events=[], profiled_runs=0)


class Files:
    def path(self, arch):
        return Path("reference.onnx")

    def release(self, arch):
        pass


def test_each_measurement_records_its_reference_run_and_a_slow_machine_is_flagged():
    # reference run 1: 3 processes at 5 ms; run 2: 3 at 10 ms, then after each pause 3 more at 10 ms
    dev = ScriptedDevice([5.0, 5.2, 4.9] + [10.0] * 9)
    check = DriftCheck(dev, Files(), "mnasnet-b1", 1, MeasureSettings(warmup=1, runs=10), INFO, pause_s=(0.0,))
    ms = [measurement(a, 1.0) for a in ARCHS[:2]]
    check.before_model(0)
    check.after_model(ms[0])
    check.before_model(1)
    check.after_model(ms[1])
    first, second = ms[0].metadata["drift"], ms[1].metadata["drift"]
    assert first["campaign"] == second["campaign"] and (first["reference"], second["reference"]) == (0, 1)
    assert first["reference_process_ms"] == [5.0, 5.2, 4.9] and first["slow"] is False
    assert second["slow"] is True and check.history[1]["retried"] == 2 and dev.calls == 12
    assert ms[1].metadata["drift_ratio"] == 2.0
