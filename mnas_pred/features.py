"""Per-layer features (design.md §3), one vectorized path for every source of layers.

A *layer table* is a pandas DataFrame with one row per layer and the configuration columns of
the external CSV schema (``op, kernel, stride, expansion, se_ratio, skip, in_h, in_w, cin, cout``,
plus optional ``groups`` and ``num_classes``). It comes from profiled networks
(:func:`layers_frame`), from other people's lookup tables (:func:`read_layer_csv`), or from the
search's queries. :func:`layer_features` turns any layer table into the numeric feature matrix
the predictors learn on, with numpy operations over whole columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.errors import MnasPredError
from mnas_pred.layers import arch_layers, layer_cost, out_size

#: Columns every external per-layer CSV must have.
REQUIRED_CSV_COLUMNS = ("device", "op", "kernel", "stride", "in_h", "in_w", "cin", "cout", "latency_ms")
#: Columns filled with a default when a CSV lacks them (or leaves them blank).
OPTIONAL_DEFAULTS = {"expansion": 1, "se_ratio": 0.0, "skip": "none", "groups": 1, "num_classes": 0}
#: Layer kinds with their own code; anything else a table holds shares the code of "other".
OP_CODES = {"stem": 0, "conv": 1, "sepconv": 2, "mbconv": 3, "head": 4, "skip": 5, "avgpool": 6, "linear": 7}
SKIP_CODES = {"none": 0, "identity": 1, "pool": 2}
BYTES_PER_VALUE = 4  # float32 activations

FEATURE_COLUMNS = (
    "op_code", "kernel", "stride", "expansion", "se_ratio", "skip_code", "groups",
    "in_h", "in_w", "out_h", "out_w", "cin", "cout", "mid",
    "macs", "params", "in_bytes", "out_bytes", "mid_bytes", "intensity",
    "log_macs", "log_bytes",
)


def layers_frame(
    archs: Iterable[Architecture | str], resolution: int = 224, num_classes: int = 1000
) -> pd.DataFrame:
    """The layer table of many architectures: one row per layer, ``arch_id`` says whose."""
    rows = []
    for i, arch in enumerate(archs):
        for lay in arch_layers(parse_arch(arch), resolution, num_classes):
            d = lay.as_dict()
            d["arch_id"] = i
            d["num_classes"] = num_classes if lay.op == "head" else 0
            rows.append(d)
    return pd.DataFrame(rows)


def normalize_layer_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill the optional columns and blank values so that every config column is usable."""
    df = frame.copy()
    for col, default in OPTIONAL_DEFAULTS.items():
        if col not in df.columns:
            df[col] = default
        df[col] = df[col].fillna(default)
    for col in ("kernel", "stride", "in_h", "in_w"):
        df[col] = pd.to_numeric(df[col], errors="coerce").fillna(1)
    # Non-mbconv layers have no expansion: tables leave it blank, which means 1.
    df["expansion"] = pd.to_numeric(df["expansion"], errors="coerce").fillna(1)
    df["op"] = df["op"].astype(str).str.strip().str.lower()
    df["skip"] = df["skip"].astype(str).str.strip().str.lower().replace({"id": "identity", "nan": "none"})
    return df


def layer_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric features of every row of a layer table (columns :data:`FEATURE_COLUMNS`)."""
    df = normalize_layer_table(frame)
    op = df["op"].to_numpy(dtype=object)
    k = df["kernel"].to_numpy(np.int64)
    s = df["stride"].to_numpy(np.int64)
    e = df["expansion"].to_numpy(np.float64)
    se = df["se_ratio"].to_numpy(np.float64)
    g = df["groups"].to_numpy(np.int64)
    ih, iw = df["in_h"].to_numpy(np.int64), df["in_w"].to_numpy(np.int64)
    cin, cout = df["cin"].to_numpy(np.int64), df["cout"].to_numpy(np.int64)
    ncls = df["num_classes"].to_numpy(np.int64)
    # Fractional expansions (other tools' tables) are costed with the rounded width.
    mid = np.where(op == "mbconv", np.round(cin * e).astype(np.int64), cin)
    params, macs = layer_cost(op, k, s, np.maximum(np.round(e), 1).astype(np.int64), se, ih, iw, cin, cout, ncls, g)
    oh, ow = out_size(ih, s), out_size(iw, s)
    in_b = cin * ih * iw * BYTES_PER_VALUE
    out_b = np.where(op == "linear", cout, np.where(op == "head", ncls, cout * oh * ow)) * BYTES_PER_VALUE
    mid_b = np.where(op == "mbconv", mid * (ih * iw + oh * ow), 0) * BYTES_PER_VALUE
    total_b = in_b + out_b + mid_b + params * BYTES_PER_VALUE
    out = pd.DataFrame(
        {
            "op_code": [OP_CODES.get(o, len(OP_CODES)) for o in op],
            "kernel": k, "stride": s, "expansion": e, "se_ratio": se,
            "skip_code": df["skip"].map(SKIP_CODES).fillna(len(SKIP_CODES)).to_numpy(np.int64),
            "groups": g, "in_h": ih, "in_w": iw, "out_h": oh, "out_w": ow, "cin": cin, "cout": cout, "mid": mid,
            "macs": macs, "params": params, "in_bytes": in_b, "out_bytes": out_b, "mid_bytes": mid_b,
            "intensity": macs / np.maximum(total_b, 1),
            "log_macs": np.log1p(macs), "log_bytes": np.log1p(total_b),
        },
        index=frame.index,
    )
    return out[list(FEATURE_COLUMNS)]


def read_layer_csv(path: str | Path) -> pd.DataFrame:
    """Read an external per-layer measurement table (design.md §3); extra columns are kept."""
    path = Path(path)
    if not path.is_file():
        raise MnasPredError(f"measurements file '{path}' does not exist", "check the path")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise MnasPredError(f"cannot read '{path}' as CSV: {str(e).splitlines()[0]}", "give a comma-separated file with a header row") from None
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in df.columns]
    if missing:
        raise MnasPredError(
            f"'{path}' lacks column(s) {', '.join(missing)}",
            f"a per-layer CSV needs {', '.join(REQUIRED_CSV_COLUMNS)}",
        )
    if df.empty:
        raise MnasPredError(f"'{path}' has no rows", "give a file with measurements")
    from mnas_pred.csv_schema import check_layer_rows  # pydantic: loaded only when a CSV is read

    check_layer_rows(df, path)  # finite, non-negative latency (zero is real: a skip op can cost nothing)
    df["latency_ms"] = pd.to_numeric(df["latency_ms"])
    return normalize_layer_table(df)
