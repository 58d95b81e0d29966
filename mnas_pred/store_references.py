"""The reference runs of the drift checks in the measurement store (schema 3's ``reference_runs``,
:mod:`mnas_pred.drift_correction`): written by a campaign as each run finishes, read beside the
measurements for the correction. A part of :class:`mnas_pred.store.MeasurementStore`, split off by
job; also the measurement identity helpers both parts use."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mnas_pred import sqlite_files
from mnas_pred.records import DeviceInfo, MeasureSettings
from mnas_pred.store_schema import REFERENCE_FRAME_COLUMNS, REFERENCE_METADATA_QUERY, REFERENCE_TABLE_QUERY

if TYPE_CHECKING:
    import pandas as pd


def settings_key(settings: MeasureSettings | dict) -> str:
    """Canonical JSON of the settings: part of a measurement's identity (same model, other
    thread count or run count = another measurement)."""
    d = settings if isinstance(settings, dict) else settings.as_dict()
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


# The runtime names of the command line (--runtime) and of the store (DeviceInfo.runtime).
STORED_RUNTIMES = {"ort": "onnxruntime", "litert": "litert"}


def runtime_identity(device: DeviceInfo | str | None) -> tuple[str, str | None, str]:
    """(runtime, runtime version, accelerator) of a measurement by ``device``. A bare device key or
    None (callers from before runtimes were told apart) means ONNX Runtime on the CPU, any version."""
    if device is None or isinstance(device, str):
        return "onnxruntime", None, "cpu"
    return device.runtime or "onnxruntime", device.runtime_version or "", getattr(device, "accelerator", "cpu") or "cpu"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def settings_json(settings: MeasureSettings) -> str:
    """The settings as the ``settings`` columns hold them (and the frames' ``settings``)."""
    return _json(settings.as_dict())


class ReferenceRuns:
    """The store's reference-run methods (mixed into :class:`mnas_pred.store.MeasurementStore`,
    whose connection, device rows and query helpers they use)."""

    def add_reference_run(self, device_info: DeviceInfo, resolution: int, num_classes: int,
                          settings: MeasureSettings, run: dict) -> bool:
        """Store one reference run of a drift check (``run``: ``campaign``, ``reference`` k, ``arch``,
        ``latency_ms``, ``cv``, ``slow``, ``process_ms``, ``after_models``, ``measured_at``) under the
        settings of the campaign's measurements; False if that run was stored already."""
        runtime, runtime_version, accelerator = runtime_identity(device_info)
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            now = _now()
            cur = c.execute(
                "INSERT OR IGNORE INTO reference_runs (campaign, reference, device_id, runtime, runtime_version, "
                "accelerator, arch, resolution, num_classes, settings_key, settings, latency_ms, cv, slow, process_ms, "
                "after_models, measured_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run["campaign"], int(run["reference"]), self._device_id(device_info, now), runtime, runtime_version,
                 accelerator, run["arch"], resolution, num_classes, settings_key(settings), settings_json(settings),
                 float(run["latency_ms"]), float(run["cv"]), bool(run["slow"]), _json(run["process_ms"]),
                 int(run["after_models"]), run.get("measured_at") or now))
            c.execute("COMMIT")
            return cur.rowcount == 1
        except BaseException:
            sqlite_files.rollback(c)
            raise

    def reference_runs_frame(self, device: str | None = None, *, from_metadata: bool = True) -> pd.DataFrame:
        """One row per reference run of the drift checks (of ``device``): campaign, reference (k),
        device, runtime, runtime_version, accelerator, resolution, settings (JSON, as the models
        frame has it), reference_ms, slow; the stored ``reference_runs`` and, for campaigns not in
        that table (older stores), the runs the measurements' metadata names (``from_metadata=False``:
        the table alone, for a reader that holds the measurements and adds theirs itself)."""
        import pandas as pd

        where, args = self._where({"d.key = ?": device})
        parts, params = [], []
        if self.schema_version >= 3:
            parts.append(REFERENCE_TABLE_QUERY.format(where=f"WHERE {where}" if where else ""))
            params += args
        if from_metadata:
            unlisted = (" AND json_extract(m.run_metadata, '$.drift.campaign') NOT IN (SELECT campaign FROM reference_runs)"
                        if self.schema_version >= 3 else "")
            parts.append(REFERENCE_METADATA_QUERY.format(runtime=self._runtime(),
                                                         where=(f"AND {where}" if where else "") + unlisted))
            params += args
        if not parts:
            return pd.DataFrame(columns=list(REFERENCE_FRAME_COLUMNS))
        refs = pd.read_sql_query(" UNION ALL ".join(parts), self.conn, params=tuple(params))
        return refs.astype({"reference": "int64", "reference_ms": "float64"}).assign(slow=refs["slow"].astype(bool))
