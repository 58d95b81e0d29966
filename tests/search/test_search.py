"""The search loop at library level, with the cheap analytic accuracy and latency."""

import csv
import json

import numpy as np
import pytest

from mnas_pred.builder import build_model
from mnas_pred.errors import MnasPredError
from search.config import SearchConfig
from search.results import HISTORY_COLUMNS
from search.runner import Search, run_search
from search.weights import load_weights


def _config(out, **kw):
    base = dict(out_dir=str(out), target_ms=8.0, accuracy="analytic", predictor="analytic", device="analytic",
                samples=48, batch_size=8, revalidate_every=2, revalidate_top=2, export_top=1)
    return SearchConfig(**{**base, **kw})


def _same(a, b):
    return json.dumps(a) == json.dumps(b)  # NaN (no latency of that kind) compares equal this way


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


class _Stop(Exception):
    pass


def _stop_after(update):
    def progress(p):
        if p.update == update:
            raise _Stop
    return progress


@pytest.mark.parametrize("strategy", ["ppo", "evolution"])
def test_resume_reproduces_an_uninterrupted_search(tmp_path, strategy):
    opts = {"population_size": 8, "tournament_size": 3} if strategy == "evolution" else {}
    full = run_search(_config(tmp_path / "full", strategy=strategy, strategy_options=opts))
    with pytest.raises(_Stop):
        run_search(_config(tmp_path / "cut", strategy=strategy, strategy_options=opts), progress=_stop_after(3))
    assert len(_rows(tmp_path / "cut" / "history.csv")) == 24
    resumed = run_search(_config(tmp_path / "cut", strategy=strategy, strategy_options=opts), resume=True)
    assert _same(resumed.history, full.history)
    assert (tmp_path / "cut" / "history.csv").read_text() == (tmp_path / "full" / "history.csv").read_text()
    assert resumed.refits == full.refits == 1


def test_outputs(tmp_path):
    import onnxruntime as ort

    logs = []
    r = run_search(_config(tmp_path, export_top=2), log=logs.append)
    rows = _rows(tmp_path / "history.csv")
    assert list(rows[0])[:6] == list(HISTORY_COLUMNS)[:6] and len(rows) == 48
    measured = [row for row in rows if row["measured_latency_ms"]]
    # 3 re-validations (updates 2, 4, 6) of the 2 best not-yet-measured candidates
    assert len({row["arch"] for row in measured}) == r.device_measurements == 6
    assert any("predictor refitted" in m for m in logs)
    reval = _rows(tmp_path / "revalidation.csv")
    assert len(reval) == 6 and reval[0]["refitted"] == "True"
    pareto = _rows(tmp_path / "pareto.csv")
    lat = [float(p["latency_ms"]) for p in pareto]
    acc = [float(p["accuracy"]) for p in pareto]
    assert lat == sorted(lat) and acc == sorted(acc)  # a front: slower only if more accurate
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert len(best) == 2
    sess = ort.InferenceSession(str(tmp_path / "best" / best[0]["onnx"]), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": np.zeros((1, 3, 224, 224), np.float32)})[0]
    assert out.shape == (1, best[0]["num_classes"])
    arch = (tmp_path / "best" / "rank-1.arch.txt").read_text().strip()
    load_weights(build_model(arch, num_classes=best[0]["num_classes"]), tmp_path / "best" / best[0]["weights"])
    for f in ("reward.png", "pareto.png", "summary.json", "config.json", "checkpoint.npz"):
        assert (tmp_path / f).stat().st_size > 0


def test_device_only_search_measures_every_distinct_candidate(tmp_path):
    r = run_search(_config(tmp_path, predictor=None, samples=16))
    assert r.device_measurements == len({row["arch"] for row in r.history}) == 16
    assert all(np.isnan(row["predicted_latency_ms"]) for row in r.history)
    assert r.summary["latency"] == "device"


def test_hard_constraint_keeps_the_best_under_target_soft_spans_both_sides(tmp_path):
    hard = run_search(_config(tmp_path / "hard", alpha=0.0, beta=-1.0, samples=96, revalidate_top=0))
    # beta = -1 is a steep penalty, not a filter: 1% over T costs 1% of the reward, so the best may sit
    # just above T (by less than the accuracy it gains there), never far
    assert all(b["latency_ms"] <= 8.0 * 1.05 for b in hard.best)
    soft = run_search(_config(tmp_path / "soft", samples=96, revalidate_top=0))
    lat = [p["latency_ms"] for p in soft.pareto]
    assert min(lat) < 8.0 < max(lat)


def test_out_dir_with_a_search_needs_resume(tmp_path):
    run_search(_config(tmp_path, samples=8))
    with pytest.raises(MnasPredError, match="--resume"):
        Search(_config(tmp_path, samples=8))
    with pytest.raises(MnasPredError, match="different settings.*target_ms"):
        Search(_config(tmp_path, samples=8, target_ms=3.0), resume=True)
    with pytest.raises(MnasPredError, match="no checkpoint"):
        Search(_config(tmp_path / "empty"), resume=True)


def test_interrupted_first_update_resumes_without_retraining(tmp_path):
    """Ctrl-C while the first update trains: --resume continues it (what the interrupted message
    says), keeps the candidates already trained, and gives the uninterrupted search."""
    full = run_search(_config(tmp_path / "full", samples=16))
    phases = []

    def interrupt_at_second_candidate(what):
        phases.append(what)
        if what.endswith("(2/8 done)"):
            raise KeyboardInterrupt

    cut = Search(_config(tmp_path / "cut", samples=16))
    cut.phase = interrupt_at_second_candidate
    with pytest.raises(KeyboardInterrupt):
        cut.run()
    assert phases[0].startswith("reference networks: training and timing 3")
    assert phases[1:] == [f"update 1/2: training candidates ({i}/8 done)" for i in range(3)]
    assert not (tmp_path / "cut" / "history.csv").exists()
    trained = (tmp_path / "cut" / "accuracy_cache.jsonl").read_text().splitlines()
    assert len(trained) == 1 + 2  # a header line, then the 2 trained candidates

    resumed = Search(_config(tmp_path / "cut", samples=16), resume=True)
    seen = []
    resumed.phase = seen.append
    result = resumed.run()
    assert _same(result.history, full.history)
    assert seen[1] == "update 1/2: training candidates (0/6 done)"  # the 2 trained before are not trained again
    assert "update 2/2: re-validation: measuring 2 candidates on the device" in seen


def test_resume_in_a_folder_stopped_before_the_search_started_starts_it(tmp_path):
    (tmp_path / "config.json").write_text("{}")  # Ctrl-C while the data loaded: no checkpoint yet
    logs = []
    result = run_search(_config(tmp_path, samples=8), resume=True, log=logs.append)
    assert len(result.history) == 8 and any("starting the search from the beginning" in m for m in logs)


def test_resume_can_extend_the_budget(tmp_path):
    run_search(_config(tmp_path / "a", samples=16))
    extended = run_search(_config(tmp_path / "a", samples=32), resume=True)
    full = run_search(_config(tmp_path / "b", samples=32))
    assert _same(extended.history, full.history)


def test_search_checkpoint_holds_no_pickle(tmp_path, monkeypatch):
    import pickle
    import zipfile

    run_search(_config(tmp_path, samples=16, export_top=0, strategy="ppo"))
    with zipfile.ZipFile(tmp_path / "checkpoint.npz") as z:
        names = z.namelist()
    assert "__json__.npy" in names
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as npz:
        for key in npz.files:  # an object (pickled) array would raise here
            assert npz[key].dtype != object

    def boom(*a, **k):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    resumed = Search(_config(tmp_path, samples=16, export_top=0, strategy="ppo"), resume=True)
    assert len(resumed.history) == 16 and resumed.strategy.updates == 2


def test_revalidation_policy_selection():
    from search.revalidation import RevalidationPolicy

    rows = [{"arch": a, "reward": r, "step": i} for i, (a, r) in enumerate([("a", 0.5), ("b", 0.9), ("c", 0.7),
                                                                            ("b", 0.9), ("d", 0.8)])]
    policy = RevalidationPolicy(every=1, top=2)
    assert policy.select(rows, measured=set()) == ["b", "d"]
    assert policy.select(rows, measured={"b"}) == ["d", "c"]
    # optimistic: an uncertain candidate ('a') may outrank confidently predicted ones
    assert policy.select(rows, measured={"b"}, score={"a": 0.95, "c": 0.7, "d": 0.8}) == ["a", "d"]
    with pytest.raises(MnasPredError, match="--revalidate-by"):
        RevalidationPolicy(by="random")


def test_optimistic_revalidation_runs(tmp_path):
    r = run_search(_config(tmp_path, samples=24, revalidate_by="optimistic", export_top=0))
    assert r.device_measurements == 2  # one re-validation (after update 2 of 3) of the top 2


def test_callbacks_run_after_each_update_after_the_revalidation(tmp_path):
    seen = []

    def record(search):
        seen.append((search.update, len(search.history), len(search.revalidations)))

    run_search(_config(tmp_path, samples=24, export_top=0), callbacks=[record])
    # updates of 8 candidates; re-validation (2 candidates) after updates 2: already in the history
    assert seen == [(1, 8, 0), (2, 16, 2), (3, 24, 2)]
