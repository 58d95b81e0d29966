"""The search's latency queries go through the predictor's token lookup table and give the
per-layer path's numbers; the adapter passes the latency-model suite (mnas_pred.testing.latency_model),
refitting on a real store to which the search added measurements after the first read."""

from pathlib import Path

import numpy as np
import pytest

from mnas_pred.arch import parse_arch
from mnas_pred.space import SearchSpace
from mnas_pred.testing.latency_model import LatencyModelTestCase
from search.predictor_adapter import PredictorFileModel

FBNET_CSV = Path(__file__).resolve().parents[2] / "datasets" / "hwnasbench_fbnet_ops.csv"
# The table sums the same float64 per-layer predictions as the per-layer path, grouped per block
# and with the (linear) calibration applied per block instead of once: the two differ only by
# float64 rounding of a few dozen terms (~1e-15 relative). 1e-9 leaves room for that and is still
# a picosecond on a millisecond latency: any wrong table entry is orders of magnitude larger.
RTOL = 1e-9


@pytest.fixture(scope="module")
def predictor_file():
    from predictors.data import from_layer_csvs
    from predictors.workflow import fit_predictor

    pf, _ = fit_predictor(from_layer_csvs([FBNET_CSV], "pixel3"), "lgbm", SearchSpace.default(), folds=0,
                          baselines=[], params={"n_members": 3, "n_estimators": 60})
    return pf


@pytest.mark.parametrize("resolution", [224, 96, 64])
def test_search_queries_equal_the_per_layer_path(predictor_file, resolution):
    space = SearchSpace.default()
    model = PredictorFileModel("p.pred", space, resolution, predictor_file=predictor_file)
    archs = space.sample(40, seed=resolution)
    slow = predictor_file.predictor.predict(archs, resolution, space.num_classes)
    np.testing.assert_allclose(model.predict(archs), slow, rtol=RTOL)
    low, high = model.predict_interval(archs, 0.8)
    slow_low, slow_high = predictor_file.predictor.predict_interval(archs, 0.8, resolution, space.num_classes)
    np.testing.assert_allclose(low, slow_low, rtol=RTOL)
    np.testing.assert_allclose(high, slow_high, rtol=RTOL)
    assert model.table.resolution == resolution  # the table really answered, at this resolution


def test_architectures_outside_the_space_fall_back_to_the_per_layer_path(predictor_file):
    space = SearchSpace.default()
    model = PredictorFileModel("p.pred", space, 224, predictor_file=predictor_file)
    outside = parse_arch("mnasnet-a1")  # its block widths are not among the space's choices
    assert not space.contains(outside)
    archs = [*space.sample(3, seed=1), outside, *space.sample(2, seed=2)]
    np.testing.assert_allclose(model.predict(archs), predictor_file.predictor.predict(archs, 224, space.num_classes),
                               rtol=RTOL)
    low, high = model.predict_interval(archs)
    assert np.all(low <= high) and len(low) == len(archs)
    assert model.predict([]).shape == (0,)


def test_a_new_predictor_gets_its_own_table(predictor_file):
    from predictors.data import from_layer_csvs
    from predictors.workflow import fit_predictor

    space = SearchSpace.default()
    other, _ = fit_predictor(from_layer_csvs([FBNET_CSV], "raspi4"), "lgbm", space, folds=0, baselines=[],
                             params={"n_members": 2, "n_estimators": 40})
    first = PredictorFileModel("p.pred", space, 224, predictor_file=predictor_file)
    second = PredictorFileModel("refits/predictor-1.json", space, 224, refit_index=1, predictor_file=other,
                                original=predictor_file)
    archs = space.sample(10, seed=3)
    assert second.table is not first.table
    np.testing.assert_allclose(second.predict(archs), other.predictor.predict(archs, 224), rtol=RTOL)
    assert not np.allclose(second.predict(archs), first.predict(archs))


def _measurement(arch, ms_per_layer: float, index: int):
    """A measurement of ``arch`` at 224 px whose layers take ``ms_per_layer`` each (synthetic)."""
    from mnas_pred.layers import arch_layers
    from mnas_pred.records import DeviceInfo, Measurement, MeasureSettings

    layers = {lay.name: ms_per_layer * (1 + 0.01 * i) for i, lay in enumerate(arch_layers(arch, 224, 1000))}
    total = sum(layers.values())
    return Measurement(
        arch=arch.to_string(), resolution=224, num_classes=1000, model_sha256=f"{index:064x}", latency_ms=total,
        latency_p10_ms=total, latency_p90_ms=total, latency_mean_ms=total, latency_min_ms=total, cv=0.01,
        spread=0.01, samples_ms=[total], bursts=[], layers_ms=layers, layer_sum_ms=total, profiled_runs=1,
        attempts=1, settings=MeasureSettings(), device=DeviceInfo("local:test", "local", "Test CPU"))


@pytest.fixture(scope="module")
def store_and_records(tmp_path_factory):
    """A store with six measured networks: the last two are what the search re-measured."""
    from mnas_pred.store import MeasurementStore

    db = tmp_path_factory.mktemp("store") / "m.db"
    archs = SearchSpace.default().sample(6, seed=8)
    with MeasurementStore(db) as store:
        measurements = [_measurement(a, 0.3, i) for i, a in enumerate(archs)]
        for m in measurements:
            store.add(m.device, m.arch, 224, m.settings, m)
    return db, measurements[4:]


class TestPredictorFileModel(LatencyModelTestCase):
    @pytest.fixture
    def make_latency_model(self, predictor_file, store_and_records):
        return lambda: PredictorFileModel("p.pred", SearchSpace.default(), 224, db=store_and_records[0],
                                          predictor_file=predictor_file)

    @pytest.fixture
    def refit_inputs(self, store_and_records):
        _, remeasured = store_and_records
        return [parse_arch(m.arch) for m in remeasured], np.array([m.latency_ms for m in remeasured])
