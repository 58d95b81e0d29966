"""Cross-device adaptation from few samples (design.md §6, §9). Measures and reports; never fails on a number.

On a per-layer CSV with several devices (e.g. HW-NAS-Bench's pixel3, raspi4, jetson_tx2): for
each target device, a source lgbm predictor is trained on the *other* devices' rows together;
then ``n`` (10, 25, 50) target configurations are drawn, and on the remaining target
configurations we compare

* ``source``: the source predictor as is (no target data),
* ``adapt``: ``fit(few, init_from=source)`` (what ``fit-predictor --init-from`` does): a new
  analytic base fitted on the few samples + the source's learned corrections (affine) +
  residual boosting rounds,
* ``adapt_affine``: the source's whole prediction, affine-corrected in log space, + residual rounds,
* ``adapt_affine_only``: the affine correction alone (no boosting rounds),
* ``scratch``: lgbm trained on the same ``n`` samples only,
* ``flops_scratch``: the flops baseline on the same samples,

averaged over ``--repeats`` random draws.

    .venv/bin/python bench/predictor_adaptation.py --csv ../shared/data/hwnasbench_fbnet_ops.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from predictors import make_predictor
from predictors.data import TrainingData, from_layer_csvs, read_measurements_csv
from predictors.metrics import latency_metrics

SAMPLE_SIZES = (10, 25, 50)
METHODS = ("source", "adapt", "adapt_affine", "adapt_affine_only", "scratch", "flops_scratch")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/out/predictor_adaptation"))
    args = ap.parse_args(argv)
    devices = sorted(read_measurements_csv(args.csv)["device"].astype(str).unique())
    per_device = {d: from_layer_csvs([args.csv], d) for d in devices}
    results: dict = {"csv": str(args.csv), "repeats": args.repeats, "devices": {}}
    for target in devices:
        sources = [d for d in devices if d != target]
        source_data = TrainingData(pd.concat([per_device[d].layers for d in sources], ignore_index=True))
        source = make_predictor("lgbm").fit(source_data)
        tgt = per_device[target]
        rows: dict = {}
        for n in SAMPLE_SIZES:
            scores = {m: [] for m in METHODS}
            for r in range(args.repeats):
                rng = np.random.default_rng(args.seed + 1000 * n + r)
                pick = np.zeros(len(tgt.layers), bool)
                pick[rng.choice(len(tgt.layers), n, replace=False)] = True
                few, test = tgt.subset_layers(pick), tgt.subset_layers(~pick)
                models = {
                    "source": source,
                    "adapt": make_predictor("lgbm").fit(few, init_from=source),
                    "adapt_affine": make_predictor("lgbm", adapt="affine").fit(few, init_from=source),
                    "adapt_affine_only": make_predictor("lgbm", adapt="affine", adapt_rounds=0).fit(few, init_from=source),
                    "scratch": make_predictor("lgbm").fit(few),
                    "flops_scratch": make_predictor("flops").fit(few),
                }
                y = test.layers["latency_ms"].to_numpy()
                for name, p in models.items():
                    scores[name].append(latency_metrics(y, p.predict_layers(test.layers)))
            rows[n] = {
                m: {k: float(np.mean([s[k] for s in scores[m]])) for k in ("within_10pct", "within_5pct", "mape", "spearman")}
                for m in METHODS
            }
            print(f"{target} n={n}: " + ", ".join(f"{m} {rows[n][m]['within_10pct']:.1f}%/{rows[n][m]['mape']:.1f}%" for m in METHODS), flush=True)
        results["devices"][target] = {"sources": sources, "by_samples": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    lines = ["# Cross-device adaptation (layer level)", "",
             f"{args.csv}; source = lgbm on the other devices; test = the target's configurations not drawn; "
             f"mean of {args.repeats} draws. Cells: within ±10% (%) / MAPE (%) / Spearman.", ""]
    for target, r in results["devices"].items():
        lines += [f"### {target} (source: {', '.join(r['sources'])})", "", "| n | " + " | ".join(METHODS) + " |",
                  "| ---: |" + " ---: |" * len(METHODS)]
        for n, by in r["by_samples"].items():
            lines.append(f"| {n} | " + " | ".join(f"{by[m]['within_10pct']:.1f} / {by[m]['mape']:.1f} / {by[m]['spearman']:.3f}" for m in METHODS) + " |")
        lines.append("")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
