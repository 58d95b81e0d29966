"""Every node of a real ONNX Runtime profile is attributed (a layer or ``between_layers``), and the
profiler-overhead correction and the run pairing behave; ratios only, never milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from device_profiler import trace
from device_profiler.local import LocalDevice
from mnas_pred.records import MeasureSettings
from tests.device_profiler.conftest import ARCHS


def _profile(path, prefix, runs=4, drop=1, threads=1):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.enable_profiling = True
    so.profile_file_prefix = str(prefix)
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32) for i in sess.get_inputs()}
    for _ in range(runs):
        sess.run(None, feeds)
    return trace.kernel_records(trace.load_trace(Path(sess.end_profiling())), drop_first_runs=drop)


@pytest.mark.parametrize("which", range(len(ARCHS)))
def test_every_node_of_a_real_profile_is_attributed(onnx_models, tmp_path, which):
    model = onnx_models[which]
    records, runs = _profile(model.path, tmp_path / "p")
    events = [r[:4] for r in records]
    labels = trace.attribute(events, model.layers)
    assert len(labels) == len(events) and set(labels) <= {*model.layers, trace.BETWEEN_LAYERS}
    # ONNX Runtime's own layout nodes exist and are attributed too
    inserted = [lab for e, lab in zip(events, labels) if trace.layer_of_node(e[0], frozenset(model.layers)) is None]
    assert inserted and all(lab in {*model.layers, trace.BETWEEN_LAYERS} for lab in inserted)
    layers = trace.layer_times_ms(events, runs, model.layers)
    total = sum(e[2] for e in events) / 1000 / runs
    assert sum(layers.values()) == pytest.approx(total)  # nothing lost, nothing counted twice
    assert {"stem", "head"} <= set(layers)


def test_neighbours_decide_nodes_without_a_layer():
    ev = [("/stem/Conv", "Conv", 10, 1), ("ReorderOutput_token_1", "ReorderOutput", 1, 1),
          ("/block1_layer0/Conv", "Conv", 10, 1), ("ReorderInput_token_2", "ReorderInput", 1, 1),
          ("/block1_layer0/Add", "Add", 1, 1), ("ReorderOutput", "ReorderOutput", 1, 1),
          ("ReorderInput", "ReorderInput", 2, 2), ("/stem/Conv", "Conv", 10, 2)]
    assert trace.attribute(ev, ["stem", "block1_layer0"]) == [
        "stem", "between_layers", "block1_layer0", "block1_layer0", "block1_layer0", "block1_layer0",
        "stem", "stem"]


def test_overhead_correction_by_input_count():
    cal = [("one_input_0", "Abs", 2.0, 3, 1), ("four_inputs_0", "Sum", 2.6, 3, 4),
           ("one_input_1", "Neg", 2.0, 4, 1), ("four_inputs_1", "Sum", 2.6, 4, 4)]
    over = trace.overhead_from_calibration(cal)
    assert over["one_input"] == pytest.approx(2.0) and over["per_extra_input"] == pytest.approx(0.2)
    fixed = trace.subtract_overhead([("a", "Conv", 100.0, 3, 3), ("b", "Reorder", 1.0, 3, 1)], over)
    assert fixed == [("a", "Conv", pytest.approx(97.6), 3), ("b", "Reorder", 0.0, 3)]  # never below zero
    # one factor for the whole profile, from the median of the unprofiled runs beside it
    assert trace.state_scale([2.0, 6.0, 3.0], 3.0) == 1.0 and trace.state_scale([4.0], 2.0) == 0.5
    assert trace.state_scale([], 2.0) == 1.0


def test_pool_overhead_is_removed_per_parallel_section():
    # two runs of two nodes; run 3 has 3 sections and is 30 us over its unprofiled run after the
    # per-node overhead (1 us a node), run 4 has 3 sections and 60 us over: median 15 us a section
    records = [("a", "Conv", 40.0, 3, 1, 2), ("b", "Relu", 22.0, 3, 1, 1),
               ("a", "Conv", 60.0, 4, 1, 2), ("b", "Relu", 32.0, 4, 1, 1)]
    over = {"one_input": 1.0, "per_extra_input": 0.0}
    calibrated = trace.run_totals_ms(trace.subtract_overhead(records, over))
    per_section = trace.pool_overhead_us(records, calibrated, {3: 0.030, 4: 0.030})
    assert per_section == pytest.approx(15.0)
    fixed = trace.subtract_overhead(records, {**over, "per_parallel_section": per_section})
    assert [e[2] for e in fixed] == pytest.approx([9.0, 6.0, 29.0, 16.0])
    # faster than the unprofiled run, no sections, or no paired run: nothing to remove
    assert trace.pool_overhead_us(records, calibrated, {3: 1.0}) == 0.0
    assert trace.pool_overhead_us([r[:5] + (0,) for r in records], calibrated, {3: 0.01, 4: 0.01}) == 0.0
    assert trace.pool_overhead_us(records, calibrated, {}) == 0.0
    assert trace.paired_ratio({3: 3.0, 4: 1.0}, {3: 2.0, 4: 1.0}) == 1.25


@pytest.mark.parametrize("stats", [None, "not json", "[1]", {"main_thread": "x"}, {"main_thread": {"block_size": 3}}])
def test_malformed_scheduling_stats_count_no_sections(stats):
    assert trace.parallel_sections({"thread_scheduling_stats": stats}) == 0
    assert trace.parallel_sections({"thread_scheduling_stats": {"main_thread": {"block_size": [1, 4]}}}) == 2


def test_parallel_sections_are_read_from_a_real_two_thread_profile(tmp_path):
    from onnx import TensorProto, helper

    from mnas_pred.threads import allowed_cpus

    if len(allowed_cpus()) < 2:
        pytest.skip("needs two cores")
    shape = [1, 32, 56, 56]  # large enough for ONNX Runtime to split an element-wise node
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "relu.onnx"
    path.write_bytes(model.SerializeToString())
    one, _ = _profile(path, tmp_path / "one", threads=1)
    two, _ = _profile(path, tmp_path / "two", threads=2)
    assert {r[5] for r in one} == {0} and all(r[5] >= 1 for r in two)


def test_calibration_model_measures_a_small_positive_overhead(tmp_path):
    path = tmp_path / "cal.onnx"
    path.write_bytes(trace.calibration_model(20))
    records, _ = _profile(path, tmp_path / "c", runs=6, drop=2)
    over = trace.overhead_from_calibration(records)
    # trivial nodes: their kernel time is the profiler's own work, a few microseconds at most
    assert over["runs"] == 4 and 0 <= over["per_extra_input"] < over["one_input"] + 5


def test_local_device_relates_profile_to_the_paired_runs(onnx_models):
    with LocalDevice() as dev:
        raw = dev.time_model(onnx_models[1].path, MeasureSettings(warmup=2, runs=10, profile_runs=4))
        again = dev.time_model(onnx_models[0].path, MeasureSettings(warmup=2, runs=10, profile_runs=3))
    # the overhead is the device's: measured by its first profiled worker only, recorded with every measurement
    assert "calibration" in raw.metadata["worker_phases_s"] and "calibration" not in again.metadata["worker_phases_s"]
    assert again.metadata["profiler_overhead_us"] == raw.metadata["profiler_overhead_us"]
    p = raw.metadata["profile"]
    over = raw.metadata["profiler_overhead_us"]
    assert over["one_input"] > 0 and p["corrected_sum_ms"] < p["raw_sum_ms"]
    # ratios, not milliseconds: the corrected profile is of the order of the run it was paired with
    assert 0.3 < p["paired_ratio"] < 3 and p["state_ratio"] > 0
    assert p["paired_ratio"] < p["paired_ratio_raw"]
    assert "steal" in raw.metadata["machine"] or raw.metadata["machine"]["cpu_count"]


def test_two_threads_relate_the_profile_to_paired_runs(onnx_models):
    from mnas_pred.threads import allowed_cpus

    if len(allowed_cpus()) < 2:
        pytest.skip("needs two cores")
    with LocalDevice() as dev:
        raw = dev.time_model(onnx_models[1].path, MeasureSettings(threads=2, warmup=2, runs=10, profile_runs=4))
    # with two threads the runs are paired too (two sessions whose pools do not spin), so the
    # profile is related to an unprofiled run of the same moment: ratios, not milliseconds
    p = raw.metadata["profile"]
    assert 0.3 < p["paired_ratio"] < 3 and p["state_ratio"] > 0 and raw.profiled_runs >= 1
    # what profiling adds to the pool's parallel sections is measured against those runs and removed
    assert raw.metadata["profiler_overhead_us"]["per_parallel_section"] >= 0
    assert abs(p["paired_ratio"] - 1) <= abs(p["paired_ratio_calibrated"] - 1) + 0.05
