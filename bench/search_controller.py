"""Controller learning: PPO vs random search vs regularized evolution at the same budgets.

Two cheap deterministic rewards ``ACC * (LAT/T)^-0.07`` (the MnasNet soft constraint) isolate the
strategies from the cost of evaluating candidates:

* ``--reward analytic``: ACC and LAT are ``search.analytic.analytic_accuracy`` and
  ``analytic_latency_ms`` (T = 8 ms unless ``--target-ms``).
* ``--reward predictor --predictor FILE``: LAT is a real latency predictor (``fit-predictor``)
  through its token lookup table, ACC is still ``analytic_accuracy`` (no accuracy predictor
  exists; proxy training would cost seconds per candidate). Unless ``--target-ms`` is given, T is
  the median predicted latency of 1000 uniform random architectures (seed 12345), so the
  constraint binds in the middle of that device's range.

Every strategy runs ``max(--budgets)`` candidates per seed in batches of ``--batch-size``; a
strategy never knows the budget, so budget B is the first B samples of that run. Figures of
merit at each budget: the mean reward of its last 20% of samples (what the strategy proposes once
it has learned) and the best reward found. Seeds are ``--first-seed`` .. ``--first-seed + --seeds
- 1``: tune on other seeds (e.g. 100+) than the ones you report (0-4).

    .venv/bin/python bench/search_controller.py [--budgets 200,800] [--seeds 5] [--reward analytic]
    .venv/bin/python bench/search_controller.py --reward predictor --predictor cpu.pred
    .venv/bin/python bench/search_controller.py --first-seed 100 --strategies ppo \\
        --ppo-options '{"learning_rate": 0.01}'                          # tuning

Prints a table and writes bench/out/search_controller[-predictor].json and .md. A benchmark, not
a test: it never fails on a number.
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

TARGET_SEED = 12345  # the random architectures whose median predicted latency is the default T


class CachedReward:
    """Accuracy and latency per token sequence, computed once across strategies and seeds."""

    def __init__(self, space: SearchSpace, kind: str, predictor: str | None):
        self.space, self.kind = space, kind
        self.cache: dict[tuple, tuple[float, float]] = {}
        self.table = None
        if kind == "predictor":
            from predictors.io import load_predictor

            pf = load_predictor(predictor, space=space)
            self.table = pf.lookup_table(space.resolution, space)
            self.device = pf.device.get("name") or "?"

    def acc_lat(self, tokens: list[tuple]) -> list[tuple[float, float]]:
        todo = [t for t in dict.fromkeys(tokens) if t not in self.cache]
        if todo:
            archs = [self.space.decode(t) for t in todo]
            if self.table is not None:
                lat = self.table.predict(np.asarray(todo, dtype=np.int64))
            else:
                lat = [analytic_latency_ms(a) for a in archs]
            for t, a, ms in zip(todo, archs, lat):
                self.cache[t] = (analytic_accuracy(a), float(ms))
        return [self.cache[t] for t in tokens]

    def default_target(self) -> float:
        if self.kind == "analytic":
            return 8.0
        rng = np.random.default_rng(TARGET_SEED)
        tokens = np.stack([rng.integers(0, v, size=1000) for v in self.space.vocab_sizes()], axis=1)
        return float(np.median(self.table.predict(tokens)))


def run_one(strategy: str, seed: int, samples: int, batch: int, reward_fn, oracle: CachedReward, options=None):
    s = make_strategy(strategy, oracle.space, seed=seed, **(options or {}))
    rewards = []
    while len(rewards) < samples:
        tokens = s.ask(min(batch, samples - len(rewards)))
        acc, lat = zip(*oracle.acc_lat([tuple(t) for t in tokens]))
        r = np.atleast_1d(reward_fn(np.array(acc), np.array(lat))).tolist()
        s.tell(tokens, r)
        rewards.extend(r)
    return np.array(rewards)


def figures(rewards: np.ndarray, budget: int) -> dict:
    r = rewards[:budget]
    tail = max(1, budget // 5)
    return {"last20_mean": float(r[-tail:].mean()), "best": float(r.max()), "first20_mean": float(r[:tail].mean())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="200,800", help="comma-separated sample budgets")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--reward", choices=["analytic", "predictor"], default="analytic")
    ap.add_argument("--predictor", help="predictor file for --reward predictor")
    ap.add_argument("--target-ms", type=float, help="T (default: 8 ms analytic; the median predicted latency)")
    ap.add_argument("--strategies", default="ppo,evolution,random")
    ap.add_argument("--ppo-options", default="{}", help="JSON of PPO options (tuning)")
    ap.add_argument("--evolution-options", default="{}", help="JSON of evolution options")
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args(argv)
    if args.reward == "predictor" and not args.predictor:
        ap.error("--reward predictor needs --predictor FILE")
    torch.set_num_threads(1)
    budgets = sorted(int(b) for b in args.budgets.split(","))
    space = SearchSpace.default()
    oracle = CachedReward(space, args.reward, args.predictor)
    target = args.target_ms or oracle.default_target()
    reward_fn = RewardFunction(target)
    options = {"ppo": json.loads(args.ppo_options), "evolution": json.loads(args.evolution_options)}
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    names = args.strategies.split(",")
    runs = {}
    for name in names:
        t0 = time.perf_counter()
        runs[name] = [run_one(name, seed, budgets[-1], args.batch_size, reward_fn, oracle, options.get(name))
                      for seed in seeds]
        runs[name + ":seconds"] = time.perf_counter() - t0
    results = {}
    for b in budgets:
        results[b] = {}
        for name in names:
            per_seed = [{"seed": s, **figures(r, b)} for s, r in zip(seeds, runs[name])]
            row = {"per_seed": per_seed, "seconds": runs[name + ":seconds"]}
            for key in ("last20_mean", "best"):
                v = np.array([p[key] for p in per_seed])
                row[key], row[key + "_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
            results[b][name] = row
    wins = {b: {} for b in budgets}
    if "ppo" in names:
        for b in budgets:
            for other in names:
                if other == "ppo":
                    continue
                pairs = list(zip(results[b]["ppo"]["per_seed"], results[b][other]["per_seed"]))
                wins[b][other] = {key: sum(p[key] >= o[key] for p, o in pairs) for key in ("last20_mean", "best")}
    desc = ("analytic accuracy x analytic latency" if args.reward == "analytic" else
            f"analytic accuracy x predicted latency ({Path(args.predictor).name}, device {oracle.device})")
    lines = [f"# Controller learning: reward ACC*(LAT/T)^-0.07, {desc}, T = {target:.3f} ms; batch {args.batch_size}, "
             f"seeds {seeds[0]}-{seeds[-1]}", ""]
    if any(options.values()):
        lines += [f"options: {json.dumps({k: v for k, v in options.items() if v})}", ""]
    lines += ["| budget | strategy | mean reward, last 20% (mean ± sd over seeds) | best reward (mean ± sd) |",
              "| --- | --- | --- | --- |"]
    for b in budgets:
        for name in names:
            r = results[b][name]
            lines.append(f"| {b} | {name} | {r['last20_mean']:.4f} ± {r['last20_mean_sd']:.4f} | "
                         f"{r['best']:.4f} ± {r['best_sd']:.4f} |")
    for b in budgets:
        if wins[b]:
            lines.append(f"\nPPO >= other, seed by seed, at {b} samples: " + "; ".join(
                f"{k}: last-20% {v['last20_mean']}/{len(seeds)}, best {v['best']}/{len(seeds)}" for k, v in wins[b].items()))
    lines.append("\nPer seed, last-20% mean at the largest budget: " + "; ".join(
        f"{name} " + " ".join(f"{p['last20_mean']:.4f}" for p in results[budgets[-1]][name]["per_seed"]) for name in names))
    lines.append("seconds per strategy (all seeds): " + ", ".join(f"{n} {runs[n + ':seconds']:.0f}" for n in names))
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "search_controller" + ("-predictor" if args.reward == "predictor" else "")
    (out / f"{stem}.md").write_text(text + "\n")
    (out / f"{stem}.json").write_text(json.dumps({"args": vars(args), "target_ms": target, "seeds": seeds,
                                                  "results": results, "ppo_wins": wins}, indent=2) + "\n")


if __name__ == "__main__":
    main()
