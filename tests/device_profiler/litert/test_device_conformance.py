"""The Device conformance suite (mnas_pred.testing.device) run by the local LiteRT device, on a
network of the session's conversions (the suite's own architecture would cost one more conversion)."""

from __future__ import annotations

import pytest

from mnas_pred.testing.device import DeviceTestCase


@pytest.fixture
def make_device():
    pytest.importorskip("ai_edge_litert", reason="needs the [litert] extra: pip install 'mnas-pred[litert]'")
    from device_profiler.litert.local import LocalLiteRtDevice

    return LocalLiteRtDevice


class TestLocalLiteRt(DeviceTestCase):
    @pytest.fixture(scope="class")
    @classmethod
    def model_file(cls, litert_models):
        return litert_models.files[litert_models.archs[0]].path
