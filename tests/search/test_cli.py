"""``mnas-pred search`` end to end: errors, kill -9 + --resume, --workers (real proxy training on digits)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnas_pred.cli import main
from tests.signals import default_sigint

# real training, kept cheap: 200 digits at 16x16, one epoch, analytic stand-in latency
CHEAP = ["--target-ms", "8", "--dataset", "digits", "--train-resolution", "16", "--train-limit", "200",
         "--epochs", "1", "--samples", "12", "--batch-size", "3", "--latency", "analytic",
         "--use-predictor", "analytic", "--revalidate-every", "2", "--export-top", "1", "--seed", "3"]


@pytest.mark.parametrize("args, message", [
    (["--target-ms", "0"], "--target-ms must be a positive"),
    (["--target-ms", "-3"], "--target-ms must be a positive"),
    (["--target-ms", "5", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--target-ms", "5", "--dataset", "cifar10"], "needs --data-dir"),
    (["--target-ms", "5", "--dataset", "imagefolder", "--data-dir", "{tmp}/missing"], "does not exist"),
    (["--target-ms", "5", "--use-predictor", "{tmp}/missing.pred"], "missing.pred' does not exist"),
    (["--target-ms", "5", "--strategy", "bayes"], "unknown strategy 'bayes'"),
    (["--target-ms", "5", "--serial", "X", "--ssh", "h"], "both --serial and --ssh"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]  # paths that surely do not exist
    assert main(["search", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing started


def test_a_db_that_is_not_a_measurement_database_is_refused_before_training(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n" * 100)
    start = time.perf_counter()
    assert main(["search", "--out", str(tmp_path / "o"), "--target-ms", "5", "--db", str(notes)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"'{notes}' is not a measurement database" in err and len(err.splitlines()) == 1
    assert time.perf_counter() - start < 20 and not (tmp_path / "o").exists()  # nothing trained or written
    assert notes.read_text() == "my notes\n" * 100


def test_ctrl_c_in_the_first_update_says_resume_and_keeps_the_trained_candidate(tmp_path):
    args = ["search", "--out", str(tmp_path / "o"), *CHEAP, "--samples", "2", "--batch-size", "2", "--train-limit", "300",
            "--train-resolution", "16", "--export-top", "0", "--no-references"]  # the 2nd candidate outlasts the signal
    proc = subprocess.Popen([sys.executable, "-m", "mnas_pred", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        for line in proc.stdout:  # plain progress lines: the output is a pipe
            if "update 1/1: training candidates (1/2 done)" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [f"error: interrupted; the search is checkpointed in {tmp_path / 'o'} (finished "
                                        "updates, and the candidates already trained): repeat the command with "
                                        "--resume to continue"]
    # what --resume continues from (the resumed search itself: tests/search/test_search.py)
    assert (tmp_path / "o" / "checkpoint.npz").is_file() and _count_lines(tmp_path / "o" / "accuracy_cache.jsonl") == 2


def test_unreadable_predictor_file_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.pred"
    bad.write_text("not a predictor")
    assert main(["search", "--out", str(tmp_path / "o"), "--target-ms", "5", "--use-predictor", str(bad),
                 "--revalidate-top", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def _count_lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_kill_9_then_resume_gives_the_uninterrupted_history(tmp_path):
    full = tmp_path / "full"
    assert main(["search", "--out", str(full), *CHEAP]) == 0

    cut = tmp_path / "cut"
    cmd = [sys.executable, "-m", "mnas_pred", "search", "--out", str(cut), *CHEAP]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        # kill in the middle of the second update: its first candidate is trained, not yet checkpointed
        while _count_lines(cut / "accuracy_cache.jsonl") < 1 + 4 and time.time() < deadline:
            assert proc.poll() is None, "search ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert _count_lines(cut / "history.csv") - 1 < 12
    assert main(["search", "--out", str(cut), *CHEAP, "--resume"]) == 0
    assert (cut / "history.csv").read_text() == (full / "history.csv").read_text()
    assert (cut / "pareto.csv").read_text() == (full / "pareto.csv").read_text()

    # issue 6: two worker processes give the same history as one
    par = tmp_path / "par"
    assert main(["search", "--out", str(par), *CHEAP, "--workers", "2"]) == 0
    assert (par / "history.csv").read_text() == (full / "history.csv").read_text()
