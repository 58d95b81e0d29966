"""The measurement database as files on a shared machine: a finished run leaves one complete
file (no rows only in ``-wal``), readers never write, and a measurement that another process
stored meanwhile is reported as already stored, not as measured by this one."""

from __future__ import annotations

import shutil
import sqlite3

from device_profiler import DeviceInfo, MeasureSettings
from device_profiler._base import Device
from device_profiler.campaign import profile
from mnas_pred.records import RawTiming
from mnas_pred.space import SearchSpace
from mnas_pred.store import MeasurementStore
from tests.mnas_pred.test_store import ARCHS, DEVICE, SETTINGS, measurement


def test_a_finished_run_leaves_one_complete_file(tmp_path):
    db = tmp_path / "m.db"
    with MeasurementStore(db) as store:
        for i, a in enumerate(ARCHS):
            store.add(DEVICE, a, 64, SETTINGS, measurement(a, 1.0 + i))
        assert store.journal_mode == "wal"  # while it runs, readers do not block the writer
    assert not (tmp_path / "m.db-wal").exists() and not (tmp_path / "m.db-shm").exists()
    (tmp_path / "copy").mkdir()
    shutil.copy(db, tmp_path / "copy" / "m.db")  # the file alone, as a user copies it
    with sqlite3.connect(tmp_path / "copy" / "m.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 3


def test_readers_never_write(tmp_path):
    db = tmp_path / "m.db"
    with MeasurementStore(db) as store:
        store.add(DEVICE, ARCHS[0], 64, SETTINGS, measurement(ARCHS[0], 1.0))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with MeasurementStore(db, create=False) as store:
        assert store.read_only and store.count() == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no schema, no -wal, no -shm


class _RacedDevice(Device):
    """A device on which, while each model is timed, another process (here: a second profiling
    run with its own connection) stores the same model first."""

    def __init__(self, db, info: DeviceInfo):
        self.db, self._info = db, info

    def info(self) -> DeviceInfo:
        return self._info

    def time_model(self, onnx_path, settings) -> RawTiming:
        return RawTiming(samples_ms=[1.0, 1.01, 0.99], node_events=[], profiled_runs=0)


def test_a_model_stored_meanwhile_by_another_writer_counts_as_already_stored(tmp_path):
    db = tmp_path / "m.db"
    info = DeviceInfo(key="test:shared", kind="test", model="Phone")
    settings = MeasureSettings(threads=1, warmup=0, runs=3, profile_runs=0, repeats=1)
    archs = [a.to_string() for a in SearchSpace.default().sample(3, seed=5)]
    other = _RacedDevice(db, info)

    class Racing(_RacedDevice):
        def time_model(self, onnx_path, settings_):
            # the other writer measures and commits this very model before this run stores it
            arch = archs[self.calls]
            self.calls += 1
            if self.calls <= 2:
                with MeasurementStore(db) as second:
                    report = profile(other, [arch], second, settings, resolution=32)
                    assert report.measured == 1
            return super().time_model(onnx_path, settings_)

    racing = Racing(db, info)
    racing.calls = 0
    with MeasurementStore(db) as store:
        report = profile(racing, archs, store, settings, resolution=32)
        assert store.count() == 3
    # two of the three were stored by the other writer: 1 + 2 = the 3 rows, not 3 + 2
    assert (report.measured, report.skipped, report.failed) == (1, 2, [])
