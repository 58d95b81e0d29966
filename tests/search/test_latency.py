"""The latency suites (mnas_pred.testing.latency_model) for the analytic stand-ins and the real
local device (ONNX Runtime on this CPU, kept cheap: 32x32 models, few runs); the predictor file
adapter runs them in test_predictor_adapter.py."""

import pytest

from mnas_pred.records import DeviceSpec, MeasureSettings
from mnas_pred.testing.latency_model import LatencyMeasurerTestCase, LatencyModelTestCase
from search.analytic import AnalyticDevice, AnalyticLatencyModel


class TestAnalyticLatencyModel(LatencyModelTestCase):
    @pytest.fixture
    def make_latency_model(self):
        return lambda: AnalyticLatencyModel(224)


class TestMeasurers(LatencyMeasurerTestCase):
    @pytest.fixture(params=["analytic", "local"])
    def make_measurer(self, request, tmp_path):
        if request.param == "analytic":
            return lambda: AnalyticDevice(224)
        from search.device_measurer import DeviceMeasurer

        return lambda: DeviceMeasurer(DeviceSpec(), db=tmp_path / "m.db", resolution=32, num_classes=10,
                                      settings=MeasureSettings(warmup=1, runs=3, profile_runs=1, repeats=1))


def test_the_local_device_stores_each_measurement_once(tmp_path):
    """A measurement goes to the store a refit reads; one the store already held (same device,
    model, settings) is kept, so a refit never counts it twice."""
    from mnas_pred.space import SearchSpace
    from mnas_pred.store import MeasurementStore
    from search.device_measurer import DeviceMeasurer

    arch = SearchSpace.default().sample(1, seed=2)[0]
    device = DeviceMeasurer(DeviceSpec(), db=tmp_path / "m.db", resolution=32, num_classes=10,
                            settings=MeasureSettings(warmup=1, runs=3, profile_runs=1, repeats=1))
    try:
        first, again = device.measure(arch), device.measure(arch)
    finally:
        device.close()
    assert first.latency_ms > 0 and again.latency_ms > 0
    with MeasurementStore(tmp_path / "m.db", create=False) as store:
        assert [r["arch"] for r in store.records()] == [arch.to_string()]
