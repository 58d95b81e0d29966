"""A predictor is for one runtime on one accelerator: fit-predictor refuses to mix them, says how to
choose, records them in the device fingerprint, adapts across runtimes with --init-from, and names
the fix for end-to-end-only data."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from tests.predictors.conftest import SMALL_PARAMS
from tests.predictors.test_io_cli import assert_one_line_error, cli


def _relabel_copy(src, dst, *, runtime="litert", version="2.3.0", scale=1.3, layers=True):
    """``dst``: ``src``'s ORT measurements plus the same networks as another runtime would time them
    (every latency x ``scale``; ``layers=False``: end to end only, as ai-edge-litert measures)."""
    shutil.copy(src, dst)
    with sqlite3.connect(dst) as c:
        cols = [r[1] for r in c.execute("PRAGMA table_info(measurements)") if r[1] not in ("id",)]
        for (mid,) in c.execute("SELECT id FROM measurements WHERE runtime = 'onnxruntime'").fetchall():
            row = dict(zip(cols, c.execute(f"SELECT {', '.join(cols)} FROM measurements WHERE id = ?", (mid,)).fetchone()))
            row.update(runtime=runtime, runtime_version=version, accelerator="cpu")
            for k in ("latency_ms", "latency_p10_ms", "latency_p90_ms", "latency_mean_ms", "latency_min_ms"):
                row[k] *= scale
            row["layer_sum_ms"] = row["layer_sum_ms"] * scale if layers else 0.0
            new = c.execute(f"INSERT INTO measurements ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                            list(row.values())).lastrowid
            if layers:
                c.execute("INSERT INTO layer_timings SELECT ?, position, name, latency_ms * ? FROM layer_timings "
                          "WHERE measurement_id = ?", (new, scale, mid))
    c.close()
    return dst


@pytest.fixture(scope="module")
def mixed_store(cpu_store, tmp_path_factory):
    return _relabel_copy(cpu_store, tmp_path_factory.mktemp("mixed") / "mixed.db")


def test_fit_refuses_a_device_measured_with_two_runtimes(mixed_store, tmp_path, capsys):
    code, _, err = cli(capsys, "fit-predictor", "--db", mixed_store, "--out", tmp_path / "p.json", "--folds", "0")
    assert_one_line_error(code, err, "several runtimes (litert/cpu, onnxruntime/cpu)")
    assert "--runtime ort|litert" in err and not (tmp_path / "p.json").exists()


def test_runtime_choice_fits_and_fingerprints_it_and_init_from_crosses_runtimes(mixed_store, tmp_path):
    from predictors.data import load_training_data
    from predictors.io import load_predictor, save_predictor
    from predictors.workflow import fit_predictor

    ort = load_training_data(mixed_store, runtime="ort")
    litert = load_training_data(mixed_store, runtime="litert", accelerator="cpu")
    assert len(ort.models) == len(litert.models) > 0
    assert litert.models["latency_ms"].sum() == pytest.approx(1.3 * ort.models["latency_ms"].sum())
    pf_ort, _ = fit_predictor(ort, "lgbm", folds=0, params=SMALL_PARAMS["lgbm"], baselines=[])
    save_predictor(pf_ort, tmp_path / "ort.json")
    assert (pf_ort.device["runtime"], pf_ort.device["accelerator"]) == ("onnxruntime", "cpu")
    # adaptation from another runtime's predictor is allowed (it is what --init-from is for)
    pf_lit, _ = fit_predictor(litert, "lgbm", folds=0, params=SMALL_PARAMS["lgbm"], baselines=[],
                              init_from=load_predictor(tmp_path / "ort.json"))
    assert (pf_lit.device["runtime"], pf_lit.device["runtime_version"]) == ("litert", "2.3.0")
    assert pf_lit.metadata["init_from"]["device"]["runtime"] == "onnxruntime"


def test_unknown_or_absent_runtime_is_one_line(mixed_store, tmp_path, capsys):
    code, _, err = cli(capsys, "fit-predictor", "--db", mixed_store, "--out", tmp_path / "p.json", "--runtime", "tvm")
    assert_one_line_error(code, err, "unknown runtime 'tvm'")
    code, _, err = cli(capsys, "fit-predictor", "--db", mixed_store, "--out", tmp_path / "p.json",
                       "--runtime", "litert", "--accelerator", "gpu")
    assert_one_line_error(code, err, "no measurements with litert/gpu")


def test_end_to_end_only_litert_data_names_benchmark_model(cpu_store, tmp_path, capsys):
    db = _relabel_copy(cpu_store, tmp_path / "e2e.db", layers=False)
    code, _, err = cli(capsys, "fit-predictor", "--db", db, "--out", tmp_path / "p.json", "--runtime", "litert")
    assert_one_line_error(code, err, "end-to-end latencies only")
    assert "--benchmark-model" in err and not (tmp_path / "p.json").exists()
    with sqlite3.connect(db) as c:  # the data itself is intact and still exportable
        assert c.execute("SELECT COUNT(*) FROM measurements WHERE runtime = 'litert'").fetchone()[0] > 0
    c.close()


def test_a_predictor_refuses_a_device_of_another_runtime(mixed_store, tmp_path):
    from mnas_pred.errors import MnasPredError
    from predictors.data import load_training_data
    from predictors.io import check_runtime, load_predictor, save_predictor
    from predictors.workflow import fit_predictor

    pf, _ = fit_predictor(load_training_data(mixed_store, runtime="ort"), "flops", folds=0, baselines=[])
    save_predictor(pf, tmp_path / "ort.json")
    pf = load_predictor(tmp_path / "ort.json")
    check_runtime(pf, "onnxruntime", "cpu")  # the same stack: fine
    for runtime, accelerator in (("litert", "cpu"), ("onnxruntime", "gpu")):
        with pytest.raises(MnasPredError) as e:
            check_runtime(pf, runtime, accelerator)
        assert "fitted on onnxruntime/cpu" in e.value.problem and "--runtime ort" in e.value.fix
