"""``search --ray-address``: candidate evaluation as Ray tasks on a real local Ray cluster
(started here with ``ray.init(num_cpus=2)``, reached by the CLI in another process as a user's
search would reach a cluster), with a worker process killed in the middle of a candidate: the
search runs in a process whose Ray task body is wrapped (:data:`KILL_ONCE`) so that the first
task kills its own worker process, as an OOM kill or a lost node would. Nothing in the shipped
code knows about it.

The cluster tests skip when Ray is not installed (``pip install -e '.[ray]'``); the error a user
without Ray gets is tested either way."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mnas_pred.cli import main
from mnas_pred.testing.evaluator import EvaluatorTestCase
from search.accuracy import AnalyticAccuracy
from search.evaluator import AccuracySpec

# real proxy training, kept cheap (as test_cli.py): 200 digits at 16x16, one epoch
CHEAP = ["--target-ms", "8", "--dataset", "digits", "--train-resolution", "16", "--train-limit", "200",
         "--epochs", "1", "--samples", "6", "--batch-size", "3", "--latency", "analytic",
         "--use-predictor", "analytic", "--revalidate-every", "2", "--export-top", "1", "--seed", "3",
         "--no-references"]  # references train on the driver, not on Ray: test_references.py covers them

# `python -c KILL_ONCE MARKER ARGS...`: the search CLI with the Ray task body replaced by one that,
# in the first task to run, writes its candidate to MARKER and kills its own worker process
# (functions of __main__ travel to the workers by value, so they need nothing importable).
KILL_ONCE = """
import os, sys
import search.ray_evaluator as ray_evaluator

marker, evaluate = sys.argv[1], ray_evaluator.evaluate_candidate

def kill_worker_once(spec, arch):
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # exactly one task wins
    except FileExistsError:
        return evaluate(spec, arch)
    os.write(fd, arch.encode())
    os.close(fd)
    os._exit(1)  # the worker process dies mid-candidate, without returning anything

ray_evaluator.evaluate_candidate = kill_worker_once
from mnas_pred.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _ray():
    try:
        import ray
    except ImportError:
        pytest.skip("Ray is not installed (pip install -e '.[ray]'): the --ray-address backend is not tested")
    return ray


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster owned by this test process (ray.shutdown() ends exactly the processes
    it started)."""
    ray = _ray()
    if ray.is_initialized():
        pytest.skip("this test process is already connected to a Ray cluster")
    temp_dir = tempfile.mkdtemp(prefix="mnasray-", dir="/tmp")  # short: Ray puts unix sockets in it
    marker = Path(temp_dir) / "killed-candidate.txt"
    ctx = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                   logging_level="warning", log_to_driver=False, _temp_dir=temp_dir)
    try:
        yield ctx.address_info["gcs_address"], marker
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _history(out: Path) -> list[dict]:
    with open(out / "history.csv") as f:
        return list(csv.DictReader(f))


def test_search_on_a_ray_cluster_survives_a_killed_worker(ray_cluster, tmp_path):
    address, marker = ray_cluster
    serial = tmp_path / "serial"
    assert main(["search", "--out", str(serial), *CHEAP, "--json"]) == 0

    on_ray = tmp_path / "ray"
    p = subprocess.run([sys.executable, "-c", KILL_ONCE, str(marker), "search", "--out", str(on_ray), *CHEAP, "--json",
                        "--ray-address", address, "--cpus-per-trial", "1"],
                       capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, p.stderr
    # a worker process died in the middle of this candidate ...
    killed = marker.read_text()
    # ... and Ray ran it again: every candidate once, in sample order, with the serial run's values
    rows = _history(on_ray)
    assert [int(r["step"]) for r in rows] == list(range(6))
    assert killed in {r["arch"] for r in rows}
    assert (on_ray / "history.csv").read_text() == (serial / "history.csv").read_text()
    cached = [json.loads(line)["arch"] for line in (on_ray / "accuracy_cache.jsonl").read_text().splitlines()[1:]]
    assert len(cached) == len(set(cached)) == len({r["arch"] for r in rows})  # trained once each, none twice
    # outputs identical in form to a local run
    assert sorted(x.name for x in on_ray.iterdir()) == sorted(x.name for x in serial.iterdir())
    assert json.loads(p.stdout)["samples"] == 6


class TestRayEvaluator(EvaluatorTestCase):
    """The evaluator suite (mnas_pred.testing.evaluator) on the test cluster: this process is
    connected to it already, so each evaluator only submits tasks."""

    @pytest.fixture
    def expected_accuracy(self):
        return AnalyticAccuracy(seed=0).accuracy

    @pytest.fixture
    def make_evaluator(self, ray_cluster):
        from search.ray_evaluator import RayEvaluator

        return lambda: RayEvaluator(AccuracySpec("analytic"), ray_cluster[0])


def test_resources_no_node_has_are_refused_in_one_line(ray_cluster, tmp_path, capsys):
    assert main(["search", "--out", str(tmp_path / "o"), *CHEAP, "--ray-address", "auto",
                 "--gpus-per-trial", "1"]) == 2  # this process is already connected: the address is not used
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "0 GPUs" in err and "--gpus-per-trial" in err


@pytest.mark.parametrize("args, message", [
    (["--ray-address", "auto", "--workers", "2"], "both --workers and --ray-address"),
    (["--cpus-per-trial", "2"], "add --ray-address"),
])
def test_conflicting_scale_out_options_are_one_line(tmp_path, capsys, args, message):
    assert main(["search", "--out", str(tmp_path / "o"), *CHEAP, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_unreachable_cluster_is_one_line_at_once(tmp_path):
    _ray()
    import socket

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # another process: this one may be connected to the test cluster already
    p = subprocess.run([sys.executable, "-m", "mnas_pred", "search", "--out", str(tmp_path / "o"), *CHEAP,
                        "--ray-address", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=120)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "no Ray cluster answers" in lines[0] and "ray start --head" in lines[0]


def test_missing_ray_is_one_line_naming_the_extra(tmp_path):
    hidden = tmp_path / "no-ray"  # a `ray` package that fails to import, first on the path
    (hidden / "ray").mkdir(parents=True)
    (hidden / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hidden), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-m", "mnas_pred", "search", "--out", str(tmp_path / "o"), *CHEAP,
                        "--ray-address", "auto"], capture_output=True, text=True, env=env, timeout=120)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "needs Ray" in lines[0] and "pip install 'mnas-pred[ray]'" in lines[0]
    assert not (tmp_path / "o").exists()
