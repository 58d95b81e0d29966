"""``benchmark_model --use_profiler=true`` tables → per-layer times of a converted network.

The profile (``litert/runtime/profiler_summarizer.cc``, logged on stderr after the
BENCHMARK RESULTS block) has a "Run Order" table, then "Top by Computation Time", "Summary by
node type" and "Delegate Statistics". Run Order rows are
``%60s %10.3f %10.3f %10.3f %9.3f%% %9.3f%% %10.3f %14d   %s``: node type, start, first (ms),
avg (ms), %, cdf%, mem KB, times called, name. Only Run Order is read here:

- an op the XNNPACK delegate runs is a row ``Delegate/<XNNPACK operator name>`` named
  ``[Delegate]:i`` (i = XNNPACK's operator index), e.g. ``Delegate/Convolution (NHWC, F32) IGEMM``,
  ``Delegate/Binary Elementwise (ND)``, ``Delegate/Mean (ND) Mean`` (XNNPACK's operator-type
  strings, google/XNNPACK ``src/xnnpack/operator-type.h``, plus the micro-kernel kind);
- an op LiteRT runs itself is a row named ``[Builtin]:N`` (N = the node index in the model);
  the delegate kernel itself is such a row, ``TfLiteXNNPackDelegate``, whose time *contains* all
  its ``Delegate/`` rows: it is left out (counting it would double the sum);
- "times called" counts every invocation since profiling started, warm-up runs included, and
  "avg ms" averages over all of them; "first" is the first call. The profiled run therefore
  uses one warm-up run, and :func:`row_ms` drops it: ``(avg * count - first) / (count - 1)``.

What the converter keeps (checked with litert-torch 0.10 on networks from
``mnas_pred.builder``): the ``.tflite`` operators come in execution order, and each operator's
first output tensor is named after the PyTorch module path it came from, e.g.
``mnas_pred.builder.SearchedNetwork/mnas_pred.builder.SearchedLayer_block3_layer1/torch.nn...``;
fused operators join several such paths with ``;``, the operator's own path first. The module
names are :func:`mnas_pred.layers.arch_layers` names (``stem``, ``block3_layer1``, ``head``),
so :func:`graph_ops` tags every operator with its layer; an operator whose name holds no layer
(the final ``FULLY_CONNECTED`` is named ``serving_default_output_0_output``) takes the layer of
the operator before it. The op list is read with ai-edge-litert's ``Interpreter`` built without
delegates (its op details are the flatbuffer's operators, in order).

Mapping rows back (:func:`layer_times_ms`): XNNPACK turns every convolution and fully
connected operator into exactly one operator of its own and never merges two of them, so
``Convolution*``/``Fully Connected*`` rows match the model's ``CONV_2D``/``DEPTHWISE_CONV_2D``/
``FULLY_CONNECTED`` operators one to one, in run order (a count mismatch is an error). Between
two such anchors, XNNPACK may fuse or drop operators (a ``PAD`` folded into the next
convolution): each remaining row is matched, in order, to the next operator of the gap with the
same kind (``Add`` ↔ ``ADD``, ``Sigmoid`` ↔ ``LOGISTIC``, ...); a row that matches none belongs
to the layer of both neighbouring anchors when they agree, else to the between-layers bucket
(:data:`device_profiler.trace.UNMAPPED`), as ORT nodes outside any layer do. ``[Builtin]:N`` rows
map through node index N.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from device_profiler.trace import UNMAPPED

_HEADER = re.compile(r"=+ (.+?) =+")
_ROW = re.compile(
    r"^\s*(?P<type>\S.*?)\s+(?P<start>-?[0-9.]+)\s+(?P<first>[0-9.]+)\s+(?P<avg>[0-9.]+)\s+"
    r"(?P<pct>[0-9.]+)%\s+(?P<cdf>[0-9.]+)%\s+(?P<mem>[0-9.]+)\s+(?P<count>\d+)\s+(?P<name>\S.*?)\s*$"
)
_LAYER_COMPONENT = re.compile(r"_(stem|head|block\d+_layer\d+)$")
_ANCHOR_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL"})
_ANCHOR_ROWS = ("convolution", "deconvolution", "fully connected", "batch matrix multiply")
#: XNNPACK operator-name prefixes (lower case) each model operator kind may turn into. Current
#: XNNPACK names all two-input element-wise operators "Binary Elementwise (ND)" and all one-input
#: ones "Unary Elementwise (NC)" (its operator-type table, ``xnn_operator_type`` strings); older
#: releases named each one ("Add (ND, F32)", "Sigmoid (NC, F32)"): both are accepted.
_BINARY = ("binary elementwise",)
_UNARY = ("unary elementwise",)
_KINDS = {
    "ADD": (*_BINARY, "add"), "SUB": (*_BINARY, "subtract"), "MUL": (*_BINARY, "multiply"),
    "DIV": (*_BINARY, "divide"), "MAXIMUM": (*_BINARY, "maximum"), "MINIMUM": (*_BINARY, "minimum"),
    "LOGISTIC": (*_UNARY, "sigmoid"), "TANH": (*_UNARY, "tanh"), "HARD_SWISH": (*_UNARY, "hardswish", "hard swish"),
    "RELU": (*_UNARY, "clamp"), "RELU6": (*_UNARY, "clamp"), "RELU_N1_TO_1": (*_UNARY, "clamp"),
    "SOFTMAX": ("softmax",), "MEAN": ("mean", "global average pooling", "sum", "reduce"), "SUM": ("sum", "reduce"),
    "AVERAGE_POOL_2D": ("average pooling",), "MAX_POOL_2D": ("max pooling",),
    "PAD": ("constant pad",), "TRANSPOSE": ("transpose",),
    "SLICE": ("slice", "copy"), "STRIDED_SLICE": ("slice", "copy"),
    "RESHAPE": ("copy", "reshape"), "SQUEEZE": ("copy",), "EXPAND_DIMS": ("copy",),
    "CONCATENATION": ("concatenate", "copy"), "QUANTIZE": ("convert",), "DEQUANTIZE": ("convert",),
}


@dataclass(frozen=True)
class ProfileRow:
    """One Run Order row: ``node_type`` as printed (``Delegate/Add (ND, F32)``, ``TfLiteXNNPackDelegate``),
    ``name`` (``[Delegate]:7``, ``[Builtin]:140``), first call and mean over all calls (ms)."""

    node_type: str
    name: str
    first_ms: float
    avg_ms: float
    times_called: int

    @property
    def delegated(self) -> bool:
        return self.node_type.startswith("Delegate/")

    @property
    def op_name(self) -> str:
        return self.node_type.split("/", 1)[1] if self.delegated else self.node_type.split("/", 1)[0]

    @property
    def node_index(self) -> int | None:
        m = re.search(r":(\d+)$", self.name)
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class GraphOp:
    """One operator of the converted model, in execution order, with the layer it belongs to."""

    index: int
    op_type: str  # builtin name, e.g. CONV_2D
    layer: str


def parse_run_order(text: str) -> list[ProfileRow]:
    """The Run Order table of a profile (empty when the text has none)."""
    rows: list[ProfileRow] = []
    section = None
    for line in text.splitlines():
        header = _HEADER.search(line)
        if header and line.strip().startswith("="):
            section = header.group(1).strip()
            continue
        if section != "Run Order":
            continue
        m = _ROW.match(line)
        if m:
            rows.append(ProfileRow(m.group("type").strip(), m.group("name"), float(m.group("first")),
                                   float(m.group("avg")), int(m.group("count"))))
    return rows


def row_ms(row: ProfileRow, dropped_calls: int = 1) -> float:
    """Mean time per call (ms) with the first call (the warm-up run) dropped."""
    n = row.times_called
    if dropped_calls and n > 1:
        return max(row.avg_ms * n - row.first_ms, 0.0) / (n - 1)
    return row.avg_ms


def layer_of_tensor_name(name: str, layer_names: list[str]) -> str | None:
    """The layer a converted operator belongs to, from its output tensor's name: the first
    module-path component ``<module class>_<layer>`` of the first ``;``-separated location."""
    own = next((part for part in name.split(";") if part), "")
    for component in own.split("/"):
        for layer in layer_names:
            if component == layer or component.endswith("_" + layer):
                return layer
    return None


def discover_layers(tensor_names: list[str]) -> list[str]:
    """Layer names (``stem``, ``blockB_layerL``, ``head``) in network order, from the first
    output tensor names of a converted network's operators."""
    seen: list[str] = []
    for name in tensor_names:
        own = next((part for part in name.split(";") if part), "")
        for component in own.split("/"):
            m = _LAYER_COMPONENT.search(component)
            if m:
                if m.group(1) not in seen:
                    seen.append(m.group(1))
                break
    return seen


def read_ops(tflite_path: str | Path) -> list[tuple[int, str, str]]:
    """``(index, builtin name, first output tensor name)`` of every operator, in execution
    order, read with ai-edge-litert's ``Interpreter`` built without delegates."""
    from mnas_pred.compat import require

    require("ai_edge_litert")
    from ai_edge_litert import interpreter

    interp = interpreter.Interpreter(
        str(tflite_path), experimental_op_resolver_type=interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    result = []
    for op in interp._get_ops_details():  # the public get_ops_details is not in every release
        first = next((i for i in op["outputs"] if i >= 0), -1)
        result.append((op["index"], op["op_name"], names.get(first, "")))
    return result


def graph_ops(tflite_path: str | Path, layer_names: list[str] | None = None) -> list[GraphOp]:
    """The operators of a ``.tflite`` in execution order, each tagged with its layer (the layer
    names are read from the tensor names when not given)."""
    raw = read_ops(tflite_path)
    if layer_names is None:
        layer_names = discover_layers([name for _, _, name in raw])
    ops: list[GraphOp] = []
    pending: list[tuple[int, str]] = []
    previous: str | None = None
    for index, kind, tensor in raw:
        layer = layer_of_tensor_name(tensor, layer_names)
        if layer is None and previous is None:
            pending.append((index, kind))  # before any named op: takes the next one's layer
            continue
        layer = layer or previous
        ops.extend(GraphOp(i, k, layer) for i, k in pending)
        pending = []
        ops.append(GraphOp(index, kind, layer))
        previous = layer
    ops.extend(GraphOp(i, k, UNMAPPED) for i, k in pending)
    return ops


def _matches(op_type: str, xnn_name: str) -> bool:
    xnn = xnn_name.lower()
    kinds = _KINDS.get(op_type)
    if kinds is None:  # an operator kind this table does not know: compare the first word
        return xnn.split(" ", 1)[0] == op_type.lower().split("_", 1)[0]
    return xnn.startswith(kinds)


def _is_anchor_row(row: ProfileRow) -> bool:
    return row.op_name.lower().startswith(_ANCHOR_ROWS)


class LayerMapError(ValueError):
    """The profile and the model's operator list do not line up."""


def layer_times_ms(rows: list[ProfileRow], ops: list[GraphOp], layer_names: list[str]) -> dict[str, float]:
    """Time per run (ms) of every layer, in network order, plus :data:`UNMAPPED` for rows that
    belong to no layer. See the module docstring for the rules."""
    by_index = {op.index: op for op in ops}
    builtin_rows = [r for r in rows if not r.delegated]
    delegate_rows = [r for r in rows if r.delegated]
    totals: dict[str, float] = {}

    def add(layer: str, ms: float) -> None:
        totals[layer] = totals.get(layer, 0.0) + ms

    builtin_indices = set()
    for r in builtin_rows:
        op = by_index.get(r.node_index) if r.node_index is not None else None
        if op is not None and r.op_name.upper() == op.op_type:
            add(op.layer, row_ms(r))
            builtin_indices.add(op.index)
        elif "delegate" in r.node_type.lower() and delegate_rows:
            continue  # the delegate kernel: its Delegate/ rows carry the same time, op by op
        else:
            add(UNMAPPED, row_ms(r))
    delegated_ops = [op for op in ops if op.index not in builtin_indices]
    anchor_ops = [op for op in delegated_ops if op.op_type in _ANCHOR_OPS]
    anchor_rows = [r for r in delegate_rows if _is_anchor_row(r)]
    if delegate_rows and len(anchor_rows) != len(anchor_ops):
        raise LayerMapError(f"the profile has {len(anchor_rows)} convolution/fully-connected rows but the model "
                            f"has {len(anchor_ops)} such operators")
    # split both sequences at the anchors and match the rows of each gap to the gap's operators
    op_pos = 0
    anchor = 0
    gap_ops: list[GraphOp] = []

    def next_gap() -> list[GraphOp]:
        nonlocal op_pos
        gap = []
        while op_pos < len(delegated_ops) and delegated_ops[op_pos].op_type not in _ANCHOR_OPS:
            gap.append(delegated_ops[op_pos])
            op_pos += 1
        return gap

    gap_ops = next_gap()
    cursor = 0
    for r in delegate_rows:
        if _is_anchor_row(r):
            op = anchor_ops[anchor]
            anchor += 1
            op_pos += 1  # past the anchor operator
            add(op.layer, row_ms(r))
            gap_ops, cursor = next_gap(), 0
            continue
        hit = next((i for i in range(cursor, len(gap_ops)) if _matches(gap_ops[i].op_type, r.op_name)), None)
        if hit is None:  # inside one layer it is that layer's; between two layers, the bucket's
            before = anchor_ops[anchor - 1].layer if anchor > 0 else None
            after = anchor_ops[anchor].layer if anchor < len(anchor_ops) else None
            add(before if before is not None and before == after else UNMAPPED, row_ms(r))
        else:
            add(gap_ops[hit].layer, row_ms(r))
            cursor = hit + 1
    return {name: totals[name] for name in [*layer_names, UNMAPPED] if name in totals}
