"""What a sample is, as the protocol sees it: a device whose samples are burst medians
(RawTiming.runs_per_sample > 1, a phone's onnxruntime_perf_test) has one burst per sample, so a
slow burst is flagged and measured again as on a device that returns one sample per run."""

from __future__ import annotations

from device_profiler._base import Device
from device_profiler.protocol import measure_model
from device_profiler.stats import MAX_ATTEMPTS
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming

SETTINGS = MeasureSettings(threads=1, warmup=0, runs=50, profile_runs=0, repeats=1)


class BurstMedians(Device):
    """Five samples, each the median of a burst of ten runs; the first call's fourth burst was
    slowed down by another process."""

    def __init__(self):
        self.calls = 0

    def info(self) -> DeviceInfo:
        return DeviceInfo(key="test:bursts", kind="test", model="Phone")

    def time_model(self, model_path, settings) -> RawTiming:
        self.calls += 1
        samples = [5.0, 5.05, 4.98, 9.0 if self.calls == 1 else 5.02, 5.01]
        return RawTiming(samples_ms=samples, node_events=[], profiled_runs=0, runs_per_sample=10)


def test_a_slow_burst_median_is_an_outlier_and_measured_again(tmp_path):
    dev = BurstMedians()
    m = measure_model(dev, tmp_path / "m.onnx", SETTINGS, [])
    assert len(m.bursts) == 5 * m.attempts and all(len(b["samples_ms"]) == 1 for b in m.bursts)  # a burst a sample
    assert m.attempts == dev.calls == MAX_ATTEMPTS  # the slow burst asked for more run sets
    assert [b["outlier"] for b in m.bursts] == [False, False, False, True] + [False] * (5 * m.attempts - 4)
    assert 9.0 not in m.samples_ms and m.latency_ms < 5.1


def test_per_run_samples_are_cut_into_bursts(tmp_path):
    class PerRun(BurstMedians):
        def time_model(self, model_path, settings) -> RawTiming:
            return RawTiming(samples_ms=[5.0 + 0.01 * (i % 3) for i in range(50)], node_events=[], profiled_runs=0)

    m = measure_model(PerRun(), tmp_path / "m.onnx", SETTINGS, [])
    assert len(m.bursts) == 5 and all(len(b["samples_ms"]) == 10 for b in m.bursts) and m.attempts == 1
