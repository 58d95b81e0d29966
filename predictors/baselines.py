"""The baselines lgbm must beat, always reported beside it (design.md §6).

* ``flops``: latency linear in MACs (the proxy MnasNet rejects): per layer ``α·MACs + β``;
  per network, linear in the sum (i.e. in the network's MACs).
* ``lut``: a lookup table of measured layer latencies keyed by layer configuration, a network
  being the plain sum of its entries (ProxylessNAS/OFA). A configuration not in the table takes
  the entry of the nearest configuration (same op where the table has it; distance on log
  sizes), with no calibration: that is the approach as published.
* ``rf``: a random forest on the same per-layer features and log target (nn-Meter's kernel
  predictors are random forests), built with LightGBM's ``boosting="rf"`` so that it persists in
  LightGBM's text format like ``lgbm`` instead of a pickle; it shares lgbm's calibration.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from mnas_pred.features import layer_features, normalize_layer_table
from predictors._base import TINY_MS, LatencyPredictor
from predictors.data import CONFIG_COLUMNS
from predictors.lgbm import PREDICTOR_FEATURE_COLUMNS, feature_matrix
from predictors.lgbm_compact import compact_model_string


class FlopsPredictor(LatencyPredictor):
    kind = "flops"
    calibration_inputs = ("sum",)

    def __init__(self):
        pass

    def _fit_layers(self, table, latency_ms, init_from) -> None:
        macs = layer_features(table)["macs"].to_numpy(np.float64)
        design = np.column_stack([macs, np.ones_like(macs)])
        w = 1.0 / latency_ms  # relative least squares, as the metrics are relative
        (slope, intercept), *_ = np.linalg.lstsq(design * w[:, None], latency_ms * w, rcond=None)
        self.ms_per_mac_, self.intercept_ms_ = float(slope), float(intercept)

    def predict_layer_members(self, table: pd.DataFrame) -> np.ndarray:
        macs = layer_features(table)["macs"].to_numpy(np.float64)
        return np.maximum(self.ms_per_mac_ * macs + self.intercept_ms_, TINY_MS)[None, :]

    def _layer_state(self) -> dict:
        return {"ms_per_mac": self.ms_per_mac_, "intercept_ms": self.intercept_ms_}

    def _set_layer_state(self, state: dict) -> None:
        self.ms_per_mac_, self.intercept_ms_ = float(state["ms_per_mac"]), float(state["intercept_ms"])


#: Distance features of the nearest-configuration fallback (sizes on a log scale).
_LUT_DISTANCE = ("kernel", "stride", "expansion", "se_ratio", "skip_code", "groups", "in_h", "cin", "cout")
_LOG_SCALED = {"in_h", "cin", "cout", "expansion"}


def config_keys(table: pd.DataFrame) -> pd.Series:
    """One string per row identifying its layer configuration."""
    df = normalize_layer_table(table)
    if "num_classes" not in df:
        df["num_classes"] = 0
    cols = []
    for c in CONFIG_COLUMNS:
        v = df[c]
        if c in ("op", "skip"):
            cols.append(v.astype(str))
        else:
            cols.append(pd.to_numeric(v, errors="coerce").fillna(0).astype(np.float64).map("{:g}".format))
    key = cols[0]
    for c in cols[1:]:
        key = key + "|" + c
    return key


class LookupTablePredictor(LatencyPredictor):
    kind = "lut"
    calibration_inputs = ()  # the plain sum, as the approach is published

    def __init__(self):
        pass

    def _fit_layers(self, table, latency_ms, init_from) -> None:
        keys = config_keys(table)
        frame = pd.DataFrame({"key": keys.to_numpy(), "ms": latency_ms})
        med = frame.groupby("key", sort=True)["ms"].median()
        first = ~keys.duplicated()
        reps = pd.Series(np.flatnonzero(first.to_numpy()), index=keys[first].to_numpy())
        rep_rows = normalize_layer_table(table).iloc[reps.loc[med.index].to_numpy()]
        self.keys_ = med.index.tolist()
        self.latency_ms_ = med.to_numpy(np.float64)
        self.ops_ = rep_rows["op"].astype(str).tolist()
        self.distance_features_ = self._distance_matrix(rep_rows)

    @staticmethod
    def _distance_matrix(table: pd.DataFrame) -> np.ndarray:
        f = layer_features(table)
        cols = []
        for c in _LUT_DISTANCE:
            v = f[c].to_numpy(np.float64)
            cols.append(np.log2(np.maximum(v, 1e-3)) if c in _LOG_SCALED else v)
        return np.column_stack(cols)

    def predict_layer_members(self, table: pd.DataFrame) -> np.ndarray:
        keys = config_keys(table).to_numpy()
        index = {k: i for i, k in enumerate(self.keys_)}
        pos = np.array([index.get(k, -1) for k in keys], dtype=np.int64)
        missing = np.flatnonzero(pos < 0)
        if len(missing):
            rows = normalize_layer_table(table).iloc[missing]
            q = self._distance_matrix(rows)
            q_ops = rows["op"].astype(str).to_numpy()
            ops = np.asarray(self.ops_)
            for start in range(0, len(missing), 2048):  # bounded memory for the distance block
                sl = slice(start, start + 2048)
                d = ((q[sl, None, :] - self.distance_features_[None, :, :]) ** 2).sum(-1)
                other_op = q_ops[sl, None] != ops[None, :]
                has_same = (~other_op).any(axis=1, keepdims=True)
                d = d + np.where(other_op & has_same, 1e12, 0.0)  # prefer the same op when the table has it
                pos[missing[sl]] = np.argmin(d, axis=1)
        return self.latency_ms_[pos][None, :]

    def _layer_state(self) -> dict:
        return {
            "keys": self.keys_, "latency_ms": self.latency_ms_.tolist(), "ops": self.ops_,
            "distance_features": self.distance_features_.tolist(),
        }

    def _set_layer_state(self, state: dict) -> None:
        self.keys_ = [str(k) for k in state["keys"]]
        self.latency_ms_ = np.asarray(state["latency_ms"], np.float64)
        self.ops_ = [str(o) for o in state["ops"]]
        self.distance_features_ = np.asarray(state["distance_features"], np.float64).reshape(len(self.keys_), len(_LUT_DISTANCE))


class RandomForestPredictor(LatencyPredictor):
    kind = "rf"
    calibration_inputs = ("sum", "n_layers")

    def __init__(self, n_estimators: int = 300, num_leaves: int = 64, min_data_in_leaf: int = 1,
                 row_fraction: float = 0.632, feature_fraction: float = 0.6, seed: int = 0):
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.row_fraction = row_fraction
        self.feature_fraction = feature_fraction
        self.seed = seed

    def _fit_layers(self, table, latency_ms, init_from) -> None:
        x = feature_matrix(table)
        y = np.log(np.maximum(latency_ms, TINY_MS))
        params = {
            "objective": "regression", "boosting": "rf", "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf, "min_sum_hessian_in_leaf": 0.0, "min_data_in_bin": 1,
            "bagging_fraction": self.row_fraction, "bagging_freq": 1, "feature_fraction": self.feature_fraction,
            "seed": self.seed, "num_threads": 1, "deterministic": True, "force_row_wise": True, "verbose": -1,
        }
        data = lgb.Dataset(x, label=y, feature_name=list(PREDICTOR_FEATURE_COLUMNS), params={"min_data_in_bin": 1, "verbose": -1})
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)

    def predict_layer_members(self, table: pd.DataFrame) -> np.ndarray:
        x = feature_matrix(table)
        return np.exp(self.booster_.predict(x, num_threads=1))[None, :]

    def _layer_state(self) -> dict:
        return {"feature_columns": list(PREDICTOR_FEATURE_COLUMNS), "booster": compact_model_string(self.booster_)}

    def _set_layer_state(self, state: dict) -> None:
        if list(state["feature_columns"]) != list(PREDICTOR_FEATURE_COLUMNS):
            raise ValueError("the predictor was trained on a different feature schema")
        self.booster_ = lgb.Booster(model_str=state["booster"])
