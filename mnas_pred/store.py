"""The measurement store: one SQLite file of devices, models, measurements and per-layer times.

Design.md §5. The file is opened in WAL mode and every measurement is written in one
transaction (measurement row and its layer rows together), so a run that is interrupted or
killed (kill -9 included) loses at most the model in flight, and the database is never left
half-written. A measurement is unique per (device, model, settings): adding it again returns
the existing id, which is what makes re-running the same profiling command resume. Closing a
writer folds the WAL back into the file, so after a finished run ``x.db`` alone is complete;
reading commands open the file read-only (:mod:`mnas_pred.sqlite_files`).

Tables::

    schema_version(name, version)           -- "mnas-pred-measurements", SCHEMA_VERSION
    devices(id, key UNIQUE, kind, model, runtime, runtime_version, properties JSON, first_seen, last_seen)
    models(id, arch, resolution, num_classes, params, macs, UNIQUE(arch, resolution, num_classes))
    measurements(id, device_id, model_id, settings_key, settings JSON, threads, latency_ms,
                 latency_p10_ms, latency_p90_ms, latency_mean_ms, latency_min_ms, cv, spread,
                 layer_sum_ms, profiled_runs, attempts, samples JSON, bursts JSON, model_sha256,
                 device_metadata JSON, run_metadata JSON, measured_at, duration_s,
                 runtime, runtime_version, accelerator,
                 UNIQUE(device_id, model_id, settings_key, runtime, runtime_version, accelerator))
    layer_timings(measurement_id, position, name, latency_ms, PRIMARY KEY(measurement_id, name))
    reference_runs(id, campaign, reference, device_id, runtime, runtime_version, accelerator, arch,
                   resolution, num_classes, settings_key, settings JSON, latency_ms, cv, slow,
                   process_ms JSON, after_models, measured_at, UNIQUE(campaign, reference))

A measurement's identity includes its runtime stack (``runtime`` "onnxruntime" | "litert", its
version, ``accelerator`` "cpu" | "gpu"): an ONNX Runtime and a LiteRT measurement of the same
network on the same device are two measurements. The ``devices`` row describes the hardware (its
runtime columns say what measured on it last). ``reference_runs`` holds every reference run of a
campaign's drift check (:mod:`mnas_pred.drift_correction`), written as it finishes. Files of
schemas 1 and 2 are upgraded when opened for writing and read as they are otherwise
(:mod:`mnas_pred.store_migrations`).

JSON columns, never pickle: the file can be read by anyone, with any tool.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mnas_pred import sqlite_files, store_migrations
from mnas_pred.errors import MnasPredError
from mnas_pred.records import DeviceInfo, Measurement, MeasureSettings
from mnas_pred.store_export import check_export, write_records
from mnas_pred.store_references import STORED_RUNTIMES, ReferenceRuns, _json, _now, runtime_identity, settings_key
from mnas_pred.store_schema import (
    LAYERS_QUERY,
    MODELS_QUERY,
    READABLE_VERSIONS,
    SCHEMA,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    table_ddl,
)

if TYPE_CHECKING:
    import pandas as pd

class MeasurementStore(ReferenceRuns):
    """A measurement database file. ``create=False`` refuses a file that does not exist (for
    commands that only read). Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        # read-only for create=False; see mnas_pred.sqlite_files for what is created where
        self.conn, self.read_only = sqlite_files.connect(self.path, create)
        try:
            self._init_schema()
        except sqlite3.Error as e:
            self.conn.close()
            raise sqlite_files.user_error(e, self.path, "write to it" if create else "read it") from None
        except MnasPredError:
            self.conn.close()
            raise

    # ------------------------------------------------------------------ setup
    def _init_schema(self) -> None:
        c = self.conn
        c.execute("PRAGMA foreign_keys = ON")
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if self.read_only and not tables:
            raise MnasPredError(f"'{self.path}' is an SQLite database without measurements (no tables)",
                                sqlite_files.FIX)
        if tables and "schema_version" not in tables:
            raise MnasPredError(
                f"'{self.path}' is an SQLite database of another program (tables: {', '.join(sorted(tables))})",
                "give a file written by `mnas-pred profile-device`, or a new path",
            )
        self.schema_version = SCHEMA_VERSION
        if tables:
            row = c.execute("SELECT version FROM schema_version WHERE name = ?", (SCHEMA_NAME,)).fetchone()
            if row is not None and row[0] in READABLE_VERSIONS:
                self.schema_version = row[0]
            else:
                found = "no version" if row is None else f"schema version {row[0]}"
                raise MnasPredError(
                    f"'{self.path}' has {found}; this mnas-pred reads schema version {SCHEMA_VERSION}",
                    "use the mnas-pred version that wrote it, or profile into a new file",
                )
        if self.read_only:
            self.journal_mode = None
            return
        if self.schema_version == 1:
            store_migrations.migrate_1_to_2(c, table_ddl("measurements"),
                                            "CREATE INDEX IF NOT EXISTS measurements_by_device ON measurements(device_id)",
                                            SCHEMA_NAME)
            self.schema_version = 2
        if self.schema_version == 2:
            store_migrations.migrate_2_to_3(c, table_ddl("reference_runs"), SCHEMA_NAME)
            self.schema_version = 3
        # WAL: readers (the predictor, `measurements`) never block the profiler that writes, and
        # a killed writer leaves a consistent file. synchronous=NORMAL is durable across a
        # process kill (only a power loss could drop the last commits).
        c.execute("BEGIN IMMEDIATE")  # a file this user may not write fails here, before any work
        c.execute("ROLLBACK")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        c.execute("PRAGMA synchronous = NORMAL")
        self.journal_mode = mode
        if not tables:
            c.execute("BEGIN IMMEDIATE")
            try:
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute("INSERT OR IGNORE INTO schema_version VALUES (?, ?)", (SCHEMA_NAME, SCHEMA_VERSION))
                c.execute("COMMIT")
            except BaseException:
                sqlite_files.rollback(c)
                raise

    def close(self) -> None:
        if not self.read_only:
            sqlite_files.checkpoint(self.conn)  # x.db alone is complete after a run (no rows left in x.db-wal)
        self.conn.close()

    def __enter__(self) -> MeasurementStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def add(self, device_info: DeviceInfo, arch: str, resolution: int, settings: MeasureSettings,
            m: Measurement) -> int:
        """Store one measurement with its layers in one transaction; returns its id. A
        measurement of the same device, model and settings that is already stored is kept as it
        is and its id returned (no duplicates, nothing overwritten)."""
        return self.insert(device_info, arch, resolution, settings, m)[0]

    def insert(self, device_info: DeviceInfo, arch: str, resolution: int, settings: MeasureSettings,
               m: Measurement) -> tuple[int, bool]:
        """:meth:`add`, and whether this call stored it (False: another writer, or an earlier
        run, had stored it already)."""
        try:
            return self._insert(device_info, arch, resolution, settings, m)
        except sqlite3.Error as e:
            try:
                kept = f"the {self.count()} measurements stored before are kept"
            except sqlite3.Error:
                kept = "the measurements stored before are kept"
            raise sqlite_files.user_error(e, self.path, f"store the measurement of {arch[:40]}", kept) from None

    def _device_id(self, device_info: DeviceInfo, now: str) -> int:
        """The row of ``device_info`` (added, or its properties and last sighting updated), inside the caller's transaction."""
        self.conn.execute(
            "INSERT INTO devices (key, kind, model, runtime, runtime_version, properties, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "last_seen = excluded.last_seen, properties = excluded.properties, "
            "runtime_version = excluded.runtime_version",
            (device_info.key, device_info.kind, device_info.model, device_info.runtime,
             device_info.runtime_version, _json(device_info.properties), now, now),
        )
        return int(self.conn.execute("SELECT id FROM devices WHERE key = ?", (device_info.key,)).fetchone()[0])

    def _insert(self, device_info, arch, resolution, settings, m) -> tuple[int, bool]:
        num_classes = int(m.num_classes)
        if num_classes < 1:
            raise ValueError(f"measurement of {arch[:40]} has num_classes={m.num_classes}; it must be >= 1")
        runtime, runtime_version, accelerator = runtime_identity(m.device or device_info)
        params, macs = m.params, m.macs  # counted by whoever built the model, not here
        key = settings_key(settings)
        now = _now()
        c = self.conn
        c.execute("BEGIN IMMEDIATE")  # take the write lock now: no lost update between processes
        try:
            device_id = self._device_id(device_info, now)
            c.execute(
                # counts missing from the first record of a model are filled by a later one that has them
                "INSERT INTO models (arch, resolution, num_classes, params, macs) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(arch, resolution, num_classes) DO UPDATE SET "
                "params = COALESCE(models.params, excluded.params), macs = COALESCE(models.macs, excluded.macs)",
                (arch, resolution, num_classes, params, macs),
            )
            model_id = c.execute(
                "SELECT id FROM models WHERE arch = ? AND resolution = ? AND num_classes = ?",
                (arch, resolution, num_classes),
            ).fetchone()[0]
            existing = c.execute(
                "SELECT id FROM measurements WHERE device_id = ? AND model_id = ? AND settings_key = ? "
                "AND runtime = ? AND runtime_version = ? AND accelerator = ?",
                (device_id, model_id, key, runtime, runtime_version, accelerator),
            ).fetchone()
            if existing is not None:
                c.execute("COMMIT")
                return int(existing[0]), False
            cur = c.execute(
                "INSERT INTO measurements (device_id, model_id, settings_key, settings, threads, latency_ms, "
                "latency_p10_ms, latency_p90_ms, latency_mean_ms, latency_min_ms, cv, spread, layer_sum_ms, "
                "profiled_runs, attempts, samples, bursts, model_sha256, device_metadata, run_metadata, "
                "measured_at, duration_s, runtime, runtime_version, accelerator) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (device_id, model_id, key, _json(settings.as_dict()), settings.threads, m.latency_ms,
                 m.latency_p10_ms, m.latency_p90_ms, m.latency_mean_ms, m.latency_min_ms, m.cv, m.spread,
                 m.layer_sum_ms, m.profiled_runs, m.attempts, _json(m.samples_ms), _json(m.bursts),
                 m.model_sha256, _json(m.device.as_dict() if m.device else device_info.as_dict()),
                 _json(m.metadata), m.measured_at or now, m.duration_s, runtime, runtime_version, accelerator),
            )
            mid = int(cur.lastrowid)
            c.executemany(
                "INSERT INTO layer_timings (measurement_id, position, name, latency_ms) VALUES (?, ?, ?, ?)",
                [(mid, i, name, float(ms)) for i, (name, ms) in enumerate(m.layers_ms.items())],
            )
            c.execute("COMMIT")
            return mid, True
        except BaseException:
            sqlite_files.rollback(c)  # SQLite may have rolled back already (disk full)
            raise

    # ------------------------------------------------------------------ reading
    def has(self, device: DeviceInfo | str, arch: str, resolution: int, settings: MeasureSettings, *,
            num_classes: int = 1000) -> bool:
        """Whether this device already has a measurement of this model with these settings and the
        device's runtime, runtime version and accelerator (a bare device key: ONNX Runtime on the CPU)."""
        key = device if isinstance(device, str) else device.key
        clause, args = self._identity(device)
        row = self.conn.execute(
            "SELECT 1 FROM measurements m JOIN devices d ON d.id = m.device_id JOIN models mo ON mo.id = m.model_id "
            "WHERE d.key = ? AND mo.arch = ? AND mo.resolution = ? AND mo.num_classes = ? AND m.settings_key = ? "
            f"AND {clause}",
            (key, arch, resolution, num_classes, settings_key(settings), *args),
        ).fetchone()
        return row is not None

    def _identity(self, device: DeviceInfo | str | None) -> tuple[str, list]:
        """The SQL condition selecting measurements of ``device``'s runtime identity (see :func:`runtime_identity`)."""
        runtime, version, accelerator = runtime_identity(device)
        columns = store_migrations.IDENTITY_COLUMNS[self.schema_version]
        clause, args = f"{columns[0]} = ? AND {columns[2]} = ?", [runtime, accelerator]
        if version is not None:
            clause, args = clause + f" AND {columns[1]} = ?", args + [version]
        return clause, args

    def measured_archs(self, resolution: int, settings: MeasureSettings, *, num_classes: int = 1000,
                       device_keys: Iterable[str] = (), device_models: Iterable[tuple[str, str]] = (),
                       runtime: DeviceInfo | None = None) -> set[str]:
        """Architectures measured with these settings on any of ``device_keys``, or on any device
        of one of ``device_models`` ((kind, hardware model) pairs: phones of the same model
        share a predictor, so a model measured on one of them is not needed from another), by
        the runtime identity of ``runtime`` (a DeviceInfo; None: ONNX Runtime on the CPU)."""
        keys, models = list(device_keys), list(device_models)
        if not keys and not models:
            return set()
        conditions = []
        args: list = [resolution, num_classes, settings_key(settings)]
        if keys:
            conditions.append(f"d.key IN ({', '.join('?' * len(keys))})")
            args += keys
        for kind, model in models:
            conditions.append("(d.kind = ? AND d.model = ?)")
            args += [kind, model]
        clause, identity_args = self._identity(runtime)
        rows = self.conn.execute(
            "SELECT DISTINCT mo.arch FROM measurements m JOIN devices d ON d.id = m.device_id "
            "JOIN models mo ON mo.id = m.model_id WHERE mo.resolution = ? AND mo.num_classes = ? "
            f"AND m.settings_key = ? AND ({' OR '.join(conditions)}) AND {clause}",
            args + identity_args,
        ).fetchall()
        return {r[0] for r in rows}

    def count(self, device: str | None = None) -> int:
        q = "SELECT COUNT(*) FROM measurements m JOIN devices d ON d.id = m.device_id"
        args: tuple = ()
        if device is not None:
            q, args = q + " WHERE d.key = ?", (device,)
        return int(self.conn.execute(q, args).fetchone()[0])

    def devices(self) -> list[dict]:
        """Every device with its properties and its number of measurements."""
        rows = self.conn.execute(
            "SELECT d.key, d.kind, d.model, d.runtime, d.runtime_version, d.properties, d.first_seen, d.last_seen, "
            "(SELECT COUNT(*) FROM measurements m WHERE m.device_id = d.id) FROM devices d ORDER BY d.id"
        ).fetchall()
        keys = ("key", "kind", "model", "runtime", "runtime_version", "properties", "first_seen", "last_seen",
                "measurements")
        out = [dict(zip(keys, r)) for r in rows]
        for d in out:
            d["properties"] = json.loads(d["properties"])
        return out

    def _frame(self, query: str, device: str | None, after_id: int | None = None) -> pd.DataFrame:
        import pandas as pd

        where, args = self._where({"d.key = ?": device, "m.id > ?": after_id})
        return pd.read_sql_query(query.format(where=f"WHERE {where}" if where else "", runtime=self._runtime()),
                                 self.conn, params=args)

    @staticmethod
    def _where(conditions: dict) -> tuple[str, tuple]:
        args = tuple(v for v in conditions.values() if v is not None)
        return " AND ".join(c for c, v in conditions.items() if v is not None), args

    def _runtime(self) -> str:
        return ", ".join(f"{c} AS {n}" for c, n in zip(store_migrations.IDENTITY_COLUMNS[self.schema_version],
                                                       store_migrations.IDENTITY_NAMES))

    def models_frame(self, device: str | None = None, after_id: int | None = None, *,
                     drift_correction: bool = True) -> pd.DataFrame:
        """One row per measurement: measurement_id, device (key), device_model, device_kind, arch,
        resolution, num_classes, params, macs, threads, latency_ms (median), latency_p10_ms,
        latency_p90_ms, latency_mean_ms, latency_min_ms, cv, spread, layer_sum_ms,
        layer_sum_ratio, profiled_runs, attempts, model_sha256, runtime, runtime_version,
        accelerator (the measurement's runtime identity), settings (JSON), measured_at, duration_s;
        the drift correction beside the raw median (``latency_corrected_ms``, ``drift_factor``,
        ``drift_flag``: :mod:`mnas_pred.drift_correction`, from every stored reference run of the
        device, so an ``after_id`` read corrects its rows as a whole read would; left out with
        ``drift_correction=False``, for a reader that corrects what it gathered itself) and what it
        was computed from (``drift_*``), and the CPU steal share and load average during the
        measurement with what was off, if anything (``steal``, ``load1``, ``machine_noisy``; local
        device). ``after_id``: only the measurements stored after that one (the rows a reader has
        not seen)."""
        from mnas_pred.drift_correction import add_drift_correction

        df = self._frame(MODELS_QUERY, device, after_id)
        if drift_correction:
            df = add_drift_correction(df, self.reference_runs_frame(device))
        df.insert(df.columns.get_loc("layer_sum_ms") + 1, "layer_sum_ratio",
                  (df["layer_sum_ms"] / df["latency_ms"]).where(df["layer_sum_ms"] > 0))
        return df

    def layers_frame(self, device: str | None = None, after_id: int | None = None) -> pd.DataFrame:
        """One row per layer per measurement: measurement_id, device, arch, resolution, position,
        name (stem, blockB_layerL, head, or ``between_layers`` for layout conversions at a layer
        boundary; ``other`` in stores written before it), latency_ms."""
        return self._frame(LAYERS_QUERY, device, after_id)

    def samples(self, measurement_id: int) -> dict:
        """The stored samples and bursts of one measurement."""
        row = self.conn.execute("SELECT samples, bursts FROM measurements WHERE id = ?", (measurement_id,)).fetchone()
        if row is None:
            raise MnasPredError(f"no measurement with id {measurement_id} in '{self.path}'")
        return {"samples_ms": json.loads(row[0]), "bursts": json.loads(row[1])}

    # ------------------------------------------------------------------ export
    def records(self, device: str | None = None) -> list[dict]:
        """Every measurement as a plain dict with its ``layers`` list ({name, latency_ms})."""
        models = self.models_frame(device)
        layers = self.layers_frame(device)
        by_id: dict[int, list[dict]] = {}
        for mid, name, ms in zip(layers["measurement_id"], layers["name"], layers["latency_ms"]):
            by_id.setdefault(int(mid), []).append({"name": name, "latency_ms": float(ms)})
        out = []
        for rec in models.to_dict(orient="records"):
            rec = {k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}  # NaN -> null
            rec["settings"] = json.loads(rec["settings"])
            rec["layers"] = by_id.get(int(rec["measurement_id"]), [])
            out.append(rec)
        return out

    def export(self, fmt: str, out: str | Path | None = None, device: str | None = None) -> int:
        """Write every measurement as ``jsonl`` (one object per line, with ``layers``), ``csv``
        (one row per measurement, ``layers`` as a JSON string) or ``parquet`` (``layers`` as a
        list of structs) to ``out``, or to stdout for the text formats. Returns the row count."""
        check_export(fmt, out)
        return write_records(self.records(device), fmt, out, lambda: self.models_frame(device))


__all__ = ["SCHEMA_VERSION", "STORED_RUNTIMES", "MeasurementStore", "runtime_identity", "settings_key"]
