"""Measurements out of the store as files anyone can read: JSON lines, CSV or Parquet
(``mnas-pred measurements``). :meth:`mnas_pred.store.MeasurementStore.export` checks the request
first (:func:`check_export`), then hands its records here."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from mnas_pred.compat import require
from mnas_pred.errors import MnasPredError

if TYPE_CHECKING:
    import pandas as pd

EXPORT_FORMATS = ("jsonl", "csv", "parquet")


def check_export(fmt: str, out: str | Path | None) -> None:
    """Refuse an unknown format, parquet to stdout, or an output path that cannot be a file."""
    if fmt not in EXPORT_FORMATS:
        raise MnasPredError(f"unknown export format '{fmt}'", f"use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet" and out is None:
        raise MnasPredError("parquet is a binary format and needs an output file", "add --out FILE.parquet")
    if out is not None:
        out = Path(out)
        if out.is_dir():
            raise MnasPredError(f"output '{out}' is a directory", "give a file path")
        if not out.parent.is_dir():
            raise MnasPredError(f"output folder '{out.parent}' does not exist", "create it first")


def write_records(records: list[dict], fmt: str, out: str | Path | None,
                  empty_frame: Callable[[], pd.DataFrame]) -> int:
    """Write ``records`` (``MeasurementStore.records()``) as ``fmt`` to ``out`` (stdout for the
    text formats when None); ``empty_frame`` gives the CSV header of a store without rows.
    Returns the row count."""
    if fmt == "parquet":
        import pandas as pd

        require("pyarrow")  # pandas writes parquet through it
        pd.DataFrame.from_records(records).to_parquet(out, engine="pyarrow", index=False)
        return len(records)
    stream: IO[str]
    with (open(out, "w", newline="") if out is not None else _stdout()) as stream:
        if fmt == "jsonl":
            for rec in records:
                stream.write(json.dumps(rec, default=str) + "\n")
        else:
            import pandas as pd

            frame = pd.DataFrame.from_records(records)
            if not frame.empty:
                frame["layers"] = [json.dumps(x) for x in frame["layers"]]
                frame["settings"] = [json.dumps(x, sort_keys=True) for x in frame["settings"]]
            else:
                frame = empty_frame().assign(layers=[])
            frame.to_csv(stream, index=False)
    return len(records)


class _stdout:
    """stdout as a context manager that is not closed on exit."""

    def __enter__(self) -> IO[str]:
        return sys.stdout

    def __exit__(self, *exc) -> None:
        sys.stdout.flush()
