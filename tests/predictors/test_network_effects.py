"""lgbm's ``network_denoise``: part of each training network's shared deviation is divided out
of its layer labels before the layer model is fitted (predictors/network_effects.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from predictors import PREDICTORS, make_predictor
from predictors.data import NO_MODEL, TrainingData
from predictors.lgbm import feature_frame
from predictors.network_effects import denoised_layers
from predictors.schema import LgbmParams

from .conftest import SMALL_PARAMS


def _clean_and_slowed(data: TrainingData, key: str, factor: float) -> TrainingData:
    """The store's networks with noiseless layer labels (a linear function of the layers' MACs,
    which the layer model's analytic base represents exactly), one network's ``factor`` slower:
    the measured labels of 12 tiny networks profiled once are too noisy to show the effect."""
    f = feature_frame(data.layers)
    clean = 1e-6 * (np.expm1(f["log_dense_macs"]) + np.expm1(f["log_depthwise_macs"])).to_numpy() + 0.01
    clean = clean * np.where(data.layers["model_key"] == key, factor, 1.0)
    return TrainingData(data.layers.assign(latency_ms=clean), data.models, data.sources)


def _network_factors(before: TrainingData, after: TrainingData) -> pd.Series:
    ratio = after.layers["latency_ms"].to_numpy() / before.layers["latency_ms"].to_numpy()
    return pd.Series(ratio).groupby(before.layers["model_key"].to_numpy()).median()


def test_a_network_measured_slow_is_pulled_halfway_back(store_data):
    slow_key = store_data.models["model_key"].iloc[3]
    slowed = _clean_and_slowed(store_data, slow_key, 1.5)
    kept = slowed.layers["latency_ms"].copy()
    out = denoised_layers(make_predictor("lgbm", **SMALL_PARAMS["lgbm"]), slowed, 0.5)
    assert slowed.layers["latency_ms"].equals(kept)  # the caller's data is left alone
    factors = _network_factors(slowed, out)
    # Layer models fitted without that network predict it at its normal speed: its labels come
    # back by sqrt(1.5) (shrink 0.5); the other networks' barely move.
    assert 1 / 1.5**0.6 < factors[slow_key] < 1 / 1.5**0.4
    assert np.all(np.abs(np.log(factors.drop(slow_key))) < 0.1 * np.log(1.5))
    # One factor per network: every layer of a network is divided by the same number.
    ratio = out.layers["latency_ms"] / slowed.layers["latency_ms"]
    spread = ratio.groupby(slowed.layers["model_key"]).agg(lambda r: r.max() / r.min() - 1)
    assert spread.max() < 1e-9


def test_layers_of_no_network_and_shrink_zero_are_left_alone(store_data, pixel3_data):
    csv_rows = pixel3_data.layers.head(40).assign(model_key=NO_MODEL)
    mixed = TrainingData(pd.concat([store_data.layers, csv_rows], ignore_index=True), store_data.models, store_data.sources)
    predictor = make_predictor("lgbm", **SMALL_PARAMS["lgbm"])
    out = denoised_layers(predictor, mixed, 0.5)
    is_csv = (mixed.layers["model_key"] == NO_MODEL).to_numpy()
    assert np.array_equal(out.layers["latency_ms"].to_numpy()[is_csv], csv_rows["latency_ms"].to_numpy())
    assert not np.allclose(out.layers["latency_ms"].to_numpy()[~is_csv], store_data.layers["latency_ms"].to_numpy())
    assert denoised_layers(predictor, mixed, 0.0) is mixed
    assert denoised_layers(predictor, pixel3_data, 0.5) is pixel3_data  # per-layer CSVs only: no networks


def test_fit_denoises_by_default_and_files_without_the_setting_still_load(store_data):
    on = make_predictor("lgbm", **SMALL_PARAMS["lgbm"]).fit(store_data)
    off = make_predictor("lgbm", **SMALL_PARAMS["lgbm"], network_denoise=0.0).fit(store_data)
    assert on.network_denoise == 0.5
    assert not np.allclose(on.predict_layers(store_data.layers), off.predict_layers(store_data.layers))
    state = json.loads(json.dumps(on.to_dict()))
    again = PREDICTORS["lgbm"].from_dict(state)
    assert np.array_equal(again.predict(store_data.models["arch"], 48), on.predict(store_data.models["arch"], 48))
    # A file written before the setting existed: its params lack it, the schema and loader accept it.
    del state["params"]["network_denoise"]
    assert LgbmParams.model_validate(state["params"]).network_denoise == 0.5
    older = PREDICTORS["lgbm"].from_dict(state)
    assert np.array_equal(older.predict(store_data.models["arch"], 48), on.predict(store_data.models["arch"], 48))
