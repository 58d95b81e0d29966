"""The plain records: a device named as a value (DeviceSpec) and its text form."""

import pytest

from mnas_pred.errors import DeviceError, MnasPredError
from mnas_pred.records import DeviceSpec


def test_spec_text_round_trip():
    for text in ("local", "adb:R58M1234", "ssh:pi@10.0.0.7"):
        assert str(DeviceSpec.parse(text)) == text
    spec = DeviceSpec.parse("adb:R58M1234", adb="/opt/adb")
    assert spec.kind == "adb" and spec.address == "R58M1234" and spec.adb == "/opt/adb"


def test_spec_from_flags():
    assert DeviceSpec.select() == DeviceSpec()
    assert DeviceSpec.select(ssh="pi@h") == DeviceSpec("ssh", "pi@h")
    with pytest.raises(DeviceError, match="both --serial and --ssh"):
        DeviceSpec.select("X", "h")


@pytest.mark.parametrize("text", ["adb:", "phone:X", "ssh", ""])
def test_bad_device_names_are_refused_with_a_fix(text):
    with pytest.raises(MnasPredError, match="is not one of local, adb:SERIAL, ssh:HOST"):
        DeviceSpec.parse(text)


def test_bad_fields_are_refused():
    with pytest.raises(MnasPredError, match="unknown runtime"):
        DeviceSpec(runtime="tvm")
    with pytest.raises(MnasPredError, match="needs an address"):
        DeviceSpec("adb")
