"""Reaching a phone through ``adb`` (the fake one of tests/device_profiler/fakes/): finding the
binary, listing phones, every failure as one line with its fix, a phone lost mid-run, and shell
metacharacters in serials and paths that are never executed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from device_profiler.adb import AdbDevice
from device_profiler.adb_binary import bundled_adb, locate_adb
from device_profiler.adb_transport import list_adb_devices
from mnas_pred.errors import DeviceError
from mnas_pred.records import MeasureSettings
from tests.device_profiler.test_adb import FAST, SERIAL, device, one_line


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
