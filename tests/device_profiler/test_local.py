"""The local ONNX Runtime device, with real worker processes and real timings."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from device_profiler import DeviceError, DeviceSpec, MeasureSettings, open_device
from device_profiler.local import LocalDevice, allowed_cpus
from mnas_pred.export import export_onnx
from mnas_pred.layers import arch_layers
from mnas_pred.space import SearchSpace

ARCH = SearchSpace.default().sample(1, seed=11)[0]
FAST = MeasureSettings(threads=1, warmup=2, runs=10, profile_runs=3)


@pytest.fixture(scope="module")
def model_64(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "m64.onnx"
    export_onnx(ARCH, path, resolution=64)
    return path


@pytest.fixture
def device():
    with LocalDevice() as d:
        yield d


def test_info_describes_this_machine(device):
    info = device.info()
    assert info.kind == "local" and info.key.startswith("local:")
    assert info.model and info.runtime == "onnxruntime" and info.runtime_version
    props = info.properties
    assert props["hostname"] in info.key and props["cpu_count"] >= 1 and props["allowed_cpus"]


def test_time_model_returns_samples_and_a_per_node_profile(device, model_64):
    raw = device.time_model(model_64, FAST)
    assert len(raw.samples_ms) == FAST.runs and all(x > 0 for x in raw.samples_ms)
    # the profiled session's warm-up runs are dropped, and so are runs during which it was
    # preempted (more are taken then, up to 2x with one thread, to get profile_runs clean ones;
    # when too few are clean, they are combined node by node into one)
    runs = {run for *_, run in raw.node_events}
    assert len(runs) == raw.profiled_runs and 1 <= raw.profiled_runs <= 2 * FAST.profile_runs
    assert runs <= set(range(2, 2 + 5 * FAST.profile_runs))
    if raw.metadata["preempted_profiled_runs"] == 0 and not raw.metadata["profile_runs_combined_by_node"]:
        assert raw.profiled_runs == FAST.profile_runs
    names = {lay.name for lay in arch_layers(ARCH, 64)}
    assert {n.lstrip("/").split("/")[0] for n, *_ in raw.node_events} & names
    # pinned to the last core by default; the worker reports the mask it ran with
    assert raw.metadata["affinity"] == allowed_cpus()[-1:]
    assert raw.metadata["worker_pid"] != os.getpid()
    # CPU time of every run, to tell preempted runs apart (see protocol.split_preempted)
    cpu = raw.metadata["cpu_ms"]
    assert len(cpu) == FAST.runs and all(0 < c <= w * 1.05 + 0.05 for c, w in zip(cpu, raw.samples_ms))


def test_each_model_runs_in_a_fresh_process(device, model_64):
    pids = {device.time_model(model_64, MeasureSettings(warmup=1, runs=3, profile_runs=0)).metadata["worker_pid"]
            for _ in range(2)}
    assert len(pids) == 2


def test_explicit_cores_and_impossible_cores(model_64):
    cpu = allowed_cpus()[0]
    with LocalDevice(cpus=[cpu]) as d:
        assert d.time_model(model_64, MeasureSettings(warmup=1, runs=2, profile_runs=0)).metadata["affinity"] == [cpu]
    with LocalDevice(cpus=[10_000]) as d, pytest.raises(DeviceError, match="cannot pin"):
        d.time_model(model_64, FAST)


def test_a_crashing_model_costs_only_that_model(device, model_64, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 this is not an onnx model")
    with pytest.raises(DeviceError) as e:
        device.time_model(broken, FAST)
    assert e.value.transient and "broken.onnx" in str(e.value) and "\n" not in str(e.value)
    assert len(device.time_model(model_64, FAST).samples_ms) == FAST.runs  # the device still works


def test_a_hanging_worker_is_killed(tmp_path, model_64):
    hang = tmp_path / "hang.sh"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(hang.stat().st_mode | stat.S_IEXEC)
    with LocalDevice(timeout_s=1, python=str(hang)) as d, pytest.raises(DeviceError, match="timed out") as e:
        d.time_model(model_64, FAST)
    assert e.value.transient


def test_missing_model_file(device, tmp_path):
    with pytest.raises(DeviceError, match="does not exist"):
        device.time_model(tmp_path / "nope.onnx", FAST)


def test_open_device_selects_local_and_refuses_two_devices():
    with open_device() as d:
        assert isinstance(d, LocalDevice)
    with pytest.raises(DeviceError, match="choose one"):
        DeviceSpec.select("X", "h")


def test_worker_uses_the_current_interpreter():
    assert LocalDevice().python == sys.executable


def test_drop_preempted_profiled_runs():
    from device_profiler.local import drop_preempted_runs

    # runs 0-1 are warm-up; run 3 was preempted (half its wall time on the CPU); 4 clean runs remain
    events = [("/stem/Conv", "Conv", 100.0, r) for r in range(2, 7)]
    kept, runs, dropped, scaled = drop_preempted_runs(events, 5, [1.0, 1.0, 1.0, 0.5, 0.99, 1.0, 1.0], 2, 1)
    assert [e[3] for e in kept] == [2, 4, 5, 6] and (runs, dropped, scaled) == (4, 1, False)
    # too few clean runs, one thread: the runs combined node by node (each node's median: a wait
    # hits one node in a minority of the runs)
    events = [("/stem/Conv", "Conv", d, r) for d, r in ((100.0, 2), (900.0, 3), (110.0, 4))]
    events += [("/head/Gemm", "Gemm", d, r) for d, r in ((50.0, 2), (60.0, 3), (700.0, 4))]
    kept, runs, dropped, combined = drop_preempted_runs(events, 3, [1.0, 1.0, 0.4, 0.5, 0.5], 2, 1)
    assert kept == [("/stem/Conv", "Conv", 110.0, 2), ("/head/Gemm", "Gemm", 60.0, 2)]
    assert (runs, dropped, combined) == (1, 0, True)
    events = events[:3]
    # several threads: CPU share says nothing; every run preempted: the least preempted one is kept
    kept, *_ = drop_preempted_runs(events, 3, [1.0, 1.0, 0.4, 0.5, 0.3], 2, 2)
    assert kept == [("/stem/Conv", "Conv", 900.0, 3)]
    assert drop_preempted_runs(events, 3, [], 2, 1) == (events, 3, 0, False)  # no CPU times reported


def test_a_profile_without_node_events_leaves_an_end_to_end_measurement(tmp_path):
    # one thread, every profiled run preempted: the runs are combined node by node; a trace with
    # no node event (cut short) used to end in min() of an empty set
    trace_file = tmp_path / "profile.json"
    runs = [{"cat": "Session", "name": "model_run", "ts": 100 * i, "dur": 50} for i in range(5)]
    trace_file.write_text(json.dumps(runs))
    result = {"profile_path": str(trace_file), "profile_warmup": 2, "profile_on_cpu": [1.0, 1.0, 0.4, 0.5, 0.5],
              "paired_ms": [1.0] * 5, "samples_ms": [1.0] * 10, "cpu_ms": [1.0] * 10}
    events, runs_kept, meta = LocalDevice()._read_profile(result, MeasureSettings(threads=1, profile_runs=3))
    assert events == [] and runs_kept == 0 and "no node events" in meta["profile_missing"]
    assert not trace_file.exists()
