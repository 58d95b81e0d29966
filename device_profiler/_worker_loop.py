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
import time
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


def pin(req: dict) -> tuple[list[int], int | None]:
    """Pin this process to ``req["cpus"]`` and set its niceness to ``req["nice"]``; the affinity
    and niceness it then has. Renicing is best effort: a higher priority than the machine's other
    work makes a shared machine's interference rarer; without the privilege the worker runs at
    normal priority."""
    if req.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, req["cpus"])
    if req.get("nice") is not None and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, int(req["nice"]))
        except OSError:
            pass
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return affinity, (os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None)


def timed_run(run: Callable[[], object]) -> tuple[float, float]:
    """Wall time and this process's CPU time (ms) of one call of ``run``. The CPU time beside the
    wall time shows a run that was slow because the process was not running (another process on
    the core, or the hypervisor): its cpu/wall is low."""
    c, a = time.process_time_ns(), time.perf_counter_ns()
    run()
    b, d = time.perf_counter_ns(), time.process_time_ns()
    return (b - a) / 1e6, (d - c) / 1e6


def timed_runs(run: Callable[[], object], n: int) -> tuple[list[float], list[float]]:
    """:func:`timed_run` ``n`` times: the wall times and the CPU times (ms)."""
    pairs = [timed_run(run) for _ in range(n)]
    return [w for w, _ in pairs], [c for _, c in pairs]


def _write(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
