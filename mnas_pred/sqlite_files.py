"""Opening a measurement database file, and SQLite errors a user can cause, as one line.

Rules (shared lab machines, other people's files):

* A command that only reads (``create=False``: ``measurements``, ``fit-predictor``) opens the
  file read-only (``mode=ro``): it never writes a schema, never switches the journal mode and
  works on a file the user may not write.
* A command that writes initializes a schema only in a file it creates, or in an existing
  empty (0-byte) file: an empty file holds nothing to lose, and ``mktemp`` is how scripts pick a
  fresh path. Any other file that is not a measurement database is refused untouched.
* A finished writer folds the WAL into the file (:func:`checkpoint`).
* "database or disk is full", "readonly database", "unable to open" and "locked" become one
  :class:`MnasPredError` that names the file, says what is kept, and says what to do.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from mnas_pred.errors import MnasPredError

FIX = "give the database written by `mnas-pred profile-device --db FILE`"


def connect(path: Path, create: bool) -> tuple[sqlite3.Connection, bool]:
    """``(connection, read_only)``. Refuses what cannot be a database before SQLite sees it."""
    if not path.exists() and not create:
        raise MnasPredError(f"measurement database '{path}' does not exist", FIX)
    if path.is_dir():
        raise MnasPredError(f"measurement database '{path}' is a directory", "give a file path")
    if not create and path.stat().st_size == 0:
        raise MnasPredError(f"'{path}' is an empty file, not a measurement database", FIX)
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (one per measurement, see store.add()).
            return sqlite3.connect(path, timeout=30.0, isolation_level=None), False
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None), True
    except OSError as e:
        raise MnasPredError(f"cannot create '{path}': {e.strerror}", "give a --db path in a writable folder") from None
    except sqlite3.Error as e:
        raise user_error(e, path, "open") from None


def user_error(e: sqlite3.Error, path: Path, doing: str, kept: str = "") -> MnasPredError:
    """One line for an SQLite error while ``doing`` something with the database at ``path``;
    ``kept`` says what is safe (e.g. "the 12 measurements stored before are kept")."""
    name = getattr(e, "sqlite_errorname", "")
    kept = f"; {kept}" if kept else ""
    if name == "SQLITE_FULL":
        return MnasPredError(f"disk full while trying to {doing} in '{path}'{kept}",
                             "free space on that disk (or give a --db on another one) and re-run the same command "
                             "to continue")
    if name.startswith("SQLITE_READONLY"):
        return MnasPredError(f"'{path}' is read-only for this user, cannot {doing}{kept}",
                             "make it writable (chmod u+w, and its folder for the -wal file) or give another --db")
    if name.startswith("SQLITE_CANTOPEN"):
        return MnasPredError(f"cannot open '{path}' ({e}){kept}",
                             "check that the file and its folder are readable (and writable, to profile)")
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return MnasPredError(f"'{path}' stayed locked by another process for 30 s, cannot {doing}{kept}",
                             "wait for the other process to finish, then re-run the same command")
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return MnasPredError(f"'{path}' is not a measurement database ({e})", FIX)
    if name in ("SQLITE_IOERR",) or name.startswith("SQLITE_IOERR"):
        return MnasPredError(f"input/output error on '{path}' ({e}){kept}",
                             "check the disk, then re-run the same command")
    return MnasPredError(f"'{path}' is not a usable measurement database ({e})", FIX)


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already done so (it rolls back by
    itself on a full disk, and a second ROLLBACK would hide the real error)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def checkpoint(conn: sqlite3.Connection) -> None:
    """At the end of a run: move every committed row from ``x.db-wal`` into ``x.db`` and leave
    the file in rollback-journal mode, so that ``x.db`` alone is complete (a copy of it misses
    nothing) and a read-only reader needs no ``-wal``/``-shm`` files beside it. The next writer
    switches back to WAL. Best effort and without waiting: while another process has the file
    open it stays in WAL mode, and that process's close folds it."""
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error:
        pass
