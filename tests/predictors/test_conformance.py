"""The one contract every predictor kind honours (scikit-learn conventions, design.md §6)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnas_pred.errors import MnasPredError
from mnas_pred.features import layers_frame
from mnas_pred.space import SearchSpace
from predictors import PREDICTORS, make_predictor
from predictors.lookup import LookupTable

from .conftest import SMALL_PARAMS, STORE_RESOLUTION

KINDS = list(PREDICTORS)


@pytest.fixture(scope="module", params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def fitted_on_store(kind, store_data):
    return make_predictor(kind, **SMALL_PARAMS[kind]).fit(store_data)


def test_fit_returns_self_and_leaves_params_alone(kind, pixel3_data):
    p = make_predictor(kind, **SMALL_PARAMS[kind])
    before = p.get_params()
    assert p.fit(pixel3_data) is p
    assert p.get_params() == before
    assert p.is_fitted
    learned = [a for a in vars(p) if a.endswith("_")]
    assert learned, "learned state lives in attributes ending in '_'"


def test_unfitted_predictor_refuses_to_predict(kind):
    with pytest.raises(MnasPredError, match="not fitted"):
        make_predictor(kind).predict(["mnasnet-a1"])


def test_unknown_param_is_a_one_line_error(kind):
    with pytest.raises(MnasPredError, match="no parameter"):
        make_predictor(kind).set_params(bogus=1)


def test_layer_predictions_are_positive_and_finite(kind, pixel3_data):
    p = make_predictor(kind, **SMALL_PARAMS[kind]).fit(pixel3_data)
    pred = p.predict_layers(pixel3_data.layers)
    assert pred.shape == (len(pixel3_data.layers),)
    assert np.all(np.isfinite(pred)) and np.all(pred > 0)


def test_layer_only_data_means_a_plain_sum(kind, pixel3_data):
    p = make_predictor(kind, **SMALL_PARAMS[kind]).fit(pixel3_data)
    assert p.calibration_.coef == {"sum": 1.0, "n_layers": 0.0, "intercept": 0.0}
    table = layers_frame(["mnasnet-a1"], 224)
    assert p.predict(["mnasnet-a1"])[0] == pytest.approx(p.predict_layers(table).sum())


def test_network_predictions_track_measurements(kind, fitted_on_store, store_data):
    m = store_data.models
    pred = fitted_on_store.predict(m["arch"], m["resolution"])
    assert pred.shape == (len(m),) and np.all(pred > 0)
    # In-sample, every predictor is at least roughly right (shared-machine noise aside).
    assert np.median(np.abs(pred - m["latency_ms"]) / m["latency_ms"]) < 0.5


def test_interval_brackets_the_point_prediction(kind, fitted_on_store):
    archs = SearchSpace.default().sample(5, seed=3)
    point = fitted_on_store.predict(archs, STORE_RESOLUTION)
    low, high = fitted_on_store.predict_interval(archs, 0.8, STORE_RESOLUTION)
    assert np.all(low <= point + 1e-12) and np.all(point <= high + 1e-12)
    wide_low, wide_high = fitted_on_store.predict_interval(archs, 0.95, STORE_RESOLUTION)
    assert np.all(wide_low <= low + 1e-12) and np.all(high <= wide_high + 1e-12)


def test_json_state_round_trip_predicts_the_same(kind, fitted_on_store):
    state = json.loads(json.dumps(fitted_on_store.to_dict()))
    again = PREDICTORS[kind].from_dict(state)
    archs = SearchSpace.default().sample(8, seed=4)
    np.testing.assert_allclose(again.predict(archs, STORE_RESOLUTION), fitted_on_store.predict(archs, STORE_RESOLUTION), rtol=1e-12)


def test_lookup_table_equals_the_per_layer_path(kind, fitted_on_store):
    space = SearchSpace.default()
    table = LookupTable(fitted_on_store, space, STORE_RESOLUTION)
    tokens = space.sample_tokens(60, seed=5)
    archs = [space.decode(t) for t in tokens]
    np.testing.assert_allclose(table.predict(tokens), fitted_on_store.predict(archs, STORE_RESOLUTION), rtol=1e-9)
    slow_low, slow_high = fitted_on_store.predict_interval(archs, 0.8, STORE_RESOLUTION)
    fast_low, fast_high = table.predict_interval(tokens, 0.8)
    np.testing.assert_allclose(fast_low, slow_low, rtol=1e-9)
    np.testing.assert_allclose(fast_high, slow_high, rtol=1e-9)


def test_init_from_only_where_supported(kind, pixel3_data):
    other = make_predictor(kind, **SMALL_PARAMS[kind]).fit(pixel3_data)
    p = make_predictor(kind, **SMALL_PARAMS[kind])
    if not p.supports_init_from:
        with pytest.raises(MnasPredError, match="cannot start from"):
            p.fit(pixel3_data, init_from=other)
    else:
        assert p.fit(pixel3_data.subset_layers(np.arange(len(pixel3_data.layers)) < 25), init_from=other) is p


def test_adaptation_beats_the_unadapted_source(pixel3_data, fbnet_csv):
    from predictors.data import from_layer_csvs
    from predictors.metrics import latency_metrics

    target = from_layer_csvs([fbnet_csv], "raspi4")
    source = make_predictor("lgbm", **SMALL_PARAMS["lgbm"]).fit(pixel3_data)
    pick = np.zeros(len(target.layers), bool)
    pick[np.random.default_rng(0).choice(len(pick), 50, replace=False)] = True
    few, test = target.subset_layers(pick), target.subset_layers(~pick)
    adapted = make_predictor("lgbm", **SMALL_PARAMS["lgbm"]).fit(few, init_from=source)
    y = test.layers["latency_ms"]
    before = latency_metrics(y, source.predict_layers(test.layers))["mape"]
    after = latency_metrics(y, adapted.predict_layers(test.layers))["mape"]
    assert after < before
    again = PREDICTORS["lgbm"].from_dict(json.loads(json.dumps(adapted.to_dict())))  # chains persist too
    np.testing.assert_allclose(again.predict_layers(test.layers), adapted.predict_layers(test.layers), rtol=1e-12)
