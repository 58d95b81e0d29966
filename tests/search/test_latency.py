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
                                      settings=MeasureSettings(warmup=1, runs=3, profile_runs=1))


def test_the_local_device_hands_the_oracle_what_it_stored(tmp_path):
    """A stored measurement comes back as the record a refit learns from; one the store already
    held (same device, model, settings) does not, so a refit never counts it twice."""
    from mnas_pred.space import SearchSpace
    from search.device_measurer import DeviceMeasurer

    arch = SearchSpace.default().sample(1, seed=2)[0]
    device = DeviceMeasurer(DeviceSpec(), db=tmp_path / "m.db", resolution=32, num_classes=10,
                            settings=MeasureSettings(warmup=1, runs=3, profile_runs=1))
    try:
        first, again = device.measure(arch), device.measure(arch)
    finally:
        device.close()
    assert first.record.measurement.arch == arch.to_string() and first.record.measurement_id >= 1
    assert again.record is None
