"""The loop of the local worker processes (``_ort_worker.py``, ``litert/_litert_worker.py``).

A worker runs by file path in a bare interpreter and imports nothing from the project (the
package's ``__init__`` and its imports would slow every start-up); this file is standard library
only and is imported the same way, as the top-level module ``_worker_loop`` from this folder
(the ONNX Runtime worker's own folder, which Python puts first on ``sys.path``; the LiteRT worker
appends it). It costs no measurable start-up time: json, os and sys are loaded already.

The protocol, one model per process: the worker says it is ready (one JSON line), reads one JSON
request from stdin, answers with one JSON line on stdout and exits. An empty request is a
standby worker closed without work; an exception in ``measure`` is an ``{"error": ...}`` answer
for the parent to judge. JSON both ways, never pickle.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable


def serve(measure: Callable[[dict], dict], ready: dict | None = None) -> int:
    """Announce readiness (with ``ready``'s fields), answer one request with ``measure``; the exit status."""
    _write({"ready": True, "pid": os.getpid(), **(ready or {})})
    line = sys.stdin.readline()
    if not line.strip():  # the parent closed us without work (shutdown of a standby worker)
        return 0
    try:
        out = measure(json.loads(line))
    except Exception as e:  # reported to the parent as one line; it decides what to do
        out = {"error": f"{type(e).__name__}: {e}"}
    _write(out)
    return 0


def _write(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
