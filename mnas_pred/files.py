"""Writing files so that a reader (or a crash) never sees half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to a sibling ``.tmp`` file and rename it over ``path``: readers see the old
    file or the new one, never a mix. ``durable`` also flushes it to disk first (checkpoints and
    predictor files); throw-away files on a hot path (models exported for one measurement) skip it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def append_json_line(path: str | os.PathLike, row) -> None:
    """Append ``row`` as one JSON line and flush it to disk before returning: the caches of a
    search (accuracy, measurements, references) lose at most the line a kill cuts off, which
    their readers drop."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
