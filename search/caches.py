"""The search's JSON-lines logs: every accuracy, device measurement and reference result is
appended as one line the moment it exists (:func:`mnas_pred.files.append_json_line`), so a
killed search loses at most the line in flight, and ``--resume`` reads them back here.

One reader for all of them (:class:`JsonLinesLog`):

* A log whose rows depend on settings starts with a header line ``{"fingerprint": ...}``,
  written atomically before any row (a kill cannot tear it).
* A first line that is not such a header was edited or damaged on disk, never cut by a kill:
  it is refused in one line naming the file and the fix. Dropping the file instead would
  silently throw away every row after it (hours of proxy training, device time) to repair one
  line the user can inspect.
* A header with another fingerprint (a log written under other settings): the file is set aside
  as ``NAME.other-settings[-N]`` beside it, the user is told, and a new log starts. Nothing is
  deleted.
* A last line that is not JSON was cut off by a kill: reading stops there (everything before it
  is good). A line that *is* JSON but not a row of the log was not written by mnas-pred: the
  search's own caches refuse it (a resumed search must see exactly what the interrupted one saw),
  while the reference log (:mod:`search.references`) evaluates that reference again
  (``skip_invalid``; references are reported beside the search, they do not steer it).

``measurements.jsonl`` is a copy of measurements the store (``--db``) also holds, and it stays:
``--db`` may change between a run and its resume, stand-in devices have no store, the store
keeps the first of several measurements of one model (profile-device's, another search's) while
a resume must reward with exactly the value this search saw, and reference measurements are kept
out of the store on purpose. Its rows carry their device key instead of a header.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from mnas_pred.errors import MnasPredError
from mnas_pred.files import append_json_line, atomic_write_bytes
from search.state_schema import AccuracyRow, MeasurementRow, Strict, cache_fix, parse_cache_line, read_cache_lines


def _set_aside(path: Path) -> Path:
    n = 1
    while True:
        aside = path.with_name(f"{path.name}.other-settings" + (f"-{n}" if n > 1 else ""))
        if not aside.exists():
            path.rename(aside)
            return aside
        n += 1


class JsonLinesLog:
    """Validated rows of a JSON-lines file (see the module doc for what each damage means), and
    :meth:`append`. ``path=None`` keeps the rows in memory only."""

    def __init__(self, path: str | os.PathLike | None, what: str, schema: type[Strict], *,
                 fingerprint: dict | None = None, skip_invalid: bool = False,
                 log: Callable[[str], None] | None = None):
        self.path = Path(path) if path else None
        self.what = what
        self.rows: list[Strict] = []
        self._folder_made = False
        if self.path is None:
            return
        lines = read_cache_lines(self.path, what) if self.path.exists() else []
        first = 0
        if fingerprint is not None and lines:
            try:
                header = json.loads(lines[0])
            except (ValueError, RecursionError):  # RecursionError: a first line nested too deeply
                header = None
            if not isinstance(header, dict) or set(header) != {"fingerprint"}:
                raise MnasPredError(f"{what} '{self.path}' has a damaged first line", cache_fix(self.path))
            if header["fingerprint"] != fingerprint:
                aside = _set_aside(self.path)
                if log:
                    log(f"{what} '{self.path}' was written under other settings: kept as '{aside.name}', "
                        "starting a new one")
                lines = []
            first = 1
        for lineno, line in enumerate(lines[first:], start=first + 1):
            try:
                row = parse_cache_line(line, schema, self.path, lineno, what)
            except MnasPredError:
                if skip_invalid:
                    continue
                raise
            if row is None:
                break  # a line torn by a kill: everything before it is good
            self.rows.append(row)
        if fingerprint is not None and not lines:
            atomic_write_bytes(self.path, (json.dumps({"fingerprint": fingerprint}) + "\n").encode())

    def append(self, row: dict) -> None:
        if self.path is not None:
            if not self._folder_made:  # made at the first row, not before: a refused run creates nothing
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._folder_made = True
            append_json_line(self.path, row)


class AccuracyCache:
    """Accuracy per architecture string (``accuracy_cache.jsonl``), headed by the accuracy
    evaluator's fingerprint."""

    def __init__(self, path: str | os.PathLike | None, fingerprint: dict, log: Callable[[str], None] | None = None):
        self.fingerprint = fingerprint
        self.log = JsonLinesLog(path, "accuracy cache", AccuracyRow, fingerprint=fingerprint, log=log)
        self.values: dict[str, float] = {row.arch: row.accuracy for row in self.log.rows}

    def get(self, arch: str) -> float | None:
        return self.values.get(arch)

    def put(self, arch: str, accuracy: float) -> None:
        self.values[arch] = float(accuracy)
        self.log.append({"arch": arch, "accuracy": float(accuracy)})

    def __len__(self) -> int:
        return len(self.values)


class MeasurementCache:
    """Device measurements of this search by architecture (``measurements.jsonl``), of the
    device ``device_key`` (rows of another device are not reused)."""

    def __init__(self, path: str | os.PathLike | None, device_key: str):
        self.device_key = device_key
        self.log = JsonLinesLog(path, "measurement log", MeasurementRow)
        self.values: dict[str, float] = {}
        self.spreads: dict[str, dict] = {}  # where the device gave one (search.latency.LatencyMeasurement.spread)
        for row in self.log.rows:
            if row.device == device_key:
                self.values[row.arch] = row.latency_ms
                if row.spread is not None:
                    self.spreads[row.arch] = row.spread.model_dump()

    def get(self, arch: str) -> float | None:
        return self.values.get(arch)

    def put(self, arch: str, ms: float, spread: dict | None = None, raw_ms: float | None = None) -> None:
        """``ms``: the value the search compares (drift-corrected where it was); ``raw_ms``: the
        measured median before the correction, logged beside it."""
        self.values[arch] = float(ms)
        row = {"device": self.device_key, "arch": arch, "latency_ms": float(ms)}
        if spread is not None:
            self.spreads[arch] = row["spread"] = spread
        if raw_ms is not None:
            row["raw_ms"] = float(raw_ms)
        self.log.append(row)
