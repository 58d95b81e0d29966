"""Checkpoints and other state files without pickle.

A state is a nested dict/list of JSON values with ``np.ndarray`` leaves (model weights,
optimizer moments, random generator states). :func:`save_state` writes it as one ``.npz`` file:
every array under its own key, and the JSON skeleton (arrays replaced by ``{"__array__": key}``)
as a UTF-8 byte array under ``__json__``. :func:`load_state` reads it with
``np.load(allow_pickle=False)``, so a checkpoint from someone else can never run code, and the
format survives library upgrades. Writes are atomic (temporary file, fsync, rename): a search
killed while checkpointing keeps the previous checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mnas_pred.errors import MnasPredError
from mnas_pred.files import atomic_write_bytes
from mnas_pred.validation import parse_json
from search.bounded_npz import read_npz

_JSON_KEY = "__json__"
_FORMAT = "mnas-pred-state/1"
#: Larger checkpoints are refused before inflating: a PPO search's is well under 1 MB (the
#: controller is small); the limit leaves room for long histories and bigger controllers.
MAX_STATE_BYTES = 256 * 2**20


def _split(obj, arrays: dict[str, np.ndarray]):
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("object arrays cannot be stored without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, dict):
        return {str(k): _split(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]  # KeyError/TypeError: a reference to nothing
        return {k: _join(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, arrays) for v in obj]
    return obj


def save_state(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` atomically to ``path`` (an ``.npz`` file)."""
    import io

    arrays: dict[str, np.ndarray] = {}
    skeleton = _split(state, arrays)
    text = json.dumps({"format": _FORMAT, "state": skeleton})
    arrays[_JSON_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_state(path: str | os.PathLike) -> dict:
    """Read a state written by :func:`save_state`; never unpickles, never inflates more than
    :data:`MAX_STATE_BYTES` (checked before inflating), and any damage is one clear error."""
    path = Path(path)
    what, fix = f"checkpoint '{path}'", "start again without --resume (or restore the results folder from a copy)"
    arrays = read_npz(path, max_entry_bytes=MAX_STATE_BYTES, max_total_bytes=MAX_STATE_BYTES, what=what, fix=fix)
    if _JSON_KEY not in arrays:
        raise MnasPredError(f"'{path}' is not an mnas-pred checkpoint", "start again without --resume")
    skeleton = arrays.pop(_JSON_KEY)
    if skeleton.dtype != np.uint8 or skeleton.ndim != 1:
        raise MnasPredError(f"{what}: its JSON part is not a byte array", fix)
    # NaN is allowed: the search's own history may hold it (json.dumps writes it)
    doc = parse_json(skeleton.tobytes(), f"{what} (its JSON part)", fix, allow_nan=True)
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise MnasPredError(f"'{path}' has checkpoint format {str(found)[:40]!r}, expected {_FORMAT!r}",
                            "start again without --resume")
    if not isinstance(doc.get("state"), dict):
        raise MnasPredError(f"{what} holds no state", fix)
    try:
        return _join(doc["state"], arrays)
    except (KeyError, TypeError):
        raise MnasPredError(f"{what} refers to an array it does not hold", fix) from None
