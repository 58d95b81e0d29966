"""Training data for predictors: per-layer rows and whole-model rows from the store and CSVs.

:class:`TrainingData` holds two tables:

* ``layers``: a layer table (the configuration columns of design.md §3) with ``latency_ms``,
  ``device``, and ``model_key``: the network the layer was profiled in (``arch@resolution``),
  or empty for rows of external per-layer CSVs, which belong to no network;
* ``models``: one row per whole-network measurement: ``model_key, arch, resolution,
  num_classes, latency_ms, device`` (empty when only per-layer CSVs were given).

The *model key* is what evaluation splits on: every measurement of one architecture at one
resolution is in the same fold, so no layer of a test network is ever seen in training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mnas_pred.errors import MnasPredError
from mnas_pred.features import layers_frame, normalize_layer_table, read_layer_csv

CONFIG_COLUMNS = ("op", "kernel", "stride", "expansion", "se_ratio", "skip", "in_h", "in_w", "cin", "cout", "groups", "num_classes")
MODEL_COLUMNS = ("model_key", "arch", "resolution", "num_classes", "latency_ms", "device")
NO_MODEL = ""


@dataclass
class TrainingData:
    layers: pd.DataFrame
    models: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(MODEL_COLUMNS)))
    sources: list[str] = field(default_factory=list)
    measurement_quality: dict = field(default_factory=dict)  # drift correction and noise floor (store data)

    @property
    def has_models(self) -> bool:
        return not self.models.empty

    @property
    def devices(self) -> list[str]:
        names = set(self.layers["device"].astype(str)) | set(self.models["device"].astype(str))
        return sorted(names)

    def subset_models(self, model_keys, keep_csv_layers: bool = True) -> TrainingData:
        """The networks in ``model_keys`` with their layers (plus CSV layers, which belong to no
        network, when ``keep_csv_layers``)."""
        keys = set(model_keys)
        lay_mask = self.layers["model_key"].isin(keys)
        if keep_csv_layers:
            lay_mask |= self.layers["model_key"] == NO_MODEL
        return TrainingData(
            self.layers[lay_mask].reset_index(drop=True),
            self.models[self.models["model_key"].isin(keys)].reset_index(drop=True),
            self.sources, self.measurement_quality,
        )

    def subset_layers(self, mask) -> TrainingData:
        return TrainingData(self.layers[np.asarray(mask)].reset_index(drop=True), self.models.iloc[0:0], self.sources)

    def summary(self) -> dict:
        """What a predictor was trained on (stored in the predictor file)."""
        out = {
            "sources": self.sources,
            "devices": self.devices,
            "n_layers": int(len(self.layers)),
            "n_layer_configs": int(self.layers[list(CONFIG_COLUMNS)].drop_duplicates().shape[0]) if len(self.layers) else 0,
            "n_models": int(len(self.models)),
            "n_distinct_models": int(self.models["model_key"].nunique()) if self.has_models else 0,
            "ops": sorted(self.layers["op"].astype(str).unique().tolist()),
        }
        if self.has_models:
            out["resolutions"] = sorted(int(r) for r in self.models["resolution"].unique())
            lat = self.models["latency_ms"]
            out["model_latency_ms"] = {"min": float(lat.min()), "median": float(lat.median()), "max": float(lat.max())}
        if self.measurement_quality:
            out["measurement_quality"] = self.measurement_quality
        return out


def model_key(arch: str, resolution: int) -> str:
    return f"{arch}@{int(resolution)}"


def from_layer_csvs(paths: Sequence[str | Path], device: str | None = None) -> TrainingData:
    """Per-layer CSVs (design.md §3 schema, extra columns kept), filtered to one device."""
    frames = [read_measurements_csv(p).assign(source=str(p)) for p in paths]
    table = pd.concat(frames, ignore_index=True)
    table["device"] = table["device"].astype(str)
    table["model_key"] = NO_MODEL
    table = _select_device(table, device, "device", ", ".join(str(p) for p in paths))
    return TrainingData(table.reset_index(drop=True), sources=[str(p) for p in paths])


def read_measurements_csv(path: str | Path) -> pd.DataFrame:
    """:func:`mnas_pred.features.read_layer_csv` without the rows measured at exactly 0 ms:
    HW-NAS-Bench records identity skips (no-ops) as 0 ms, a valid measurement that has no log
    and no relative error, so it can neither train a log-target model nor be scored."""
    df = read_layer_csv(path)
    df = df[df["latency_ms"] > 0]
    if df.empty:
        raise MnasPredError(f"'{path}' has no rows with a latency above 0", "give a file with measurements")
    return df


def from_store_frames(models: pd.DataFrame, layers: pd.DataFrame, source: str = "store",
                      device: str | None = None, runtime: str | None = None,
                      accelerator: str | None = None, drift_correction: bool = True) -> TrainingData:
    """Whole-model and per-layer rows in the measurement store's frame format
    (``MeasurementStore.models_frame()`` / ``.layers_frame()``), joined with each network's
    layer configuration on the layer name. One device, measured with one runtime on one
    accelerator (``runtime`` "ort" | "litert" and ``accelerator`` choose when it has several).
    With ``drift_correction`` (the default) every measurement's latency and layer times are
    divided by its drift factor (:mod:`mnas_pred.drift_correction`; measurements without
    reference runs stay raw)."""
    if models.empty:
        raise MnasPredError(f"{source} holds no whole-model measurements", "run `mnas-pred profile-device --db FILE` first")
    models = models.copy()
    # Predictors are tied to a hardware model: phones of one model share a predictor.
    models["device_key"] = models["device"].astype(str)
    if "device_model" in models:
        models["device"] = models["device_model"].fillna(models["device_key"]).astype(str)
    models = _select_device(models, device, "device", source, also_matches="device_key")
    models = _select_runtime(models, runtime, accelerator, source)
    quality = measurement_quality(models, drift_correction)
    if drift_correction and "latency_corrected_ms" in models:
        models["latency_raw_ms"] = models["latency_ms"]
        # rows without a corrected value (a search's own new measurements) keep their raw one
        models["latency_ms"] = models["latency_corrected_ms"].fillna(models["latency_raw_ms"])
        scale = dict(zip(models["measurement_id"], models["latency_ms"] / models["latency_raw_ms"]))
        layers = layers.assign(latency_ms=layers["latency_ms"] * layers["measurement_id"].map(scale).fillna(1.0))
    if "num_classes" not in models:
        models["num_classes"] = 1000
    models["num_classes"] = models["num_classes"].fillna(1000).astype(int)
    models["resolution"] = models["resolution"].astype(int)
    models["model_key"] = [model_key(a, r) for a, r in zip(models["arch"], models["resolution"])]
    device_of = dict(zip(models["measurement_id"], models["device"]))
    layers = layers[layers["measurement_id"].isin(device_of)]

    rows = []
    for mid, arch, res, ncls, key in models[["measurement_id", "arch", "resolution", "num_classes", "model_key"]].itertuples(index=False):
        cfg = layers_frame([arch], int(res), int(ncls))
        rows.append(cfg.assign(measurement_id=mid, model_key=key))
    config = pd.concat(rows, ignore_index=True).drop(columns=["latency_ms"], errors="ignore")
    timed = layers[["measurement_id", "name", "latency_ms"]]
    table = config.merge(timed, on=["measurement_id", "name"], how="inner")  # drops between_layers (and "other" of older stores)
    table = table[table["latency_ms"] > 0]
    table["device"] = table["measurement_id"].map(device_of).astype(str)
    return TrainingData(normalize_layer_table(table).reset_index(drop=True), models.reset_index(drop=True), [source],
                        quality)


def measurement_quality(models: pd.DataFrame, drift_correction: bool) -> dict:
    """What the report says about the measurements: whether and how much the drift correction
    moved them, and the noise floor from the campaigns' reference runs (the same network timed
    in a fresh process every N models: :mod:`mnas_pred.noise_floor`)."""
    from mnas_pred.drift_correction import correction_summary
    from mnas_pred.noise_floor import groups_floor, noise_floor, sentence, settings_repeats

    out: dict = {"drift_correction": drift_correction}
    if "drift_factor" in models:
        out["drift"] = correction_summary(models)
    if "drift_reference_ms" in models:
        runs = models.dropna(subset=["drift_reference_ms", "drift_campaign"]).drop_duplicates(
            ["drift_campaign", "drift_reference"])
        groups = [json.loads(v) for v in runs.get("drift_reference_process_ms", pd.Series(dtype=object)).dropna()]
        floor = groups_floor(groups, f"{len(groups)} reference runs in the store, processes back to back",
                             settings_repeats(models.get("settings", ())))
        if not floor and len(runs) >= 3:  # older stores: one process per reference run, drift included
            floor = noise_floor(runs["drift_reference_ms"].astype(float).tolist())
            floor = {**floor, "source": "reference runs (one process each, drift included)",
                     "summary": sentence(floor, f"{len(runs)} reference runs in the store")}
        if floor:
            out["noise_floor"] = floor
    return out


def from_store(db: str | Path, device: str | None = None, runtime: str | None = None,
               accelerator: str | None = None, drift_correction: bool = True) -> TrainingData:
    """Everything in a measurement store (``mnas_pred.store``) for one device."""
    db = Path(db)
    if not db.is_file():
        raise MnasPredError(f"database '{db}' does not exist", "give the file written by `mnas-pred profile-device --db FILE`")
    from mnas_pred.store import MeasurementStore
    with MeasurementStore(db, create=False) as store:
        models = store.models_frame()
        layers = store.layers_frame()
    if models is None or len(models) == 0:
        raise MnasPredError(f"database '{db}' holds no measurements", f"run `mnas-pred profile-device --db {db}` first")
    return from_store_frames(models, layers, source=str(db), device=device, runtime=runtime, accelerator=accelerator,
                             drift_correction=drift_correction)


def load_training_data(db: str | Path | None = None, measurements: Sequence[str | Path] = (),
                       device: str | None = None, runtime: str | None = None,
                       accelerator: str | None = None, drift_correction: bool = True) -> TrainingData:
    """The store and/or per-layer CSVs, for one device (``device`` picks it when several) and, in
    the store, one runtime on one accelerator (``runtime``/``accelerator`` pick them when several);
    store latencies drift-corrected unless ``drift_correction`` is False."""
    if db is None and not measurements:
        raise MnasPredError("no training data given", "pass --db FILE and/or --measurements CSV")
    parts = []
    if db is not None:
        parts.append(from_store(db, device, runtime, accelerator, drift_correction))
    if measurements:
        parts.append(from_layer_csvs(measurements, device))
    if len(parts) == 1:
        return parts[0]
    data = TrainingData(
        pd.concat([p.layers for p in parts], ignore_index=True),
        pd.concat([p.models for p in parts if p.has_models], ignore_index=True),
        [s for p in parts for s in p.sources], parts[0].measurement_quality,
    )
    if len(data.devices) > 1:
        raise MnasPredError(
            f"the database and the CSVs hold different devices ({', '.join(data.devices)})",
            "pick one with --device NAME, or train on one source",
        )
    return data


def _select_runtime(models: pd.DataFrame, runtime: str | None, accelerator: str | None,
                    source: str) -> pd.DataFrame:
    """The measurements of one runtime on one accelerator: a predictor learns one runtime's kernels
    (ONNX Runtime's fused kernels and LiteRT's XNNPACK ones differ by tens of percent on the same
    network), so mixing them would fit neither. Another runtime's predictor is a start for
    adaptation (``--init-from``), not training data."""
    from mnas_pred.store import STORED_RUNTIMES

    if "runtime" not in models:
        return models
    # rows from before the accelerator was recorded (or built by a caller without it) are CPU rows
    models = models.assign(accelerator=models["accelerator"].fillna("cpu") if "accelerator" in models else "cpu")
    stacks = sorted({f"{r}/{a}" for r, a in zip(models["runtime"], models["accelerator"])})
    if runtime is not None:
        if runtime not in STORED_RUNTIMES:
            raise MnasPredError(f"unknown runtime '{runtime}'", f"use --runtime {' or '.join(STORED_RUNTIMES)}")
        models = models[models["runtime"] == STORED_RUNTIMES[runtime]]
    if accelerator is not None:
        models = models[models["accelerator"] == accelerator]
    if models.empty:
        wanted = "/".join(x for x in (runtime, accelerator) if x)
        raise MnasPredError(f"{source} has no measurements with {wanted} for this device (it has {', '.join(stacks)})",
                            "choose --runtime and --accelerator among those")
    left = sorted({f"{r}/{a}" for r, a in zip(models["runtime"], models["accelerator"])})
    if len(left) > 1:
        raise MnasPredError(
            f"{source} holds measurements of one device with several runtimes ({', '.join(left)}); a predictor is "
            "fitted for one runtime on one accelerator",
            "choose one with --runtime ort|litert (and --accelerator cpu|gpu); --init-from adapts a predictor "
            "of the other")
    return models


def _select_device(frame: pd.DataFrame, device: str | None, column: str, source: str,
                   also_matches: str | None = None) -> pd.DataFrame:
    names = sorted(frame[column].astype(str).unique())
    if device is None:
        if len(names) > 1:
            raise MnasPredError(f"{source} holds several devices ({', '.join(names)})", "choose one with --device NAME")
        return frame
    mask = frame[column].astype(str) == device
    if also_matches is not None:  # the store's device key (e.g. adb:SERIAL) selects too
        mask |= frame[also_matches].astype(str) == device
    if not mask.any():
        raise MnasPredError(f"{source} has no measurements of device '{device}'", f"choose one of {', '.join(names)}")
    return frame[mask]
