"""`devices`, `profile-device` and `measurements` through the real console script: resume,
kill -9, Ctrl-C, exports, and one-line errors."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.signals import default_sigint

CLI = [sys.executable, "-m", "mnas_pred"]
# Small and fast: the protocol is the same at any size (tests of the numbers are in the bench).
PROFILE = ["profile-device", "--resolution", "64", "--runs", "10", "--warmup", "2", "--profile-runs", "2",
           "--repeats", "1"]


def run(*args, cwd=None, timeout=300):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def assert_one_line_error(res, fragment):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in res.stderr


def rows(db):
    with sqlite3.connect(db) as c:
        return c.execute(
            "SELECT m.id, mo.arch, m.latency_ms, (SELECT COUNT(*) FROM layer_timings l WHERE l.measurement_id = m.id) "
            "FROM measurements m JOIN models mo ON mo.id = m.model_id ORDER BY m.id"
        ).fetchall()


def test_profile_resume_and_export(tmp_path):
    res = run(*PROFILE, "-n", "2", "--json", cwd=tmp_path)  # default db in the working directory
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["measured"] == 2 and out["layer_sum_ratio"]["n"] == 2
    db = tmp_path / "measurements.db"
    assert db.is_file()
    res = run(*PROFILE, "-n", "3", "--json", cwd=tmp_path)
    out = json.loads(res.stdout)
    assert (out["measured"], out["already_measured"], out["stored_for_device"]) == (1, 2, 3)
    stored = rows(db)
    assert len(stored) == 3 and len({r[1] for r in stored}) == 3 and all(r[3] > 3 for r in stored)

    res = run("measurements", "--db", str(db))
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(lines) == 3
    for key in ("device", "arch", "latency_ms", "latency_p10_ms", "latency_p90_ms"):
        assert key in lines[0]
    assert lines[0]["layers"][0]["name"] == "stem" and lines[0]["layers"][0]["latency_ms"] > 0
    assert run("measurements", "--db", str(db), "--json").stdout == res.stdout  # --json like every command
    for fmt, reader in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        res = run("measurements", "--db", str(db), "--format", fmt, "--out", str(tmp_path / f"m.{fmt}"))
        assert res.returncode == 0, res.stderr
        frame = reader(tmp_path / f"m.{fmt}")
        assert len(frame) == 3 and list(frame["arch"]) == [r[1] for r in stored]
    res = run("measurements", "--db", str(db), "--format", "table")
    assert res.returncode == 0 and "3 measurements" in res.stdout


def test_two_threads_say_the_sums_match_by_construction(tmp_path):
    from mnas_pred.threads import allowed_cpus

    if len(allowed_cpus()) < 2:
        pytest.skip("needs two cores")
    res = run(*PROFILE, "-n", "1", "--threads", "2", "--db", str(tmp_path / "m.db"))
    assert res.returncode == 0, res.stderr
    assert "per-layer sum / end-to-end" in res.stdout and "matched by construction" in res.stdout
    with sqlite3.connect(tmp_path / "m.db") as c:
        meta = json.loads(c.execute("SELECT run_metadata FROM measurements").fetchone()[0])
    assert meta["profiler_overhead_us"]["per_parallel_section"] >= 0 and "paired_ratio_calibrated" in meta["profile"]


def test_progress_in_a_log_file_is_one_line_per_model_as_it_happens(tmp_path):
    """Output to a file or pipe: no progress bar that shows only at the end, but a flushed line per
    model on stdout (stderr stays for the one-line error of a failed run)."""
    proc = subprocess.Popen([*CLI, *PROFILE, "-n", "2", "--resolution", "32", "--drift-every", "0",
                             "--db", str(tmp_path / "m.db")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = proc.stdout.readline()
        assert proc.poll() is None, first  # read while the second model is still being measured
        rest, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0 and err == "", err
    assert first.startswith("profiling 1/2: last ") and " ms (p10-p90 " in first and "elapsed, eta " in first, first
    assert rest.startswith("profiling 2/2: last ") and rest.splitlines()[0].endswith("elapsed, done"), rest
    assert "2 measured, 0 already in the store" in rest  # then the summary
    assert "\r" not in first + rest and "\x1b" not in first + rest  # no bar redraws, no colour codes


def wait_for_rows(db, n, proc, deadline_s=180):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                if len(rows(db)) >= n:
                    return
            except sqlite3.OperationalError:  # schema not created yet
                pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} measurements after {deadline_s} s")


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -9), (signal.SIGINT, 130)])
def test_interrupted_run_keeps_what_it_measured_and_resumes(tmp_path, sig, code):
    db = tmp_path / "m.db"
    args = [*PROFILE, "-n", "7", "--db", str(db), "--seed", "3"]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    wait_for_rows(db, 3, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    if sig == signal.SIGINT:
        assert "Traceback" not in err and "re-run the same command to continue" in err
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    before = rows(db)
    assert 3 <= len(before) < 7 and all(r[3] > 0 for r in before)  # every committed model has its layers

    res = run(*args, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["already_measured"] == len(before) and out["measured"] == 7 - len(before)
    after = rows(db)
    assert after[: len(before)] == before  # committed rows intact, unchanged
    assert len(after) == 7 and len({r[1] for r in after}) == 7  # the rest measured, no duplicates
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_devices_lists_the_local_cpu(tmp_path):
    # --adb: a real adb (the adbutils package ships one) would start a server that outlives the test
    no_adb = tmp_path / "adb"
    no_adb.write_text("#!/bin/sh\nexit 1\n")
    no_adb.chmod(0o755)
    res = run("devices", "--json", "--ssh", "pi@board", "--adb", str(no_adb))
    assert res.returncode == 0, res.stderr
    devices = json.loads(res.stdout)
    assert devices[0]["kind"] == "local" and devices[0]["state"] == "ready"
    assert {"kind": "ssh", "id": "pi@board"}.items() <= devices[-1].items()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["measurements", "--db", "missing.db"], "does not exist"),
        (["measurements", "--db", "notes.txt"], "not a measurement database"),
        (["measurements", "--db", "m.db", "--format", "xml"], "unknown format 'xml'"),
        (["measurements", "--db", "m.db", "--format", "parquet"], "needs an output file"),
        (["measurements", "--db", "m.db", "--format", "csv", "--json"], "--json and --format csv ask for two formats"),
        (["profile-device", "--serial", "X", "--ssh", "h", "--db", "p.db"], "choose one device"),
        (["profile-device", "--serial", "X", "--serial", "Y", "--ssh", "h", "--db", "p.db"], "choose one device"),
        (["profile-device", "--db", "adir", "-n", "1"], "is a directory"),
        (["profile-device", "--db", "notes.txt", "-n", "1"], "not a measurement database"),
        (["profile-device", "--space", "nope.toml", "-n", "1"], "does not exist"),
        (["profile-device", "--runs", "0"], "--runs"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, fragment):
    (tmp_path / "notes.txt").write_text("hello\n" * 200)
    (tmp_path / "adir").mkdir()
    from mnas_pred.store import MeasurementStore

    MeasurementStore(tmp_path / "m.db").close()
    assert_one_line_error(run(*args, cwd=tmp_path), fragment)
