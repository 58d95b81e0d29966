"""Resume is identical to an uninterrupted run at every kill point of a controller update.

A search is killed (``os._exit(137)`` at a named phase through the test seam
``search.killpoint``: no cleanup, exactly what ``kill -9`` leaves on disk) in a forked child,
resumed with ``--resume``, and its results folder compared byte for byte with an uninterrupted
run's. The settings are the smallest that exercise everything an update does: two candidates per
update, re-validation of two candidates after every update, a refit after every re-validation
(threshold 1%), three updates; accuracy and device are the cheap analytic stand-ins (the kill
points are in the search loop, not in them).
"""

from __future__ import annotations

import json
import os

import pytest

from mnas_pred.cli import main
from search.killpoint import ENV

ARGS = ["--target-ms", "8", "--accuracy", "analytic", "--latency", "analytic", "--use-predictor", "analytic",
        "--samples", "6", "--batch-size", "2", "--revalidate-every", "1", "--revalidate-top", "2",
        "--refit-threshold", "0.01", "--export-top", "1", "--resolution", "32", "--seed", "3", "--no-references",
        "--json"]

# (phase, n): the n-th time the run reaches the phase. The kills are in update 2 (its first
# accuracy is the 3rd, its measurements the 3rd and 4th, its refit the 2nd), plus one in update 1
# (the checkpoint written before it makes even the first update resumable), plus one after the
# last update, while the results are written.
KILL_POINTS = [
    ("accuracy-stored", 1),  # update 1: one candidate trained, nothing else done
    ("accuracy-stored", 3),  # training: one candidate of update 2 trained and cached, the other not
    ("trained", 2),  # every candidate of update 2 trained, no reward yet
    ("rewarded", 2),  # rewards computed and told to the controller, not re-validated
    ("measure-before", 3),  # re-validation: before its first measurement
    ("measure-after", 3),  # after the first measurement was stored, before the second (issue 12, item 6)
    ("measure-before", 4),
    ("measure-after", 4),  # both measurements stored, no refit yet
    ("refit-before", 2),
    ("refit-after", 2),  # refitted, not checkpointed
    ("checkpointed", 2),  # checkpoint written, history.csv not yet
    ("written", 2),  # update 2 complete on disk
    ("finishing", 1),  # every update done, pareto.csv written, best/ and the plots not yet
]

COMPARED = ["history.csv", "pareto.csv", "revalidation.csv", "summary.json", "accuracy_cache.jsonl",
            "measurements.jsonl", "best/best.json", "best/rank-1.arch.txt", "best/rank-1.safetensors",
            "best/rank-1.onnx"]


def _run_killed(out, phase: str, n: int) -> int:
    """The search in a forked child that ends itself at ``phase``; returns its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.environ[ENV] = f"{phase}:{n}"
            code = main(["search", "--out", str(out), *ARGS])
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _contents(folder) -> dict[str, bytes]:
    out = {}
    for name in COMPARED:
        data = (folder / name).read_bytes()
        if name == "summary.json":  # the one field that is the run's own: its duration and folder
            d = json.loads(data)
            d.pop("elapsed_s"), d.pop("out_dir")
            data = json.dumps(d, sort_keys=True).encode()
        out[name] = data
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "out"
    assert main(["search", "--out", str(out), *ARGS]) == 0
    full = _contents(out)
    rows = (out / "revalidation.csv").read_text().splitlines()[1:]
    # the settings really exercise what the kill points are about
    assert len(rows) == 6 and all(r.endswith("True") for r in rows), "every re-validation measures two and refits"
    return full


@pytest.mark.parametrize("phase, n", KILL_POINTS, ids=[f"{p}-{n}" for p, n in KILL_POINTS])
def test_resume_after_a_kill_matches_the_uninterrupted_run(tmp_path, capsys, uninterrupted, phase, n):
    out = tmp_path / "out"
    assert _run_killed(out, phase, n) == 137, f"the run never reached {phase} #{n}"
    assert main(["search", "--out", str(out), *ARGS, "--resume"]) == 0
    capsys.readouterr()
    resumed = _contents(out)
    for name in COMPARED:
        assert resumed[name] == uninterrupted[name], f"{name} differs after a kill at {phase} #{n}"
