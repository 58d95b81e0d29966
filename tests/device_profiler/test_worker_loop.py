"""The loop both local worker scripts share (device_profiler/_worker_loop.py), run as the devices
run them: by file path, in a fresh interpreter, here from another folder and with
PYTHONSAFEPATH set (the script's folder is then not on sys.path by itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS = [ROOT / "device_profiler" / "_ort_worker.py", ROOT / "device_profiler" / "litert" / "_litert_worker.py"]


def _run(worker: Path, stdin: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a bare interpreter, as the devices start it
    return subprocess.run([sys.executable, str(worker)], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env={**env, "PYTHONSAFEPATH": "1"}, timeout=120)


@pytest.mark.parametrize("worker", WORKERS, ids=lambda p: p.name)
def test_worker_announces_itself_and_answers_one_request(worker, tmp_path):
    standby = _run(worker, "", tmp_path)  # closed without work
    assert standby.returncode == 0, standby.stderr
    lines = standby.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["ready"] is True
    missing = tmp_path / "missing.model"
    p = _run(worker, json.dumps({"model": str(missing), "threads": 1, "warmup": 0, "runs": 1}) + "\n", tmp_path)
    assert p.returncode == 0, p.stderr
    ready, answer = (json.loads(x) for x in p.stdout.splitlines())
    assert ready["pid"] > 0 and set(answer) == {"error"}  # the parent judges it
