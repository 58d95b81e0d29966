"""Crafted predictor files (issue 12): every one is refused with one line and exit 2 by
``predict`` (and ``evaluate-predictor``), never a LightGBM abort, a segfault, a traceback or an
``inf`` prediction. Each file is a real small predictor with one edit, and its checksum
recomputed as an attacker would (the checksum has no key)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from predictors.io import _canonical
from tests.hostile import refused_by_subprocess, refused_in_process
from tests.predictors.lgbm_crafts import CRAFTS, huge_leaves

ARCH = "mnasnet-a1"


def craft(src: Path, dst: Path, mutate) -> Path:
    doc = json.loads(src.read_text())
    mutate(doc["payload"])
    doc["payload_sha256"] = hashlib.sha256(_canonical(doc["payload"])).hexdigest()
    dst.write_text(json.dumps(doc))
    return dst


def member(p, i=0):
    return p["predictors"]["lgbm"]["layer_model"]["members"][i]


def _set(path, value):
    def mutate(p):
        node = p
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return mutate


def _nested(depth):
    v: object = 1
    for _ in range(depth):
        v = [v]
    return v


# ------------------------------------------------------------------ LightGBM model texts
@pytest.mark.parametrize("name", sorted(CRAFTS))
def test_crafted_lightgbm_text_is_one_line(saved_predictor, tmp_path, capsys, name):
    def mutate(p):
        m = member(p)
        m["booster"] = CRAFTS[name](m["booster"])
    f = craft(saved_predictor, tmp_path / "x.pred", mutate)
    refused_in_process(capsys, ["predict", f, ARCH], "LightGBM model", folder=tmp_path)


def test_crafted_rf_text_is_one_line(saved_predictor, tmp_path, capsys):
    def mutate(p):
        lm = p["predictors"]["rf"]["layer_model"]
        lm["booster"] = CRAFTS["split_feature_out_of_range"](lm["booster"])
    f = craft(saved_predictor, tmp_path / "x.pred", mutate)
    refused_in_process(capsys, ["predict", f, ARCH], "predictors.rf.layer_model.booster", folder=tmp_path)


# the texts that aborted (134), segfaulted (139) or divided by zero (136) before, in a real process
@pytest.mark.parametrize("name", ["num_leaves_zero", "num_class_zero"])  # segfault, SIGFPE
def test_texts_that_crashed_the_process_are_one_line(saved_predictor, tmp_path, name):
    def mutate(p):
        m = member(p)
        m["booster"] = CRAFTS[name](m["booster"])
    f = craft(saved_predictor, tmp_path / "x.pred", mutate)
    refused_by_subprocess(["predict", f, ARCH], "LightGBM model", folder=tmp_path)


def test_evaluate_predictor_refuses_a_crafted_text(saved_predictor, fbnet_csv, tmp_path, capsys):
    def mutate(p):
        m = member(p)
        m["booster"] = CRAFTS["num_leaves_plus_one"](m["booster"])
    f = craft(saved_predictor, tmp_path / "x.pred", mutate)
    refused_in_process(capsys, ["evaluate-predictor", f, "--measurements", fbnet_csv, "--device", "pixel3"],
                       "leaf_value has", folder=tmp_path)


# ------------------------------------------------------------------ the payload around them
PAYLOADS = {
    "empty_search_space": (_set(["search_space"], {}), "search_space.resolution is missing"),
    "no_blocks": (lambda p: p["search_space"].update(blocks=[]), "search_space.blocks must have at least 1"),
    "device_is_a_number": (_set(["device"], 5), "device must be a table"),
    "device_name_is_a_list": (_set(["device", "name"], ["a"]), "device.name must be text"),
    "calibration_1e308": (_set(["predictors", "lgbm", "calibration", "sum"], 1e308), "calibration.sum must be at most"),
    "calibration_as_text": (_set(["predictors", "lgbm", "calibration", "intercept"], "1"), "calibration.intercept must be a number"),
    "deep_nesting": (_set(["metrics"], {"x": _nested(60)}), "nested more than"),
    "no_members": (_set(["predictors", "lgbm", "layer_model", "members"], []), "members must have at least 1"),
    "base_coefficients_short": (lambda p: member(p)["base"]["coef"].pop(), "coefficients"),
    "base_coefficient_huge": (lambda p: member(p)["base"]["coef"].__setitem__(0, 1e300), "coef.0 must be at most"),
    "share_without_parts_base": (lambda p: member(p).update(share_features=True, base=None), "share features need"),
    "affine_three": (_set(["predictors", "lgbm", "layer_model", "members", 0, "affine"], [0, 1, 2]), "affine must have at most 2"),
    "unknown_param": (_set(["predictors", "lgbm", "params", "evil"], 1), "unknown key predictors.lgbm.params.evil"),
    "n_members_text": (_set(["predictors", "lgbm", "params", "n_members"], "6"), "n_members must be a whole number"),
    "feature_columns_changed": (lambda p: p["predictors"]["lgbm"]["layer_model"]["feature_columns"].reverse(), "different feature schema"),
    "kind_not_present": (_set(["kind"], "xgb"), "main predictor 'xgb'"),
    "kind_mismatch": (lambda p: p["predictors"].__setitem__("rf", p["predictors"]["flops"]), "holds a 'flops' predictor"),
    "lut_lengths": (lambda p: p["predictors"]["lut"]["layer_model"]["latency_ms"].pop(), "one entry per configuration"),
    "lut_negative_latency": (lambda p: p["predictors"]["lut"]["layer_model"]["latency_ms"].__setitem__(0, -1), "must be at least 0"),
    "flops_not_finite": (_set(["predictors", "flops", "layer_model", "ms_per_mac"], 1e300), "ms_per_mac must be at most"),
    "space_kernel_1001": (lambda p: p["search_space"]["blocks"][0].update(kernel=[1001]), "kernel"),
    "space_filters_1e8": (lambda p: p["search_space"]["blocks"][0].update(filters=[10**8]), "8192"),
    "arch_sha256_not_hex": (_set(["training_data", "arch_sha256"], ["xyz"]), "arch_sha256.0"),
    "arch_sha256_too_long": (_set(["training_data", "arch_sha256"], ["a" * 65]), "arch_sha256.0"),
    "arch_sha256_not_a_list": (_set(["training_data", "arch_sha256"], "abc"), "arch_sha256"),
    "training_data_is_a_list": (_set(["training_data"], []), "training_data must be a table"),
    "payload_extra_key": (_set(["evil"], 1), "unknown key evil"),
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_crafted_payload_is_one_line(saved_predictor, tmp_path, capsys, name):
    mutate, fragment = PAYLOADS[name]
    f = craft(saved_predictor, tmp_path / "x.pred", mutate)
    refused_in_process(capsys, ["predict", f, ARCH], fragment, folder=tmp_path)


def test_leaves_that_overflow_are_never_printed(saved_predictor, tmp_path, capsys):
    """A well-formed model whose leaves are huge (finite) would predict inf: refused at predict."""
    def mutate(p):
        for m in p["predictors"]["lgbm"]["layer_model"]["members"]:
            m["booster"] = huge_leaves(m["booster"])
    f = craft(saved_predictor, tmp_path / "x.pred", mutate)
    refused_in_process(capsys, ["predict", f, ARCH], "not a finite number", folder=tmp_path)


# ------------------------------------------------------------------ raw files (no valid checksum possible)
RAW = {
    "nan_in_payload": (lambda t: t.replace('"model_log_residual_std":', '"model_log_residual_std":NaN,"x":', 1), "not valid JSON"),
    "infinity_in_payload": (lambda t: t.replace('"sum":', '"sum":Infinity,"y":', 1), "not valid JSON"),
    "nested_10000_deep": (lambda t: t.replace('"metrics":{', '"metrics":{"deep":' + "[" * 10000 + "]" * 10000 + ",", 1), "nested too deeply"),
    "truncated": (lambda t: t[: len(t) // 2], "not valid JSON"),
    "not_utf8": (lambda t: "\udcff" + t, "not UTF-8"),
    "top_level_list": (lambda t: "[" + t + "]", "is not a mnas-pred predictor file"),
    "edited_without_checksum": (lambda t: t.replace('"n_train_layers":', '"n_train_layers":1', 1), "checksum mismatch"),
}


@pytest.mark.parametrize("name", sorted(RAW))
def test_raw_damage_is_one_line(saved_predictor, tmp_path, capsys, name):
    edit, fragment = RAW[name]
    f = tmp_path / "x.pred"
    f.write_bytes(edit(saved_predictor.read_text()).encode("utf-8", "surrogateescape"))
    refused_in_process(capsys, ["predict", f, ARCH], fragment, folder=tmp_path)


# ------------------------------------------------------------------ what must still load
def test_training_hashes_are_accepted(saved_predictor, tmp_path, capsys):
    from mnas_pred.cli import main

    f = craft(saved_predictor, tmp_path / "x.pred",
              _set(["training_data", "arch_sha256"], [hashlib.sha256(b"a").hexdigest(), "0f"]))
    assert main(["predict", str(f), ARCH]) == 0, capsys.readouterr().err
    assert "nan" not in capsys.readouterr().out.lower()


@pytest.mark.parametrize("params", [{"min_data_in_leaf": 1, "min_data_in_bin": 1},  # constant labels: single-leaf trees
                                    {"linear_tree": True, "num_leaves": 4},
                                    {"boosting": "rf", "bagging_fraction": 0.5, "bagging_freq": 1, "num_leaves": 4}])
def test_what_lightgbm_writes_passes_the_check(params):
    import lightgbm as lgb
    import numpy as np

    from predictors.lgbm_text import check_model_text

    x = np.random.default_rng(0).normal(size=(200, 3))
    y = np.ones(200) if "min_data_in_bin" in params else x[:, 0] * 2 + x[:, 1]
    b = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1, **params}, lgb.Dataset(x, y), num_boost_round=5)
    check_model_text(b.model_to_string(), ["Column_0", "Column_1", "Column_2"])
