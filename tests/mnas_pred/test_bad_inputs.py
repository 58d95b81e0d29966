"""Bad input through the real command line: every case is a ``python -m mnas_pred`` process that
must exit with code 2, print exactly one line on stderr, no traceback, and leave the user's files
as they were (issue 12). The processes run concurrently (each is a fresh interpreter) to keep
the module cheap; each case is its own test.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from device_profiler import DeviceInfo, MeasureSettings
from mnas_pred.store import MeasurementStore
from mnas_pred.threads import allowed_cpus
from tests.hostile import assert_refused
from tests.mnas_pred.test_store import ARCHS, measurement

DEVICE = DeviceInfo(key="local:lab:cpu", kind="local", model="Lab CPU")
SEARCH = ["search", "--target-ms", "5", "--out", "{tmp}/search-out"]

# (class, arguments, fragment the one line must contain); {tmp} is the case's own folder, which
# holds good.db (a database with one device), empty.db (0 bytes) and text.db (not a database)
CASES = [
    ("numbers", ["sample", "-n", "1", "--seed", "-1"], "--seed -1 is out of range"),
    ("numbers", ["sample", "-n", "2000000"], "--num 2,000,000 is out of range"),
    ("numbers", ["arch-info", "mobilenetv2", "--resolution", "1000000000"], "--resolution 1,000,000,000 is out of range"),
    ("numbers", ["arch-info", "mobilenetv2", "--num-classes", "0"], "--num-classes 0 is out of range"),
    ("numbers", ["export", "mobilenetv2", "--onnx", "{tmp}/m.onnx", "--resolution", "100000"], "--resolution"),
    ("numbers", ["export", "conv_k11_r32_c8192_s1_se0_skipnone", "--onnx", "{tmp}/m.onnx"], "GiB of memory"),
    ("numbers", ["profile-device", "--db", "{tmp}/new.db", "--resolution", "100000"], "--resolution 100,000"),
    ("numbers", ["profile-device", "--db", "{tmp}/new.db", "--num-models", "1000000000"], "--num-models"),
    ("numbers", ["profile-device", "--db", "{tmp}/new.db", "--threads", "999"], "--threads 999 is out of range"),
    ("numbers", ["profile-device", "--db", "{tmp}/new.db", "--threads", str(len(allowed_cpus()) + 1)], "CPUs this process may use"),
    ("numbers", ["profile-device", "--db", "{tmp}/new.db", "--runs", "0"], "--runs 0"),
    ("numbers", [*SEARCH, "--train-limit", "1"], "BatchNorm needs at least two"),
    ("numbers", [*SEARCH, "--train-batch-size", "1"], "--train-batch-size 1"),
    ("numbers", [*SEARCH, "--threads", "999"], "--threads 999"),
    ("numbers", [*SEARCH, "--train-threads", "999"], "--train-threads 999"),
    ("numbers", [*SEARCH, "--workers", "999"], "--workers 999"),
    ("numbers", [*SEARCH, "--population-size", "1000000000000", "--strategy", "evolution"], "--population-size"),
    ("numbers", [*SEARCH, "--lr", "inf"], "--lr must be a finite number"),
    ("numbers", ["search", "--target-ms", "nan", "--out", "{tmp}/search-out"], "--target-ms must be a positive"),
    ("database", ["measurements", "--db", "{tmp}/good.db", "--device", "nosuch"], "no device 'nosuch'"),
    ("database", ["measurements", "--db", "{tmp}/empty.db"], "empty file, not a measurement database"),
    ("database", ["measurements", "--db", "{tmp}/text.db"], "is not a measurement database"),
    ("database", ["measurements", "--db", "{tmp}/missing.db"], "does not exist"),
    ("database", ["measurements", "--db", "{tmp}/good.db", "-f", "xml"], "unknown format 'xml'"),
    ("database", ["profile-device", "--db", "{tmp}/text.db", "-n", "1"], "is not a measurement database"),
]
if Path("/dev/full").exists():  # a real ENOSPC from the kernel on every write
    CASES.append(("errors", ["measurements", "--db", "{tmp}/good.db", "-o", "/dev/full"], "disk full"))


def _make_files(folder: Path) -> None:
    with MeasurementStore(folder / "good.db") as store:
        store.add(DEVICE, ARCHS[0], 64, MeasureSettings(), measurement(ARCHS[0], 1.0))
    (folder / "empty.db").write_bytes(b"")
    (folder / "text.db").write_text("device,latency\nphone,1.0\n")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _run(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnas_pred", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, **kw)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every case run once, concurrently: {index: (folder, files before, process)}."""
    base = tmp_path_factory.mktemp("bad-inputs")
    prepared = {}
    for i, (_cls, args, _frag) in enumerate(CASES):
        folder = base / f"case{i}"
        folder.mkdir()
        _make_files(folder)
        prepared[i] = (folder, _snapshot(folder), [a.replace("{tmp}", str(folder)) for a in args])
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {i: pool.submit(_run, args, folder) for i, (folder, _, args) in prepared.items()}
        return {i: (prepared[i][0], prepared[i][1], f.result()) for i, f in futures.items()}


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c}:{' '.join(a[:4])}" for c, a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(results, index):
    folder, before, p = results[index]
    assert_refused(p.returncode, p.stderr, CASES[index][2])
    assert _snapshot(folder) == before  # nothing written into the user's files, nothing created
    assert not (folder / "search-out").exists()


# ------------------------------------------------------------------ files this user may not write
@pytest.fixture
def lock():
    """``lock(path)`` makes a file or folder unwritable for this process: chmod for an ordinary
    user; as root (who ignores permissions) the immutable attribute, which binds root too.
    Undone at the end of the test."""
    locked = []

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            path.chmod(0o555 if path.is_dir() else 0o444)
        elif shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                               capture_output=True).returncode != 0:
            pytest.skip("running as root where the immutable attribute cannot be set")
        locked.append(path)

    yield make
    for path in reversed(locked):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_read_only_database_is_read_but_not_written(tmp_path, lock):
    _make_files(tmp_path)
    db = tmp_path / "good.db"
    before = _snapshot(tmp_path)
    lock(db)
    lock(tmp_path)  # no -wal or -shm can be created beside it either
    p = _run(["measurements", "--db", str(db), "-f", "csv"], tmp_path)
    assert p.returncode == 0 and ARCHS[0] in p.stdout, p.stderr  # reading a read-only database works
    p = _run(["profile-device", "--db", str(db), "-n", "1"], tmp_path)
    assert_refused(p.returncode, p.stderr, "is read-only for this user")  # not "not a measurement database"
    assert "make it writable" in p.stderr
    assert _snapshot(tmp_path) == before


def test_results_folder_without_write_permission(tmp_path, lock):
    locked = tmp_path / "locked"
    locked.mkdir()
    lock(locked)
    p = _run(["search", "--target-ms", "5", "--out", str(locked / "run"), "--accuracy", "analytic", "--latency",
              "analytic", "--use-predictor", "analytic", "--samples", "2"], tmp_path)
    assert_refused(p.returncode, p.stderr, "permission denied")
    assert "choose a location you may write" in p.stderr and not (locked / "run").exists()


# ------------------------------------------------------------------ a full disk, in the store
def test_full_disk_while_storing_says_disk_full_and_keeps_what_was_stored(tmp_path):
    from mnas_pred.errors import MnasPredError

    db = tmp_path / "m.db"
    with MeasurementStore(db) as store:
        store.add(DEVICE, ARCHS[0], 64, MeasureSettings(), measurement(ARCHS[0], 1.0))
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL: no page left
        big = {f"block{i}_layer{j}": 0.01 for i in range(200) for j in range(8)}
        with pytest.raises(MnasPredError) as e:
            store.add(DEVICE, ARCHS[1], 64, MeasureSettings(), measurement(ARCHS[1], 2.0, layers=big))
        message = str(e.value)
        assert "disk full" in message and "the 1 measurements stored before are kept" in message
        assert "rollback" not in message and "re-run the same command" in message
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 1


def test_os_errors_the_user_can_fix_are_one_line():
    from mnas_pred.errors import from_os_error

    for code, words in ((errno.EACCES, "permission denied"), (errno.ENOSPC, "disk full"),
                        (errno.EROFS, "read-only file system")):
        e = from_os_error(OSError(code, os.strerror(code), "/some/file"))
        assert words in str(e) and "/some/file" in str(e) and e.fix
    assert from_os_error(OSError(errno.EBADF, "bad file descriptor")) is None  # a bug keeps its traceback
