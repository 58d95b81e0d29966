"""The SQLite measurement store: round trip, resume without duplicates, bad files, exports."""

import json
import sqlite3
import sys

import pandas as pd
import pytest

from device_profiler import DeviceInfo, MeasureSettings
from mnas_pred.errors import MnasPredError
from mnas_pred.layers import count
from mnas_pred.records import Measurement
from mnas_pred.space import SearchSpace
from mnas_pred.store import SCHEMA_VERSION, MeasurementStore

DEVICE = DeviceInfo(key="local:test:cpu", kind="local", model="Test CPU", properties={"cores": 2},
                    runtime_version="1.0")
SETTINGS = MeasureSettings(threads=1, warmup=2, runs=10)
ARCHS = [a.to_string() for a in SearchSpace.default().sample(3, seed=7)]


def measurement(arch: str, latency: float, layers=None) -> Measurement:
    layers = layers if layers is not None else {"stem": latency * 0.1, "block1_layer0": latency * 0.5,
                                                "head": latency * 0.3, "other": latency * 0.05}
    samples = [latency * f for f in (0.98, 1.0, 1.02, 1.0, 0.99)]
    params, macs = count(arch, 64, 1000)  # counted by the producer of the record, as measure_arch does
    return Measurement(
        arch=arch, resolution=64, num_classes=1000, model_sha256="ab" * 32, latency_ms=latency,
        latency_p10_ms=latency * 0.98, latency_p90_ms=latency * 1.02, latency_mean_ms=latency,
        latency_min_ms=latency * 0.98, cv=0.015, spread=0.02, samples_ms=samples,
        bursts=[{"attempt": 0, "median_ms": latency, "outlier": False, "samples_ms": samples}],
        layers_ms=layers, layer_sum_ms=sum(layers.values()), profiled_runs=5, attempts=1,
        settings=SETTINGS, device=DEVICE, metadata={"affinity": [1]}, params=params, macs=macs,
    )


@pytest.fixture
def store(tmp_path):
    with MeasurementStore(tmp_path / "m.db") as s:
        yield s


def test_round_trip(store):
    ids = [store.add(DEVICE, a, 64, SETTINGS, measurement(a, 1.0 + i)) for i, a in enumerate(ARCHS)]
    assert ids == [1, 2, 3]
    models = store.models_frame()
    assert list(models["measurement_id"]) == ids
    for col in ("device", "device_model", "arch", "resolution", "threads", "latency_ms", "latency_p10_ms",
                "latency_p90_ms", "cv", "layer_sum_ms", "layer_sum_ratio", "params", "macs"):
        assert col in models.columns
    row = models.iloc[1]
    assert row["device"] == DEVICE.key and row["device_model"] == "Test CPU" and row["arch"] == ARCHS[1]
    assert row["latency_ms"] == pytest.approx(2.0) and row["layer_sum_ms"] == pytest.approx(1.9)
    assert row["layer_sum_ratio"] == pytest.approx(0.95) and row["macs"] > 0
    layers = store.layers_frame()
    assert len(layers) == 12
    first = layers[layers["measurement_id"] == 1]
    assert list(first["name"]) == ["stem", "block1_layer0", "head", "other"]  # network order kept
    assert first["latency_ms"].sum() == pytest.approx(0.95)
    assert store.samples(2)["samples_ms"] == pytest.approx([2 * f for f in (0.98, 1.0, 1.02, 1.0, 0.99)])
    [dev] = store.devices()
    assert dev["key"] == DEVICE.key and dev["measurements"] == 3 and dev["properties"] == {"cores": 2}
    assert store.models_frame(device="nope").empty and len(store.layers_frame(device=DEVICE.key)) == 12


def test_same_measurement_twice_is_stored_once(store):
    first = store.add(DEVICE, ARCHS[0], 64, SETTINGS, measurement(ARCHS[0], 1.0))
    again = store.add(DEVICE, ARCHS[0], 64, SETTINGS, measurement(ARCHS[0], 5.0))
    assert again == first and store.count() == 1
    assert store.models_frame()["latency_ms"].tolist() == [1.0]  # the first value is kept, not overwritten
    assert store.has(DEVICE.key, ARCHS[0], 64, SETTINGS)
    assert not store.has(DEVICE.key, ARCHS[0], 96, SETTINGS)
    assert not store.has(DEVICE.key, ARCHS[0], 64, MeasureSettings(threads=2, warmup=2, runs=10))
    assert not store.has("adb:other", ARCHS[0], 64, SETTINGS)
    # other settings = another measurement of the same model
    store.add(DEVICE, ARCHS[0], 64, MeasureSettings(threads=2), measurement(ARCHS[0], 0.6))
    assert store.count() == 2 and len(store.conn.execute("SELECT * FROM models").fetchall()) == 1


def test_counts_missing_at_first_are_filled_by_a_later_measurement(store):
    import dataclasses

    bare = dataclasses.replace(measurement(ARCHS[0], 1.0), params=None, macs=None)
    store.add(DEVICE, ARCHS[0], 64, SETTINGS, bare)
    store.add(DEVICE, ARCHS[0], 64, MeasureSettings(threads=2), measurement(ARCHS[0], 0.6))
    assert store.models_frame()[["params", "macs"]].drop_duplicates().values.tolist() == [list(count(ARCHS[0], 64))]
    with pytest.raises(ValueError, match="num_classes"):
        store.add(DEVICE, ARCHS[1], 64, SETTINGS, dataclasses.replace(measurement(ARCHS[1], 1.0), num_classes=0))


def test_file_is_wal_and_survives_reopen(tmp_path):
    path = tmp_path / "m.db"
    with MeasurementStore(path) as s:
        assert s.journal_mode == "wal"
        s.add(DEVICE, ARCHS[0], 64, SETTINGS, measurement(ARCHS[0], 1.0))
    with MeasurementStore(path, create=False) as s:
        assert s.count() == 1
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(MnasPredError, match="does not exist"):
        MeasurementStore(tmp_path / "missing.db", create=False)
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    with pytest.raises(MnasPredError, match="not a measurement database"):
        MeasurementStore(text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(MnasPredError, match="another program"):
        MeasurementStore(other)
    future = tmp_path / "future.db"
    MeasurementStore(future).close()
    with sqlite3.connect(future) as c:
        c.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(MnasPredError, match="schema version") as e:
        MeasurementStore(future)
    assert "\n" not in str(e.value)
    with pytest.raises(MnasPredError, match="directory"):
        MeasurementStore(tmp_path)


def test_exports(store, tmp_path, capsys):
    for i, a in enumerate(ARCHS):
        store.add(DEVICE, a, 64, SETTINGS, measurement(a, 1.0 + i))
    assert store.export("jsonl") == 3
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    rec = lines[0]
    for key in ("device", "arch", "latency_ms", "latency_p10_ms", "latency_p90_ms", "layers"):
        assert key in rec
    assert rec["layers"][0] == {"name": "stem", "latency_ms": pytest.approx(0.1)}
    store.export("csv", tmp_path / "m.csv")
    csv = pd.read_csv(tmp_path / "m.csv")
    assert len(csv) == 3 and json.loads(csv["layers"][2])[-1]["name"] == "other"
    store.export("parquet", tmp_path / "m.parquet")
    pq = pd.read_parquet(tmp_path / "m.parquet")
    assert list(pq["arch"]) == ARCHS and pq["layers"][0][1]["name"] == "block1_layer0"
    with pytest.raises(MnasPredError, match="unknown export format"):
        store.export("xml")
    with pytest.raises(MnasPredError, match="needs an output file"):
        store.export("parquet")
    with pytest.raises(MnasPredError, match="does not exist"):
        store.export("csv", tmp_path / "no" / "such" / "m.csv")


def test_parquet_without_pyarrow_names_the_extra(store, tmp_path, monkeypatch):
    store.add(DEVICE, ARCHS[0], 64, SETTINGS, measurement(ARCHS[0], 1.0))
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what an install without the extra sees
    with pytest.raises(MnasPredError, match=r"mnas-pred\[parquet\]"):
        store.export("parquet", tmp_path / "m.parquet")
    assert not (tmp_path / "m.parquet").exists()
