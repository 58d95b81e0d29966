"""The predictor contract (mnas_pred.testing.predictor) run for every predictor kind, and what
only lgbm promises: adapting to a new device from few layers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import predictors
from mnas_pred.testing.predictor import LatencyPredictorTestCase
from predictors import PREDICTORS

from .conftest import SMALL_PARAMS


@pytest.fixture(scope="module", params=list(PREDICTORS))
def kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def make_predictor(kind):
    return lambda: predictors.make_predictor(kind, **SMALL_PARAMS[kind])


class TestEveryPredictor(LatencyPredictorTestCase):
    pass


def test_adaptation_beats_the_unadapted_source(pixel3_data, fbnet_csv):
    from predictors.data import from_layer_csvs
    from predictors.metrics import latency_metrics

    target = from_layer_csvs([fbnet_csv], "raspi4")
    source = predictors.make_predictor("lgbm", **SMALL_PARAMS["lgbm"]).fit(pixel3_data)
    pick = np.zeros(len(target.layers), bool)
    pick[np.random.default_rng(0).choice(len(pick), 50, replace=False)] = True
    few, test = target.subset_layers(pick), target.subset_layers(~pick)
    adapted = predictors.make_predictor("lgbm", **SMALL_PARAMS["lgbm"]).fit(few, init_from=source)
    y = test.layers["latency_ms"]
    before = latency_metrics(y, source.predict_layers(test.layers))["mape"]
    after = latency_metrics(y, adapted.predict_layers(test.layers))["mape"]
    assert after < before
    again = PREDICTORS["lgbm"].from_dict(json.loads(json.dumps(adapted.to_dict())))  # chains persist too
    np.testing.assert_allclose(again.predict_layers(test.layers), adapted.predict_layers(test.layers), rtol=1e-12)
