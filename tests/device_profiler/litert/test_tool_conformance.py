"""The Device conformance suite (mnas_pred.testing.device) run by the LiteRT ``benchmark_model``
devices: a phone behind the fake adb and a board behind a real sshd on 127.0.0.1, both timing a
``.tflite`` from the session's conversions (nothing is converted here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnas_pred.testing.device import DeviceTestCase

pytest.importorskip("ai_edge_litert")

SERIAL = "R5CT21LITERT"


@pytest.fixture(params=["adb", "ssh"])
def make_device(request, fake_tools, tmp_path):
    from device_profiler.litert.adb import LiteRtAdbDevice
    from device_profiler.litert.ssh import LiteRtSshDevice

    tool = str(fake_tools["benchmark_model"])
    if request.param == "adb":
        fa = request.getfixturevalue("fake_android")
        fa.add_device(SERIAL)
        return lambda: LiteRtAdbDevice(SERIAL, adb=fa.adb, benchmark_model=tool, burst_runs=3)
    sshd = request.getfixturevalue("local_sshd")
    return lambda: LiteRtSshDevice(sshd.alias, benchmark_model=tool, ssh_options=sshd.options,
                                   remote_dir=str(tmp_path / "board"))


class TestEveryLiteRtDevice(DeviceTestCase):
    @pytest.fixture(scope="class")
    @classmethod
    def model_file(cls, litert_models) -> Path:
        return Path(litert_models.files[litert_models.archs[0]].path)
