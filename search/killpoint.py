"""Test seam: stop the process at a named point of the search, as ``kill -9`` would.

``MNAS_PRED_KILL_AT=PHASE[:N]`` makes the N-th call (default the first) of
``kill_point(PHASE)`` end the process at once with ``os._exit(137)``: no ``finally``, no
flushing, exactly what a kill leaves on disk. The resume tests (tests/search/test_resume_kill_points.py)
sweep every phase of a controller update with it. Without the variable (always, outside those
tests) a call is one environment lookup and changes nothing.

Phases: ``accuracy-stored`` (one candidate's accuracy written to its cache), ``trained`` (every
candidate of the update evaluated), ``rewarded`` (rewards computed, strategy told),
``measure-before`` / ``measure-after`` (around one device measurement and its cache line),
``refit-before`` / ``refit-after``, ``checkpointed`` (checkpoint written, history not yet),
``written`` (the update's files written), ``finishing`` (Pareto front written, best/ not yet).
"""

from __future__ import annotations

import os

ENV = "MNAS_PRED_KILL_AT"
_hits: dict[str, int] = {}


def kill_point(phase: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != phase:
        return
    _hits[phase] = _hits.get(phase, 0) + 1
    if _hits[phase] == int(nth or 1):
        os._exit(137)
