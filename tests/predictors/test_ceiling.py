"""The ceilings bench/predictor_accuracy.py prints beside the predictors: a perfect layer model,
and the noise of the stored labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictors.ceiling import label_noise, layer_oracle, median_noise_factor, process_medians
from predictors.data import TrainingData


def _data(layer_ms: np.ndarray, e2e_ms: np.ndarray) -> TrainingData:
    keys = [f"net{i}" for i in range(len(e2e_ms))]
    layers = pd.DataFrame({"model_key": np.repeat(keys, layer_ms.shape[1]), "latency_ms": layer_ms.ravel()})
    return TrainingData(layers, pd.DataFrame({"model_key": keys, "latency_ms": e2e_ms}))


def test_layer_oracle_recovers_an_affine_relation_and_reports_a_broken_one():
    rng = np.random.default_rng(0)
    layers = rng.uniform(0.1, 1.0, (60, 12))
    affine = 1.1 * layers.sum(axis=1) + 0.3  # end-to-end = scaled layer sum + fixed cost
    exact = layer_oracle(_data(layers[:30], affine[:30]), _data(layers[30:], affine[30:]))
    assert exact["within_10pct"] == 100 and exact["mape"] < 1e-6
    assert exact["calibration"]["sum"] == pytest.approx(1.1, rel=1e-6)
    noisy = affine * rng.lognormal(0, 0.2, len(affine))  # layers that do not add up to the network
    broken = layer_oracle(_data(layers[:30], noisy[:30]), _data(layers[30:], noisy[30:]))
    assert broken["within_10pct"] < 80 and broken["mape"] > 5


def test_layer_oracle_needs_per_layer_times_of_every_network():
    rng = np.random.default_rng(1)
    layers = rng.uniform(0.1, 1.0, (20, 5))
    train, test = _data(layers[:10], layers[:10].sum(1)), _data(layers[10:], layers[10:].sum(1))
    test.models.loc[0, "model_key"] = "never-profiled"
    assert layer_oracle(train, test) == {}


def test_process_medians_group_bursts_by_process_and_skip_outliers():
    bursts = [{"attempt": 0, "outlier": False, "samples_ms": [1.0, 2.0, 3.0]},
              {"attempt": 0, "outlier": False, "samples_ms": [4.0]},
              {"attempt": 1, "outlier": True, "samples_ms": [100.0]},
              {"attempt": 1, "outlier": False, "samples_ms": [5.0, 7.0]},
              {"attempt": 2, "outlier": True, "samples_ms": [9.0]}]
    assert process_medians(bursts) == [2.5, 6.0]


def test_label_noise_follows_the_process_spread_and_the_median_of_k():
    assert median_noise_factor(1) == 1.0
    assert median_noise_factor(3) == pytest.approx(0.670, abs=0.01)  # sd of a median of 3 normals
    rng = np.random.default_rng(2)
    quiet = label_noise(np.exp(rng.normal(0, 0.02, (400, 3)) + rng.normal(0, 1, (400, 1))).tolist())
    assert quiet["process_spread"] == pytest.approx(0.02, rel=0.1)  # drift between measurements excluded
    assert quiet["label_spread"] == pytest.approx(0.02 * 0.670, rel=0.1)
    assert quiet["ceiling_within_10pct"] == 100 and quiet["mape_floor"] == pytest.approx(1.07, rel=0.15)
    noisy = label_noise(np.exp(rng.normal(0, 0.15, (400, 3))).tolist())
    assert noisy["ceiling_within_10pct"] < 80
    assert label_noise([[1.0], [2.0]]) == {}  # one process per measurement: nothing to say
