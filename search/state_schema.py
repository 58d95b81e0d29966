"""Schemas of the files in a search's results folder, checked before a resume uses them
(pydantic: see :mod:`mnas_pred.validation` for why).

* ``checkpoint.npz``: its top level (settings, counters, histories, random generator states of
  the right type and size); the strategy's own state is restored inside
  :func:`restore_errors`, which turns any mismatch into one line.
* ``accuracy_cache.jsonl`` and ``measurements.jsonl``: a header line and one object per line.
  A line cut off by a kill is not JSON: reading stops there, as before (everything before it
  is good). A line that *is* JSON but not a row of the file (``[1,2]``, a negative latency, a
  missing key) was not written by mnas-pred: that is refused, naming the file and the line.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from mnas_pred.errors import MnasPredError
from mnas_pred.validation import MAX_JSON_DEPTH, Finite, Strict, check_depth, validate

#: Larger cache files are refused unread (a row is ~300 bytes; a long search writes thousands).
MAX_CACHE_BYTES = 256 * 2**20
#: Architecture strings of the largest spaces the parser accepts stay far below this.
ArchString = Annotated[str, StringConstraints(min_length=1, max_length=16_384)]


def _array(dtype: str, shape: tuple | None = None, ndim: int | None = None):
    def check(v: Any) -> np.ndarray:
        if not isinstance(v, np.ndarray) or v.dtype != np.dtype(dtype):
            raise ValueError(f"must be a {dtype} array")
        if (shape is not None and v.shape != shape) or (ndim is not None and v.ndim != ndim):
            raise ValueError(f"has shape {v.shape}, expected {shape or f'{ndim} dimension(s)'}")
        return v
    return Annotated[Any, AfterValidator(check)]


def _torch_rng_size() -> int:
    import torch

    return int(torch.get_rng_state().numel())


class NumpyRng(Strict):
    name: Literal["MT19937"]
    keys: _array("uint32", shape=(624,))
    pos: Annotated[int, Field(ge=0, le=624)]
    has_gauss: Annotated[int, Field(ge=0, le=1)]
    cached_gaussian: Finite


class OracleState(Strict, extra="allow"):
    model: dict | None = None
    revalidated: Annotated[list[ArchString], Field(max_length=10_000_000)] = []
    refits: Annotated[int, Field(ge=0)] = 0


class CheckpointState(Strict):
    """The top level of a search checkpoint (``Search._state``). Other keys may follow from
    newer versions of the runner; they are bounded by the nesting depth."""

    model_config = ConfigDict(extra="allow")

    config: dict[str, Any]
    update: Annotated[int, Field(ge=0)]
    strategy: dict[str, Any]
    history: list[dict[str, Any]]
    revalidations: list[dict[str, Any]]
    oracle: OracleState
    elapsed_s: Annotated[Finite, Field(ge=0)]
    torch_rng: _array("uint8", ndim=1)
    numpy_rng: NumpyRng


def check_checkpoint_state(state: Any, path: Path) -> dict:
    what, fix = f"checkpoint '{path}'", "start again without --resume (or restore the results folder from a copy)"
    check_depth(state, what, fix, MAX_JSON_DEPTH)
    validate(CheckpointState, state, what, fix)
    expected = _torch_rng_size()
    if state["torch_rng"].size != expected:
        raise MnasPredError(f"{what}: torch_rng has {state['torch_rng'].size} bytes, this torch uses {expected}", fix)
    return state


@contextlib.contextmanager
def restore_errors(path: Path):
    """Restoring the strategy's and the oracle's own state: a checkpoint that passed the schema
    but does not fit this strategy (edited, or from another version) ends as one line."""
    try:
        yield
    except MnasPredError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError, OverflowError) as e:
        detail = f"{type(e).__name__}: {str(e).splitlines()[0][:100]}" if str(e) else type(e).__name__
        raise MnasPredError(f"checkpoint '{path}' does not fit this search ({detail})",
                            "start again without --resume (or restore the results folder from a copy)") from None


# --------------------------------------------------------------------------------- the caches
class AccuracyRow(Strict):
    arch: ArchString
    accuracy: Annotated[Finite, Field(ge=0, le=1)]


class Spread(Strict):
    """A measurement's spread over its timed runs (LatencyMeasurer.measure_with_spread)."""

    p10_ms: Annotated[Finite, Field(ge=0, le=1e7)]
    p90_ms: Annotated[Finite, Field(ge=0, le=1e7)]
    cv: Annotated[Finite, Field(ge=0)]
    runs: Annotated[int, Field(ge=0)] | None = None


class MeasurementRow(Strict):
    device: Annotated[str, StringConstraints(max_length=1024)]
    arch: ArchString
    latency_ms: Annotated[Finite, Field(gt=0, le=1e7)]
    spread: Spread | None = None
    #: the median before the drift correction (logs before it, and stand-in devices: absent)
    raw_ms: Annotated[Finite, Field(gt=0, le=1e7)] | None = None


class ReferenceRow(Strict):
    """A finished reference network (search.references.ReferenceCache)."""

    arch: ArchString
    accuracy: Annotated[Finite, Field(ge=0)]
    latency_ms: Annotated[Finite, Field(gt=0, le=1e7)] | None = None  # None: predicted, not measured
    latency_spread: Spread | None = None
    train_s: Annotated[Finite, Field(ge=0)]
    measure_s: Annotated[Finite, Field(ge=0)]


def cache_fix(path: Path) -> str:
    return f"delete '{path}' (its entries are measured or trained again) or restore it from a copy"


def read_cache_lines(path: Path, what: str) -> list[str]:
    """The lines of a cache file, or one error if it is not UTF-8 text or absurdly large."""
    fix = cache_fix(path)
    if os.path.getsize(path) > MAX_CACHE_BYTES:
        raise MnasPredError(f"{what} '{path}' is larger than {MAX_CACHE_BYTES >> 20} MiB", fix)
    try:
        return path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise MnasPredError(f"{what} '{path}' is not UTF-8 text", fix) from None


def parse_cache_line(line: str, schema: type[Strict], path: Path, lineno: int, what: str):
    """One row, or ``None`` where the line is not JSON (cut off by a kill: stop reading there)."""
    import json

    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return None
    fix = cache_fix(path)
    if not isinstance(row, dict):
        raise MnasPredError(f"{what} '{path}' line {lineno} is not a row ({type(row).__name__})", fix)
    return validate(schema, row, f"{what} '{path}' line {lineno}", fix)
