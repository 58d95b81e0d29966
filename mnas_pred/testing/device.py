"""The contract every device of the profiler honours (``device_profiler._base.Device``), as a
pytest suite a plug-in author can run against a new device.

Written like Optuna's ``optuna/testing/pytest_storages.py``: subclass :class:`DeviceTestCase`
in a test module and define the fixture it asks for, ``make_device``: a function that opens a
new device (each test closes the devices it opened)::

    import pytest
    from mnas_pred.testing.device import DeviceTestCase
    from my_plugin import MyBoard

    @pytest.fixture
    def make_device():
        return lambda: MyBoard("192.0.2.7")

    class TestMyBoard(DeviceTestCase):
        pass

A device whose ``model_format`` is not ``"onnx"`` also overrides the ``model_file`` fixture
(a small model of the suite's architecture in its format). The project's own tests run the
suite for the local CPU, a phone behind a fake ``adb`` and a board behind a real sshd on
127.0.0.1. This module imports only the core and pytest.

What a *sample* is: ``RawTiming.samples_ms`` holds one end-to-end time per run when
``runs_per_sample`` is 1, or one per burst of ``runs_per_sample`` runs (its median) for a runner
that prints only aggregates; either way the samples cover ``settings.runs`` runs, no more.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mnas_pred.errors import DeviceError, MnasPredError
from mnas_pred.records import ACCELERATORS, DeviceInfo, MeasureSettings, RawTiming

#: A small network (one block per stage at 32x32, ten classes): milliseconds a run on any CPU.
ARCH = "mnasnet-b1"
RESOLUTION = 32
NUM_CLASSES = 10
#: Few runs, one profiled set of two runs: the contract, not the numbers.
SETTINGS = MeasureSettings(threads=1, warmup=1, runs=6, profile_runs=2, repeats=1)
RUNTIMES = ("onnxruntime", "litert")


class DeviceTestCase:
    """Tests of one device implementation; needs the fixture ``make_device`` (a function
    returning a new, open device)."""

    # Class-scoped fixtures are class methods (pytest >= 9.1): every test gets a new instance.
    @pytest.fixture(scope="class")
    @classmethod
    def model_file(cls, tmp_path_factory) -> Path:
        """:data:`ARCH` at :data:`RESOLUTION` as ONNX (override it for another ``model_format``)."""
        from mnas_pred.export import export_onnx

        path = tmp_path_factory.mktemp("device-suite") / "model.onnx"
        export_onnx(ARCH, path, resolution=RESOLUTION, num_classes=NUM_CLASSES)
        return path

    @pytest.fixture
    def device(self, make_device):
        dev = make_device()
        yield dev
        dev.close()

    def test_model_format_names_the_files_it_takes(self, device, model_file):
        assert isinstance(device.model_format, str) and device.model_format
        assert device.model_format == type(device).model_format  # a class property, known before opening
        if device.model_format == "onnx":
            assert model_file.suffix == ".onnx"

    def test_info_is_a_stable_identity(self, device):
        info = device.info()
        assert isinstance(info, DeviceInfo)
        assert info.kind and info.key.startswith(f"{info.kind}:"), "the store's key starts with the kind"
        assert info.model, "predictors are tied to the hardware model: it may not be empty"
        assert info.runtime in RUNTIMES and isinstance(info.runtime_version, str)  # "" where the runner cannot tell
        assert info.accelerator in ACCELERATORS
        json.dumps(info.as_dict())  # stored as JSON, never pickled
        again = device.info()
        assert (again.key, again.kind, again.model, again.runtime) == (info.key, info.kind, info.model, info.runtime)

    def test_samples_cover_the_runs(self, device, model_file):
        raw = device.time_model(model_file, SETTINGS)
        assert isinstance(raw, RawTiming)
        assert isinstance(raw.runs_per_sample, int) and raw.runs_per_sample >= 1
        # one sample a run, or one a burst of runs_per_sample runs: together exactly the runs asked for
        assert len(raw.samples_ms) == math.ceil(SETTINGS.runs / raw.runs_per_sample), (
            f"{len(raw.samples_ms)} samples of {raw.runs_per_sample} runs each for {SETTINGS.runs} runs")
        assert all(isinstance(s, float) and math.isfinite(s) and s > 0 for s in raw.samples_ms)
        json.dumps(raw.metadata)  # stored as JSON with the measurement

    def test_profiled_runs_give_node_events_or_layer_times(self, device, model_file):
        raw = device.time_model(model_file, SETTINGS)
        if not device.profiles_layers:  # end to end only: no profile, and the measurement says why
            assert raw.profiled_runs == 0 and not raw.node_events and not raw.layer_ms
            assert isinstance(raw.metadata.get("per_layer"), str) and raw.metadata["per_layer"]
            return
        assert 1 <= raw.profiled_runs <= SETTINGS.profile_runs
        assert raw.node_events or raw.layer_ms, "a profiled run set gives a per-node trace or per-layer times"
        for event in raw.node_events:  # ONNX Runtime's shape, the warm-up run already dropped
            name, op_type, dur_us, run = event
            assert isinstance(name, str) and name and isinstance(op_type, str)
            assert dur_us >= 0 and isinstance(run, int)
        runs = {run for *_, run in raw.node_events}
        assert len(runs) <= raw.profiled_runs, f"events of {len(runs)} runs, {raw.profiled_runs} profiled"
        for layer, ms in (raw.layer_ms or {}).items():
            assert isinstance(layer, str) and layer and ms >= 0

    def test_no_profile_runs_give_no_trace(self, device, model_file):
        raw = device.time_model(model_file, MeasureSettings(threads=1, warmup=1, runs=3, profile_runs=0))
        assert raw.profiled_runs == 0 and not raw.node_events and not raw.layer_ms
        assert raw.samples_ms

    def test_a_missing_model_file_is_a_device_error(self, device, tmp_path):
        missing = tmp_path / f"missing.{device.model_format}"
        with pytest.raises((DeviceError, MnasPredError)) as e:  # one line for the user, not a traceback
            device.time_model(missing, SETTINGS)
        assert "\n" not in str(e.value)

    def test_prestart_then_close_twice(self, make_device, model_file):
        dev = make_device()
        dev.prestart()  # an optional hook: every device accepts it
        with dev:
            assert dev.time_model(model_file, MeasureSettings(threads=1, warmup=0, runs=1, profile_runs=0)).samples_ms
        dev.close()  # closing again does nothing
