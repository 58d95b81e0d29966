"""The Android device driven through the *real* ``adb`` binary (platform-tools 36, shipped in the
PyPI package adbutils) connected over TCP to a fake phone daemon (fakes/fake_adbd.py), which
speaks the ADB wire protocol and runs commands with a real ``sh`` in a fake device root.

This checks AdbDevice against the real client's command-line behaviour (argument joining,
exit codes, error texts, push/pull) and an old-style phone without shell protocol v2 (``adb
shell`` always exits 0, so the remote exit status must come back in the output). The real adb
server runs on a free port with its own HOME and is stopped with ``adb kill-server``.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from device_profiler import trace
from device_profiler.adb import AdbDevice
from device_profiler.adb_transport import list_adb_devices
from mnas_pred.errors import DeviceError
from mnas_pred.records import MeasureSettings

sys.path.insert(0, str(Path(__file__).parent / "fakes"))
from fake_adbd import FakeAdbd  # noqa: E402

FAST = MeasureSettings(threads=1, warmup=1, runs=6, profile_runs=2, repeats=1)


def _real_adb() -> str | None:
    explicit = os.environ.get("MNAS_TEST_REAL_ADB")
    if explicit:
        return explicit
    spec = importlib.util.find_spec("adbutils")
    if spec and spec.origin:
        path = Path(spec.origin).parent / "binaries" / "adb"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


@pytest.fixture
def real_adb(tmp_path, monkeypatch):
    adb = _real_adb()
    if adb is None:
        pytest.skip("the real adb binary is not installed (pip install adbutils, or set MNAS_TEST_REAL_ADB)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "adb-home"
    home.mkdir()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))  # never the user's server on 5037
    monkeypatch.setenv("HOME", str(home))  # its own ~/.android/adbkey
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    monkeypatch.delenv("ADB", raising=False)
    daemons: list[FakeAdbd] = []

    def connect(fake_android, authorized=True):
        root = fake_android.add_device(f"root{len(daemons)}")
        d = FakeAdbd(root, {"ro.product.model": "Pixel 7"}, authorized=authorized)
        daemons.append(d)
        serial = f"127.0.0.1:{d.port}"
        p = subprocess.run([adb, "connect", serial], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        return serial, d, root

    yield adb, connect
    for d in daemons:
        d.stop()
    subprocess.run([adb, "kill-server"], capture_output=True, timeout=30)


def test_three_models_through_real_adb(real_adb, fake_android, onnx_models):
    adb, connect = real_adb
    serial, _daemon, root = connect(fake_android)
    assert [(d["serial"], d["state"], d["model"]) for d in list_adb_devices(adb)] == [(serial, "device", "Pixel_7")]
    fa = fake_android
    with AdbDevice(serial, adb=adb, perf_test=str(fa.tools["perf_test"]), ort_lib=str(fa.tools["ort_lib"]),
                   burst_runs=3) as dev:
        info = dev.info()
        assert info.model == "Pixel 7" and info.properties["abi"] == "arm64-v8a"
        for m in onnx_models:
            raw = dev.time_model(m.path, FAST)
            assert len(raw.samples_ms) == 2 and raw.profiled_runs == FAST.profile_runs
            assert raw.metadata["affinity_mask"] == "c0"
            layers = trace.layer_times_ms(raw.node_events, raw.profiled_runs, m.layers)
            assert set(m.layers) <= set(layers)
    taskset = (root / ".fake" / "taskset.log").read_text().splitlines()
    assert taskset and all(line.startswith("c0 ./onnxruntime_perf_test -m times -r ") for line in taskset)


def test_failing_command_detected_without_shell_v2(real_adb, fake_android, tmp_path):
    adb, connect = real_adb
    serial, _daemon, _root = connect(fake_android)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    fa = fake_android
    dev = AdbDevice(serial, adb=adb, perf_test=str(fa.tools["perf_test"]), ort_lib=str(fa.tools["ort_lib"]))
    with pytest.raises(DeviceError) as e:  # adb itself exits 0 here; the marker carries perf_test's 255
        dev.time_model(bad, FAST)
    assert "failed with exit 255" in str(e.value) and not e.value.transient


def test_unauthorized_and_not_found_through_real_adb(real_adb, fake_android, tmp_path):
    adb, connect = real_adb
    serial, _daemon, _root = connect(fake_android, authorized=False)
    with pytest.raises(DeviceError) as e:
        AdbDevice(serial, adb=adb).info()
    assert "\n" not in str(e.value) and serial in str(e.value)
    assert "accept the USB-debugging prompt on the phone" in e.value.fix
    marker = tmp_path / "pwned"
    evil = f"x;touch {marker}"
    with pytest.raises(DeviceError) as e:
        AdbDevice(evil, adb=adb).info()
    assert "not found" in str(e.value) and "run `mnas-pred devices`" in e.value.fix and not marker.exists()


def test_phone_lost_mid_run_through_real_adb(real_adb, fake_android, onnx_models):
    adb, connect = real_adb
    serial, daemon, _root = connect(fake_android)
    fa = fake_android
    dev = AdbDevice(serial, adb=adb, perf_test=str(fa.tools["perf_test"]), ort_lib=str(fa.tools["ort_lib"]))
    dev.info()
    daemon.stop()  # the phone goes away; the real adb server now reports it offline
    with pytest.raises(DeviceError) as e:
        dev.time_model(onnx_models[0].path, FAST)
    assert e.value.transient and serial in str(e.value) and "\n" not in str(e.value)
