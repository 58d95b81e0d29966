"""Upgrades of older measurement files, so that data already measured is never lost.

Schema 1 → 2: a measurement's identity gains its runtime stack. In schema 1 a device row carried
one runtime and a measurement was unique per (device, model, settings), so an ONNX Runtime and a
LiteRT measurement of the same network on the same machine would have been taken for one. Schema 2
stores ``runtime``, ``runtime_version`` and ``accelerator`` on every measurement and makes them part
of its uniqueness. Old rows keep their device's runtime (ONNX Runtime: the only one schema 1 knew),
the ONNX Runtime version their own run metadata recorded (``ort_version``; the device row's, i.e.
the last run's, where it has none) and the CPU accelerator.

SQLite cannot change a table's UNIQUE constraint in place, so the table is rebuilt (SQLite's
documented procedure: new table, copy, drop, rename).

Schema 2 → 3: the ``reference_runs`` table, every reference run of a campaign's drift check
(:mod:`mnas_pred.drift_correction`), also those no measurement follows. Older campaigns keep their
reference runs in the measurements' metadata, where the correction still reads them.

Each upgrade is one transaction: a failed or killed upgrade leaves the file at the version before,
untouched. A file opened read-only is not upgraded; it is read through :data:`IDENTITY_COLUMNS` of
its version instead (and without a ``reference_runs`` table).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

# Where a query finds a measurement's runtime identity, per schema version (m = measurements, d = devices).
IDENTITY_NAMES = ("runtime", "runtime_version", "accelerator")
IDENTITY_COLUMNS = {
    1: ("d.runtime", "d.runtime_version", "'cpu'"),
    2: ("m.runtime", "m.runtime_version", "m.accelerator"),
    3: ("m.runtime", "m.runtime_version", "m.accelerator"),
}

MEASUREMENT_COLUMNS = (
    "id, device_id, model_id, settings_key, settings, threads, latency_ms, latency_p10_ms, latency_p90_ms, "
    "latency_mean_ms, latency_min_ms, cv, spread, layer_sum_ms, profiled_runs, attempts, samples, bursts, "
    "model_sha256, device_metadata, run_metadata, measured_at, duration_s"
)


def _upgrade(conn: sqlite3.Connection, schema_name: str, version: int, steps: Callable[[], None]) -> None:
    """Run ``steps`` and set the schema to ``version + 1`` in one transaction, if the file is
    still at ``version`` (another process may have upgraded it meanwhile)."""
    conn.execute("PRAGMA foreign_keys = OFF")  # layer_timings points at measurements while it is rebuilt
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT version FROM schema_version WHERE name = ?", (schema_name,)).fetchone()
            if found is not None and found[0] == version:
                steps()
                if conn.execute("PRAGMA foreign_key_check").fetchall():
                    raise sqlite3.IntegrityError("rows without the row they refer to after the upgrade")
                conn.execute("UPDATE schema_version SET version = ? WHERE name = ?", (version + 1, schema_name))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


def migrate_1_to_2(conn: sqlite3.Connection, measurements_ddl: str, index_ddl: str, schema_name: str) -> None:
    """Rebuild ``measurements`` with the runtime identity columns (``measurements_ddl`` is schema 2's
    CREATE TABLE); every old row becomes its device's runtime on the CPU."""

    def steps() -> None:
        conn.execute(measurements_ddl.replace("measurements (", "measurements_v2 (", 1))
        cols = ", ".join(f"m.{c.strip()}" for c in MEASUREMENT_COLUMNS.split(","))
        conn.execute(
            f"INSERT INTO measurements_v2 ({MEASUREMENT_COLUMNS}, runtime, runtime_version, accelerator) "
            f"SELECT {cols}, COALESCE(NULLIF(d.runtime, ''), 'onnxruntime'), "
            "COALESCE(NULLIF(json_extract(m.run_metadata, '$.ort_version'), ''), d.runtime_version), 'cpu' "
            "FROM measurements m JOIN devices d ON d.id = m.device_id")
        conn.execute("DROP TABLE measurements")
        conn.execute("ALTER TABLE measurements_v2 RENAME TO measurements")
        conn.execute(index_ddl)

    _upgrade(conn, schema_name, 1, steps)


def migrate_2_to_3(conn: sqlite3.Connection, reference_runs_ddl: str, schema_name: str) -> None:
    """Add the ``reference_runs`` table (``reference_runs_ddl``: schema 3's CREATE TABLE); no row changes."""
    _upgrade(conn, schema_name, 2, lambda: conn.execute(reference_runs_ddl))


__all__ = ["IDENTITY_COLUMNS", "IDENTITY_NAMES", "MEASUREMENT_COLUMNS", "migrate_1_to_2", "migrate_2_to_3"]
