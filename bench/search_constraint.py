"""Soft vs hard latency constraint: where the best models and the Pareto front land relative to T.

    .venv/bin/python bench/search_constraint.py [--samples 400] [--seeds 3] [--target-ms 8]

Runs the PPO search twice per seed with the cheap deterministic stand-ins (analytic accuracy and
latency, through the same loop and results folder as ``mnas-pred search``): ``alpha = beta =
-0.07`` (soft) and ``alpha = 0, beta = -1`` (hard). Reports the share of the top-5 models under
T and the latency span of the Pareto front. Writes bench/out/search_constraint.md/.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from search.config import SearchConfig
from search.runner import run_search


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--target-ms", type=float, default=8.0)
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    T = args.target_ms
    rows = []
    for mode, alpha, beta in (("soft", -0.07, -0.07), ("hard", 0.0, -1.0)):
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                r = run_search(SearchConfig(
                    out_dir=tmp, target_ms=T, alpha=alpha, beta=beta, samples=args.samples,
                    batch_size=args.batch_size, seed=seed, accuracy="analytic", predictor=None, device="analytic",
                    export_top=0))
                cands = sorted({row["arch"]: row for row in r.history}.values(), key=lambda c: -c["reward"])
                top = cands[:5]
                front = [p["latency_ms"] for p in r.pareto]
                last = np.array([row["latency_ms"] for row in r.history[-args.samples // 5:]])
                rows.append({
                    "mode": mode, "seed": seed, "top5_under_T": sum(c["latency_ms"] <= T for c in top) / len(top),
                    "best_latency_ms": top[0]["latency_ms"], "best_accuracy": top[0]["accuracy"],
                    "pareto_min_ms": min(front), "pareto_max_ms": max(front),
                    "pareto_under_T": sum(f <= T for f in front), "pareto_over_T": sum(f > T for f in front),
                    "last20_share_under_T": float((last <= T).mean()),
                })
    lines = [f"# Soft vs hard constraint: PPO, {args.samples} samples, T = {T} ms, analytic accuracy/latency", "",
             "| mode | seed | best latency ms | best acc | top-5 under T | last 20% samples under T | "
             "Pareto front ms (min–max) | front points under/over T |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['seed']} | {r['best_latency_ms']:.2f} | {r['best_accuracy']:.4f} | "
                     f"{100 * r['top5_under_T']:.0f}% | {100 * r['last20_share_under_T']:.0f}% | "
                     f"{r['pareto_min_ms']:.2f}–{r['pareto_max_ms']:.2f} | {r['pareto_under_T']}/{r['pareto_over_T']} |")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_constraint.md").write_text(text + "\n")
    (out / "search_constraint.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
