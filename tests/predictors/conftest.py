"""Shared fixtures: the real HW-NAS-Bench per-layer table, and a small real measurement store
profiled on this machine's CPU (session-scoped: profiling is the slow part)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnas_pred.space import SearchSpace

REPO = Path(__file__).resolve().parents[2]
FBNET_CSV = REPO / "datasets" / "hwnasbench_fbnet_ops.csv"
STORE_RESOLUTION = 48
STORE_NETWORKS = 12
#: Small models keep the suite fast; the conformance contract does not depend on their size.
SMALL_PARAMS = {
    "lgbm": {"n_members": 3, "n_estimators": 80},
    "rf": {"n_estimators": 40},
    "flops": {},
    "lut": {},
}


@pytest.fixture(scope="session")
def fbnet_csv() -> Path:
    assert FBNET_CSV.is_file(), f"missing {FBNET_CSV}"
    return FBNET_CSV


@pytest.fixture(scope="session")
def pixel3_data(fbnet_csv):
    from predictors.data import from_layer_csvs

    return from_layer_csvs([fbnet_csv], "pixel3")


@pytest.fixture(scope="session")
def cpu_store(tmp_path_factory) -> Path:
    """12 sampled networks at 48x48 measured with ONNX Runtime on this CPU (few runs)."""
    from device_profiler.campaign import profile
    from device_profiler.local import LocalDevice
    from mnas_pred.records import MeasureSettings
    from mnas_pred.store import MeasurementStore

    db = tmp_path_factory.mktemp("store") / "cpu.db"
    archs = SearchSpace.default().sample(STORE_NETWORKS, seed=7)
    settings = MeasureSettings(warmup=1, runs=3, profile_runs=1, repeats=1)
    with MeasurementStore(db) as store, LocalDevice() as device:
        profile(device, archs, store, settings, resolution=STORE_RESOLUTION)
    return db


@pytest.fixture(scope="session")
def store_data(cpu_store):
    from predictors.data import from_store

    return from_store(cpu_store)


@pytest.fixture(scope="session")
def saved_predictor(tmp_path_factory, pixel3_data) -> Path:
    """A small lgbm predictor file (with baselines) fitted on the pixel3 table."""
    from predictors.io import save_predictor
    from predictors.workflow import fit_predictor

    pf, _ = fit_predictor(pixel3_data, "lgbm", SearchSpace.default(), folds=0, params=SMALL_PARAMS["lgbm"])
    path = tmp_path_factory.mktemp("pred") / "pixel3.pred"
    save_predictor(pf, path)
    json.loads(path.read_text())  # sanity: the file is JSON
    return path


# The fixtures the predictor conformance suite (mnas_pred.testing.predictor) asks for, besides
# make_predictor, which each test module defines for the predictors it checks.
@pytest.fixture(scope="session")
def layer_data(pixel3_data):
    return pixel3_data


@pytest.fixture(scope="session")
def network_data(store_data):
    return store_data


@pytest.fixture(scope="session")
def lookup_table():
    from predictors.lookup import LookupTable

    return LookupTable
