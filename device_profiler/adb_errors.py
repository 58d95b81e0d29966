"""What a failed adb call means: one-line :class:`~mnas_pred.errors.DeviceError` s with the fix,
transient where the phone worked earlier in the session (the campaign may retry or stop)."""

from __future__ import annotations

import shlex

from device_profiler._shell import first_line
from mnas_pred.errors import DeviceError

DEVICES_FIX = "run `mnas-pred devices` to list connected phones and pass one with --serial"


def strip_daemon_notes(stderr: str) -> str:
    """Drop the ``* daemon not running; starting now`` lines adb prints when it starts its server."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith("* daemon"))


def state_error(serial: str, state: str, *, lost: bool = False) -> DeviceError:
    who = f"adb device {serial}"
    if state == "unauthorized":
        return DeviceError(f"{who} is unauthorized", "accept the USB-debugging prompt on the phone, then re-run")
    if state == "offline":
        return DeviceError(
            f"{who} is offline", "reconnect the USB cable (or run `adb reconnect`), then re-run", transient=lost
        )
    if state == "no permissions":
        return DeviceError(
            f"{who}: no permissions to open the USB device",
            "add a udev rule for the phone (https://developer.android.com/studio/run/device) and re-plug it",
        )
    if state == "not found":
        if lost:
            return DeviceError(
                f"{who} was lost during the run", "reconnect it and re-run; finished models are kept", transient=True
            )
        return DeviceError(f"{who} not found", DEVICES_FIX)
    return DeviceError(f"{who} is in state '{state}'", f"wait until `adb devices` shows it as 'device'; {DEVICES_FIX}")


def classify_adb_error(serial: str, rc: int, stderr: str, stdout: str = "", *, lost: bool = False) -> DeviceError:
    """One-line :class:`DeviceError` for a failed ``adb`` call. ``lost``: the device worked
    earlier in this session, so its disappearance is transient (the loop may stop or retry)."""
    text = f"{stderr}\n{stdout}"
    low = text.lower()
    if "unauthorized" in low:
        return state_error(serial, "unauthorized", lost=lost)
    if "more than one device" in low or "more than one emulator" in low:
        return DeviceError("more than one adb device/emulator is connected", f"pass --serial SERIAL; {DEVICES_FIX}")
    if "no permissions" in low or "insufficient permissions" in low:
        return state_error(serial, "no permissions", lost=lost)
    if "device offline" in low or "device still connecting" in low:
        return state_error(serial, "offline", lost=lost)
    if "not found" in low and "device" in low or "no devices/emulators found" in low:
        return state_error(serial, "not found", lost=lost)
    if rc == 255 or "closed" in low or "connection reset" in low:
        return DeviceError(
            f"adb device {serial}: connection lost ({first_line(text) or f'exit {rc}'})",
            "reconnect the phone and re-run; finished models are kept", transient=True,
        )
    return DeviceError(f"adb device {serial}: {first_line(text) or f'adb exited {rc}'}",
                       f"check the phone with `adb -s {shlex.quote(serial)} shell true`", transient=lost)
