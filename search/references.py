"""Reference networks in every search result: the yardstick of MnasNet's Table 1.

MobileNetV2, MnasNet-A1 and MnasNet-B1 (and any ``--reference ARCH``) are trained with exactly
the candidates' proxy settings (the search's own accuracy evaluator, same data, epochs,
resolution and seed rule) and timed on the search's device when it has one (every candidate
measured, or the re-validation device), else predicted by its predictor and marked so. Their
results go to ``summary.json``, ``pareto.png`` and the closing text: "best found: +2.1 points
proxy accuracy at 0.83x the latency of MnasNet-A1 on this device".

Each finished reference (accuracy, latency, spread, seconds spent) is appended to
``references.jsonl`` at once; its first line records what determines the results (accuracy
evaluator, device, resolution, measurement settings), so ``--resume`` reuses them (no
retraining, no re-measuring) and a file written under other settings is not. Reference work runs
outside the search's random streams, so the search itself is the same with or without them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mnas_pred.arch import REFERENCES, parse_arch
from mnas_pred.errors import MnasPredError
from search.accuracy import AccuracyEvaluator
from search.caches import JsonLinesLog
from search.oracle import LatencyOracle
from search.state_schema import ReferenceRow

DEFAULT_REFERENCES = ("mobilenetv2", "mnasnet-a1", "mnasnet-b1")
DISPLAY_NAMES = {"mobilenetv2": "MobileNetV2", "mnasnet-a1": "MnasNet-A1", "mnasnet-b1": "MnasNet-B1"}


def display_name(name: str, index: int) -> str:
    """``MnasNet-A1`` for a named reference; ``reference 4`` for an architecture string."""
    return DISPLAY_NAMES.get(name.strip().lower(), f"reference {index + 1}")


def check_references(names: list[str]) -> None:
    """Every ``--reference`` must parse (a named reference or an architecture string)."""
    for name in names:
        try:
            parse_arch(name)
        except MnasPredError as e:
            raise MnasPredError(f"--reference '{name}': {e.problem}",
                                f"use {', '.join(REFERENCES)} or an architecture string") from None


def references_for(search) -> list[dict]:
    """:func:`evaluate_references` with a :class:`search.runner.Search`'s evaluator, oracle and folder."""
    c = search.config
    return evaluate_references(list(c.references), search.accuracy_eval, search.oracle,
                               search.out / "references.jsonl",
                               {"resolution": search.resolution, "measure": c.measure}, search.log)


class ReferenceCache:
    """Finished references by architecture string (``references.jsonl``, headed by what
    determines their results; :class:`search.caches.JsonLinesLog`). A row that is not a reference
    is skipped: that reference is evaluated again."""

    def __init__(self, path: Path, fingerprint: dict, log: Callable[[str], None] | None = None):
        self.log = JsonLinesLog(path, "reference cache", ReferenceRow, fingerprint=fingerprint, skip_invalid=True,
                                log=log)
        self.values: dict[str, dict] = {row.arch: row.model_dump() for row in self.log.rows}

    def put(self, row: dict) -> None:
        self.values[row["arch"]] = row
        self.log.append(row)


def evaluate_references(names: list[str], accuracy: AccuracyEvaluator, oracle: LatencyOracle, path: Path,
                        latency_fingerprint: dict, log: Callable[[str], None] = lambda msg: None) -> list[dict]:
    """Train and time each reference (or take it from ``path``); one dict per reference:
    name, display name, arch, accuracy, latency_ms, latency_source (measured|predicted),
    predicted_latency_ms, latency_spread (p10/p90/CV, measured only), train_s, measure_s, cached."""
    if not names:
        return []
    device = oracle.device
    cache = ReferenceCache(path, {"accuracy": accuracy.fingerprint(), **latency_fingerprint,
                                  "latency_source": "measured" if device is not None else "predicted"}, log)
    out = []
    # outside the search's random streams: the candidates drawn do not depend on the references
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            for i, name in enumerate(dict.fromkeys(names)):
                arch = parse_arch(name)
                key = arch.to_string()
                row = cache.values.get(key)
                cached = row is not None
                if row is None:
                    start = time.perf_counter()
                    acc = float(accuracy.accuracy(arch))
                    train_s = time.perf_counter() - start
                    ms = spread = None
                    measure_s = 0.0
                    if device is not None:
                        start = time.perf_counter()
                        timing = device.measure(arch, store=False)  # never refit on them
                        ms, spread = timing.latency_ms, timing.spread
                        measure_s = time.perf_counter() - start
                    row = {"arch": key, "accuracy": acc, "latency_ms": ms, "latency_spread": spread,
                           "train_s": round(train_s, 3), "measure_s": round(measure_s, 3)}
                    cache.put(row)
                row = {"name": name, "display_name": display_name(name, i), **row, "cached": cached,
                       "latency_source": "measured" if device is not None else "predicted"}
                refresh_predictions([row], oracle)
                out.append(row)
                log(f"reference {row['display_name']}: proxy accuracy {row['accuracy']:.4f}, "
                    f"{row['latency_ms']:.2f} ms {row['latency_source']}"
                    + (" (from the cache)" if cached else
                       f" (trained in {row['train_s']:.1f} s, measured in {row['measure_s']:.1f} s)"))
        finally:
            np.random.set_state(np_state)
    return out


def refresh_predictions(references: list[dict], oracle: LatencyOracle) -> None:
    """Predicted latency of each reference by the oracle's current (possibly refitted) predictor,
    as candidates get at the end; it is the latency of a reference that was not measured, and
    beside a measured one it shows the predictor's error on a network outside the search."""
    for row in references:
        predicted = float(oracle.model.predict([parse_arch(row["arch"])])[0]) if oracle.model is not None else None
        row["predicted_latency_ms"] = predicted
        if row["latency_source"] == "predicted":
            row["latency_ms"] = predicted


def comparisons(best: dict | None, references: list[dict]) -> list[dict]:
    """The best candidate against each reference: accuracy difference (points) and latency ratio."""
    if not best:
        return []
    out = []
    for ref in references:
        same = best["latency_source"] == ref["latency_source"] == "measured"
        a, b = best.get("latency_spread"), ref.get("latency_spread")
        out.append({
            "reference": ref["display_name"],
            "accuracy_points": round(100 * (best["accuracy"] - ref["accuracy"]), 2),
            "latency_ratio": round(best["latency_ms"] / ref["latency_ms"], 3),
            "both_measured": same,
            # overlapping p10-p90 ranges: the latency difference is within the device's noise
            "latency_within_spread": bool(a and b and a["p10_ms"] <= b["p90_ms"] and b["p10_ms"] <= a["p90_ms"]),
        })
    return out


def comparison_sentence(c: dict, best_source: str, ref_source: str) -> str:
    where = ("on this device" if c["both_measured"]
             else f"(latency: best {best_source}, {c['reference']} {ref_source})")
    noise = " (latency difference within the p10-p90 spread)" if c.get("latency_within_spread") else ""
    return (f"best found: {c['accuracy_points']:+.1f} points proxy accuracy at {c['latency_ratio']:.2f}x "
            f"the latency of {c['reference']} {where}{noise}")
