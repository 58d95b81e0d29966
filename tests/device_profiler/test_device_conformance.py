"""The Device conformance suite (mnas_pred.testing.device) run by every device of the project:
the local CPU, a phone behind the fake adb (fakes/), a board behind a real sshd on 127.0.0.1
(skipped where OpenSSH's server is not installed)."""

from __future__ import annotations

import sys

import pytest

from device_profiler.adb import AdbDevice
from device_profiler.local import LocalDevice
from device_profiler.ssh import SshDevice
from mnas_pred.testing.device import DeviceTestCase

SERIAL = "R5CT21SUITE"


@pytest.fixture(params=["local", "adb", "ssh"])
def make_device(request, tmp_path):
    if request.param == "local":
        return LocalDevice
    if request.param == "adb":
        fa = request.getfixturevalue("fake_android")
        fa.add_device(SERIAL)
        return lambda: AdbDevice(SERIAL, adb=fa.adb, perf_test=str(fa.tools["perf_test"]),
                                 ort_lib=str(fa.tools["ort_lib"]), burst_runs=3)
    sshd = request.getfixturevalue("local_sshd")
    return lambda: SshDevice(sshd.alias, ssh_options=sshd.options, python=sys.executable,
                             remote_dir=str(tmp_path / "board"))


class TestEveryDevice(DeviceTestCase):
    pass
