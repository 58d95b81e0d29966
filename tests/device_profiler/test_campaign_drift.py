"""A campaign's reference runs go to the store as they finish, the last one after the last model
included, and the correction interpolates the campaign's last segment towards it."""

from __future__ import annotations

import json

import pytest

from device_profiler._base import Device
from device_profiler.campaign import profile
from mnas_pred.drift_correction import add_drift_correction, levels
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming
from mnas_pred.space import SearchSpace
from mnas_pred.store import MeasurementStore

FAST = MeasureSettings(threads=1, warmup=1, runs=3, profile_runs=0)


class SlowingDevice(Device):
    """Every call 5% slower than the one before: a machine that drifts steadily (a script, so that
    the interpolation is checked exactly; export, protocol and SQLite run for real)."""

    def __init__(self):
        self.calls = 0

    def info(self) -> DeviceInfo:
        return DeviceInfo(key="test:slowing", kind="test", model="Slowing")

    def time_model(self, onnx_path, settings) -> RawTiming:
        self.calls += 1
        ms = 1.0 + 0.05 * self.calls
        return RawTiming(samples_ms=[ms] * settings.runs, node_events=[], profiled_runs=0)


def test_last_segment_is_interpolated_from_the_stored_final_reference_run(tmp_path):
    archs = [a.to_string() for a in SearchSpace.default().sample(4, seed=5)]
    with MeasurementStore(tmp_path / "m.db") as store:
        report = profile(SlowingDevice(), archs, store, FAST, resolution=32, num_classes=10, drift_every=1)
        assert report.measured == 4
        refs = store.reference_runs_frame()
        runs = store.conn.execute("SELECT reference, after_models, settings_key, process_ms FROM reference_runs "
                                  "ORDER BY reference").fetchall()
        frame = store.models_frame()
        raw = store.models_frame(drift_correction=False)
    # one before each model, and the final one after the fourth, which no measurement follows
    assert [(k, after) for k, after, _s, _p in runs] == [(k, k) for k in range(5)]
    assert json.loads(runs[0][2]) == FAST.as_dict() and len(json.loads(runs[0][3])) == 3
    assert len(refs) == 5 and refs["reference_ms"].is_monotonic_increasing
    s = levels(refs["reference_ms"])
    last = (s[3] + (s[4] - s[3]) * 1 / 2) / refs["reference_ms"].median()
    assert frame["drift_factor"].iloc[-1] == pytest.approx(last)
    held = add_drift_correction(raw)["drift_factor"]  # from the measurements' metadata alone: S_3 held
    assert held.iloc[-1] < last
    assert "drift_factor" not in raw and frame["latency_corrected_ms"].tolist() == pytest.approx(
        (raw["latency_ms"] / frame["drift_factor"]).tolist())
