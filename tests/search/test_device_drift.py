"""The search's device measurements are a drift campaign of their own: reference runs stored,
every stored measurement carries its drift metadata, the value the search compares is the raw
median over the drift factor at the time; refits correct every row they read together."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pandas as pd
import pytest

from mnas_pred.drift_correction import levels
from mnas_pred.records import DeviceSpec, MeasureSettings
from mnas_pred.space import SearchSpace
from mnas_pred.store import MeasurementStore

FAST = MeasureSettings(warmup=1, runs=3, profile_runs=1)


def _measurer(tmp_path, earlier_runs: int = 0):
    """The search's device on this machine (32 px, drift_every 2), with ``earlier_runs`` reference
    runs of an earlier campaign in its store that saw the reference at 300 ms, far slower than
    this machine runs it (so the drift factors are far from 1)."""
    from search.device_measurer import DeviceMeasurer

    device = DeviceMeasurer(DeviceSpec(), db=tmp_path / "m.db", resolution=32, num_classes=10, settings=FAST,
                            drift_every=2)
    earlier = {"campaign": "earlier", "arch": "x", "cv": 0.01, "slow": False, "process_ms": [], "after_models": 0}
    for k in range(earlier_runs):
        device.store.add_reference_run(device.info, 32, 10, FAST, {**earlier, "reference": k, "latency_ms": 300.0})
    return device


def _own_reference_runs(db) -> list[tuple[int, float, int]]:
    """(reference, latency_ms, after_models) of the search's own reference runs, in order."""
    with MeasurementStore(db, create=False) as store:
        return store.conn.execute("SELECT reference, latency_ms, after_models FROM reference_runs "
                                  "WHERE campaign != 'earlier' ORDER BY reference").fetchall()


def test_revalidation_measurements_carry_drift_metadata_and_compare_corrected(tmp_path):
    archs = SearchSpace.default().sample(3, seed=4)
    device = _measurer(tmp_path, earlier_runs=2)
    try:
        got = [device.measure(a) for a in archs[:2]]  # one round: one reference run before it
        got.append(device.measure(archs[2]))  # the next round: re-timed first
        device.drift_correction = False  # a predictor fitted on raw latencies compares raw ones
        raw_only = device.measure(SearchSpace.default().sample(4, seed=4)[3])
    finally:
        device.close()  # the final reference run
    with MeasurementStore(tmp_path / "m.db", create=False) as store:
        meta = [json.loads(r[0])["drift"] for r in store.conn.execute("SELECT run_metadata FROM measurements ORDER BY id")]
    runs = _own_reference_runs(tmp_path / "m.db")
    assert [(d["reference"], d["models_since"]) for d in meta] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert len({d["campaign"] for d in meta}) == 1 and all(len(d["reference_process_ms"]) == 3 for d in meta)
    assert [(k, after) for k, _ms, after in runs] == [(0, 0), (1, 2), (2, 4)]  # the last one after close
    own = [ms for _k, ms, _a in runs]
    for m, k in zip(got, (0, 0, 1)):
        baseline = statistics.median([300.0, 300.0] + own[:k + 1])
        factor = levels(pd.Series(own[:k + 1])).iloc[-1] / baseline
        assert m.latency_ms == pytest.approx(m.raw_ms / factor, rel=1e-9)
        assert m.latency_ms > 1.5 * m.raw_ms  # the store's slower baseline: this machine is fast today
    assert raw_only.latency_ms == raw_only.raw_ms


def test_a_revalidation_round_is_corrected_between_the_reference_runs_around_it(tmp_path):
    archs = SearchSpace.default().sample(3, seed=5)
    device = _measurer(tmp_path, earlier_runs=3)
    try:
        held = [device.measure(a) for a in archs[:2]]
        closed = device.end_round()
        own = list(device.drift.reference_ms)
        device.measure(archs[2])  # the next round: the reference is re-timed first (the search trained meanwhile)
        assert set(device.end_round()) == {archs[2].to_string()}
    finally:
        device.close()
    runs = [(k, after) for k, _ms, after in _own_reference_runs(tmp_path / "m.db")]
    assert runs == [(0, 0), (1, 2), (2, 2), (3, 3)]  # before and after each round; none more at close
    assert len(own) == 2 and set(closed) == {a.to_string() for a in archs[:2]}
    before, after = (levels(pd.Series(own[:k])).iloc[-1] / statistics.median([300.0] * 3 + own[:k]) for k in (1, 2))
    for j, (arch, m) in enumerate(zip(archs, held)):
        got = closed[arch.to_string()]
        assert m.latency_ms == pytest.approx(m.raw_ms / before, rel=1e-9)  # held while measuring
        assert got.raw_ms == m.raw_ms and got.spread == m.spread
        assert got.latency_ms == pytest.approx(m.raw_ms / (before + (after - before) * (j + 1) / 3), rel=1e-9)


def test_revalidation_compares_and_logs_the_values_of_the_closed_round(tmp_path):
    from search.analytic import AnalyticLatencyModel
    from search.caches import MeasurementCache
    from search.oracle import LatencyOracle

    archs = SearchSpace.default().sample(2, seed=6)
    device = _measurer(tmp_path)
    log = tmp_path / "measurements.jsonl"
    oracle = LatencyOracle(AnalyticLatencyModel(32), device, MeasurementCache(log, device.key()))
    try:
        report = oracle.revalidate(1, archs)
    finally:
        device.close()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    last = {r["arch"]: r for r in rows if "arch" in r}
    resumed = MeasurementCache(log, device.key())
    for arch, measured in zip(report.archs, report.measured_ms):
        assert measured == oracle.cache.get(arch) == resumed.get(arch) == last[arch]["latency_ms"]
    # each was logged twice: held while the round ran, then as the closed round corrected it
    assert sorted(r["arch"] for r in rows if "arch" in r) == sorted(report.archs * 2)


def _store_with_campaign(db, campaign: str, archs, refs, first_index: int, stored_runs: bool = True):
    """Measurements of ``archs``, one per reference run of ``campaign`` (as profile-device writes
    them; ``stored_runs=False``: as before schema 3, the runs only in the measurements' metadata)."""
    from tests.search.test_predictor_adapter import _measurement

    with MeasurementStore(db) as store:
        for k, (arch, ref) in enumerate(zip(archs, refs)):
            m = _measurement(arch, ref / 100, first_index + k)
            m.metadata["drift"] = {"campaign": campaign, "reference": k, "models_since": 0, "reference_ms": ref,
                                   "slow": False}
            store.add(m.device, m.arch, 224, m.settings, m)
            if stored_runs:
                store.add_reference_run(m.device, 224, 1000, m.settings,
                                        {"campaign": campaign, "reference": k, "arch": "ref", "latency_ms": ref,
                                         "cv": 0.0, "slow": False, "process_ms": [], "after_models": k})


@pytest.mark.parametrize("corrected", [True, False])
def test_refit_labels_are_corrected_over_everything_read_or_all_raw(tmp_path, corrected):
    from predictors.data import from_store
    from search.predictor_adapter import StoreSnapshot

    db = tmp_path / "m.db"
    archs = SearchSpace.default().sample(8, seed=9)
    _store_with_campaign(db, "profile", archs[:5], [5.0, 5.0, 5.0, 5.0, 5.0], 0, stored_runs=False)
    snapshot = StoreSnapshot(db)
    snapshot.training_data("local:test", corrected)
    _store_with_campaign(db, "search", archs[5:], [10.0, 10.0, 10.0], 5)  # the search's rounds: machine 2x slower
    data = snapshot.training_data("local:test", corrected)
    whole = from_store(db, "local:test", drift_correction=corrected)  # one fresh read of the whole store
    np.testing.assert_allclose(data.models["latency_ms"].to_numpy(), whole.models["latency_ms"].to_numpy())
    np.testing.assert_allclose(data.layers["latency_ms"].to_numpy(), whole.layers["latency_ms"].to_numpy())
    if corrected:  # the slow rounds divided by the store's baseline (5 ms), not by their own (10 ms)
        assert data.models["drift_factor"].tolist() == pytest.approx([1.0] * 5 + [2.0] * 3)
        assert (data.models["latency_ms"] * data.models["drift_factor"]).tolist() == pytest.approx(
            data.models["latency_raw_ms"].tolist())
    else:
        assert "drift_factor" not in data.models and "latency_raw_ms" not in data.models


def test_measurement_log_keeps_the_raw_value_and_older_logs_resume(tmp_path):
    from search.caches import MeasurementCache

    path = tmp_path / "measurements.jsonl"
    path.write_text(json.dumps({"device": "d", "arch": _arch(), "latency_ms": 3.0}) + "\n")  # before raw_ms existed
    cache = MeasurementCache(path, "d")
    cache.put(_arch(1), 2.0, None, raw_ms=2.5)
    resumed = MeasurementCache(path, "d")
    assert resumed.values == {_arch(): 3.0, _arch(1): 2.0}
    assert json.loads(path.read_text().splitlines()[-1])["raw_ms"] == 2.5


def _arch(i: int = 0) -> str:
    return SearchSpace.default().sample(2, seed=1)[i].to_string()


@pytest.mark.parametrize(("recorded", "kind"), [(False, False), (True, True), (None, True)])
def test_refits_and_comparisons_follow_the_labels_the_predictor_learnt(recorded, kind):
    from predictors.io import PredictorFile
    from search.predictor_adapter import PredictorFileModel

    pf = PredictorFile("lgbm", {}, {} if recorded is None else {"drift_correction": recorded})
    assert PredictorFileModel("p.json", SearchSpace.default(), 224, predictor_file=pf).drift_correction is kind
