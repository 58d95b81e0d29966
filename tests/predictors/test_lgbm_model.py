"""The lgbm layer model's parts: its two analytic bases, their persistence, and the cross-fitted
model-level calibration."""

from __future__ import annotations

import json

import numpy as np

import predictors.calibration as calibration_mod
from predictors import PREDICTORS, make_predictor
from predictors.calibration import Calibration, out_of_fold_sums
from predictors.lgbm import SHARE_FEATURE_COLUMNS, AdditiveBase, feature_matrix
from predictors.network_effects import denoised_layers

from .conftest import SMALL_PARAMS


def test_members_alternate_between_the_two_bases(pixel3_data):
    p = make_predictor("lgbm", n_members=4, n_estimators=20).fit(pixel3_data)
    kinds = [m.base.kind for m in p.members_]
    assert kinds == ["dense_dw", "parts", "dense_dw", "parts"]
    assert [m.share_features for m in p.members_] == [False, True, False, True]
    parts = p.members_[1]
    assert parts.booster.num_feature() == feature_matrix(pixel3_data.layers).shape[1] + len(SHARE_FEATURE_COLUMNS)


def test_parts_base_shares_are_fractions_of_the_guess(pixel3_data):
    x = feature_matrix(pixel3_data.layers)
    y = pixel3_data.layers["latency_ms"].to_numpy()
    b = AdditiveBase(kind="parts").fit(x, y)
    shares = b.share_features(x)
    assert shares.shape == (len(x), len(SHARE_FEATURE_COLUMNS))
    assert np.all(shares >= 0) and np.all(shares.sum(axis=1) <= 1 + 1e-9)
    # A relative-error fit on the real table: the guess is within a factor 2 for most layers.
    ratio = np.exp(b.predict_log(x)) / y
    assert np.mean((ratio > 0.5) & (ratio < 2)) > 0.8


def test_both_bases_persist_and_older_files_still_load(pixel3_data):
    p = make_predictor("lgbm", **SMALL_PARAMS["lgbm"]).fit(pixel3_data)
    again = PREDICTORS["lgbm"].from_dict(json.loads(json.dumps(p.to_dict())))
    assert np.array_equal(again.predict_layers(pixel3_data.layers), p.predict_layers(pixel3_data.layers))
    # A file written before the 'parts' base: no base kind, no share_features flag.
    old = make_predictor("lgbm", base="additive", n_members=2, n_estimators=20).fit(pixel3_data)
    state = json.loads(json.dumps(old.to_dict()))
    for m in state["layer_model"]["members"]:
        del m["share_features"], m["base"]["kind"]
    loaded = PREDICTORS["lgbm"].from_dict(state)
    assert np.array_equal(loaded.predict_layers(pixel3_data.layers), old.predict_layers(pixel3_data.layers))


def test_calibration_is_fitted_on_out_of_fold_sums(store_data, monkeypatch):
    p = make_predictor("lgbm", **SMALL_PARAMS["lgbm"]).fit(store_data)
    models = store_data.models
    in_sample, counts = p.layer_sums(models["arch"], models["resolution"], models["num_classes"])
    # The layer models (the predictor's and the folds') learn the de-noised layer labels.
    oof = out_of_fold_sums(p, denoised_layers(p, store_data, p.network_denoise), None)
    assert oof is not None
    assert np.array_equal(oof[1], counts)
    assert not np.allclose(oof[0], in_sample)  # each network's sum comes from a model that never saw it
    # The calibration is the relative least squares on those out-of-fold sums.
    refit = Calibration(p.calibration_inputs).fit(*oof, models["latency_ms"].to_numpy())
    assert refit.coef == p.calibration_.coef
    # One fold: nothing to cross-fit, the in-sample sums are used.
    monkeypatch.setattr(calibration_mod, "CALIBRATION_FOLDS", 1)
    assert out_of_fold_sums(p, store_data, None) is None


def test_few_rows_fall_back_to_the_simpler_base(pixel3_data):
    few = pixel3_data.subset_layers(np.arange(len(pixel3_data.layers)) < 25)
    p = make_predictor("lgbm", n_members=2, n_estimators=20).fit(few)
    assert {m.base.kind for m in p.members_} == {"dense_dw"}
    ratio = p.predict_layers(pixel3_data.layers) / pixel3_data.layers["latency_ms"].to_numpy()
    assert np.all((ratio > 1e-3) & (ratio < 1e3))
