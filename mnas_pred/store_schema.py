"""The measurement store's tables (:mod:`mnas_pred.store` describes them): the DDL a new file is
created with, and the version that :mod:`mnas_pred.store_migrations` upgrades older files to."""

from __future__ import annotations

SCHEMA_NAME = "mnas-pred-measurements"
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # older ones are upgraded on a writable open, read as they are on a read-only one

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    runtime TEXT NOT NULL,
    runtime_version TEXT NOT NULL,
    properties TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    arch TEXT NOT NULL,
    resolution INTEGER NOT NULL,
    num_classes INTEGER NOT NULL,
    params INTEGER,
    macs INTEGER,
    UNIQUE (arch, resolution, num_classes)
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    model_id INTEGER NOT NULL REFERENCES models(id),
    settings_key TEXT NOT NULL,
    settings TEXT NOT NULL,
    threads INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    latency_p10_ms REAL NOT NULL,
    latency_p90_ms REAL NOT NULL,
    latency_mean_ms REAL NOT NULL,
    latency_min_ms REAL NOT NULL,
    cv REAL NOT NULL,
    spread REAL NOT NULL,
    layer_sum_ms REAL NOT NULL,
    profiled_runs INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    samples TEXT NOT NULL,
    bursts TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    device_metadata TEXT NOT NULL,
    run_metadata TEXT NOT NULL,
    measured_at TEXT NOT NULL,
    duration_s REAL NOT NULL,
    runtime TEXT NOT NULL DEFAULT 'onnxruntime',
    runtime_version TEXT NOT NULL DEFAULT '',
    accelerator TEXT NOT NULL DEFAULT 'cpu',
    UNIQUE (device_id, model_id, settings_key, runtime, runtime_version, accelerator)
);
CREATE TABLE IF NOT EXISTS layer_timings (
    measurement_id INTEGER NOT NULL REFERENCES measurements(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    PRIMARY KEY (measurement_id, name)
);
CREATE TABLE IF NOT EXISTS reference_runs (
    id INTEGER PRIMARY KEY,
    campaign TEXT NOT NULL,
    reference INTEGER NOT NULL,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    runtime TEXT NOT NULL,
    runtime_version TEXT NOT NULL,
    accelerator TEXT NOT NULL,
    arch TEXT NOT NULL,
    resolution INTEGER NOT NULL,
    num_classes INTEGER NOT NULL,
    settings_key TEXT NOT NULL,
    settings TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    cv REAL NOT NULL,
    slow INTEGER NOT NULL,
    process_ms TEXT NOT NULL,
    after_models INTEGER NOT NULL,
    measured_at TEXT NOT NULL,
    UNIQUE (campaign, reference)
);
CREATE INDEX IF NOT EXISTS measurements_by_device ON measurements(device_id);
"""


def table_ddl(name: str) -> str:
    """The ``CREATE TABLE`` statement of one table (a migration rebuilds the table with it)."""
    start = SCHEMA.index(f"CREATE TABLE IF NOT EXISTS {name} (")
    return SCHEMA[start:SCHEMA.index(";", start)].replace(" IF NOT EXISTS", "")


# The reference runs of the drift correction (MeasurementStore.reference_runs_frame), one row each, in
# the models frame's terms (device key, settings JSON as the measurements store it): the stored
# table (schema 3), and the runs that measurements' metadata names for campaigns not in it (older
# stores; a reference run with no measurement after it is not there), joined by UNION ALL.
REFERENCE_FRAME_COLUMNS = ("campaign", "reference", "device", "runtime", "runtime_version", "accelerator", "resolution",
                           "settings", "reference_ms", "slow")
REFERENCE_TABLE_QUERY = """
SELECT r.campaign, r.reference, d.key AS device, r.runtime, r.runtime_version, r.accelerator, r.resolution, r.settings,
       r.latency_ms AS reference_ms, r.slow
FROM reference_runs r JOIN devices d ON d.id = r.device_id {where}
"""
REFERENCE_METADATA_QUERY = """
SELECT json_extract(m.run_metadata, '$.drift.campaign') AS campaign,
       json_extract(m.run_metadata, '$.drift.reference') AS reference, d.key AS device,
       {runtime}, mo.resolution, m.settings,
       MAX(json_extract(m.run_metadata, '$.drift.reference_ms')) AS reference_ms,
       MAX(COALESCE(json_extract(m.run_metadata, '$.drift.slow'), 0)) AS slow
FROM measurements m JOIN devices d ON d.id = m.device_id JOIN models mo ON mo.id = m.model_id
WHERE json_extract(m.run_metadata, '$.drift.campaign') IS NOT NULL
  AND json_extract(m.run_metadata, '$.drift.reference_ms') IS NOT NULL {where}
GROUP BY 1, 2
"""

# What the frames read (MeasurementStore.models_frame / layers_frame): one row per measurement with
# its model, device and the drift/machine readings of its run metadata; one row per layer time.
MODELS_QUERY = """
SELECT m.id AS measurement_id, d.key AS device, d.model AS device_model, d.kind AS device_kind,
       mo.arch, mo.resolution, mo.num_classes, mo.params, mo.macs, m.threads,
       m.latency_ms, m.latency_p10_ms, m.latency_p90_ms, m.latency_mean_ms, m.latency_min_ms,
       m.cv, m.spread, m.layer_sum_ms, m.profiled_runs, m.attempts, m.model_sha256,
       {runtime}, m.settings, m.measured_at, m.duration_s,
       json_extract(m.run_metadata, '$.drift.campaign') AS drift_campaign,
       json_extract(m.run_metadata, '$.drift.reference') AS drift_reference,
       json_extract(m.run_metadata, '$.drift.models_since') AS drift_models_since,
       json_extract(m.run_metadata, '$.drift.reference_ms') AS drift_reference_ms,
       json_extract(m.run_metadata, '$.drift.slow') AS drift_slow,
       json_extract(m.run_metadata, '$.drift.reference_process_ms') AS drift_reference_process_ms,
       json_extract(m.run_metadata, '$.machine.steal') AS steal,
       json_extract(m.run_metadata, '$.machine.load1') AS load1,
       json_extract(m.run_metadata, '$.machine.noisy') AS machine_noisy
FROM measurements m JOIN devices d ON d.id = m.device_id JOIN models mo ON mo.id = m.model_id
{where} ORDER BY m.id
"""

LAYERS_QUERY = """
SELECT l.measurement_id, d.key AS device, mo.arch, mo.resolution, l.position, l.name, l.latency_ms
FROM layer_timings l JOIN measurements m ON m.id = l.measurement_id
JOIN devices d ON d.id = m.device_id JOIN models mo ON mo.id = m.model_id
{where} ORDER BY l.measurement_id, l.position
"""
