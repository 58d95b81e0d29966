"""The search with the real profiler and predictor: local ONNX Runtime device, SQLite store,
LightGBM predictor file (kept tiny: 64x64 models, few runs)."""

import csv
import json

import onnxruntime as ort
import pytest

from mnas_pred.cli import main
from mnas_pred.space import SearchSpace

FAST_MEASURE = ["--runs", "5", "--warmup", "2", "--profile-runs", "2", "--resolution", "64"]


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    from device_profiler import MeasureSettings, open_device
    from device_profiler.campaign import profile
    from mnas_pred.store import MeasurementStore
    from predictors.data import load_training_data
    from predictors.io import save_predictor
    from predictors.workflow import fit_predictor

    d = tmp_path_factory.mktemp("profiled")
    settings = MeasureSettings(warmup=2, runs=5, profile_runs=2, repeats=1)
    with MeasurementStore(d / "m.db") as store, open_device() as dev:
        profile(dev, SearchSpace.default().sample(8, seed=0), store, settings, resolution=64)
    pf, _ = fit_predictor(load_training_data(d / "m.db"), "lgbm", folds=0, baselines=[],
                          params={"n_members": 2, "n_estimators": 50})
    save_predictor(pf, d / "p.json")
    pf.metadata["device"] = {"name": "Pixel 7", "key": "adb:XYZ", "model": "Pixel 7"}
    save_predictor(pf, d / "other.json")
    return d


def _store_count(db):
    from mnas_pred.store import MeasurementStore

    with MeasurementStore(db, create=False) as s:
        return s.count()


def test_predictor_search_revalidates_on_the_device_and_refits(profiled, tmp_path):
    db = tmp_path / "m.db"
    db.write_bytes((profiled / "m.db").read_bytes())
    before = _store_count(db)
    out = tmp_path / "out"
    assert main(["search", "--target-ms", "1", "--accuracy", "analytic", "--use-predictor", str(profiled / "p.json"),
                 "--db", str(db), "--samples", "9", "--batch-size", "3", "--revalidate-every", "2",
                 "--revalidate-top", "2", "--refit-threshold", "0", "--revalidate-by", "optimistic", "--export-top", "1",
                 "--out", str(out), "--no-references",
                 *FAST_MEASURE]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # one re-validation (after update 2) of the 2 best candidates; the rest only predicted
    assert summary["device_measurements"] == 2 and summary["predictor_refits"] == 1
    assert _store_count(db) == before + 2
    assert (out / "refits" / "predictor-1.json").exists()
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(r["predicted_latency_ms"] for r in rows)
    assert sum(1 for r in rows if r["measured_latency_ms"]) >= 2
    # after the refit (update 2) the search queries a table built from the refitted predictor
    from predictors.io import load_predictor

    refitted = load_predictor(out / "refits" / "predictor-1.json").predictor
    last = [r for r in rows if r["update"] == "3"]
    assert last and all(float(r["predicted_latency_ms"]) == pytest.approx(refitted.predict([r["arch"]], 64)[0], rel=1e-9)
                        for r in last)
    ort.InferenceSession(str(out / "best" / "rank-1.onnx"), providers=["CPUExecutionProvider"])


def test_device_only_search_measures_every_candidate_and_the_references(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["search", "--target-ms", "1", "--accuracy", "analytic", "--db", str(tmp_path / "m.db"),
                 "--samples", "3", "--batch-size", "3", "--export-top", "0", "--out", str(out),
                 "--no-references", "--reference", "mnasnet-a1", *FAST_MEASURE]) == 0
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(r["measured_latency_ms"] and not r["predicted_latency_ms"] for r in rows)
    # the reference is measured but kept out of --db: a refit must not learn from it, so the search
    # is the same with or without references
    assert _store_count(tmp_path / "m.db") == 3
    summary = json.loads((out / "summary.json").read_text())
    (ref,) = summary["references"]
    spread = ref["latency_spread"]
    assert ref["latency_source"] == "measured" and ref["measure_s"] > 0 and spread["runs"] >= 5
    assert spread["p10_ms"] <= ref["latency_ms"] <= spread["p90_ms"] and spread["cv"] >= 0
    assert summary["best"]["latency_spread"]["p10_ms"] <= summary["best"]["latency_ms"]
    assert summary["device_spread"]["measurements"] == 3 + 1
    assert summary["latency_measurement"]["label"].startswith("ms at 64 px, measured on local:")
    text = capsys.readouterr().out
    assert "the latency of MnasNet-A1 on this device" in text and "p10-p90" in text


def test_predictor_of_another_device_is_refused(profiled, tmp_path, capsys):
    args = ["search", "--target-ms", "1", "--use-predictor", str(profiled / "other.json"), "--out", str(tmp_path / "o"),
            "--db", str(tmp_path / "m.db"), *FAST_MEASURE]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "fitted on device 'Pixel 7'" in err and "--allow-other-device" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_predictor_of_another_runtime_is_refused(profiled, tmp_path, capsys):
    """A predictor fitted on ONNX Runtime measurements does not re-validate against LiteRT (nor the GPU)."""
    pytest.importorskip("ai_edge_litert", reason="needs the [litert] extra")
    args = ["search", "--target-ms", "1", "--use-predictor", str(profiled / "p.json"), "--out", str(tmp_path / "o"),
            "--db", str(tmp_path / "m.db"), "--runtime", "litert", "--allow-other-device", *FAST_MEASURE]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "fitted on onnxruntime/cpu measurements" in err and "litert/cpu" in err and "--runtime ort" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "o").exists()


def test_predictor_for_another_search_space_is_refused(profiled, tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text('[choices]\nkernels = [3]\n')
    args = ["search", "--target-ms", "1", "--use-predictor", str(profiled / "p.json"), "--space", str(space),
            "--out", str(tmp_path / "o"), "--db", str(tmp_path / "m.db"), *FAST_MEASURE]
    assert main(args) == 2
    assert "another search space" in capsys.readouterr().err


def test_refits_learn_from_the_oracle_and_read_the_store_once(profiled, tmp_path, monkeypatch):
    """Issue 10 item 5: the store is read whole once, at the first refit; each later refit reads
    only the rows stored since, and trains on what a full re-read would give."""
    from mnas_pred.store import MeasurementStore
    from predictors.data import load_training_data
    from search.config import SearchConfig
    from search.runner import Search

    db = tmp_path / "m.db"
    db.write_bytes((profiled / "m.db").read_bytes())
    reads = []
    models_frame = MeasurementStore.models_frame

    def counted(self, *args, **kwargs):
        reads.append(kwargs.get("after_id"))
        return models_frame(self, *args, **kwargs)

    monkeypatch.setattr(MeasurementStore, "models_frame", counted)
    search = Search(SearchConfig(
        out_dir=str(tmp_path / "out"), target_ms=1.0, accuracy="analytic", predictor=str(profiled / "p.json"),
        db=str(db), samples=6, batch_size=2, revalidate_every=1, revalidate_top=2, refit_threshold=0.0,
        export_top=0, references=[], resolution=64, measure={"runs": 5, "warmup": 2, "profile_runs": 2}))
    result = search.run()
    assert result.refits == 3 and result.device_measurements == 6
    assert reads[0] is None and len(reads) == 3 and 0 < reads[1] < reads[2]  # then only the new rows
    model = search.oracle.model
    seen = model.snapshot.training_data(model.device_key)
    monkeypatch.setattr(MeasurementStore, "models_frame", models_frame)
    full = load_training_data(db, device=model.device_key)
    columns = ["arch", "resolution", "latency_ms"]
    assert seen.models[columns].to_dict("records") == full.models[columns].to_dict("records")
    assert len(seen.layers) == len(full.layers) > 0
