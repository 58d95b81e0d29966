"""ONNX Runtime profiler traces → per-node events → per-layer times.

ONNX Runtime writes a Chrome-trace JSON list (``SessionOptions.enable_profiling`` in Python,
``-p PREFIX`` in ``onnxruntime_perf_test``). Node events have ``cat == "Node"`` and names ending
in ``_kernel_time`` with ``dur`` in microseconds; every inference is a ``cat == "Session"`` event
named ``model_run``. The first run is a warm-up (perf_test does one itself) and is dropped.
Node names after the TorchScript export carry the module path (``/block3_layer1/dw/dw.0/Conv``),
and fused nodes keep the name of their first node, so the first path component is the layer.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

KERNEL_SUFFIX = "_kernel_time"
UNMAPPED = "other"


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


def node_events(events: list[dict], drop_first_runs: int = 1) -> tuple[list[tuple[str, str, float, int]], int]:
    """Per-node kernel times ``(node_name, op_type, dur_us, run_index)`` with the first
    ``drop_first_runs`` runs dropped; also returns the number of runs kept."""
    runs = sorted(
        (e["ts"], e["ts"] + e.get("dur", 0))
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    out = []
    for e in events:
        name = e.get("name", "")
        if e.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX):
            continue
        ts = e.get("ts", 0)
        run = next((i for i, (a, b) in enumerate(runs) if a <= ts <= b), -1)
        if runs and (run < drop_first_runs):
            continue
        op = (e.get("args") or {}).get("op_name", "")
        out.append((name[: -len(KERNEL_SUFFIX)], op, float(e.get("dur", 0)), run))
    kept = max(len(runs) - drop_first_runs, 0) if runs else 1
    return out, kept


def layer_of_node(node_name: str, layer_names: set[str] | frozenset[str]) -> str:
    """The layer a node belongs to: the first component of its module path, if it is a layer."""
    first = node_name.lstrip("/").split("/", 1)[0]
    return first if first in layer_names else UNMAPPED


def layer_times_ms(
    events: list[tuple[str, str, float, int]], runs: int, layer_names: list[str], reduce: str = "mean"
) -> dict[str, float]:
    """Time per run of each layer (ms), in network order; nodes that belong to no layer (graph
    inputs/outputs, reshapes and layout reorders the exporter or runtime adds) are summed under
    ``other``. ``reduce="mean"`` averages over the ``runs`` profiled runs; ``reduce="median"``
    takes each layer's median over the runs, which a transient slowdown of one run on a shared
    machine does not move (falls back to the mean when the events carry no run index)."""
    names = frozenset(layer_names)
    per_run: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for node, _op, dur_us, run in events:
        per_run[layer_of_node(node, names)][run] += dur_us / 1000.0
    run_ids = sorted({run for *_, run in events})
    use_median = reduce == "median" and run_ids and run_ids != [-1]
    result = {}
    for name in [*layer_names, UNMAPPED]:
        if name in per_run:
            if use_median:
                result[name] = float(statistics.median(per_run[name].get(r, 0.0) for r in run_ids))
            else:
                result[name] = sum(per_run[name].values()) / max(runs, 1)
    return result
