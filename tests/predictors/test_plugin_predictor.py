"""What a plug-in author does: a predictor written outside the registry runs the conformance suite
(mnas_pred.testing.predictor) with four fixtures, and passes it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mnas_pred.features import layer_features
from mnas_pred.testing.predictor import LatencyPredictorTestCase
from predictors import LatencyPredictor


class MsPerMacPerOp(LatencyPredictor):
    """A layer's latency is its MACs times the median ms per MAC of its op (at least 1 ns)."""

    kind = "ms-per-mac-per-op"
    calibration_inputs = ("sum",)

    def __init__(self, floor_ms: float = 1e-6):
        self.floor_ms = floor_ms

    def _fit_layers(self, table: pd.DataFrame, latency_ms: np.ndarray, init_from) -> None:
        f = layer_features(table)
        ratio = pd.Series(latency_ms / np.maximum(f["macs"].to_numpy(np.float64), 1.0))
        self.ms_per_mac_ = ratio.groupby(f["op_code"].to_numpy()).median().to_dict()
        self.default_ms_per_mac_ = float(ratio.median())

    def predict_layer_members(self, table: pd.DataFrame) -> np.ndarray:
        f = layer_features(table)
        rate = np.array([self.ms_per_mac_.get(c, self.default_ms_per_mac_) for c in f["op_code"]], np.float64)
        return np.maximum(rate * f["macs"].to_numpy(np.float64), self.floor_ms)[None, :]

    def _layer_state(self) -> dict:
        return {"ms_per_mac": {str(k): v for k, v in self.ms_per_mac_.items()}, "default": self.default_ms_per_mac_}

    def _set_layer_state(self, state: dict) -> None:
        self.ms_per_mac_ = {int(k): float(v) for k, v in state["ms_per_mac"].items()}
        self.default_ms_per_mac_ = float(state["default"])


@pytest.fixture(scope="module")
def make_predictor():
    return MsPerMacPerOp


class TestPluginPredictor(LatencyPredictorTestCase):
    pass
