"""One library call per command: fit, evaluate, predict (the CLI only parses and prints).

These are also the entry points for the search stage: :func:`fit_predictor` refits from new
store measurements (or adapts another device's predictor), :func:`predictors.io.load_predictor`
loads a file, and :class:`predictors.io.PredictorFile` answers token-array queries.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from mnas_pred.arch import parse_arch
from mnas_pred.errors import MnasPredError
from mnas_pred.space import SearchSpace
from predictors import PREDICTORS, make_predictor
from predictors.data import TrainingData, load_training_data
from predictors.evaluation import cross_validate, evaluate
from predictors.io import OtherDeviceWarning, PredictorFile, check_device, load_predictor, save_predictor
from predictors.overlap import overlap_warnings, split_seen, training_network_hashes

DEFAULT_FOLDS = 5


def _device_metadata(data: TrainingData) -> dict:
    """The device fingerprint stored in a predictor file."""
    names = data.devices
    out = {"name": names[0] if len(names) == 1 else ", ".join(names)}
    if data.has_models:
        m = data.models.iloc[-1]
        for col in ("device_key", "device_kind", "runtime", "runtime_version", "accelerator", "threads"):
            if col in data.models and m.get(col) is not None:
                out[col.replace("device_", "") if col != "device_key" else "key"] = m[col].item() if hasattr(m[col], "item") else m[col]
        out["model"] = out["name"]
    return out


def _check_per_layer(data: TrainingData) -> None:
    """Whole-model latencies without per-layer times cannot train the predictors (per-layer models
    with a whole-model calibration): one line naming how to get per-layer times on that runtime."""
    if not data.layers.empty or not data.has_models:
        return
    runtime = str(data.models["runtime"].iloc[-1]) if "runtime" in data.models else "onnxruntime"
    if runtime == "litert":
        why = "LiteRT measured through ai-edge-litert, whose Python API has no per-op profiler"
        fix = ("profile again with --benchmark-model PATH (LiteRT's benchmark_model tool, linux_x86_64 build for this "
               "CPU, android_arm64 for a phone): it adds per-layer times")
    else:
        why = "profiled with --profile-runs 0"
        fix = "profile again with --profile-runs 10 (the default): it adds per-layer times"
    raise MnasPredError(f"the training data has end-to-end latencies only ({len(data.models)} networks, {why}); "
                        "the predictors learn per-layer latencies", fix)


def fit_predictor(data: TrainingData, kind: str = "lgbm", space: SearchSpace | None = None, folds: int = DEFAULT_FOLDS,
                  init_from: PredictorFile | None = None, baselines: Sequence[str] | None = None, seed: int = 0,
                  params: dict | None = None) -> tuple[PredictorFile, object]:
    """Cross-validate ``kind`` and the baselines on ``data`` (``folds`` ≥ 2; 0 or 1 skips it),
    then fit each on all of it. Returns the predictor file (not yet saved) and the evaluation."""
    space = space or SearchSpace.default()
    _check_per_layer(data)
    if kind not in PREDICTORS:
        raise MnasPredError(f"unknown predictor kind '{kind}'", f"use one of {', '.join(PREDICTORS)}")
    names = [kind] + [b for b in (baselines if baselines is not None else PREDICTORS) if b != kind]
    make = {n: (lambda n=n: make_predictor(n, **((params or {}) if n == kind else {}))) for n in names}
    init = {}
    if init_from is not None:
        if init_from.kind != kind:
            raise MnasPredError(f"--init-from holds a {init_from.kind} predictor", f"fit with --kind {init_from.kind}")
        init = {kind: init_from.predictor}
    evaluation = cross_validate(data, make, folds, seed, init) if folds and folds >= 2 else None
    fitted = {n: make[n]().fit(data, init_from=init.get(n)) for n in names}
    metadata = {
        "device": _device_metadata(data),
        "search_space": space.to_dict(),
        "training_data": {**data.summary(), "arch_sha256": training_network_hashes(data)},
        "metrics": evaluation.as_dict() if evaluation else {},
        "init_from": {"path": str(init_from.path), "device": init_from.device} if init_from is not None else None,
        # which labels it learnt (None: CSV data, no drift readings): evaluation and refits use the same kind
        "drift_correction": data.measurement_quality.get("drift_correction"),
    }
    return PredictorFile(kind, fitted, metadata), evaluation


def fit_predictor_file(out: Path, db: Path | None = None, measurements: Sequence[Path] = (), device: str | None = None,
                       kind: str = "lgbm", report_dir: Path | None = None, init_from: Path | None = None,
                       folds: int = DEFAULT_FOLDS, space_path: Path | None = None, seed: int = 0,
                       runtime: str | None = None, accelerator: str | None = None,
                       drift_correction: bool = True) -> dict:
    """``fit-predictor``: load data (one device, one runtime on one accelerator), cross-validate,
    fit, write the file (and the report). ``init_from`` may come from another runtime: adaptation.
    Store latencies are drift-corrected unless ``drift_correction`` is False."""
    space = SearchSpace.load(space_path)
    data = load_training_data(db, measurements, device, runtime, accelerator, drift_correction)
    other = load_predictor(init_from, space=space) if init_from is not None else None
    pf, evaluation = fit_predictor(data, kind, space, folds, other, seed=seed)
    save_predictor(pf, out)
    # the networks' hashes stay in the file (evaluate-predictor reads them), out of the output and the report
    summary = {k: v for k, v in pf.metadata["training_data"].items() if k != "arch_sha256"}
    result = {"out": str(out), "kind": kind, "device": pf.device, "training_data": summary,
              "evaluation": evaluation.as_dict() if evaluation else None}
    if report_dir is not None and evaluation is not None:
        from predictors.report import write_report

        info = {"predictor file": out, **quality_lines(summary.get("measurement_quality", {})),
                "training data": {k: v for k, v in summary.items() if k != "measurement_quality"}}
        result["report"] = str(write_report(evaluation, report_dir, f"{kind} latency predictor for {pf.device.get('name')}",
                                            info))
    return result


def quality_lines(quality: dict) -> dict:
    """The report's lines on the measurements: the drift correction used (and how much it moved
    the latencies) and the noise floor of the device (what accuracy the data allows)."""
    out = {}
    drift = quality.get("drift") or {}
    if quality:
        if not quality.get("drift_correction"):
            out["drift correction"] = "off (--no-drift-correction): raw latencies"
        elif drift.get("corrected"):
            out["drift correction"] = (
                f"on: {drift['corrected']} measurements divided by their interpolated reference factor "
                f"(median change {100 * drift['median_abs_change']:.1f}%, largest {100 * drift['max_abs_change']:.1f}%); "
                f"{drift['uncorrected']} without reference runs kept raw; {drift['flagged']} flagged"
                + (f" ({'; '.join(drift['flags'][:3])})" if drift["flags"] else ""))
        else:
            out["drift correction"] = "on, but no measurement has reference runs (profile-device --drift-every N)"
    if "noise_floor" in quality:
        out["noise floor"] = quality["noise_floor"]["summary"]
    return out


def evaluate_predictor_file(path: Path, db: Path | None = None, measurements: Sequence[Path] = (),
                            device: str | None = None, drift_correction: bool | None = None) -> dict:
    """``evaluate-predictor``: metrics of a saved predictor (and its baselines) on other data.
    Data of another device than the predictor's is evaluated, with a warning. Store latencies are
    the kind the predictor learnt (drift-corrected or raw) unless ``drift_correction`` says which;
    a file that does not say (older than the key) is scored on corrected ones, with a warning."""
    pf = load_predictor(path)
    warned = []
    if drift_correction is None:
        drift_correction = pf.drift_correction
        if drift_correction is None:
            drift_correction = True
            if db is not None:
                warned.append(f"'{path}' does not say whether it learnt drift-corrected latencies (an older file): scored "
                              "on corrected ones; pass --no-drift-correction for raw")
    try:
        data = load_training_data(db, measurements, device, drift_correction=drift_correction)
    except MnasPredError as e:
        if device is not None or "several devices" not in e.problem:
            raise
        data = load_training_data(db, measurements, pf.device.get("name"), drift_correction=drift_correction)
    for dev in data.devices:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", OtherDeviceWarning)
            check_device(pf, dev)
        warned += [str(w.message) for w in caught]
    unseen, overlap = split_seen(pf.metadata.get("training_data", {}), data)
    warned += overlap_warnings(overlap)
    evaluation = evaluate(pf.predictors, unseen)
    return {"predictor": str(path), "kind": pf.kind, "device": pf.device.get("name"), "data_devices": data.devices,
            "drift_correction": drift_correction, "warnings": warned, "overlap": overlap.as_dict(), **evaluation.as_dict()}


def predict_archs(path: Path, archs: Sequence[str], space_path: Path | None = None, resolution: int | None = None,
                  coverage: float = 0.8) -> dict:
    """``predict``: predicted latency (and interval) of architectures with a saved predictor."""
    space = SearchSpace.load(space_path) if space_path is not None else None
    pf = load_predictor(path, space=space)
    parsed = [parse_arch(a) for a in archs]
    res = resolution or (space or pf.space).resolution
    ms = pf.predictor.predict(parsed, res)
    low, high = pf.predictor.predict_interval(parsed, coverage, res)
    return {
        "predictor": str(path), "kind": pf.kind, "device": pf.device.get("name"), "resolution": res, "coverage": coverage,
        "predictions": [
            {"name": name.strip(), "arch": a.to_string(), "latency_ms": float(m), "low_ms": float(lo),
             "high_ms": float(hi)}
            for name, a, m, lo, hi in zip(archs, parsed, ms, low, high)
        ],
    }
