"""fit-predictor trains on drift-corrected latencies unless --no-drift-correction."""

from __future__ import annotations

import json

import pytest

from mnas_pred.cli import main
from mnas_pred.space import SearchSpace
from mnas_pred.store import MeasurementStore
from predictors.data import from_store, load_training_data
from tests.mnas_pred.test_store import DEVICE, SETTINGS, measurement

ARCHS = [a.to_string() for a in SearchSpace.default().sample(6, seed=7)]
REFS = (5.0, 5.0, 5.0, 10.0, 10.0, 10.0)  # the machine was 2x slower for the last three networks


@pytest.fixture
def drifted_db(tmp_path):
    db = tmp_path / "m.db"
    with MeasurementStore(db) as store:
        for i, (arch, ref) in enumerate(zip(ARCHS, REFS)):
            m = measurement(arch, 2.0 * ref / 5.0)  # every network is "really" 2 ms; the slow ones read 4 ms
            m.metadata["drift"] = {"campaign": "c", "reference": i, "models_since": 0, "reference_ms": ref,
                                   "reference_cv": 0.01, "slow": False}
            store.add(DEVICE, arch, 64, SETTINGS, m)
    return db


def test_corrected_by_default_raw_on_request(drifted_db):
    corrected, raw = from_store(drifted_db), load_training_data(drifted_db, drift_correction=False)
    assert raw.models["latency_ms"].tolist() == pytest.approx([2.0] * 3 + [4.0] * 3)
    assert corrected.models["latency_raw_ms"].tolist() == pytest.approx([2.0] * 3 + [4.0] * 3)
    c = corrected.models["latency_ms"].tolist()
    # the slow period is divided out; the network measured between the last fast and the first slow
    # reference run gets the interpolated (halfway) speed and a flag
    assert c[:2] + c[3:] == pytest.approx([c[0]] * 5) and c[2] < c[0]
    assert corrected.models["drift_flag"].tolist()[2].startswith("reference moved +100%")
    # layers move with their network
    lay_c = corrected.layers.groupby("model_key")["latency_ms"].sum()
    lay_r = raw.layers.groupby("model_key")["latency_ms"].sum()
    assert (lay_c / lay_r).round(6).tolist() == pytest.approx((corrected.models.set_index("model_key")["latency_ms"]
                                                               / raw.models.set_index("model_key")["latency_ms"])
                                                              .loc[lay_c.index].round(6).tolist())
    q = corrected.summary()["measurement_quality"]
    assert q["drift_correction"] and q["drift"]["corrected"] == 6
    assert q["noise_floor"]["summary"].startswith("run-to-run spread")
    assert raw.summary()["measurement_quality"]["drift_correction"] is False


def test_fit_predictor_flag_and_report(drifted_db, tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["fit-predictor", "--db", str(drifted_db), "--out", str(out), "--folds", "0", "--json"]) == 0
    on = json.loads(capsys.readouterr().out)["training_data"]["measurement_quality"]
    assert main(["fit-predictor", "--db", str(drifted_db), "--out", str(out), "--folds", "0",
                 "--no-drift-correction"]) == 0
    text = capsys.readouterr().out
    assert on["drift_correction"] is True and "drift correction: off (--no-drift-correction)" in text
    assert "noise floor: run-to-run spread" in text


def test_rows_without_a_corrected_value_keep_their_raw_latency(drifted_db):
    import pandas as pd

    from predictors.data import from_store_frames

    with MeasurementStore(drifted_db, create=False) as store:
        models, layers = store.models_frame(), store.layers_frame()
    # a row as the search appends it: no drift columns at all
    extra = models.iloc[[0]][["measurement_id", "device", "device_model", "device_kind", "arch", "resolution",
                              "num_classes", "threads", "latency_ms", "runtime", "accelerator"]].assign(
                                  measurement_id=99, latency_ms=7.0)
    extra_layers = layers[layers["measurement_id"] == models["measurement_id"].iloc[0]].assign(measurement_id=99)
    data = from_store_frames(pd.concat([models, extra], ignore_index=True),
                             pd.concat([layers, extra_layers], ignore_index=True))
    assert data.models["latency_ms"].notna().all() and data.models["latency_ms"].iloc[-1] == 7.0
    assert data.layers["latency_ms"].notna().all()


def test_the_predictor_file_says_which_labels_and_evaluation_uses_them(drifted_db, tmp_path, capsys):
    from predictors.io import load_predictor, save_predictor
    from predictors.workflow import evaluate_predictor_file

    raw, corrected = tmp_path / "raw.json", tmp_path / "corrected.json"
    assert main(["fit-predictor", "--db", str(drifted_db), "--out", str(raw), "--folds", "0",
                 "--no-drift-correction"]) == 0
    assert main(["fit-predictor", "--db", str(drifted_db), "--out", str(corrected), "--folds", "0"]) == 0
    capsys.readouterr()
    assert load_predictor(raw).drift_correction is False and load_predictor(corrected).drift_correction is True

    on_raw = evaluate_predictor_file(raw, drifted_db)
    assert on_raw["drift_correction"] is False and not any("does not say" in w for w in on_raw["warnings"])
    forced = evaluate_predictor_file(raw, drifted_db, drift_correction=True)
    assert forced["metrics"] != on_raw["metrics"]  # the labels differ: 3 of the 6 networks read 2x slower raw
    assert main(["evaluate-predictor", str(raw), "--db", str(drifted_db), "--drift-correction", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == forced["metrics"]

    old = load_predictor(corrected)  # a file from before the key: unknown, scored on corrected labels with a warning
    old.metadata.pop("drift_correction")
    old.metadata["training_data"].pop("measurement_quality")
    save_predictor(old, tmp_path / "old.json")
    unknown = evaluate_predictor_file(tmp_path / "old.json", drifted_db)
    assert load_predictor(tmp_path / "old.json").drift_correction is None
    assert unknown["drift_correction"] is True and any("does not say" in w for w in unknown["warnings"])
