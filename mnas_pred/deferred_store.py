"""A measurement database that a run creates only once it has something to put in it.

``profile-device`` and ``search`` take ``--db FILE``. Opening :class:`~mnas_pred.store.MeasurementStore`
at start creates the file, so a run whose phone or board never answered used to leave an empty
48 KB database behind. :class:`DeferredStore` checks an existing file at once (a text file or another
program's database is refused before any work starts, like ``fit-predictor`` and ``measurements``
do) but creates a new file only on first use: the profiler first asks the device for its identity,
then reads the store, so a device that does not answer leaves no file.
"""

from __future__ import annotations

from pathlib import Path

from mnas_pred.store import MeasurementStore


def check_store_file(path: str | Path) -> None:
    """Refuse now a ``--db`` that exists and is not a measurement database (creates nothing)."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:  # writers take an empty file (``--db "$(mktemp)"``)
        return
    if path.exists() or path.is_symlink():
        MeasurementStore(path, create=False).close()


class DeferredStore:
    """Stands in for a :class:`MeasurementStore` and opens (creating if needed) the file on the
    first attribute access. Use as a context manager."""

    def __init__(self, path: str | Path):
        check_store_file(path)
        self.path = Path(path)
        self._store: MeasurementStore | None = None

    def __getattr__(self, name: str):
        # only reached for attributes DeferredStore lacks: the store's own methods
        if name.startswith("_"):
            raise AttributeError(name)
        if self._store is None:
            self._store = MeasurementStore(self.path)
        return getattr(self._store, name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> DeferredStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
