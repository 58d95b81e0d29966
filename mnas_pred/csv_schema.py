"""The schema of one row of a per-layer measurement CSV (design.md §3), checked before any
feature is computed from it (pydantic: see :mod:`mnas_pred.validation`).

CSV cells are text, so numbers are parsed (``"3"`` and ``3.0`` are the whole number 3), but
nothing else is let through: a latency of ``inf`` or ``1e308``, a ``cin`` of ``abc``, ``0`` or
``1e12``, a stride of 0, a kernel of -3, an op ``teleport``, a convolution with no ``in_h``.
The bounds are the architecture parser's (:data:`mnas_pred.arch.CHANNELS_RANGE` ...) and the
space file's (resolution, classes): they keep every MAC and byte count far inside int64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from mnas_pred.arch import CHANNELS_RANGE, KERNEL_RANGE, STRIDE_RANGE
from mnas_pred.errors import MnasPredError
from mnas_pred.space_schema import NUM_CLASSES_RANGE, RESOLUTION_RANGE
from mnas_pred.validation import Strict, describe_error

#: One layer slower than this (about 17 minutes) is not a measurement.
MAX_LAYER_LATENCY_MS = 1e6
#: Ops a layer table may hold (mnas_pred.features.OP_CODES); the names are lower-cased first.
LAYER_OPS = ("stem", "conv", "sepconv", "mbconv", "head", "skip", "avgpool", "linear")
#: Ops without a spatial input (blank in_h/in_w, kernel and stride are allowed).
_FLAT_OPS = ("linear",)
_NO_KERNEL_OPS = ("linear", "skip")
_CONV_OPS = ("stem", "conv", "sepconv", "mbconv", "head")

Side = Annotated[int, Field(ge=1, le=RESOLUTION_RANGE[1])]
Channels = Annotated[int, Field(ge=CHANNELS_RANGE[0], le=CHANNELS_RANGE[1])]


class LayerRow(Strict):
    model_config = ConfigDict(strict=False, extra="ignore")  # CSV text: "3" is 3; other columns are kept as they are

    device: Annotated[str, Field(min_length=1, max_length=256)]
    op: Literal[LAYER_OPS]  # type: ignore[valid-type]
    kernel: Side | None = None
    stride: Side | None = None
    expansion: Annotated[float, Field(gt=0, le=99)] | None = None
    se_ratio: Annotated[float, Field(ge=0, lt=1)] | None = None
    skip: Literal["none", "identity", "id", "pool"] | None = None
    in_h: Side | None = None
    in_w: Side | None = None
    cin: Channels
    cout: Annotated[int, Field(ge=1, le=NUM_CLASSES_RANGE[1])]
    groups: Annotated[int, Field(ge=1, le=CHANNELS_RANGE[1])] | None = None
    num_classes: Annotated[int, Field(ge=0, le=NUM_CLASSES_RANGE[1])] | None = None
    latency_ms: float

    @field_validator("op", "skip", mode="before")
    @classmethod
    def _lower(cls, v):
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("latency_ms", mode="before")
    @classmethod
    def _latency(cls, v):
        try:
            ms = float(v)
        except (TypeError, ValueError):
            ms = float("nan")
        if not 0 <= ms <= MAX_LAYER_LATENCY_MS:  # also NaN and inf
            raise ValueError(f"must be a non-negative number of milliseconds, at most {MAX_LAYER_LATENCY_MS:.0f}")
        return ms

    @model_validator(mode="after")
    def _per_op(self):
        if self.op not in _FLAT_OPS and (self.in_h is None or self.in_w is None):
            raise ValueError(f"a {self.op} layer needs in_h and in_w")
        if self.op not in _NO_KERNEL_OPS and self.kernel is None:
            raise ValueError(f"a {self.op} layer needs a kernel")
        if self.op in _CONV_OPS:
            if not (KERNEL_RANGE[0] <= self.kernel <= KERNEL_RANGE[1] and self.kernel % 2 == 1):
                raise ValueError(f"kernel {self.kernel} of a {self.op} layer must be odd, {KERNEL_RANGE[0]}..{KERNEL_RANGE[1]}")
            if self.stride is not None and not STRIDE_RANGE[0] <= self.stride <= STRIDE_RANGE[1]:
                raise ValueError(f"stride {self.stride} of a {self.op} layer must be {STRIDE_RANGE[0]}..{STRIDE_RANGE[1]}")
        if self.op != "linear" and self.cout > CHANNELS_RANGE[1]:
            raise ValueError(f"cout {self.cout} must be at most {CHANNELS_RANGE[1]}")
        if self.groups is not None and self.groups > self.cin:
            raise ValueError(f"groups {self.groups} exceed cin {self.cin}")
        return self


_ROWS = TypeAdapter(list[LayerRow])
_COLUMNS = tuple(LayerRow.model_fields)


def check_layer_rows(df: pd.DataFrame, path: str | Path) -> None:
    """Refuse the first row of a per-layer CSV that is not a layer measurement (one line)."""
    cols = [c for c in _COLUMNS if c in df.columns]
    records = df[cols].astype(object).where(df[cols].notna(), None).to_dict("records")
    try:
        _ROWS.validate_python(records)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        line = int(err["loc"][0]) + 2 if err["loc"] and isinstance(err["loc"][0], int) else "?"
        raise MnasPredError(f"'{path}' line {line}: {describe_error(e, skip=1)}", "fix or drop that row") from None
