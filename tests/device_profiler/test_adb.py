"""The Android device against a fake phone: a fake ``adb`` that reproduces the real tool's
command lines, outputs, exit codes and error texts, and a fake on-device
``onnxruntime_perf_test`` that really runs the models with ONNX Runtime (see fakes/)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from device_profiler import trace
from device_profiler.adb import AdbDevice
from device_profiler.adb_binary import bundled_adb, locate_adb
from device_profiler.adb_parsing import affinity_mask, big_cores, parse_devices_l, parse_perf_test_output
from device_profiler.adb_transport import list_adb_devices
from mnas_pred.errors import DeviceError
from mnas_pred.records import MeasureSettings

SERIAL = "R5CT21ABCDE"
FAST = MeasureSettings(threads=1, warmup=2, runs=6, profile_runs=3)


def device(fa, serial=SERIAL, **kw):
    kw.setdefault("perf_test", str(fa.tools["perf_test"]))
    kw.setdefault("ort_lib", str(fa.tools["ort_lib"]))
    kw.setdefault("burst_runs", 3)
    return AdbDevice(serial, adb=fa.adb, **kw)


def one_line(err: DeviceError) -> str:
    text = str(err)
    assert "\n" not in text
    return text


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


# ----------------------------------------------------------------------------- end to end


def test_three_models_end_to_end_and_per_layer(fake_android, onnx_models):
    fa = fake_android
    fa.add_device(SERIAL)
    with device(fa) as dev:
        info = dev.info()
        assert info.key == f"adb:{SERIAL}" and info.kind == "adb" and info.model == "Pixel 7"
        assert info.properties["soc"] == "Google GS201" and info.properties["abi"] == "arm64-v8a"
        assert info.properties["sdk"] == "34" and info.properties["temperature_c"] == pytest.approx(36.5)
        assert info.properties["cpu_max_khz"]["7"] == 2850000
        assert info.properties["cpu_governor"]["0"] == "schedutil"
        for m in onnx_models:
            raw = dev.time_model(m.path, FAST)
            assert len(raw.samples_ms) == 2 and all(s > 0 for s in raw.samples_ms)
            assert raw.metadata["affinity_mask"] == "c0" and raw.metadata["cores"] == [6, 7]
            assert len(raw.metadata["bursts"]) == 2 and raw.metadata["burst_runs"] == [3, 3]
            assert raw.profiled_runs == FAST.profile_runs
            layers = trace.layer_times_ms(raw.node_events, raw.profiled_runs, m.layers)
            assert set(m.layers) <= set(layers), m.arch  # every layer (stem, block layers, head) timed
            per_layer = sum(layers.values())
            e2e = sorted(raw.samples_ms)[len(raw.samples_ms) // 2]
            assert all(v > 0 for v in layers.values())
            # Same order of magnitude only: the per-layer mean over 3 profiled runs moves several-fold
            # when one run hits a transient slowdown on a shared machine; the protocol measures the gap.
            assert 0.1 * e2e < per_layer < 20 * e2e
    calls = [json.loads(x) for x in fa.log(SERIAL, "perf_test.log")]
    # per model: warm-up burst, two timed bursts, one profiled run; all with the required flags, pinned
    assert len(calls) == 4 * len(onnx_models)
    for c in calls:
        a = c["argv"]
        assert a[:5] == ["-m", "times", "-r", a[3], "-I"] and a[5:9] == ["-x", "1", "-e", "cpu"]
        assert c["affinity"] == "c0"
    assert sum("-p" in c["argv"] for c in calls) == len(onnx_models)
    # tools pushed once per session; models and profiles removed after each model
    pushes = [json.loads(x) for x in (fa.home / "adb.log").read_text().splitlines() if '"push"' in x]
    assert sum("onnxruntime_perf_test" in p[-1] for p in pushes) == 1
    left = sorted(p.name for p in (fa.root(SERIAL) / "data/local/tmp/mnas-pred").iterdir())
    assert left == ["libonnxruntime.so", "onnxruntime_perf_test"]


def test_tools_not_pushed_again_when_unchanged(fake_android, onnx_models):
    fa = fake_android
    fa.add_device(SERIAL)
    with device(fa) as dev:
        dev.info()
    with device(fa) as dev:
        dev.info()
    pushes = [x for x in (fa.home / "adb.log").read_text().splitlines() if '"push"' in x]
    assert len(pushes) == 2  # perf_test and the library, once


def test_a_model_is_pushed_and_hashed_once_for_all_its_attempts(fake_android, onnx_models, monkeypatch):
    """--repeats 3: the protocol times each model in 3 attempts; the file goes to the phone once,
    stays there for the later attempts, and leaves when the next model comes and on close."""
    import device_profiler.adb_phone as adb_phone
    from device_profiler.protocol import measure_model

    hashed = []
    monkeypatch.setattr(adb_phone, "sha256_file", lambda p, real=adb_phone.sha256_file: hashed.append(p) or real(p))
    fa = fake_android
    fa.add_device(SERIAL)
    remote = fa.root(SERIAL) / "data/local/tmp/mnas-pred"
    settings = MeasureSettings(threads=1, warmup=1, runs=3, profile_runs=2, repeats=3)
    with device(fa) as dev:
        for m in onnx_models[:2]:
            measured = measure_model(dev, m.path, settings, m.layers)
            assert measured.attempts >= 3
            assert len(list(remote.glob("model-*.onnx"))) == 1  # this model's, kept for another attempt
            assert not list(remote.glob("prof-*.json"))  # profiles leave at once
    pushes = [json.loads(x)[-1] for x in (fa.home / "adb.log").read_text().splitlines() if '"push"' in x]
    model_pushes = [p for p in pushes if p.endswith(".onnx")]
    assert len(model_pushes) == 2 and len(set(model_pushes)) == 2  # once per model, not per attempt
    assert len(hashed) == 2
    assert sorted(p.name for p in remote.iterdir()) == ["libonnxruntime.so", "onnxruntime_perf_test"]
    calls = [json.loads(x) for x in fa.log(SERIAL, "perf_test.log")]
    assert sum("-p" in c["argv"] for c in calls) == 2  # one profile per model, later attempts end to end only


def test_a_rewritten_model_file_is_pushed_again(fake_android, onnx_models, tmp_path):
    fa = fake_android
    fa.add_device(SERIAL)
    local = tmp_path / "m.onnx"
    settings = MeasureSettings(threads=1, warmup=0, runs=3, profile_runs=0)
    with device(fa) as dev:
        for m in onnx_models[:2]:  # the same local path, another network
            local.write_bytes(m.path.read_bytes())
            dev.time_model(local, settings)
        remote = fa.root(SERIAL) / "data/local/tmp/mnas-pred"
        assert len(list(remote.glob("model-*.onnx"))) == 1
    pushes = [x for x in (fa.home / "adb.log").read_text().splitlines() if '"push"' in x and ".onnx" in x]
    assert len(pushes) == 2


@pytest.mark.parametrize("fmt", ["total", "old"])
def test_other_perf_test_output_formats(fake_android, onnx_models, fmt):
    fa = fake_android
    fa.add_device(SERIAL, perf_test_format=fmt)
    raw = device(fa).time_model(onnx_models[0].path, MeasureSettings(warmup=0, runs=3, profile_runs=0))
    assert len(raw.samples_ms) == 1 and raw.samples_ms[0] > 0
    assert raw.metadata["bursts"][0]["p50_ms"] > 0 and raw.node_events == []


def test_adb_found_from_env_then_path(fake_android, monkeypatch):
    fa = fake_android
    fa.add_device(SERIAL)
    monkeypatch.setenv("ADB", fa.adb)
    assert AdbDevice(SERIAL).adb == fa.adb
    monkeypatch.delenv("ADB")
    monkeypatch.setenv("PATH", f"{fa.tools['bin']}:/usr/bin:/bin")
    assert AdbDevice(SERIAL).adb == fa.adb
    assert [d["serial"] for d in list_adb_devices()] == [SERIAL]
    monkeypatch.setenv("PATH", "/nonexistent")
    bundled = bundled_adb()  # the Makefile installs adbutils, whose package ships an adb binary
    if bundled is not None:
        assert locate_adb() == (bundled, "the adbutils package") and AdbDevice(SERIAL).adb == bundled
    monkeypatch.setattr("device_profiler.adb_binary.bundled_adb", lambda: None)
    with pytest.raises(DeviceError, match="adb not found on PATH.*--adb PATH"):
        AdbDevice(SERIAL)


def test_devices_without_phones_says_so_and_where_adb_is(fake_android, tmp_path):
    p = subprocess.run([sys.executable, "-m", "mnas_pred", "devices", "--adb", fake_android.adb],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "no phones attached" in p.stdout and "USB debugging" in p.stdout
    assert f"adb: {fake_android.adb} (found via --adb)" in p.stdout
    from device_profiler import list_devices

    adb_rows = [r for r in list_devices(adb=fake_android.adb) if r["kind"] == "adb"]
    assert [(r["id"], r["state"], r["adb_found_via"]) for r in adb_rows] == [("", "no phones attached", "--adb")]


def test_list_adb_devices(fake_android):
    fa = fake_android
    fa.add_device(SERIAL)
    fa.add_device("ZY22ABC", state="unauthorized")
    fa.add_device("ZY33DEF", state="offline")
    devs = list_adb_devices(fa.adb)
    assert [(d["serial"], d["state"], d["usable"]) for d in devs] == [
        (SERIAL, "device", True), ("ZY22ABC", "unauthorized", False), ("ZY33DEF", "offline", False)]
    assert devs[0]["model"] == "Pixel_7"


# ----------------------------------------------------------------------------- error states


@pytest.mark.parametrize("state, problem, fix", [
    ("unauthorized", "is unauthorized", "accept the USB-debugging prompt on the phone"),
    ("offline", "is offline", "reconnect the USB cable"),
    ("no permissions", "no permissions", "udev rule"),
])
def test_error_states_one_line_with_serial_and_fix(fake_android, state, problem, fix):
    fa = fake_android
    fa.add_device(SERIAL, state=state)
    with pytest.raises(DeviceError) as e:
        device(fa).info()
    msg = one_line(e.value)
    assert SERIAL in msg and problem in msg and fix in e.value.fix and not e.value.transient


def test_not_found_names_serial_and_devices_command(fake_android):
    fa = fake_android
    fa.add_device(SERIAL)
    with pytest.raises(DeviceError) as e:
        device(fa, serial="NOPE123").info()
    msg = one_line(e.value)
    assert "NOPE123 not found" in msg and "run `mnas-pred devices`" in msg


def test_wrong_serial_next_to_unauthorized_phone_is_not_found(fake_android):
    """adb answers "device unauthorized" for any unmatched serial while an unauthorized phone is
    connected (real adb 1.0.41 does; the fake reproduces it): the device checks the list."""
    fa = fake_android
    fa.add_device("ZY22ABC", state="unauthorized")
    p = subprocess.run([fa.adb, "-s", "NOPE123", "shell", "true"], capture_output=True, text=True)
    assert p.returncode == 1 and "\nadb: device unauthorized.\n" in p.stderr
    with pytest.raises(DeviceError) as e:
        device(fa, serial="NOPE123").info()
    assert "NOPE123 not found" in one_line(e.value) and "mnas-pred devices" in e.value.fix


def test_more_than_one_device_without_serial(fake_android):
    fa = fake_android
    fa.add_device(SERIAL)
    fa.add_device("emulator-5554", usb=None)
    p = subprocess.run([fa.adb, "shell", "true"], capture_output=True, text=True)
    from device_profiler.adb_errors import classify_adb_error

    err = classify_adb_error("(none)", p.returncode, p.stderr)
    assert "more than one adb device" in one_line(err) and "--serial" in err.fix


def test_missing_perf_test_and_library(fake_android, onnx_models):
    fa = fake_android
    fa.add_device(SERIAL)
    with pytest.raises(DeviceError, match="onnxruntime_perf_test is not in .*--perf-test PATH"):
        AdbDevice(SERIAL, adb=fa.adb).info()
    dev = AdbDevice(SERIAL, adb=fa.adb, perf_test=str(fa.tools["perf_test"]))  # no library pushed
    with pytest.raises(DeviceError) as e:
        dev.time_model(onnx_models[0].path, FAST)
    assert "cannot load libonnxruntime.so" in one_line(e.value) and "--ort-lib" in e.value.fix
    with pytest.raises(DeviceError, match="--perf-test .* does not exist"):
        AdbDevice(SERIAL, adb=fa.adb, perf_test="/nonexistent/onnxruntime_perf_test")


def test_broken_model_is_perf_test_failure_not_lost_device(fake_android, tmp_path):
    fa = fake_android
    fa.add_device(SERIAL)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(DeviceError) as e:
        device(fa).time_model(bad, FAST)
    assert "onnxruntime_perf_test failed with exit 255" in one_line(e.value) and not e.value.transient


def test_device_lost_mid_run_is_transient(fake_android, onnx_models):
    fa = fake_android
    fa.add_device(SERIAL)
    dev = device(fa)
    dev.info()
    fa.update(SERIAL, lose_after_shell=fa.shell_count(SERIAL) + 3)  # drops during the first model
    with pytest.raises(DeviceError) as e:
        dev.time_model(onnx_models[0].path, FAST)
    assert e.value.transient and SERIAL in one_line(e.value) and "re-run" in e.value.fix
    with pytest.raises(DeviceError) as e:  # afterwards the phone is gone: still transient for this session
        dev.time_model(onnx_models[0].path, FAST)
    assert e.value.transient and "was lost during the run" in str(e.value)
    with pytest.raises(DeviceError) as e:  # a new session: plain "not found" with the fix
        device(fa).info()
    assert not e.value.transient and "run `mnas-pred devices`" in str(e.value)


def test_hot_device_waits_to_cool(fake_android, onnx_models, caplog):
    fa = fake_android
    fa.add_device(SERIAL, temp_c=52.0)
    dev = device(fa, cool_down_c=45.0, cool_down_poll_s=0.2, cool_down_timeout_s=30)
    dev.info()  # session set up first, so the phone is still hot when the model's turn comes
    timer = threading.Timer(1.5, fa.set_temperature, args=(SERIAL, 40.0))
    timer.start()
    t0 = time.monotonic()
    with caplog.at_level("WARNING"):
        raw = dev.time_model(onnx_models[0].path, MeasureSettings(warmup=0, runs=3, profile_runs=0))
    timer.join()
    assert time.monotonic() - t0 >= 1.5
    assert raw.metadata["temperature_c_before_wait"] == pytest.approx(52.0)
    assert raw.metadata["temperature_c"] == pytest.approx(40.0) and not raw.metadata["too_hot"]
    assert any("waiting up to" in r.getMessage() for r in caplog.records)


def test_hot_device_wait_is_bounded(fake_android, onnx_models):
    fa = fake_android
    fa.add_device(SERIAL, temp_c=60.0)
    dev = device(fa, cool_down_c=45.0, cool_down_poll_s=0.1, cool_down_timeout_s=0.3)
    raw = dev.time_model(onnx_models[0].path, MeasureSettings(warmup=0, runs=3, profile_runs=0))
    assert raw.metadata["too_hot"] and raw.metadata["cool_down_wait_s"] < 5


# ----------------------------------------------------------------------------- shell injection


INJECT = [
    "x;touch {m}",
    "$(touch {m})",
    "`touch {m}`",
    "a b' ; touch {m}; echo '",
]


@pytest.mark.parametrize("template", INJECT)
def test_serial_with_metacharacters_is_never_executed(fake_android, tmp_path, template):
    fa = fake_android
    fa.add_device(SERIAL)
    marker = tmp_path / "pwned"
    with pytest.raises(DeviceError) as e:
        device(fa, serial=template.format(m=marker)).info()
    assert "not found" in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize("template", INJECT)
def test_paths_with_metacharacters_are_never_executed(fake_android, onnx_models, tmp_path, template):
    fa = fake_android
    fa.add_device(SERIAL)
    marker = tmp_path / "pwned"
    evil = template.format(m=marker)
    local = tmp_path / evil.replace("/", "_") / f"{evil.replace('/', '_')}.onnx"
    local.parent.mkdir(parents=True)
    local.write_bytes(onnx_models[0].path.read_bytes())
    remote_dir = "/data/local/tmp/" + evil.replace("/", "_")
    dev = device(fa, remote_dir=remote_dir)
    raw = dev.time_model(local, MeasureSettings(warmup=0, runs=3, profile_runs=2))
    assert raw.samples_ms and raw.node_events
    assert not marker.exists()
    assert (fa.root(SERIAL) / remote_dir.lstrip("/") / "onnxruntime_perf_test").is_file()  # the literal name


def test_ssh_style_option_injection_in_serial_rejected(fake_android, tmp_path):
    fa = fake_android
    with pytest.raises(DeviceError, match="not valid"):
        device(fa, serial="-H evil")
    with pytest.raises(DeviceError, match="not valid"):
        device(fa, serial="ok\ntouch x")


# ----------------------------------------------------------------------------- through the protocol, store and CLI


def test_profile_loop_stops_on_lost_phone_and_resumes(fake_android, tmp_path):
    """The whole measure-and-store loop on the fake phone: the phone disappears after two
    models, the loop stops with the committed models intact, and a re-run after reconnecting
    measures only the rest (no duplicates)."""
    from device_profiler.campaign import profile
    from mnas_pred.space import SearchSpace
    from mnas_pred.store import MeasurementStore

    fa = fake_android
    fa.add_device(SERIAL)
    archs = SearchSpace.default().sample(4, seed=3)
    settings = MeasureSettings(threads=1, warmup=0, runs=3, profile_runs=1)
    db = tmp_path / "m.db"

    def lose_after_two(event):
        if event.status == "measured" and event.done == 2:
            fa.update(SERIAL, lose_after_shell=fa.shell_count(SERIAL) + 2)

    with MeasurementStore(db) as store, device(fa) as dev:
        with pytest.raises(DeviceError) as e:
            profile(dev, archs, store, settings, resolution=64, progress=lose_after_two, max_consecutive_failures=2)
        assert e.value.transient and SERIAL in str(e.value)
        assert store.count(f"adb:{SERIAL}") == 2
    fa.update(SERIAL, lose_after_shell=None)  # the phone is back: the lost entry returns
    state = json.loads((fa.home / "devices.json").read_text())
    state["devices"], state["lost"] = [d for d in fa.devices if d["serial"] == SERIAL][:1], []
    (fa.home / "devices.json").write_text(json.dumps(state))
    with MeasurementStore(db) as store, device(fa) as dev:
        report = profile(dev, archs, store, settings, resolution=64)
        assert (report.skipped, report.measured, report.failed) == (2, 2, [])
        records = store.records(f"adb:{SERIAL}")
    assert len(records) == 4 and len({r["arch"] for r in records}) == 4
    assert all(r["layers"] and r["latency_ms"] > 0 for r in records)


def test_cli_profile_device_and_devices_with_fake_phone(fake_android, tmp_path):
    import os
    import sys

    fa = fake_android
    fa.add_device(SERIAL)
    fa.add_device("ZY22ABC", state="unauthorized")
    cli = [sys.executable, "-m", "mnas_pred"]
    env = dict(os.environ)
    p = subprocess.run([*cli, "devices", "--adb", fa.adb, "--json"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert f'"{SERIAL}"' in p.stdout and "unauthorized" in p.stdout
    args = [*cli, "profile-device", "--adb", fa.adb, "--perf-test", str(fa.tools["perf_test"]),
            "--ort-lib", str(fa.tools["ort_lib"]), "-n", "2", "--resolution", "64", "--runs", "3",
            "--warmup", "1", "--profile-runs", "2", "--db", str(tmp_path / "cli.db"), "--json"]
    p = subprocess.run([*args, "--serial", SERIAL], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["device"] == f"adb:{SERIAL}" and out["measured"] == 2 and out["layer_sum_ratio"]["n"] == 2
    for serial, fragment in (("ZY22ABC", "accept the USB-debugging prompt on the phone"),
                             ("NOPE999", "run `mnas-pred devices`")):
        p = subprocess.run([*args, "--serial", serial], capture_output=True, text=True, env=env, timeout=120)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1, p.stderr
        assert serial in lines[0] and fragment in lines[0]
