"""Controller learning: PPO vs random search vs regularized evolution at the same budget.

A cheap deterministic reward stands in for proxy training and device latency (the analytic
accuracy surrogate and analytic latency of ``search.analytic``; reward ``ACC*(LAT/T)^w``), so the
comparison isolates the strategies. For each strategy and seed the search runs ``--samples``
candidates in batches of ``--batch-size``; the figure of merit is the mean reward over the last
20% of samples (what the strategy is proposing once it has learned), plus the best reward found.

    .venv/bin/python bench/search_controller.py [--samples 800] [--batch-size 8] [--seeds 5]

Prints a table and writes bench/out/search_controller.json and .md. A benchmark, not a test:
it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mnas_pred.space import SearchSpace
from search.analytic import analytic_accuracy, analytic_latency_ms
from search.reward import RewardFunction
from search.strategies import make_strategy


def run_one(strategy: str, seed: int, samples: int, batch: int, reward_fn, space, cache, options=None):
    s = make_strategy(strategy, space, seed=seed, **(options or {}))
    rewards = []
    while len(rewards) < samples:
        tokens = s.ask(min(batch, samples - len(rewards)))
        r = []
        for t in tokens:
            key = tuple(t)
            if key not in cache:
                arch = space.decode(t)
                cache[key] = (analytic_accuracy(arch), analytic_latency_ms(arch))
            acc, lat = cache[key]
            r.append(reward_fn(acc, lat))
        s.tell(tokens, r)
        rewards.extend(r)
    return np.array(rewards)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=800)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--target-ms", type=float, default=8.0)
    ap.add_argument("--strategies", default="ppo,random,evolution")
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    space = SearchSpace.default()
    reward_fn = RewardFunction(args.target_ms)
    cache: dict = {}
    tail = max(1, args.samples // 5)
    results = {}
    for name in args.strategies.split(","):
        per_seed = []
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            r = run_one(name, seed, args.samples, args.batch_size, reward_fn, space, cache)
            per_seed.append({"seed": seed, "last20_mean": float(r[-tail:].mean()), "best": float(r.max()),
                             "first20_mean": float(r[:tail].mean())})
        last = np.array([p["last20_mean"] for p in per_seed])
        results[name] = {
            "per_seed": per_seed, "last20_mean": float(last.mean()), "last20_std": float(last.std()),
            "best_mean": float(np.mean([p["best"] for p in per_seed])), "seconds": time.perf_counter() - t0,
        }
    wins = {}
    if "ppo" in results:
        for other in results:
            if other != "ppo":
                wins[other] = sum(a["last20_mean"] > b["last20_mean"]
                                  for a, b in zip(results["ppo"]["per_seed"], results[other]["per_seed"]))
    lines = [
        f"# Controller learning: {args.samples} samples, batch {args.batch_size}, {args.seeds} seeds, "
        f"T = {args.target_ms} ms, analytic reward",
        "",
        "| strategy | mean reward, last 20% (± std over seeds) | best reward (mean over seeds) | seconds |",
        "| --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['last20_mean']:.4f} ± {r['last20_std']:.4f} | {r['best_mean']:.4f} | "
                     f"{r['seconds']:.1f} |")
    if wins:
        lines += ["", "PPO beats, seed by seed (last-20% mean): "
                  + ", ".join(f"{k} in {v}/{args.seeds}" for k, v in wins.items())]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_controller.md").write_text(text + "\n")
    (out / "search_controller.json").write_text(json.dumps({"args": vars(args), "results": results, "ppo_wins": wins},
                                                           indent=2) + "\n")


if __name__ == "__main__":
    main()
