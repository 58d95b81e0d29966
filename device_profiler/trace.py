"""ONNX Runtime profiler traces → per-node events → per-layer times.

ONNX Runtime writes a Chrome-trace JSON list (``SessionOptions.enable_profiling`` in Python,
``-p PREFIX`` in ``onnxruntime_perf_test``). Node events have ``cat == "Node"`` and names ending
in ``_kernel_time`` with ``dur`` in whole microseconds; every inference is a ``cat == "Session"``
event named ``model_run``. The first runs are warm-up and are dropped.

Attribution: node names after the TorchScript export carry the module path
(``/block3_layer1/dw/dw.0/Conv``), and fused nodes keep the name of their first node, so the first
path component is the layer. The nodes ONNX Runtime inserts itself (``ReorderInput``,
``ReorderOutput_token_12``: NCHWc layout conversions around the ops that have no blocked-layout
kernel, such as the SE block's ``Mul`` and a residual ``Add``) carry no path; each one goes to the
layer of its neighbours in execution order when both neighbours are in one layer (a conversion
inside a layer), and to :data:`BETWEEN_LAYERS` when they are in two different layers (a
conversion at a boundary, whose cost depends on both layers). Every node is attributed.

Profiler overhead: ONNX Runtime's kernel-time window includes the profiler's own per-node work
(it formats every input's type and shape into the event inside the window): about 1.3-1.8 µs a
node for one input and ~0.3 µs per further input on the development machines, against
0.2 µs for the whole unprofiled dispatch of a trivial node. Over the 120-180 nodes of a
224x224 network that is 3-9% of a run. :func:`overhead_from_calibration` measures it on a model of
trivial nodes (:func:`calibration_model`), profiled once per device (a constant of the machine and
runtime, not of the model), and
:func:`subtract_overhead` removes it node by node, by the node's input count. With several
threads profiling also slows every parallel section the node hands to the intra-op pool, by an
amount the trivial nodes do not show (:func:`pool_overhead_us`).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

KERNEL_SUFFIX = "_kernel_time"
#: Name of the bucket for nodes at a layer boundary (layout conversions between two layers). The
#: LiteRT path (RawTiming.layer_ms) uses the same name for its unattributed ops.
BETWEEN_LAYERS = "between_layers"
UNMAPPED = BETWEEN_LAYERS  # the old name of the bucket, kept for callers

# A node event: (node_name, op_type, dur_us, run_index); with the input count and the parallel
# sections appended when the overhead correction needs them (kernel_records).
NodeEvent = tuple[str, str, float, int]


def load_trace(path_or_text: str | Path) -> list[dict]:
    """Read a profile file (or its text). ONNX Runtime may leave the closing bracket off a
    trace cut short; such a file is accepted."""
    text = Path(path_or_text).read_text() if isinstance(path_or_text, Path) else path_or_text
    text = text.strip()
    try:
        events = json.loads(text)
    except json.JSONDecodeError:
        events = json.loads(text.rstrip(",\n ") + "]")
    if isinstance(events, dict):  # {"traceEvents": [...]} form
        events = events.get("traceEvents", [])
    return events


def kernel_records(events: list[dict], drop_first_runs: int = 1) -> tuple[list[tuple], int]:
    """Per-node kernel times ``(node_name, op_type, dur_us, run_index, n_inputs, sections)`` in
    execution order, with the first ``drop_first_runs`` runs dropped; also returns the number of
    runs kept. ``n_inputs`` is the number of inputs the profiler described (0 when the trace has no
    shapes); ``sections`` the parallel sections the node handed to the intra-op pool (0 with one
    thread, or when the trace does not say)."""
    runs = sorted(
        (e["ts"], e["ts"] + e.get("dur", 0))
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    out = []
    run = 0
    for e in sorted((e for e in events if e.get("cat") == "Node"), key=lambda e: e.get("ts", 0)):
        name = e.get("name", "")
        if not name.endswith(KERNEL_SUFFIX):
            continue
        ts = e.get("ts", 0)
        while run < len(runs) and ts > runs[run][1]:  # events and runs are both in time order
            run += 1
        index = run if run < len(runs) and runs[run][0] <= ts else -1
        if runs and index < drop_first_runs:
            continue
        args = e.get("args") or {}
        out.append((name[: -len(KERNEL_SUFFIX)], args.get("op_name", ""), float(e.get("dur", 0)), index,
                    len(args.get("input_type_shape") or ()), parallel_sections(args)))
    kept = max(len(runs) - drop_first_runs, 0) if runs else 1
    return out, kept


def parallel_sections(args: dict) -> int:
    """How many parallel sections a node ran on the intra-op pool: the length of
    ``thread_scheduling_stats.main_thread.block_size`` (ONNX Runtime writes it with several threads;
    an object, or its JSON text). 0 when absent or malformed: a trace is data, never trusted."""
    stats = args.get("thread_scheduling_stats")
    if isinstance(stats, str):
        try:
            stats = json.loads(stats)
        except ValueError:
            return 0
    main = stats.get("main_thread") if isinstance(stats, dict) else None
    blocks = main.get("block_size") if isinstance(main, dict) else None
    return len(blocks) if isinstance(blocks, list) else 0


def node_events(events: list[dict], drop_first_runs: int = 1) -> tuple[list[NodeEvent], int]:
    """Per-node kernel times ``(node_name, op_type, dur_us, run_index)`` with the first
    ``drop_first_runs`` runs dropped; also returns the number of runs kept."""
    records, kept = kernel_records(events, drop_first_runs)
    return [r[:4] for r in records], kept


def layer_of_node(node_name: str, layer_names: set[str] | frozenset[str]) -> str | None:
    """The layer named by the first component of a node's module path, or None."""
    first = node_name.lstrip("/").split("/", 1)[0]
    return first if first in layer_names else None


def path_layers(events: list) -> list[str]:
    """The first module-path components of the named nodes, in order of first appearance: the
    layer names of a profile when the caller does not know them (a device's own summary)."""
    seen: dict[str, None] = {}
    for e in events:
        if e[0].startswith("/"):
            seen.setdefault(e[0].lstrip("/").split("/", 1)[0], None)
    return list(seen)


def attribute(events: list, layer_names: list[str] | set[str] | frozenset[str]) -> list[str]:
    """The layer (or :data:`BETWEEN_LAYERS`) of every event, in the events' order. Within one run
    the events are in execution order; a node without a layer takes the layer of its nearest
    named neighbours in the same run when they agree (or when it has only one), else the boundary."""
    names = frozenset(layer_names)
    own = [layer_of_node(e[0], names) for e in events]
    by_run: dict[int, list[int]] = defaultdict(list)
    for i, e in enumerate(events):
        by_run[e[3]].append(i)
    out: list[str | None] = list(own)
    for indices in by_run.values():
        before: dict[int, str | None] = {}
        last = None
        for i in indices:
            before[i] = last
            last = own[i] or last
        after = None
        for i in reversed(indices):
            if own[i] is None:
                prev = before[i]
                out[i] = (prev or after or BETWEEN_LAYERS) if prev is None or after is None or prev == after \
                    else BETWEEN_LAYERS
            else:
                after = own[i]
    return out  # type: ignore[return-value]


def layer_times_ms(
    events: list, runs: int, layer_names: list[str], reduce: str = "mean",
) -> dict[str, float]:
    """Time per run of each layer (ms), in network order, then :data:`BETWEEN_LAYERS` (see
    :func:`attribute`). ``reduce="mean"`` averages over the ``runs`` profiled runs;
    ``reduce="median"`` takes each layer's median over the runs, which a transient slowdown of
    one run on a shared machine does not move (falls back to the mean when the events carry no
    run index)."""
    per_run: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for e, layer in zip(events, attribute(events, layer_names)):
        per_run[layer][e[3]] += e[2] / 1000.0
    run_ids = sorted({e[3] for e in events})
    use_median = reduce == "median" and run_ids and run_ids != [-1]
    result = {}
    for name in [*layer_names, BETWEEN_LAYERS]:
        if name in per_run:
            if use_median:
                result[name] = float(statistics.median(per_run[name].get(r, 0.0) for r in run_ids))
            else:
                result[name] = sum(per_run[name].values()) / max(runs, 1)
    return result


def run_totals_ms(events: list) -> dict[int, float]:
    """Sum of the node times of each run (ms)."""
    totals: dict[int, float] = defaultdict(float)
    for e in events:
        totals[e[3]] += e[2] / 1000.0
    return dict(totals)


# ---------------------------------------------------------------------- profiler overhead
CALIBRATION_NODES = 60  # of each kind; 120 nodes, about 1 ms per profiled run


def calibration_model(nodes: int = CALIBRATION_NODES) -> bytes:
    """An ONNX model of trivial nodes on 1x1 tensors: ``one_input_*`` (Neg/Abs, one input) and
    ``four_inputs_*`` (Sum of four inputs), alternating. Their compute is a few nanoseconds, so
    their profiled kernel time is the profiler's per-node overhead for one and for four inputs."""
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1]) for n in ("x", "a", "b", "c")]
    graph_nodes, prev = [], "x"
    for i in range(nodes):
        graph_nodes.append(helper.make_node("Neg" if i % 2 else "Abs", [prev], [f"u{i}"], name=f"one_input_{i}"))
        graph_nodes.append(helper.make_node("Sum", [f"u{i}", "a", "b", "c"], [f"s{i}"], name=f"four_inputs_{i}"))
        prev = f"s{i}"
    graph = helper.make_graph(graph_nodes, "profiler_calibration", inputs,
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def overhead_from_calibration(records: list[tuple], clean_runs: set[int] | None = None) -> dict:
    """Per-node profiler overhead (µs) from the kernel records of :func:`calibration_model`:
    ``one_input`` (a node with one input) and ``per_extra_input``. Each run's mean over its nodes,
    then the median over runs (``clean_runs``: only those, when given and not empty)."""
    by_run: dict[int, dict[str, list[float]]] = defaultdict(lambda: {"one": [], "four": []})
    for name, _op, dur, run, *_ in records:
        if clean_runs and run not in clean_runs:
            continue
        kind = "one" if name.startswith("one_input") else "four" if name.startswith("four_inputs") else None
        if kind:
            by_run[run][kind].append(dur)
    one = [statistics.fmean(v["one"]) for v in by_run.values() if v["one"]]
    four = [statistics.fmean(v["four"]) for v in by_run.values() if v["four"]]
    if not one or not four:
        return {"one_input": 0.0, "per_extra_input": 0.0, "runs": 0}
    d1, d4 = statistics.median(one), statistics.median(four)
    return {"one_input": round(d1, 4), "per_extra_input": round(max(d4 - d1, 0.0) / 3, 4), "runs": len(one)}


def subtract_overhead(records: list[tuple], overhead: dict) -> list[NodeEvent]:
    """Node events with the profiler's per-node overhead removed (never below 0), and, where
    ``overhead`` has it, its cost per parallel section (:func:`pool_overhead_us`)."""
    d1, extra = float(overhead.get("one_input", 0.0)), float(overhead.get("per_extra_input", 0.0))
    per_section = float(overhead.get("per_parallel_section", 0.0))
    out = []
    for name, op, dur, run, *rest in records:
        n_inputs = rest[0] if rest else 1
        sections = rest[1] if len(rest) > 1 else 0
        out.append((name, op, max(dur - d1 - extra * max(n_inputs - 1, 0) - per_section * sections, 0.0), run))
    return out


def pool_overhead_us(records: list[tuple], calibrated_ms: dict[int, float], paired_ms: dict[int, float]) -> float:
    """With several threads, what profiling adds to every parallel section beyond the per-node
    overhead of :func:`calibration_model` (whose nodes are too small to reach the pool): per run,
    the profile's excess (``calibrated_ms``: its run totals with that per-node overhead removed)
    over the unprofiled run right before it (``paired_ms``: run index -> ms), per section of the
    run's ``records``; the median over runs, never negative. Measured, not calibrated: it is a matter
    of how the pool's sleeping worker is woken (2-core Intel Xeon VM: 10-14 us a section on three
    networks, 2.6-5.3 on a chain of Relu nodes), which a fixed model of trivial nodes does not see.
    The per-layer times then add up to the unprofiled run by construction; ``paired_ratio_calibrated``
    in the metadata keeps what the calibration alone made of it."""
    sections: dict[int, int] = defaultdict(int)
    for record in records:
        sections[record[3]] += record[5] if len(record) > 5 else 0
    per_run = [(calibrated_ms[r] - paired_ms[r]) * 1000.0 / sections[r]
               for r in calibrated_ms if sections[r] > 0 and paired_ms.get(r, 0) > 0]
    return round(max(statistics.median(per_run), 0.0), 4) if per_run else 0.0


def paired_ratio(totals: dict[int, float], paired_ms: dict[int, float]) -> float:
    """Median over runs of a profile's total / the unprofiled run right before it (run index -> ms)."""
    return round(float(statistics.median([totals.get(r, 0.0) / ms for r, ms in paired_ms.items()])), 4)


def state_scale(paired_ms, reference_ms: float) -> float:
    """``reference_ms / median(paired_ms)``: the unprofiled runs taken right before the profiled ones
    show how fast the machine was while profiling; scaling the profile by it brings its node times
    to the machine state of the end-to-end value they are compared with (on a shared 2-core VM,
    the same session's speed moved 10-15% within a second). One factor for the whole profile, not
    one per run: a single unprofiled run is as noisy as the profiled run it would correct (each
    run scaled by its own neighbour carried that run's noise into the profile). 1 when unknown."""
    paired = [float(ms) for ms in paired_ms if ms > 0]
    if not paired or reference_ms <= 0:
        return 1.0
    return reference_ms / statistics.median(paired)
