"""A profile run whose phone or board never answers leaves no database behind, and never touches
one that exists (the real console script, the fake adb of fakes/, a stand-in ssh client)."""

import os
import sqlite3
import subprocess
import sys

import pytest

from mnas_pred.deferred_store import DeferredStore, check_store_file
from mnas_pred.errors import MnasPredError

CLI = [sys.executable, "-m", "mnas_pred", "profile-device", "-n", "1", "--resolution", "64"]


def run(args, env=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def test_unknown_phones_create_no_database(fake_android, tmp_path):
    fake_android.add_device("R58M123")
    db = tmp_path / "new.db"
    for serials in (["NOPE999"], ["R58M123", "NOPE999"]):  # one phone, and several (the fleet path)
        tools = ["--adb", fake_android.adb, "--perf-test", str(fake_android.tools["perf_test"]),
                 "--ort-lib", str(fake_android.tools["ort_lib"])]
        p = run([*tools, "--db", str(db), *[a for s in serials for a in ("--serial", s)]])
        assert p.returncode == 2 and "NOPE999 not found" in p.stderr, p.stderr
        assert not db.exists() and not list(tmp_path.glob("new.db*"))


def test_unreachable_board_creates_no_database_and_keeps_an_existing_one(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"  # answers as OpenSSH does when nothing listens on the board's port 22
    ssh.write_text("#!/bin/sh\necho 'ssh: connect to host board port 22: Connection refused' >&2\nexit 255\n")
    ssh.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    db = tmp_path / "new.db"
    p = run(["--ssh", "pi@board", "--db", str(db)], env)
    assert p.returncode == 2 and "unreachable" in p.stderr, p.stderr
    assert not list(tmp_path.glob("new.db*"))

    existing = tmp_path / "mine.db"
    from mnas_pred.store import MeasurementStore

    MeasurementStore(existing).close()
    before = existing.read_bytes()
    p = run(["--ssh", "pi@board", "--db", str(existing)], env)
    assert p.returncode == 2 and existing.read_bytes() == before
    with sqlite3.connect(existing) as c:
        assert c.execute("SELECT name FROM schema_version").fetchone() == ("mnas-pred-measurements",)



def test_an_empty_existing_file_is_accepted_as_a_new_database(tmp_path):
    # `--db "$(mktemp)"`: the early check must agree with the store, which writes a schema into a 0-byte file
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    check_store_file(db)
    with DeferredStore(db) as store:
        assert store.count() == 0
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    with pytest.raises(MnasPredError, match="not a measurement database"):
        check_store_file(text)
    assert text.read_text() == "not a database\n"
