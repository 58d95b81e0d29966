"""`profile-device --runtime litert` end to end on this CPU: real conversions, real LiteRT timings, the
store, and a kill -9 in the middle of the campaign after which nothing is converted or measured twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.device_profiler.litert.conftest import tiny_archs

REPO = Path(__file__).resolve().parents[3]
FAST = ["--runs", "10", "--warmup", "2", "--profile-runs", "2", "--repeats", "1", "--drift-every", "0"]


def _env(cache_root: Path) -> dict:
    return {**os.environ, "MNAS_PRED_CACHE_DIR": str(cache_root), "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _campaign(litert_models, db: Path, n: int) -> list[str]:
    return [sys.executable, "-m", "mnas_pred", "profile-device", "--runtime", "litert", "--space",
            str(litert_models.space), "--num-models", str(n), "--db", str(db), "--json", *FAST]


def _stored(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            rows = c.execute("SELECT mo.arch, m.runtime FROM measurements m JOIN models mo ON mo.id = m.model_id").fetchall()
        c.close()
        return rows
    except sqlite3.Error:  # not created yet, or mid-creation
        return []


def _files(cache: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.glob("*.tflite")}


def _converter_processes(cache_root: Path) -> list[int]:
    """Processes still running with this test's cache folder in their environment (orphaned converters)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"MNAS_PRED_CACHE_DIR={cache_root}".encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def test_kill_9_mid_campaign_then_rerun_converts_and_measures_nothing_twice(litert_models, tmp_path):
    """Three networks, two already converted (the session fixture's): the campaign measures those while
    the third converts in a worker; kill -9 once one measurement is stored; the re-run finishes."""
    root = tmp_path / "cache"
    cache = litert_models.copy_cache(root / "tflite")
    archs = tiny_archs(3)
    assert archs[:2] == litert_models.archs
    db = tmp_path / "m.db"
    proc = subprocess.Popen(_campaign(litert_models, db, 3), env=_env(root), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not _stored(db) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    before = _stored(db)
    assert 1 <= len(before) < 3 and {r for _a, r in before} == {"litert"}
    files_before = _files(cache)
    time.sleep(1.0)  # PR_SET_PDEATHSIG: the converter workers die with the campaign
    assert _converter_processes(root) == []
    assert not [p for p in cache.glob("*.tflite") if p.name.startswith(".")]  # half-written files keep their temp name

    res = subprocess.run(_campaign(litert_models, db, 3), env=_env(root), cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)
    assert summary["already_measured"] == len(before) and summary["measured"] == 3 - len(before)
    assert summary["runtime"]["runtime"] == "litert" and summary["runtime"]["accelerator"] == "cpu"
    assert "end to end only" in summary["per_layer"] and "--benchmark-model" in summary["per_layer"]
    after = _stored(db)
    assert sorted(a for a, _r in after) == sorted(archs)  # each network once
    files_after = _files(cache)
    assert len(files_after) == 3
    for name, stat in files_before.items():  # nothing converted before the kill was converted again
        assert files_after[name] == stat, name


def test_litert_and_ort_measurements_of_one_network_live_side_by_side(litert_models, tmp_path):
    """The same network measured with ONNX Runtime and with LiteRT in one database: two measurements,
    each with its runtime; a re-run of either skips what it has."""
    root = tmp_path / "cache"
    litert_models.copy_cache(root / "tflite")
    db = tmp_path / "m.db"
    base = [sys.executable, "-m", "mnas_pred", "profile-device", "--space", str(litert_models.space),
            "--num-models", "1", "--db", str(db), "--json", *FAST]
    for runtime in ("ort", "litert", "litert"):
        res = subprocess.run([*base, "--runtime", runtime], env=_env(root), cwd=tmp_path, capture_output=True,
                             text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["already_measured"] == 1
    assert sorted(r for _a, r in _stored(db)) == ["litert", "onnxruntime"]


@pytest.fixture(autouse=True)
def _needs_extra():
    pytest.importorskip("litert_torch", reason="needs the [litert] extra")
