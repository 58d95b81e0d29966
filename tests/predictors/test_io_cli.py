"""Predictor files (JSON, never pickle) and the fit-predictor / evaluate-predictor / predict
commands, including the one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from mnas_pred.arch import REFERENCES
from mnas_pred.cli import main
from mnas_pred.errors import MnasPredError
from mnas_pred.space import SearchSpace
from predictors.io import OtherDeviceWarning, load_predictor, save_predictor

ARCH = "mnasnet-a1"
#: A predictor file (all four kinds, small, with a fitted calibration) and its predictions, both
#: written by commit 33fc2e0, before the calibration became its own object.
WRITTEN_BEFORE = Path(__file__).parent / "data" / "written_before_calibration_split"


def run_cli(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "mnas_pred", *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


def assert_one_line_error(code, err, fragment):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ persistence
def test_file_is_json_text_and_round_trips(saved_predictor, tmp_path):
    raw = saved_predictor.read_bytes()
    assert raw[:1] == b"{" and b"\x80" not in raw[:2]  # JSON text, not a pickle stream
    doc = json.loads(raw)
    assert doc["format"] == "mnas-pred-predictor"
    lgbm_state = doc["payload"]["predictors"]["lgbm"]["layer_model"]["members"][0]["booster"]
    assert lgbm_state.startswith("tree\n")  # LightGBM's own text format
    assert set(doc["payload"]["predictors"]) == {"lgbm", "rf", "flops", "lut"}
    for key in ("device", "search_space", "feature_schema", "training_data", "versions"):
        assert key in doc["payload"]
    pf = load_predictor(saved_predictor, space=SearchSpace.default())
    again = load_predictor(save_predictor(pf, tmp_path / "copy.pred"))
    archs = SearchSpace.default().sample(5, seed=0)
    for name in pf.predictors:
        np.testing.assert_allclose(again.predictors[name].predict(archs), pf.predictors[name].predict(archs), rtol=1e-12)


def test_file_keeps_only_what_prediction_reads_and_predicts_bit_identically(pixel3_data, tmp_path):
    from predictors.workflow import fit_predictor

    from .conftest import SMALL_PARAMS

    pf, _ = fit_predictor(pixel3_data, "lgbm", SearchSpace.default(), folds=0, params=SMALL_PARAMS["lgbm"],
                          baselines=["rf"])
    path = save_predictor(pf, tmp_path / "p.pred")
    text = path.read_text()
    for unused in ("feature_importances:", "parameters:"):
        assert unused not in text
    booster = json.loads(text)["payload"]["predictors"]["lgbm"]["layer_model"]["members"][0]["booster"]
    stats = [line.split("=", 1)[1] for line in booster.split("\n") if line.startswith(("split_gain=", "leaf_count="))]
    assert stats and all(set(v.split()) <= {"0"} for v in stats)  # training statistics: zeros
    assert "\n" not in text.strip()  # one line of compact JSON (LightGBM's newlines are escaped)
    loaded = load_predictor(path)
    archs = SearchSpace.default().sample(50, seed=4)
    for name in ("lgbm", "rf"):
        np.testing.assert_array_equal(loaded.predictors[name].predict(archs), pf.predictors[name].predict(archs))


def test_token_queries_match_string_queries(saved_predictor):
    pf = load_predictor(saved_predictor)
    space = SearchSpace.default()
    tokens = space.sample_tokens(20, seed=1)
    np.testing.assert_allclose(pf.predict_tokens(tokens), pf.predictor.predict([space.decode(t) for t in tokens]), rtol=1e-9)
    low, high = pf.predict_tokens_interval(tokens)
    assert np.all(low < high)


def test_tampered_file_is_one_line_exit_2(saved_predictor, tmp_path, capsys):
    text = saved_predictor.read_text()
    i = text.index("leaf_value=") + len("leaf_value=")
    bad = tmp_path / "tampered.pred"
    bad.write_text(text[:i] + ("9" if text[i] != "9" else "8") + text[i + 1:])
    code, _, err = cli(capsys, "predict", bad, ARCH)
    assert_one_line_error(code, err, "modified or damaged")


def test_truncated_file_is_one_line_exit_2(saved_predictor, tmp_path):
    bad = tmp_path / "truncated.pred"
    bad.write_bytes(saved_predictor.read_bytes()[: saved_predictor.stat().st_size // 2])
    res = run_cli("predict", bad, ARCH)  # the real console entry point
    assert_one_line_error(res.returncode, res.stderr, "truncated")
    assert "Traceback" not in res.stderr


def test_predictor_for_another_search_space_is_exit_2(saved_predictor, tmp_path, capsys):
    other = tmp_path / "space.json"
    other.write_text(json.dumps({"choices": {"ops": ["mbconv3", "mbconv6"]}}))
    code, _, err = cli(capsys, "predict", saved_predictor, "mbconv6_k3_r1_c16_s1_se0_skipnone-" * 0 + ARCH, "--space", other)
    assert_one_line_error(code, err, "another search space")
    with pytest.raises(MnasPredError, match="another search space"):
        load_predictor(saved_predictor, space=SearchSpace.load(other))


def test_other_device_warns(saved_predictor):
    with pytest.warns(OtherDeviceWarning, match="pixel3"):
        load_predictor(saved_predictor, device="raspi4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_predictor(saved_predictor, device="pixel3")


# ------------------------------------------------------------------ commands
def test_predict_json(saved_predictor, capsys):
    code, out, _ = cli(capsys, "predict", saved_predictor, ARCH, "mobilenetv2", "--json")
    assert code == 0
    res = json.loads(out)
    assert [p["name"] for p in res["predictions"]] == [ARCH, "mobilenetv2"]  # as typed
    assert [p["arch"] for p in res["predictions"]] == [REFERENCES[ARCH], REFERENCES["mobilenetv2"]]
    for p in res["predictions"]:
        assert 0 < p["low_ms"] <= p["latency_ms"] <= p["high_ms"]


def test_predict_table_shows_the_names_typed_and_whole_strings(saved_predictor, capsys):
    code, out, _ = cli(capsys, "predict", saved_predictor, ARCH, "mobilenetv2", REFERENCES["mnasnet-b1"])
    assert code == 0
    rows = [line for line in out.splitlines() if "│" in line]
    assert any(f"│ {ARCH} " in r for r in rows) and any("│ mobilenetv2 " in r for r in rows)
    assert "…" not in out  # nothing ellipsized
    assert REFERENCES["mnasnet-b1"] in "".join(r.split("│")[1].strip() for r in rows)  # folded, not cut


def test_evaluate_predictor_json_and_other_device_warning(saved_predictor, fbnet_csv, capsys):
    code, out, err = cli(capsys, "evaluate-predictor", saved_predictor, "--measurements", fbnet_csv, "--device", "raspi4", "--json")
    assert code == 0
    assert "warning:" in err and "pixel3" in err and "trained on" not in err  # raspi4 rows of the file: not seen
    code, out, err = cli(capsys, "evaluate-predictor", saved_predictor, "--measurements", fbnet_csv, "--device", "pixel3", "--json")
    assert code == 0 and f"warning: the predictor was trained on {fbnet_csv} too" in err
    res = json.loads(out)
    assert set(res["metrics"]["layer"]) == {"lgbm", "rf", "flops", "lut"}
    for m in res["metrics"]["layer"].values():
        assert {"within_10pct", "within_5pct", "mape", "rmse_ms", "spearman", "kendall", "n"} <= set(m)


def test_fit_predictor_on_store_with_report(cpu_store, tmp_path, capsys):
    out = tmp_path / "cpu.pred"
    code, stdout, err = cli(capsys, "fit-predictor", "--db", cpu_store, "--out", out, "--folds", "3",
                            "--report", tmp_path / "report", "--json")
    assert code == 0, err
    res = json.loads(stdout)
    metrics = res["evaluation"]["metrics"]
    assert set(metrics) == {"layer", "model"}
    assert set(metrics["model"]) == {"lgbm", "rf", "flops", "lut"}
    for name in ("report.md", "predicted_vs_measured_model.png", "predicted_vs_measured_layer.png", "error_by_op.png", "error_by_size.png"):
        assert (tmp_path / "report" / name).is_file()
    pf = load_predictor(out)
    assert pf.predictor.calibration_.coef["sum"] > 0 and pf.metadata["training_data"]["n_models"] == 12
    code, stdout, _ = cli(capsys, "evaluate-predictor", out, "--db", cpu_store, "--json")
    assert code == 0 and json.loads(stdout)["metrics"]["model"]["lgbm"]["n"] == 12


def test_fit_predictor_init_from(saved_predictor, fbnet_csv, tmp_path, capsys):
    few = tmp_path / "few.csv"
    import pandas as pd

    df = pd.read_csv(fbnet_csv)
    df[df["device"] == "raspi4"].sample(25, random_state=0).to_csv(few, index=False)
    code, stdout, err = cli(capsys, "fit-predictor", "--measurements", few, "--init-from", saved_predictor,
                            "--out", tmp_path / "raspi4.pred", "--folds", "0", "--json")
    assert code == 0, err
    assert load_predictor(tmp_path / "raspi4.pred").metadata["init_from"]["device"]["name"] == "pixel3"


def test_csv_missing_a_column_is_exit_2(fbnet_csv, tmp_path, capsys):
    import pandas as pd

    bad = tmp_path / "no_cout.csv"
    pd.read_csv(fbnet_csv).drop(columns=["cout"]).to_csv(bad, index=False)
    code, _, err = cli(capsys, "fit-predictor", "--measurements", bad, "--out", tmp_path / "x.pred")
    assert_one_line_error(code, err, "cout")


def test_several_devices_without_device_is_exit_2(fbnet_csv, tmp_path, capsys):
    code, _, err = cli(capsys, "fit-predictor", "--measurements", fbnet_csv, "--out", tmp_path / "x.pred")
    assert_one_line_error(code, err, "--device")


def test_empty_database_is_exit_2(tmp_path, capsys):
    from mnas_pred.store import MeasurementStore

    db = tmp_path / "empty.db"
    with MeasurementStore(db):
        pass
    code, _, err = cli(capsys, "fit-predictor", "--db", db, "--out", tmp_path / "x.pred")
    assert_one_line_error(code, err, "no measurements")
    assert not (tmp_path / "x.pred").exists()


def test_evaluate_predictor_scores_only_networks_it_was_not_trained_on(store_data, cpu_store, tmp_path, capsys):
    from predictors.workflow import fit_predictor

    from .conftest import SMALL_PARAMS

    keys = sorted(store_data.models["model_key"].unique())
    pf, _ = fit_predictor(store_data.subset_models(keys[:8]), "lgbm", SearchSpace.default(), folds=0,
                          params=SMALL_PARAMS["lgbm"], baselines=[])
    path = save_predictor(pf, tmp_path / "eight.pred")
    hashes = json.loads(path.read_text())["payload"]["training_data"]["arch_sha256"]
    assert len(hashes) == 8 and all(len(h) == 64 and int(h, 16) >= 0 for h in hashes)

    code, out, err = cli(capsys, "evaluate-predictor", path, "--db", cpu_store, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["overlap"] == {"networks": 12, "in_training_data": 8, "checked": True, "shared_sources": []}
    assert res["metrics"]["model"]["lgbm"]["n"] == 4  # scored on the 4 it has not seen
    assert "warning: 8 of 12 networks of this data were in the predictor's training data; the metrics are on the other 4" in err

    full, _ = fit_predictor(store_data, "lgbm", SearchSpace.default(), folds=0, params=SMALL_PARAMS["lgbm"], baselines=[])
    code, out, err = cli(capsys, "evaluate-predictor", save_predictor(full, tmp_path / "all.pred"), "--db", cpu_store)
    assert code == 0 and "warning: all 12 networks of this data were in the predictor's training data" in err


def test_a_file_written_before_the_calibration_split_predicts_the_same():
    expected = json.loads(WRITTEN_BEFORE.with_suffix(".json").read_text())
    pf = load_predictor(WRITTEN_BEFORE.with_suffix(".pred"))
    assert set(pf.predictors) == set(expected["predict"]) == {"lgbm", "rf", "flops", "lut"}
    for kind, p in pf.predictors.items():
        np.testing.assert_allclose(p.predict(expected["archs"], expected["resolution"]), expected["predict"][kind], rtol=1e-12)
        low, high = p.predict_interval(expected["archs"], 0.8, expected["resolution"])
        np.testing.assert_allclose([low, high], expected["interval_0.8"][kind], rtol=1e-12)
    assert pf.predictor.calibration_.coef["intercept"] != 0  # the calibration did come from the file


def test_loading_builds_the_fitted_space_once(saved_predictor, monkeypatch):
    built = []
    original = SearchSpace.from_dict.__func__
    monkeypatch.setattr(SearchSpace, "from_dict", classmethod(lambda cls, *a, **kw: built.append(1) or original(cls, *a, **kw)))
    pf = load_predictor(saved_predictor)
    assert pf.space is pf.space and pf.space.resolution == 224
    assert len(built) == 1
