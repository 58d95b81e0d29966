"""The loop's payoff on this machine: predictor + re-validation vs device-only search (every
candidate measured, the original MnasNet) at the same wall-clock budget, over several seeds.

    .venv/bin/python bench/search_e2e.py [--seeds 5] [--budget-s 100] [--predictor P --db D]

Without ``--predictor`` it first profiles ``--profile-models`` networks on this CPU and fits a
LightGBM predictor (``profile-device``, ``fit-predictor``). Then, for each seed, the two arms run
one after the other (which goes first alternates by seed, so that both see the machine's load
alike), each on its own copy of the measurement store (a refit sees the profiled networks and
its own re-validations, never the other arm's measurements) until ``--budget-s`` seconds of
search are spent: an arm stops before an update when, at its mean update time so far, the next
update would end more than half an update past the budget. Accuracy is proxy training on digits
(small by default, ``--train-limit``/``--train-resolution``, so that a candidate costs seconds);
latency is this CPU through ONNX Runtime (``--runs``/``--warmup``). T defaults to the median
predicted latency of 1000 random architectures.

Figures per arm and seed: samples evaluated, device measurements the search used, best reward
and Pareto hypervolume (``search.pareto.hypervolume``: latency in units of T, reference point
(2T, accuracy 0)). The loop's front holds predicted latencies; after its budget, every front
member it has not measured is measured (outside the budget, not counted as used) and the loop
is judged on those measured numbers ("verified"), with the predicted-vs-measured error of its
front. The loop wins a seed when its verified best reward and hypervolume are >= device-only's.

Writes bench/out/search_e2e.md/.json (results folders under bench/out/search_e2e/). A
benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mnas_pred.arch import parse_arch
from mnas_pred.space import SearchSpace
from search.accuracy import TrainSettings
from search.config import SearchConfig
from search.data import DataSpec
from search.pareto import hypervolume
from search.runner import Search

TARGET_SEED = 12345  # the random architectures whose median predicted latency is the default T


class _BudgetSpent(Exception):
    pass


def _cli(args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "mnas_pred", *args], check=True)


def _median_predicted_ms(predictor: Path, space: SearchSpace) -> float:
    from predictors.io import load_predictor

    table = load_predictor(predictor, space=space).lookup_table(space.resolution, space)
    rng = np.random.default_rng(TARGET_SEED)
    tokens = np.stack([rng.integers(0, v, size=1000) for v in space.vocab_sizes()], axis=1)
    return float(np.median(table.predict(tokens)))


def run_arm(config: SearchConfig, budget_s: float) -> tuple[Search, dict]:
    def stop_when_spent(p):
        if p.elapsed_s + 0.5 * p.elapsed_s / p.update >= budget_s:
            raise _BudgetSpent

    search = Search(config, progress=stop_when_spent)
    t0 = time.perf_counter()
    try:
        search.run()  # ends early by _BudgetSpent; the checkpoint of the last update is written
        raise RuntimeError(f"--samples {config.samples} ran out before the budget: raise it")
    except _BudgetSpent:
        elapsed = time.perf_counter() - t0
    result = search.finish(elapsed)
    return search, {"wall_s": round(elapsed, 1), "samples": len(search.history),
                    "device_measurements": result.device_measurements, "refits": result.refits,
                    "best_reward": result.summary["best"]["reward"],
                    "hypervolume": result.summary["pareto_hypervolume"], "pareto": result.pareto}


def verify_front(search: Search, row: dict, target_ms: float) -> None:
    """Measure the loop's unmeasured front members; judge it on measured latencies."""
    front = row["pareto"]
    errors, verified = [], []
    for c in front:
        measured = search.oracle.cache.get(c["arch"])
        if measured is None:
            measured = search.oracle.device.measure(parse_arch(c["arch"])).latency_ms
            errors.append(abs(c["latency_ms"] - measured) / measured)
        verified.append({**c, "latency_ms": measured, "reward": float(search.reward_fn(c["accuracy"], measured))})
    row.update({
        "verify_measurements": len(errors),
        "front_error": float(np.mean(errors)) if errors else 0.0,
        "front_size": len(front),
        "best_reward_verified": max(c["reward"] for c in verified),
        "hypervolume_verified": hypervolume(verified, target_ms)  # it takes the front itself,
    })


def _mean_sd(values, digits: int = 4) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.{digits}f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=100.0, help="search seconds per arm and seed")
    ap.add_argument("--predictor", help="predictor file (default: profile and fit one)")
    ap.add_argument("--db", help="its measurement store (with --predictor)")
    ap.add_argument("--profile-models", type=int, default=40)
    ap.add_argument("--target-ms", type=float, help="T (default: median predicted latency)")
    ap.add_argument("--strategy", help="search strategy (default: the search's default)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--revalidate-every", type=int, default=4)
    ap.add_argument("--revalidate-top", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=256)
    ap.add_argument("--train-resolution", type=int, default=16)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args(argv)
    work = Path(args.out) / "search_e2e"
    work.mkdir(parents=True, exist_ok=True)
    if args.predictor:
        if not args.db:
            ap.error("--predictor needs --db (the store it was fitted on)")
        db, pred = Path(args.db), Path(args.predictor)
    else:
        db, pred = work / "measurements.db", work / "predictor.json"
        if not pred.exists():
            _cli(["profile-device", "--num-models", str(args.profile_models), "--db", str(db)])
            _cli(["fit-predictor", "--db", str(db), "--out", str(pred)])
    space = SearchSpace.default()
    target = args.target_ms or _median_predicted_ms(pred, space)
    # no reference networks: their training would spend each arm's wall-clock budget
    base = dict(references=[], target_ms=target, samples=100_000, batch_size=args.batch_size, export_top=0,
                train=TrainSettings(epochs=1), revalidate_every=args.revalidate_every,
                revalidate_top=args.revalidate_top,
                measure={"runs": args.runs, "warmup": args.warmup})
    if args.strategy:
        base["strategy"] = args.strategy
    arms = {"loop": {"predictor": str(pred)}, "device-only": {"predictor": None}}
    rows: dict[str, list[dict]] = {a: [] for a in arms}
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    for i, seed in enumerate(seeds):
        order = list(arms) if i % 2 == 0 else list(arms)[::-1]
        for arm in order:
            out = work / f"seed{seed}-{arm}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            arm_db = out / "measurements.db"
            shutil.copy(db, arm_db)
            config = SearchConfig(out_dir=str(out / "search"), seed=seed, db=str(arm_db), **arms[arm], **base,
                                  data=DataSpec(dataset="digits", resolution=args.train_resolution,
                                                train_limit=args.train_limit, seed=seed))
            search, row = run_arm(config, args.budget_s)
            if arm == "loop":
                verify_front(search, row, target)
            else:
                row.update(best_reward_verified=row["best_reward"], hypervolume_verified=row["hypervolume"])
            search.oracle.close()
            row["seed"] = seed
            rows[arm].append(row)
            print(f"seed {seed} {arm}: {json.dumps({k: v for k, v in row.items() if k != 'pareto'})}", flush=True)
    loop, dev = rows["loop"], rows["device-only"]
    wins = [lo["best_reward_verified"] >= d["best_reward_verified"] and lo["hypervolume_verified"] >= d["hypervolume_verified"]
            for lo, d in zip(loop, dev)]
    share = [lo["device_measurements"] / max(1, d["device_measurements"]) for lo, d in zip(loop, dev)]
    lines = [f"# Predictor loop vs device-only search, {args.budget_s:g} s of search per arm and seed, seeds "
             f"{seeds[0]}-{seeds[-1]}", "",
             f"T = {target:.3f} ms (this CPU), batch {args.batch_size}, strategy {config.strategy}, "
             f"proxy accuracy: digits, {args.train_limit} images at {args.train_resolution} px, 1 epoch; "
             f"loop re-validates the top {args.revalidate_top} every {args.revalidate_every} updates; "
             f"device: {args.runs} runs after {args.warmup} warm-up", "",
             "| seed | arm | wall s | samples | device meas. | best reward (verified) | hypervolume (verified) | "
             "front: size, error of predicted |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for lo, d in zip(loop, dev):
        lines.append(f"| {lo['seed']} | loop | {lo['wall_s']} | {lo['samples']} | {lo['device_measurements']} | "
                     f"{lo['best_reward_verified']:.4f} (search saw {lo['best_reward']:.4f}) | "
                     f"{lo['hypervolume_verified']:.4f} (search saw {lo['hypervolume']:.4f}) | "
                     f"{lo['front_size']}, {100 * lo['front_error']:.1f}% on {lo['verify_measurements']} |")
        lines.append(f"| {d['seed']} | device-only | {d['wall_s']} | {d['samples']} | {d['device_measurements']} | "
                     f"{d['best_reward']:.4f} | {d['hypervolume']:.4f} | all measured |")
    lines += ["", "| arm | samples | device measurements | best reward (verified) | hypervolume (verified) |",
              "| --- | --- | --- | --- | --- |"]
    for arm, rs in rows.items():
        lines.append(f"| {arm} | {_mean_sd([r['samples'] for r in rs], 1)} | {_mean_sd([r['device_measurements'] for r in rs], 1)} | "
                     f"{_mean_sd([r['best_reward_verified'] for r in rs])} | {_mean_sd([r['hypervolume_verified'] for r in rs])} |")
    lines += ["", f"loop >= device-only on both best reward and hypervolume: {sum(wins)}/{len(seeds)} seeds "
              f"(best reward alone: {sum(lo['best_reward_verified'] >= d['best_reward_verified'] for lo, d in zip(loop, dev))}, "
              f"hypervolume alone: {sum(lo['hypervolume_verified'] >= d['hypervolume_verified'] for lo, d in zip(loop, dev))}); "
              f"loop's device measurements as a share of device-only's: "
              + ", ".join(f"{100 * s:.0f}%" for s in share)
              + f"; front predicted-vs-measured error (mean over seeds): "
              f"{100 * np.mean([lo['front_error'] for lo in loop]):.1f}%"]
    text = "\n".join(lines)
    print(text)
    (Path(args.out) / "search_e2e.md").write_text(text + "\n")
    for rs in rows.values():
        for r in rs:
            r.pop("pareto")
    (Path(args.out) / "search_e2e.json").write_text(json.dumps({"args": vars(args), "target_ms": target,
                                                                 "rows": rows, "wins": wins}, indent=2) + "\n")


if __name__ == "__main__":
    main()
