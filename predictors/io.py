"""Predictor files: one JSON document, never a pickle (design.md §6).

A predictor file holds the chosen predictor *and* the baselines fitted on the same data (so that
``evaluate-predictor`` can always show them side by side), each as plain JSON; LightGBM models
are embedded in LightGBM's own text format (``Booster.model_to_string``). Beside them: the device
the data came from, the search space (:meth:`SearchSpace.to_dict`), the feature schema, a summary
of the training data, the cross-validated metrics, and package versions::

    {"format": "mnas-pred-predictor", "format_version": 1,
     "payload_sha256": "<sha256 of the canonical payload JSON>",
     "payload": {"kind": "lgbm", "predictors": {"lgbm": {...}, "rf": {...}, ...},
                 "device": {...}, "search_space": {...}, "feature_schema": {...},
                 "training_data": {...}, "metrics": {...}, "versions": {...}, "created_at": ...}}

Loading parses JSON and LightGBM text only, so a file from someone else cannot run code.

The checksum is a plain SHA-256 of the payload, with no key: it catches a file that was
truncated, damaged on disk or in transfer, or edited by hand without care, and turns it into a
clear error instead of wrong predictions. It does *not* authenticate anything: whoever edits a
file can recompute it. What keeps a crafted file harmless is the schema
(:mod:`predictors.schema`): every field typed and bounded, every embedded LightGBM model checked
structurally (:mod:`predictors.lgbm_text`) before LightGBM parses it, and the search space
checked like a space file. A file that passes can still predict badly; it cannot crash the
process, read memory out of bounds, or make mnas-pred print ``inf``/``nan``.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from mnas_pred.errors import MnasPredError
from mnas_pred.features import FEATURE_COLUMNS
from mnas_pred.files import atomic_write_bytes
from mnas_pred.space import SearchSpace
from mnas_pred.validation import parse_json, validate
from predictors._base import LatencyPredictor
from predictors.schema import Payload, check_model_texts

FORMAT = "mnas-pred-predictor"
FORMAT_VERSION = 1
#: Larger files are refused unread (a full lgbm predictor with its baselines is about 6 MB).
MAX_PREDICTOR_BYTES = 256 * 2**20
VERSIONED_PACKAGES = ("mnas-pred", "lightgbm", "numpy", "pandas", "scikit-learn", "onnxruntime", "torch")


class OtherDeviceWarning(UserWarning):
    """A predictor is applied to measurements or a search for another device."""


@dataclass
class PredictorFile:
    """A loaded (or freshly fitted) predictor file: the main predictor, its baselines, metadata."""

    kind: str
    predictors: dict[str, LatencyPredictor]
    metadata: dict = field(default_factory=dict)
    path: Path | None = None
    _tables: dict = field(default_factory=dict, repr=False)
    _space: SearchSpace | None = field(default=None, repr=False)

    @property
    def predictor(self) -> LatencyPredictor:
        return self.predictors[self.kind]

    @property
    def device(self) -> dict:
        return self.metadata.get("device", {})

    @property
    def drift_correction(self) -> bool | None:
        """Whether the predictor learnt drift-corrected latencies (True) or raw ones (False); None
        when the file does not say: written before fit-predictor corrected anything (its store
        labels were raw then) or fitted on CSVs only (their values are whatever the CSV holds)."""
        value = self.metadata.get("drift_correction")
        if value is None:  # files of the first drift-corrected fits say it in their data summary only
            value = self.metadata.get("training_data", {}).get("measurement_quality", {}).get("drift_correction")
        return None if value is None else bool(value)

    @property
    def space(self) -> SearchSpace:
        """The search space the predictor was fitted for (built from the metadata once)."""
        if self._space is None:
            self._space = SearchSpace.from_dict(_space_config(self.metadata["search_space"]), source=_space_source(self.path))
        return self._space

    def lookup_table(self, resolution: int | None = None, space: SearchSpace | None = None):
        """The precomputed block table of the main predictor at ``resolution`` (cached)."""
        from predictors.lookup import LookupTable

        space = space or self.space
        resolution = int(resolution or space.resolution)
        key = (resolution, json.dumps(space.to_dict(), sort_keys=True))
        if key not in self._tables:
            self._tables[key] = LookupTable(self.predictor, space, resolution)
        return self._tables[key]

    def predict_tokens(self, tokens, resolution: int | None = None) -> np.ndarray:
        """Latency (ms) of token sequences (``SearchSpace.sample_tokens``/``encode``): a table lookup."""
        return self.lookup_table(resolution).predict(tokens)

    def predict_tokens_interval(self, tokens, coverage: float = 0.8, resolution: int | None = None):
        return self.lookup_table(resolution).predict_interval(tokens, coverage)


def package_versions() -> dict:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


def _canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def save_predictor(pf: PredictorFile, path: str | Path) -> Path:
    """Write a predictor file atomically (a reader never sees half a file)."""
    from predictors.lgbm import PREDICTOR_FEATURE_COLUMNS

    payload = {
        "kind": pf.kind,
        "predictors": {name: p.to_dict() for name, p in pf.predictors.items()},
        "feature_schema": {"layer_features": list(FEATURE_COLUMNS), "predictor_features": list(PREDICTOR_FEATURE_COLUMNS)},
        "versions": package_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in pf.metadata.items() if k not in ("versions", "created_at", "feature_schema")},
    }
    payload = json.loads(json.dumps(payload, default=_json_default))  # plain types only
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "payload_sha256": hashlib.sha256(_canonical(payload)).hexdigest(), "payload": payload,
    }
    path = atomic_write_bytes(path, json.dumps(doc, separators=(",", ":")).encode())
    pf.path = path
    pf.metadata = {k: v for k, v in payload.items() if k not in ("kind", "predictors")}
    return path


def load_predictor(path: str | Path, space: SearchSpace | None = None, device: str | None = None) -> PredictorFile:
    """Read a predictor file. ``space``: refuse a predictor fitted for another search space;
    ``device``: warn (:class:`OtherDeviceWarning`) when it was fitted on another device."""
    from predictors import PREDICTORS

    path = Path(path)
    fix = "give a file written by `mnas-pred fit-predictor --out FILE`, or fit it again"
    if not path.is_file():
        raise MnasPredError(f"predictor file '{path}' does not exist", fix)
    if path.stat().st_size > MAX_PREDICTOR_BYTES:
        raise MnasPredError(f"predictor file '{path}' is larger than {MAX_PREDICTOR_BYTES >> 20} MiB", fix)
    doc = parse_json(path.read_bytes(), f"predictor file '{path}'", fix)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MnasPredError(f"'{path}' is not a mnas-pred predictor file", fix)
    if doc.get("format_version") != FORMAT_VERSION:
        raise MnasPredError(f"predictor file '{path}' has format version {doc.get('format_version')}, this mnas-pred reads {FORMAT_VERSION}", fix)
    payload = doc.get("payload")
    if not isinstance(payload, dict) or hashlib.sha256(_canonical(payload)).hexdigest() != doc.get("payload_sha256"):
        raise MnasPredError(f"predictor file '{path}' was modified or damaged (checksum mismatch)", fix)
    try:
        check_model_texts(validate(Payload, payload, f"predictor file '{path}'", fix))
    except ValueError as e:
        if isinstance(e, MnasPredError):
            raise
        raise MnasPredError(f"predictor file '{path}': {e}", fix) from None
    try:
        fitted_space = SearchSpace.from_dict(_space_config(payload["search_space"]), source=_space_source(path))
    except MnasPredError as e:
        raise MnasPredError(e.problem, fix) from None
    try:
        predictors = {name: PREDICTORS[state["kind"]].from_dict(state) for name, state in payload["predictors"].items()}
        kind = payload["kind"]
        predictors[kind]  # noqa: B018 - the main predictor must be there
    except Exception as e:  # any malformed state: a clear error, never a traceback
        raise MnasPredError(f"predictor file '{path}' cannot be read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})", fix) from None
    pf = PredictorFile(kind, predictors, {k: v for k, v in payload.items() if k not in ("kind", "predictors")}, path,
                       _space=fitted_space)
    if space is not None:
        check_space(pf, space)
    if device is not None:
        check_device(pf, device)
    return pf


def _space_source(path: Path | None) -> str:
    return f"in predictor file '{path}'" if path is not None else "of the fitted predictor"


def _space_config(d: dict) -> dict:
    """SearchSpace.to_dict() → a config that SearchSpace.from_dict() turns into the same space.
    to_dict() keeps resolved filters and layers, not the bases: every resolved width is a
    multiple of 8, so base 8 with multipliers f/8 reproduces it exactly, and base 1 with offsets
    n-1 reproduces the layer counts."""
    blocks = [
        {
            "filters": 8, "layers": 1, "stride": b["stride"],
            "ops": b["op"], "kernels": b["kernel"], "se_ratios": b["se_ratio"], "skips": b["skip"],
            "filter_multipliers": [f / 8 for f in b["filters"]], "layer_offsets": [n - 1 for n in b["layers"]],
        }
        for b in d["blocks"]
    ]
    return {k: d[k] for k in ("resolution", "num_classes", "stem_filters", "head_filters")} | {"blocks": blocks}


def _comparable_space(d: dict) -> dict:
    # The input resolution may differ: per-layer models take the input size as a feature, and
    # lookup tables are built per resolution.
    return {k: v for k, v in d.items() if k != "resolution"}


def check_space(pf: PredictorFile, space: SearchSpace) -> None:
    mine = pf.metadata.get("search_space")
    if mine is None or _comparable_space(json.loads(json.dumps(mine))) != _comparable_space(json.loads(json.dumps(space.to_dict()))):
        raise MnasPredError(
            f"predictor '{pf.path}' was fitted for another search space than {space.source}",
            "fit a predictor with the same --space, or pass the space it was fitted for",
        )


def device_names(pf: PredictorFile) -> set[str]:
    d = pf.device
    return {str(v) for v in (d.get("name"), d.get("key"), d.get("model")) if v}


def check_device(pf: PredictorFile, device: str) -> bool:
    """Warn when ``device`` is not the one the predictor was fitted on; returns whether it is."""
    names = device_names(pf)
    if names and str(device) not in names:
        warnings.warn(
            f"predictor '{pf.path}' was fitted on device '{pf.device.get('name')}', not '{device}': "
            "its predictions may be far off (adapt it with fit-predictor --init-from)",
            OtherDeviceWarning, stacklevel=2,
        )
        return False
    return True


def check_runtime(pf: PredictorFile, runtime: str, accelerator: str = "cpu") -> None:
    """Refuse to use a predictor with a device measured by another runtime or on another accelerator
    (``runtime`` as the store names it: "onnxruntime" | "litert"): their kernels differ by tens of
    percent on one network, so the search would re-validate one runtime against another's
    predictions. A predictor fitted on CSVs records no runtime and is not checked."""
    from mnas_pred.store import STORED_RUNTIMES

    fitted = pf.device.get("runtime")
    if not fitted:
        return
    have, want = (fitted, pf.device.get("accelerator") or "cpu"), (runtime, accelerator)
    if have != want:
        flag = {v: k for k, v in STORED_RUNTIMES.items()}
        raise MnasPredError(
            f"predictor '{pf.path}' was fitted on {have[0]}/{have[1]} measurements, but the device re-measures "
            f"with {want[0]}/{want[1]}",
            f"give --runtime {flag.get(have[0], have[0])} --accelerator {have[1]}, or fit a predictor on "
            f"{want[0]} measurements (fit-predictor --runtime {flag.get(want[0], want[0])} --init-from {pf.path} "
            "adapts this one)")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")
