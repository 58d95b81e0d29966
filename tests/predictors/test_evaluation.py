"""Evaluation never leaks a test network into training; metrics mean what they say."""

from __future__ import annotations

import numpy as np
import pytest

from predictors import make_predictor
from predictors.baselines import config_keys
from predictors.data import NO_MODEL
from predictors.evaluation import config_folds, cross_validate, model_folds, model_holdout
from predictors.metrics import latency_metrics

from .conftest import SMALL_PARAMS


def test_model_folds_never_put_a_network_on_both_sides(store_data):
    all_keys = set(store_data.models["model_key"])
    tested = []
    for train_keys, test_keys in model_folds(store_data, 3, seed=1):
        assert not set(train_keys) & set(test_keys)
        assert set(train_keys) | set(test_keys) == all_keys
        train = store_data.subset_models(train_keys)
        test = store_data.subset_models(test_keys, keep_csv_layers=False)
        # No layer of a test network is in the training layers, and vice versa.
        assert not set(train.layers["model_key"]) & set(test.layers["model_key"])
        assert set(test.layers["model_key"]) <= set(test_keys)
        tested += test_keys
    assert sorted(tested) == sorted(all_keys)  # every network is tested exactly once


def test_holdout_trains_and_tests_on_different_networks(store_data):
    train, test = model_holdout(store_data, n_train=6, n_test=4, seed=0)
    assert train.models["model_key"].nunique() == 6 and test.models["model_key"].nunique() == 4
    assert not set(train.models["model_key"]) & set(test.models["model_key"])
    assert not set(train.layers["model_key"]) & set(test.layers["model_key"])


def test_cross_validation_predictions_come_from_held_out_networks(store_data):
    ev = cross_validate(store_data, {"flops": lambda: make_predictor("flops")}, folds=3, seed=2)
    folds = dict(enumerate(model_folds(store_data, 3, seed=2)))
    for level in ("layer", "model"):
        df = ev.predictions[level]
        for fold, g in df.groupby("fold"):
            assert set(g["model_key"]) <= set(folds[fold][1])
    assert ev.metrics["model"]["flops"]["n"] == len(store_data.models)
    assert ev.metrics["layer"]["flops"]["n"] == int((store_data.layers["model_key"] != NO_MODEL).sum())


def test_config_folds_keep_each_configuration_on_one_side(pixel3_data):
    keys = config_keys(pixel3_data.layers).to_numpy()
    covered = np.zeros(len(keys), bool)
    for train, test in config_folds(pixel3_data, 5, seed=0):
        assert not set(keys[train]) & set(keys[test])
        covered |= test
    assert covered.all()


def test_cross_validation_reports_every_metric_for_every_predictor(pixel3_data):
    make = {k: (lambda k=k: make_predictor(k, **SMALL_PARAMS[k])) for k in ("lgbm", "flops")}
    ev = cross_validate(pixel3_data, make, folds=3)
    assert set(ev.metrics["layer"]) == {"lgbm", "flops"}
    assert not ev.metrics["model"]  # per-layer data has no networks
    for m in ev.metrics["layer"].values():
        assert set(m) == {"within_10pct", "within_5pct", "mape", "rmse_ms", "spearman", "kendall", "n"}


def test_metrics_on_known_values():
    m = latency_metrics([1.0, 2.0, 4.0, 8.0], [1.04, 2.3, 4.0, 7.0])
    assert m["within_5pct"] == pytest.approx(50.0)
    assert m["within_10pct"] == pytest.approx(50.0)  # 2.3 is 15% off, 7.0 is 12.5% off
    assert m["mape"] == pytest.approx(100 * (0.04 + 0.15 + 0 + 0.125) / 4)
    assert m["spearman"] == pytest.approx(1.0) and m["kendall"] == pytest.approx(1.0)
    assert m["n"] == 4
