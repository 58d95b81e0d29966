"""The contract every latency predictor honours (scikit-learn conventions, design.md §6), as a
pytest suite a plug-in author can run against a new predictor.

Written like Optuna's ``optuna/testing/pytest_storages.py``: subclass
:class:`LatencyPredictorTestCase` in a test module and define the fixtures it asks for (scope
``"module"`` or wider: fitting is the slow part)::

    import pytest
    from mnas_pred.testing.predictor import LatencyPredictorTestCase
    from predictors.lookup import LookupTable
    from my_plugin import MyPredictor

    @pytest.fixture(scope="module")
    def make_predictor():
        return lambda: MyPredictor(n_estimators=20)  # small: the contract does not depend on size

    @pytest.fixture(scope="module")
    def layer_data():       # TrainingData with per-layer rows only (e.g. from_layer_csvs)
        ...

    @pytest.fixture(scope="module")
    def network_data():     # TrainingData with whole-network measurements (e.g. from_store)
        ...

    @pytest.fixture(scope="module")
    def lookup_table():     # how the search queries a predictor: (predictor, space, resolution) -> table
        return LookupTable

    class TestMyPredictor(LatencyPredictorTestCase):
        pass

The project's own tests run it for every kind in ``predictors.PREDICTORS`` (a ``params`` fixture
picks the kind). This module imports only the core and pytest.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnas_pred.errors import MnasPredError
from mnas_pred.features import layers_frame
from mnas_pred.space import SearchSpace

#: The calibration of a predictor fitted without whole-network measurements: the plain sum.
IDENTITY_CALIBRATION = {"sum": 1.0, "n_layers": 0.0, "intercept": 0.0}


class LatencyPredictorTestCase:
    """Tests of one predictor implementation; needs the fixtures ``make_predictor`` (a function
    returning a new unfitted predictor), ``layer_data``, ``network_data`` and ``lookup_table``."""

    # Class-scoped fixtures are class methods (pytest >= 9.1): every test gets a new instance.
    @pytest.fixture(scope="class")
    @classmethod
    def fitted_on_networks(cls, make_predictor, network_data):
        return make_predictor().fit(network_data)

    @pytest.fixture(scope="class")
    @classmethod
    def network_resolution(cls, network_data) -> int:
        return int(network_data.models["resolution"].iloc[0])

    def test_fit_returns_self_and_leaves_params_alone(self, make_predictor, layer_data):
        p = make_predictor()
        before = p.get_params()
        assert p.fit(layer_data) is p
        assert p.get_params() == before
        assert p.is_fitted
        learned = [a for a in vars(p) if a.endswith("_")]
        assert learned, "learned state lives in attributes ending in '_'"

    def test_unfitted_predictor_refuses_to_predict(self, make_predictor):
        with pytest.raises(MnasPredError, match="not fitted"):
            make_predictor().predict(["mnasnet-a1"])

    def test_unknown_param_is_a_one_line_error(self, make_predictor):
        with pytest.raises(MnasPredError, match="no parameter"):
            make_predictor().set_params(bogus=1)

    def test_layer_predictions_are_positive_and_finite(self, make_predictor, layer_data):
        p = make_predictor().fit(layer_data)
        pred = p.predict_layers(layer_data.layers)
        assert pred.shape == (len(layer_data.layers),)
        assert np.all(np.isfinite(pred)) and np.all(pred > 0)

    def test_layer_only_data_means_a_plain_sum(self, make_predictor, layer_data):
        p = make_predictor().fit(layer_data)
        assert p.calibration_.coef == IDENTITY_CALIBRATION
        table = layers_frame(["mnasnet-a1"], 224)
        assert p.predict(["mnasnet-a1"])[0] == pytest.approx(p.predict_layers(table).sum())

    def test_network_predictions_track_measurements(self, fitted_on_networks, network_data):
        m = network_data.models
        pred = fitted_on_networks.predict(m["arch"], m["resolution"])
        assert pred.shape == (len(m),) and np.all(pred > 0)
        # In-sample, every predictor is at least roughly right (shared-machine noise aside).
        assert np.median(np.abs(pred - m["latency_ms"]) / m["latency_ms"]) < 0.5

    def test_interval_brackets_the_point_prediction(self, fitted_on_networks, network_resolution):
        archs = SearchSpace.default().sample(5, seed=3)
        point = fitted_on_networks.predict(archs, network_resolution)
        low, high = fitted_on_networks.predict_interval(archs, 0.8, network_resolution)
        assert np.all(low <= point + 1e-12) and np.all(point <= high + 1e-12)
        wide_low, wide_high = fitted_on_networks.predict_interval(archs, 0.95, network_resolution)
        assert np.all(wide_low <= low + 1e-12) and np.all(high <= wide_high + 1e-12)

    def test_json_state_round_trip_predicts_the_same(self, fitted_on_networks, network_resolution):
        state = json.loads(json.dumps(fitted_on_networks.to_dict()))
        again = type(fitted_on_networks).from_dict(state)
        archs = SearchSpace.default().sample(8, seed=4)
        np.testing.assert_allclose(again.predict(archs, network_resolution),
                                   fitted_on_networks.predict(archs, network_resolution), rtol=1e-12)

    def test_lookup_table_equals_the_per_layer_path(self, fitted_on_networks, network_resolution, lookup_table):
        space = SearchSpace.default()
        table = lookup_table(fitted_on_networks, space, network_resolution)
        tokens = space.sample_tokens(60, seed=5)
        archs = [space.decode(t) for t in tokens]
        np.testing.assert_allclose(table.predict(tokens), fitted_on_networks.predict(archs, network_resolution), rtol=1e-9)
        slow_low, slow_high = fitted_on_networks.predict_interval(archs, 0.8, network_resolution)
        fast_low, fast_high = table.predict_interval(tokens, 0.8)
        np.testing.assert_allclose(fast_low, slow_low, rtol=1e-9)
        np.testing.assert_allclose(fast_high, slow_high, rtol=1e-9)

    def test_init_from_only_where_supported(self, make_predictor, layer_data):
        other = make_predictor().fit(layer_data)
        p = make_predictor()
        if not p.supports_init_from:
            with pytest.raises(MnasPredError, match="cannot start from"):
                p.fit(layer_data, init_from=other)
        else:
            assert p.fit(layer_data.subset_layers(np.arange(len(layer_data.layers)) < 25), init_from=other) is p
