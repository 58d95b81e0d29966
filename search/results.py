"""What a search leaves in its results folder besides the checkpoint: ``history.csv`` and
``revalidation.csv`` after every update; at the end ``pareto.csv``, ``best/`` (architecture
string, ONNX at the deployment resolution, trained proxy weights), the plots and ``summary.json``."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from mnas_pred.arch import parse_arch
from mnas_pred.files import atomic_write_bytes
from mnas_pred.threads import torch_threads
from search.accuracy import ProxyTrainer
from search.killpoint import kill_point
from search.pareto import hypervolume, pareto_front
from search.revalidation import first_rows
from search.weights import save_weights

HISTORY_COLUMNS = ("step", "arch", "accuracy", "predicted_latency_ms", "measured_latency_ms", "reward",
                   "update", "latency_ms")
PARETO_COLUMNS = ("arch", "accuracy", "latency_ms", "latency_source", "reward", "step")


@dataclass
class SearchResult:
    out_dir: Path
    history: list[dict]
    pareto: list[dict]
    best: list[dict]
    device_measurements: int
    refits: int
    elapsed_s: float
    summary: dict


def _csv(rows: list[dict], columns, empty_nan: bool = False) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for row in rows:
        if empty_nan:  # no latency of that kind: an empty cell
            row = {k: "" if row[k] is None or isinstance(row[k], float) and math.isnan(row[k]) else row[k]
                   for k in columns}
        w.writerow(row)
    return buf.getvalue().encode()


def write_history(search) -> None:
    atomic_write_bytes(search.out / "history.csv", _csv(search.history, HISTORY_COLUMNS, empty_nan=True))
    if search.revalidations:
        atomic_write_bytes(search.out / "revalidation.csv", _csv(search.revalidations, list(search.revalidations[0])))


def distinct_candidates(search) -> list[dict]:
    """One entry per architecture with the best latency known now: measured where measured,
    else the current (possibly refitted) predictor's value; reward under that latency."""
    first = first_rows(search.history)
    names = list(first)
    oracle = search.oracle
    current = {}
    if oracle.model is not None and names:
        current = dict(zip(names, oracle.model.predict(*search.candidates.get(names)).tolist()))
    out = []
    for name, row in first.items():
        measured = oracle.measured(name)
        lat = measured if measured is not None else current.get(name, row["predicted_latency_ms"])
        out.append({
            "arch": name, "step": row["step"], "accuracy": row["accuracy"], "latency_ms": float(lat),
            "latency_source": "measured" if measured is not None else "predicted",
            "reward": float(search.reward_fn(row["accuracy"], lat)),
        })
    return out


def finish(search, elapsed: float) -> SearchResult:
    """Pareto front, best architectures (string, ONNX, weights), plots, summary."""
    c, oracle = search.config, search.oracle
    write_history(search)
    cands = distinct_candidates(search)
    front = pareto_front(cands)
    atomic_write_bytes(search.out / "pareto.csv", _csv(front, PARETO_COLUMNS))
    kill_point("finishing")
    ranked = sorted(cands, key=lambda r: (-r["reward"], r["step"]))
    best = ranked[: c.export_top]
    export_best(search, best)
    summary = {
        "samples": len(search.history), "updates": search.update, "distinct_architectures": len(cands),
        "strategy": c.strategy, "target_ms": c.target_ms, "alpha": c.alpha, "beta": c.beta,
        "latency": "predictor" if oracle.uses_predictor else "device",
        "device_measurements": search.device_measurements, "predictor_refits": oracle.refits,
        "best": ranked[0] if ranked else None, "pareto_size": len(front),
        "pareto_hypervolume": hypervolume(front, c.target_ms),  # search.pareto.HV_REFERENCE
        "under_target": sum(1 for r in cands if r["latency_ms"] <= c.target_ms),
        "elapsed_s": round(elapsed, 2), "out_dir": str(search.out),
    }
    from search.plots import plot_pareto, plot_rewards
    from search.report import result_labels

    summary.update(result_labels(search, summary["best"]))
    plot_rewards(search.history, summary, search.out / "reward.png")
    plot_pareto(cands, front, summary, search.out / "pareto.png")
    (search.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return SearchResult(search.out, search.history, front, best, search.device_measurements, oracle.refits, elapsed,
                        summary)


def export_best(search, best: list[dict]) -> None:
    from mnas_pred.builder import build_model
    from mnas_pred.export import export_onnx

    folder = search.out / "best"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("rank-*"):
        old.unlink()
    entries = []
    trainer = search.accuracy_eval if isinstance(search.accuracy_eval, ProxyTrainer) else None
    for rank, cand in enumerate(best, start=1):
        arch = parse_arch(cand["arch"])
        stem = folder / f"rank-{rank}"
        if trainer is not None:
            # retrain: deterministic per candidate, so these are the weights that scored its accuracy
            model, _ = trainer.train(arch)
            num_classes = trainer.num_classes()
        else:
            num_classes = search.space.num_classes
            model = build_model(arch, num_classes=num_classes, resolution=search.resolution)
        model = model.to(memory_format=torch.contiguous_format).eval()
        stem.with_suffix(".arch.txt").write_text(cand["arch"] + "\n")
        save_weights(model, stem.with_suffix(".safetensors"))
        with torch_threads(search.config.train.threads):
            export_onnx(arch, stem.with_suffix(".onnx"), resolution=search.resolution, num_classes=num_classes,
                        model=model)
        entries.append({**cand, "rank": rank, "num_classes": num_classes, "resolution": search.resolution,
                        "onnx": stem.with_suffix(".onnx").name, "weights": stem.with_suffix(".safetensors").name})
    (folder / "best.json").write_text(json.dumps(entries, indent=2) + "\n")
