"""A measurement's runtime stack is part of its identity; files of schema 1 keep their data as ONNX Runtime on the CPU."""

import dataclasses
import json
import sqlite3

from mnas_pred.store import SCHEMA_VERSION, MeasurementStore
from tests.mnas_pred.test_store import ARCHS, DEVICE, SETTINGS, measurement

LITERT = dataclasses.replace(DEVICE, runtime="litert", runtime_version="2.3.0")
LITERT_GPU = dataclasses.replace(LITERT, accelerator="gpu")


def _as(device, arch, latency):
    return dataclasses.replace(measurement(arch, latency), device=device)


def test_ort_and_litert_measurements_of_one_network_are_two(tmp_path):
    with MeasurementStore(tmp_path / "m.db") as s:
        ids = {s.add(d, ARCHS[0], 64, SETTINGS, _as(d, ARCHS[0], ms))
               for d, ms in ((DEVICE, 1.0), (LITERT, 2.0), (LITERT_GPU, 0.5))}
        assert len(ids) == 3 and s.count() == 3
        assert s.has(DEVICE, ARCHS[0], 64, SETTINGS) and s.has(LITERT, ARCHS[0], 64, SETTINGS)
        assert not s.has(LITERT, ARCHS[1], 64, SETTINGS)
        # another runtime version is another measurement (a new ai-edge-litert can be faster)
        assert not s.has(dataclasses.replace(LITERT, runtime_version="2.4.0"), ARCHS[0], 64, SETTINGS)
        assert s.add(LITERT, ARCHS[0], 64, SETTINGS, _as(LITERT, ARCHS[0], 9.0)) in ids  # resume: kept, not added
        frame = s.models_frame()
        got = {(r.runtime, r.runtime_version, r.accelerator): r.latency_ms for r in frame.itertuples()}
        assert got == {("onnxruntime", "1.0", "cpu"): 1.0, ("litert", "2.3.0", "cpu"): 2.0, ("litert", "2.3.0", "gpu"): 0.5}
        assert s.measured_archs(64, SETTINGS, device_keys=[DEVICE.key], runtime=LITERT) == {ARCHS[0]}
        assert s.measured_archs(64, SETTINGS, device_keys=[DEVICE.key], runtime=dataclasses.replace(
            LITERT, runtime_version="9")) == set()


SCHEMA_1 = """
CREATE TABLE schema_version (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE devices (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, model TEXT NOT NULL,
    runtime TEXT NOT NULL, runtime_version TEXT NOT NULL, properties TEXT NOT NULL, first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL);
CREATE TABLE models (id INTEGER PRIMARY KEY, arch TEXT NOT NULL, resolution INTEGER NOT NULL,
    num_classes INTEGER NOT NULL, params INTEGER, macs INTEGER, UNIQUE (arch, resolution, num_classes));
CREATE TABLE measurements (id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
    model_id INTEGER NOT NULL REFERENCES models(id), settings_key TEXT NOT NULL, settings TEXT NOT NULL,
    threads INTEGER NOT NULL, latency_ms REAL NOT NULL, latency_p10_ms REAL NOT NULL, latency_p90_ms REAL NOT NULL,
    latency_mean_ms REAL NOT NULL, latency_min_ms REAL NOT NULL, cv REAL NOT NULL, spread REAL NOT NULL,
    layer_sum_ms REAL NOT NULL, profiled_runs INTEGER NOT NULL, attempts INTEGER NOT NULL, samples TEXT NOT NULL,
    bursts TEXT NOT NULL, model_sha256 TEXT NOT NULL, device_metadata TEXT NOT NULL, run_metadata TEXT NOT NULL,
    measured_at TEXT NOT NULL, duration_s REAL NOT NULL, UNIQUE (device_id, model_id, settings_key));
CREATE TABLE layer_timings (measurement_id INTEGER NOT NULL REFERENCES measurements(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, name TEXT NOT NULL, latency_ms REAL NOT NULL, PRIMARY KEY (measurement_id, name));
CREATE INDEX measurements_by_device ON measurements(device_id);
INSERT INTO schema_version VALUES ('mnas-pred-measurements', 1);
"""


def _schema_1_file(path):
    """A file as mnas-pred wrote it before runtimes were told apart: two ORT measurements with layers."""
    from mnas_pred.store import settings_key

    with sqlite3.connect(path) as c:
        c.executescript(SCHEMA_1)
        c.execute("INSERT INTO devices VALUES (1, ?, 'local', 'Test CPU', 'onnxruntime', '1.17.0', '{}', 't', 't')",
                  (DEVICE.key,))
        for i, arch in enumerate(ARCHS[:2], start=1):
            c.execute("INSERT INTO models VALUES (?, ?, 64, 1000, 1, 2)", (i, arch))
            c.execute("INSERT INTO measurements VALUES (?, 1, ?, ?, ?, 1, ?, 1, 1, 1, 1, 0, 0, 1, 5, 1, '[]', '[]', "
                      "'ab', '{}', '{}', 't', 1.0)", (i, i, settings_key(SETTINGS), json.dumps(SETTINGS.as_dict()), i))
            c.executemany("INSERT INTO layer_timings VALUES (?, ?, ?, ?)",
                          [(i, 0, "stem", 0.1), (i, 1, "head", 0.2)])
    c.close()


def test_schema_1_file_is_upgraded_keeping_every_row_as_onnxruntime_on_the_cpu(tmp_path):
    path = tmp_path / "old.db"
    _schema_1_file(path)
    with MeasurementStore(path, create=False) as s:  # read-only: read as it is, not upgraded
        assert s.schema_version == 1
        frame = s.models_frame()
        assert frame[["runtime", "runtime_version", "accelerator"]].drop_duplicates().values.tolist() == [
            ["onnxruntime", "1.17.0", "cpu"]]
    old = dataclasses.replace(DEVICE, runtime_version="1.17.0")
    with MeasurementStore(path) as s:  # writable: upgraded in place
        assert s.schema_version == SCHEMA_VERSION == 3
        assert s.count() == 2 and len(s.layers_frame()) == 4
        assert s.has(old, ARCHS[0], 64, SETTINGS) and s.has(DEVICE.key, ARCHS[1], 64, SETTINGS)
        assert not s.has(LITERT, ARCHS[0], 64, SETTINGS)
        s.add(LITERT, ARCHS[0], 64, SETTINGS, _as(LITERT, ARCHS[0], 3.0))  # not mistaken for the ORT one
        assert s.count() == 3
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert s.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with MeasurementStore(path, create=False) as s:
        frame = s.models_frame().sort_values("measurement_id")
        assert frame["latency_ms"].tolist() == [1.0, 2.0, 3.0]
        assert frame["runtime"].tolist() == ["onnxruntime", "onnxruntime", "litert"]
        assert frame["accelerator"].tolist() == ["cpu"] * 3


def test_schema_1_rows_keep_the_onnx_runtime_version_their_run_recorded(tmp_path):
    path = tmp_path / "old.db"
    _schema_1_file(path)
    with sqlite3.connect(path) as c:  # the first was measured under ORT 1.16.3 (the device row says the last run's)
        c.execute("UPDATE measurements SET run_metadata = ? WHERE id = 1", (json.dumps({"ort_version": "1.16.3"}),))
    c.close()
    with MeasurementStore(path) as s:
        versions = s.models_frame().sort_values("measurement_id")["runtime_version"].tolist()
    assert versions == ["1.16.3", "1.17.0"]


def test_schema_2_file_is_upgraded_to_3_with_every_row_intact(tmp_path):
    path = tmp_path / "v2.db"
    with MeasurementStore(path) as s:
        for i, arch in enumerate(ARCHS):
            m = measurement(arch, 1.0 + i)
            m.metadata["drift"] = {"campaign": "old", "reference": i, "models_since": 0, "reference_ms": 5.0 + i,
                                   "slow": False}
            s.add(DEVICE, arch, 64, SETTINGS, m)
        before = s.models_frame()
    with sqlite3.connect(path) as c:  # as schema 2 wrote it: no reference_runs table
        c.execute("DROP TABLE reference_runs")
        c.execute("UPDATE schema_version SET version = 2")
    c.close()
    with MeasurementStore(path, create=False) as s:  # read-only: read as it is
        assert s.schema_version == 2 and len(s.reference_runs_frame()) == len(ARCHS)
        assert s.models_frame().equals(before)
    with MeasurementStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION == 3
        after, layers = s.models_frame(), s.layers_frame()
        assert s.conn.execute("SELECT COUNT(*) FROM reference_runs").fetchone()[0] == 0
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert after.equals(before) and len(layers) == sum(len(measurement(a, 1).layers_ms) for a in ARCHS)
