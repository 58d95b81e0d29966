"""Profiler repeatability, throughput and per-layer additivity on the local device.

Runs ``mnas-pred profile-device`` twice as separate processes into separate stores, on the same
sampled architectures (224x224, one thread, the default protocol): run A measures
``--additivity-models`` (default 20) models, run B the first ``--models`` (default 10) of them.
Reports

* the relative difference of each model's median latency between the two runs
  (|A - B| / mean(A, B)); the median of it is the headline (target <= 3%),
* models per hour of each run, end to end (sampling, export, measurement, storage;
  target >= 3,000 at 224x224, one thread),
* the per-layer sum / end-to-end median ratio of every model of run A (target: within 15%),
* the same relative difference after drift correction (``--drift-every``, default 5: both runs
  time the reference network every 5 models; the two stores' measurements are corrected together,
  as if profiled into one store: :mod:`mnas_pred.drift_correction`), raw and corrected side by side
  (target <= 3% corrected).

Writes ``bench/out/profiler_repeatability.json`` and ``.md`` and prints a summary. A benchmark,
not a test: it never fails on a number. The load average is recorded with the numbers because
a shared machine moves them.

    .venv/bin/python bench/profiler_repeatability.py [--models 10] [--additivity-models 20] [--seed 0] [--drift-every 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from mnas_pred.store import MeasurementStore

OUT = Path(__file__).resolve().parent / "out"
CLI = [sys.executable, "-m", "mnas_pred"]


def profile_run(db: Path, n: int, seed: int, resolution: int, threads: int, extra: list[str]) -> dict:
    cmd = [*CLI, "profile-device", "--db", str(db), "--num-models", str(n), "--seed", str(seed),
           "--resolution", str(resolution), "--threads", str(threads), "--json", *extra]
    print("$", " ".join(cmd[2:]).replace(str(db), db.name), flush=True)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"profile-device failed: {res.stderr.strip()}")
    return json.loads(res.stdout)


def quantiles(xs: list[float]) -> dict:
    qs = statistics.quantiles(xs, n=10) if len(xs) > 1 else [xs[0]] * 9
    return {"n": len(xs), "min": min(xs), "p10": qs[0], "median": statistics.median(xs), "p90": qs[-1],
            "max": max(xs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--additivity-models", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--drift-every", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("extra", nargs="*", help="more profile-device options, after --")
    args = ap.parse_args()
    n_a = max(args.models, args.additivity_models)
    args.extra = ["--drift-every", str(args.drift_every), *args.extra]
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="mnas-pred-bench-"))
    try:
        run_a = profile_run(tmp / "a.db", n_a, args.seed, args.resolution, args.threads, args.extra)
        run_b = profile_run(tmp / "b.db", args.models, args.seed, args.resolution, args.threads, args.extra)
        with MeasurementStore(tmp / "a.db", create=False) as sa, MeasurementStore(tmp / "b.db", create=False) as sb:
            fa, fb = sa.models_frame(), sb.models_frame()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    # the drift correction of both runs together, one baseline for both (as if profiled into one store)
    import pandas as pd

    from mnas_pred.drift_correction import add_drift_correction

    joint = add_drift_correction(pd.concat([fa.assign(run="a"), fb.assign(run="b")], ignore_index=True)
                                 .drop(columns=["latency_corrected_ms", "drift_factor", "drift_flag"]))
    fa = fa.assign(latency_corrected_ms=joint.loc[joint["run"] == "a", "latency_corrected_ms"].to_numpy())
    fb = fb.assign(latency_corrected_ms=joint.loc[joint["run"] == "b", "latency_corrected_ms"].to_numpy())
    both = fa.merge(fb, on="arch", suffixes=("_a", "_b"))
    rel = ((both["latency_ms_a"] - both["latency_ms_b"]).abs() / ((both["latency_ms_a"] + both["latency_ms_b"]) / 2))
    ca, cb = both["latency_corrected_ms_a"], both["latency_corrected_ms_b"]
    rel_corr = (ca - cb).abs() / ((ca + cb) / 2)
    # Whole-process drift (design.md §4: 10-15% between processes here) moves every model of a run
    # together. Each run measures the drift reference (MnasNet-B1) first; dividing by it shows how
    # much of the difference is that shift rather than per-model noise.
    shift = float((both["latency_ms_a"] / both["latency_ms_b"]).median())
    ref_a, ref_b = (r["drift"][0]["latency_ms"] if r.get("drift") else None for r in (run_a, run_b))
    rel_norm = None
    if ref_a and ref_b:
        na, nb = both["latency_ms_a"] / ref_a, both["latency_ms_b"] / ref_b
        rel_norm = ((na - nb).abs() / ((na + nb) / 2))
    ratios = fa["layer_sum_ratio"].dropna().tolist()
    per_model = [
        {"arch": r.arch, "macs_m": round(r.macs_a / 1e6, 1), "latency_a_ms": round(r.latency_ms_a, 3),
         "latency_b_ms": round(r.latency_ms_b, 3), "rel_diff": round(d, 4), "cv_a": round(r.cv_a, 4),
         "cv_b": round(r.cv_b, 4), "attempts_a": int(r.attempts_a), "attempts_b": int(r.attempts_b),
         "layer_sum_ratio_a": round(r.layer_sum_ratio_a, 4), "corrected_a_ms": round(r.latency_corrected_ms_a, 3),
         "corrected_b_ms": round(r.latency_corrected_ms_b, 3), "rel_diff_corrected": round(dc, 4)}
        for r, d, dc in zip(both.itertuples(), rel, rel_corr)
    ]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "cpu": fa["device_model"].iloc[0], "cpus": os.cpu_count(),
                    "load_avg_before": load_before, "load_avg_after": load_after, "uptime_before": uptime_before,
                    "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
        "resolution": args.resolution, "threads": args.threads, "settings": run_a["settings"],
        "repeatability": {
            "models": len(both), "median_rel_diff": float(rel.median()), "mean_rel_diff": float(rel.mean()),
            "max_rel_diff": float(rel.max()), "within_3pct": int((rel <= 0.03).sum()), "target_median": 0.03,
            "median_ratio_a_over_b": shift,
            "reference_ms": [ref_a, ref_b],
            "median_rel_diff_reference_normalized": None if rel_norm is None else float(rel_norm.median()),
            "drift_every": args.drift_every,
            "median_rel_diff_corrected": float(rel_corr.median()), "mean_rel_diff_corrected": float(rel_corr.mean()),
            "max_rel_diff_corrected": float(rel_corr.max()), "within_3pct_corrected": int((rel_corr <= 0.03).sum()),
        },
        "throughput": {
            "run_a": {"models": run_a["measured"], "seconds": run_a["seconds"], "models_per_hour": run_a["models_per_hour"]},
            "run_b": {"models": run_b["measured"], "seconds": run_b["seconds"], "models_per_hour": run_b["models_per_hour"]},
            "target_models_per_hour": 3000,
        },
        "additivity": {**quantiles(ratios), "within_15pct": sum(abs(x - 1) <= 0.15 for x in ratios),
                       "definition": "per-layer sum (profiled session) / end-to-end median"},
        "per_model": per_model,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profiler_repeatability.json").write_text(json.dumps(report, indent=2) + "\n")
    rep, thr, add = report["repeatability"], report["throughput"], report["additivity"]
    lines = [
        "# Profiler repeatability, throughput and per-layer additivity", "",
        f"{report['when']}, {report['machine']['cpu']} ({report['machine']['cpus']} CPUs), "
        f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after; "
        f"{args.resolution}x{args.resolution}, {args.threads} thread(s), settings {json.dumps(run_a['settings'])}.", "",
        "| metric | value | target |", "| --- | --- | --- |",
        f"| median relative difference between two runs ({rep['models']} models) | {rep['median_rel_diff']:.2%} "
        f"(mean {rep['mean_rel_diff']:.2%}, max {rep['max_rel_diff']:.2%}, {rep['within_3pct']} within 3%) | <= 3% |",
        f"| the same, drift-corrected (reference every {rep['drift_every']} models, interpolated) | "
        f"{rep['median_rel_diff_corrected']:.2%} (mean {rep['mean_rel_diff_corrected']:.2%}, max "
        f"{rep['max_rel_diff_corrected']:.2%}, {rep['within_3pct_corrected']} within 3%) | <= 3% |",
        f"| run A / run B, median over models (whole-run shift) | {rep['median_ratio_a_over_b']:.3f} | |",
        (f"| median relative difference after dividing by each run's MnasNet-B1 reference | "
         f"{rep['median_rel_diff_reference_normalized']:.2%} | |" if rep["median_rel_diff_reference_normalized"] is not None
         else "| reference-normalized difference | (no drift reference in these runs) | |"),
        f"| models per hour, run A ({thr['run_a']['models']} models) | {thr['run_a']['models_per_hour']:,} | >= 3,000 |",
        f"| models per hour, run B ({thr['run_b']['models']} models) | {thr['run_b']['models_per_hour']:,} | >= 3,000 |",
        f"| per-layer sum / end-to-end ({add['n']} models) | median {add['median']:.3f}, p10 {add['p10']:.3f}, "
        f"p90 {add['p90']:.3f}, range {add['min']:.3f}-{add['max']:.3f}; {add['within_15pct']}/{add['n']} within 15% "
        "| each within 15% |", "",
        "| model | MACs (M) | run A ms | run B ms | rel. diff | corrected A | corrected B | rel. diff corrected | CV A | CV B | layers/e2e A |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(f"| `{m['arch'][:40]}...` | {m['macs_m']} | {m['latency_a_ms']} | {m['latency_b_ms']} | {m['rel_diff']:.2%} "
          f"| {m['corrected_a_ms']} | {m['corrected_b_ms']} | {m['rel_diff_corrected']:.2%} "
          f"| {m['cv_a']:.3f} | {m['cv_b']:.3f} | {m['layer_sum_ratio_a']:.3f} |" for m in per_model),
        "",
    ]
    (args.out / "profiler_repeatability.md").write_text("\n".join(lines))
    print(f"uptime before: {uptime_before}\nuptime after: {report['machine']['uptime_after']}")
    print("\n".join(lines[2:13]))
    print(f"wrote {args.out / 'profiler_repeatability.json'} and .md")


if __name__ == "__main__":
    main()
