"""The local LiteRT device: real ai-edge-litert timings of real converted networks, in worker processes."""

from __future__ import annotations

import os

import pytest


@pytest.fixture()
def device():
    pytest.importorskip("ai_edge_litert", reason="needs the [litert] extra: pip install 'mnas-pred[litert]'")
    from device_profiler.litert.local import LocalLiteRtDevice

    with LocalLiteRtDevice() as d:
        yield d


def test_times_a_converted_network_end_to_end(litert_models, device):
    from device_profiler import MeasureSettings

    raw = device.time_model(litert_models.files[litert_models.archs[0]].path,
                            MeasureSettings(threads=1, warmup=3, runs=12, profile_runs=5))
    assert len(raw.samples_ms) == 12 and all(x > 0 for x in raw.samples_ms)
    assert len(raw.metadata["cpu_ms"]) == 12  # one CPU-time sample per run: the protocol's preemption correction
    assert raw.node_events == [] and raw.profiled_runs == 0  # no per-op profiler in the Python API
    assert "no per-op profiler" in raw.metadata["per_layer"]
    assert raw.metadata["worker_pid"] != os.getpid()
    assert raw.metadata["affinity"] == device.pinned_cpus(1)


def test_identity_says_litert_on_the_cpu(device):
    from importlib.metadata import version

    info = device.info()
    assert info.runtime == "litert" and info.runtime_version == version("ai-edge-litert")
    assert getattr(info, "accelerator", "cpu") == "cpu"
    assert device.model_format == "tflite"


def test_protocol_records_an_end_to_end_only_measurement(litert_models, device):
    from device_profiler import MeasureSettings
    from device_profiler.protocol import measure_model

    arch = litert_models.archs[1]
    m = measure_model(device, litert_models.files[arch].path, MeasureSettings(warmup=2, runs=10, profile_runs=5, repeats=1),
                     [], arch=arch, resolution=litert_models.resolution, num_classes=litert_models.num_classes)
    assert m.latency_ms > 0 and m.layers_ms == {} and m.profiled_runs == 0
    assert m.device.runtime == "litert"


def test_a_file_that_is_not_a_model_fails_that_model_only(device, tmp_path):
    from device_profiler import DeviceError, MeasureSettings

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(DeviceError) as e:
        device.time_model(bad, MeasureSettings(warmup=1, runs=2))
    assert e.value.transient and "LiteRT failed on bad.tflite" in e.value.problem
