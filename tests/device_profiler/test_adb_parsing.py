"""The texts of the real Android tools: the parsers of ``onnxruntime_perf_test`` and ``adb
devices -l`` output, the choice of big cores, and the fakes (tests/device_profiler/fakes/) checked
against the real tools' command lines and outputs."""

from __future__ import annotations

import subprocess

import pytest

from device_profiler import trace
from device_profiler.adb_parsing import affinity_mask, big_cores, parse_devices_l, parse_perf_test_output
from tests.device_profiler.test_adb import SERIAL

# ----------------------------------------------------------------------------- parsers


def test_parse_perf_test_output_formats():
    current = "Setting intra_op_num_threads to 1\nSession creation time cost: 0.0102016 s\n" \
              "Average inference time cost: 1.85739 ms\nMin Latency: 0.00183404 s\nP50 Latency: 0.00185674 s\n" \
              "P90 Latency: 0.00187215 s\n"
    f = parse_perf_test_output(current)
    assert f["avg_ms"] == pytest.approx(1.85739) and f["p50_ms"] == pytest.approx(1.85674)
    assert f["p90_ms"] == pytest.approx(1.87215) and f["min_ms"] == pytest.approx(1.83404)
    total = "Average inference time cost total: 98.961997 ms\nP50 Latency: 0.0995086 s\n"
    assert parse_perf_test_output(total)["avg_ms"] == pytest.approx(98.961997)
    old = "Average inference time cost: 58.8 ms\nP50 Latency is 0.0587sec\nP99 Latency is 0.061sec\n"
    f = parse_perf_test_output(old)
    assert f["p50_ms"] == pytest.approx(58.7) and f["p99_ms"] == pytest.approx(61.0)


def test_parse_devices_l_states():
    text = (
        "List of devices attached\n"
        "emulator-5554          device product:sdk_gphone64 model:sdk_gphone64_x86_64 device:emu64xa transport_id:1\n"
        "R5CT21ABCDE            unauthorized usb:1-1 transport_id:2\n"
        "0A1B2C                 no permissions (missing udev rules? user is in the plugdev group); "
        "see [http://developer.android.com/tools/device.html] usb:1-2 transport_id:3\n\n"
    )
    devs = parse_devices_l(text)
    assert [d["state"] for d in devs] == ["device", "unauthorized", "no permissions"]
    assert devs[0]["model"] == "sdk_gphone64_x86_64" and devs[0]["usable"]
    assert "USB-debugging prompt" in devs[1]["fix"] and devs[2]["usb"] == "1-2"


def test_big_cores_and_mask():
    cpus = {i: {"max_khz": f, "cur_khz": f, "governor": "schedutil"}
            for i, f in enumerate((1803000,) * 4 + (2348000,) * 2 + (2850000,) * 2)}
    assert big_cores(cpus, 1) == [6, 7] and affinity_mask([6, 7]) == "c0"
    assert big_cores(cpus, 3) == [4, 5, 6, 7] and affinity_mask([4, 5, 6, 7]) == "f0"
    assert big_cores({0: {"max_khz": None}, 1: {"max_khz": None}}, 1) == [0, 1]


# ----------------------------------------------------------------------------- the fake adb itself


def test_fake_adb_reproduces_real_cli(fake_android):
    fa = fake_android
    fa.add_device(SERIAL)
    fa.add_device("emulator-5554", usb=None, model="sdk_gphone64_x86_64")
    p = subprocess.run([fa.adb, "devices", "-l"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("List of devices attached\n")
    assert "* daemon not running; starting now at tcp:5037" in p.stderr
    assert p.stdout.splitlines()[1].startswith(f"{SERIAL:<22} device usb:1-1 product:panther model:Pixel_7")
    # no -s with two phones
    p = subprocess.run([fa.adb, "shell", "true"], capture_output=True, text=True)
    assert (p.returncode, p.stderr.strip()) == (1, "adb: more than one device/emulator")
    # shell joins its arguments with spaces, unquoted, and returns the remote exit status
    p = subprocess.run([fa.adb, "-s", SERIAL, "shell", "echo", "a  b;", "exit", "3"], capture_output=True, text=True)
    assert (p.returncode, p.stdout) == (3, "a b\n")
    # push/pull report on stderr; errors exit 1 with the real texts
    p = subprocess.run([fa.adb, "-s", SERIAL, "pull", "/data/local/tmp/nothing", "/tmp/x"], capture_output=True, text=True)
    assert (p.returncode, p.stderr.strip()) == (1, "adb: error: remote object '/data/local/tmp/nothing' does not exist")
    p = subprocess.run([fa.adb, "-s", SERIAL, "push", str(fa.tools["ort_lib"]), "/data/local/tmp/d/x.so"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "1 file pushed, 0 skipped." in p.stderr
    assert (fa.root(SERIAL) / "data/local/tmp/d/x.so").is_file()
    p = subprocess.run([fa.adb, "-s", SERIAL, "push", str(fa.tools["ort_lib"]), "/system/x.so"], capture_output=True, text=True)
    assert p.returncode == 1 and "Read-only file system" in p.stderr
    p = subprocess.run([fa.adb, "-s", "nope", "shell", "true"], capture_output=True, text=True)
    assert (p.returncode, p.stderr.strip()) == (1, "adb: device 'nope' not found")


# The stdout of a real onnxruntime_perf_test 1.2x run (`-e cpu -r 100 -m times -s -Z -I`), as
# published in a vendor's guide: the fake must print the same lines in the same order.
REAL_PERF_TEST_STDOUT = """Setting intra_op_num_threads to 1
Session creation time cost: 0.0102016 s
First inference time cost: 2 ms
Total inference time cost: 0.185739 s
Total inference requests: 100
Average inference time cost: 1.85739 ms
Total inference run time: 0.18581 s
Number of inferences per second: 538.184
Avg CPU usage: 96 %
Peak working set size: 36696064 bytes
Avg CPU usage:96
Peak working set size:36696064
Runs:100
Min Latency: 0.00183404 s
Max Latency: 0.00190312 s
P50 Latency: 0.00185674 s
P90 Latency: 0.00187215 s
P95 Latency: 0.00187393 s
P99 Latency: 0.00190312 s
P999 Latency: 0.00190312 s
"""


def _labels(text):
    import re

    return [re.split(r"[:0-9]", line, maxsplit=1)[0].strip() for line in text.strip().splitlines()]


def test_fake_perf_test_prints_the_real_format(fake_tools, onnx_models, tmp_path):
    import os

    (tmp_path / ".fake").mkdir()
    (tmp_path / "libonnxruntime.so").write_bytes(b"x")
    env = {**os.environ, "LD_LIBRARY_PATH": str(tmp_path), "FAKE_DEVICE_ROOT": str(tmp_path)}
    argv = [str(fake_tools["perf_test"]), "-m", "times", "-r", "5", "-I", "-x", "1", "-e", "cpu",
            "-p", "prof", str(onnx_models[0].path)]
    p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert _labels(p.stdout) == _labels(REAL_PERF_TEST_STDOUT)
    f = parse_perf_test_output(p.stdout)
    assert f["requests"] == 5 and f["min_ms"] <= f["p50_ms"] <= f["max_ms"]
    profiles = list(tmp_path.glob("prof_*.json"))  # ORT's own naming: PREFIX_<date>_<time>.json
    assert len(profiles) == 1
    events, kept = trace.node_events(trace.load_trace(profiles[0]))
    assert kept == 5 and events  # perf_test's warm-up run is in the profile and dropped
    # misuse fails like the real tool: exit 255 (duration mode / no -I) or the loader error
    assert subprocess.run([*argv[:1], "-r", "5", "-I", str(onnx_models[0].path)], env=env,
                          capture_output=True).returncode == 255
    assert subprocess.run([*argv[:1], "-m", "times", "-r", "5", str(onnx_models[0].path)], env=env,
                          capture_output=True).returncode == 255
    p = subprocess.run(argv, capture_output=True, text=True, env={**env, "LD_LIBRARY_PATH": ""}, cwd=tmp_path)
    assert p.returncode == 1 and 'library "libonnxruntime.so" not found' in p.stderr
