"""How a profiling campaign ends when models fail, and messages about phones, through the real
command line with the fake adb (fakes/): a phone lost near the end of a run, or with more
models left, ends with one line and exit code 2 that say how many and how to continue; the
re-run finishes the campaign. ``search`` on a phone that was never profiled says how to push the
tools (it has no --perf-test of its own)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.hostile import assert_refused

SERIAL = "R5CT21LOST"


def _cli(fa, tmp_path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "ADB": fa.adb}
    return subprocess.run([sys.executable, "-m", "mnas_pred", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


def _profile(fa, tmp_path, n: int) -> subprocess.CompletedProcess:
    return _cli(fa, tmp_path, "profile-device", "--serial", SERIAL, "--perf-test", str(fa.tools["perf_test"]),
                "--ort-lib", str(fa.tools["ort_lib"]), "-n", str(n), "--resolution", "64", "--runs", "3",
                "--warmup", "1", "--profile-runs", "1", "--repeats", "1", "--drift-every", "0", "--db", str(tmp_path / "m.db"))


def _reconnect(fa) -> None:
    fa.update(SERIAL, lose_after_shell=None)
    state = json.loads((fa.home / "devices.json").read_text())
    state["devices"], state["lost"] = [d for d in fa.devices if d["serial"] == SERIAL][:1], []
    (fa.home / "devices.json").write_text(json.dumps(state))


def test_lost_phone_exits_2_with_one_line_and_the_rerun_finishes(fake_android, tmp_path):
    fa = fake_android
    fa.add_device(SERIAL)
    first = _profile(fa, tmp_path, 2)
    assert first.returncode == 0, first.stderr
    before = fa.shell_count(SERIAL)
    assert _profile(fa, tmp_path, 2).returncode == 0  # everything stored: only the session set-up runs
    setup = fa.shell_count(SERIAL) - before

    # lost during the third model of four: the last two fail, fewer than the three in a row that stop a run
    fa.update(SERIAL, lose_after_shell=fa.shell_count(SERIAL) + setup + 1)
    p = _profile(fa, tmp_path, 4)
    line = assert_refused(p.returncode, p.stderr)
    assert re.search(r"2 of 4 models failed .*; the others are stored in .*m\.db", line), line
    assert "re-run the same command" in line
    assert "0 measured, 2 already in the store, 2 failed" in p.stdout

    # lost with more models left: three failures in a row stop the run, in one line with the counts
    _reconnect(fa)
    fa.update(SERIAL, lose_after_shell=fa.shell_count(SERIAL) + setup + 1)
    p = _profile(fa, tmp_path, 6)
    line = assert_refused(p.returncode, p.stderr)
    assert SERIAL in line and "stopped with 0 of 6 models measured in this run, 2 already stored, 3 failed, " \
                               "1 not tried" in line, line
    assert "re-run the same command: it measures only what is missing" in line

    _reconnect(fa)
    done = _profile(fa, tmp_path, 4)  # the same first four models (sampling is prefix-stable)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    assert "2 measured, 2 already in the store, 0 failed" in done.stdout


def test_search_on_a_phone_never_profiled_says_how_to_push_the_tools(fake_android, tmp_path):
    fa = fake_android
    fa.add_device(SERIAL)
    p = _cli(fa, tmp_path, "search", "--target-ms", "5", "--serial", SERIAL, "--accuracy", "analytic",
             "--out", str(tmp_path / "o"), "--db", str(tmp_path / "s.db"))
    line = assert_refused(p.returncode, p.stderr)
    assert "onnxruntime_perf_test is not in" in line
    assert f"mnas-pred profile-device --serial {SERIAL} --perf-test PATH --ort-lib PATH -n 1" in line
    assert "pass --perf-test" not in line  # search has no such option
    assert not (tmp_path / "o").exists()
