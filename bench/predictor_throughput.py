"""Predictor query throughput (design.md §9): architectures per second at batch 1, 1,000, 100,000.

Times the token-array table lookup (``PredictorFile.predict_tokens``), the per-layer path from
architecture strings for comparison (smaller batches: it is ~1000× slower), the one-off cost of
building the table, and the search's own path: :class:`search.predictor_adapter.PredictorFileModel`
as the search calls it (rewards: decoded ``Architecture`` objects, one controller update of 8;
optimistic re-validation and Pareto re-scoring: architecture strings, parsed, in batches of 1,000).
Uses ``--pred FILE`` or fits a default lgbm predictor on ``--csv``. Measures and reports; never
fails on a number.

    .venv/bin/python bench/predictor_throughput.py --csv ../shared/data/hwnasbench_fbnet_ops.csv --device pixel3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mnas_pred.space import SearchSpace


def _rate(fn, batch: int, min_seconds: float = 1.0, max_repeats: int = 10_000) -> dict:
    fn()  # warm caches
    times = []
    start = time.perf_counter()
    while (time.perf_counter() - start < min_seconds or len(times) < 3) and len(times) < max_repeats:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    best, median = min(times), float(np.median(times))
    return {"batch": batch, "repeats": len(times), "median_s": median, "archs_per_s_median": batch / median,
            "archs_per_s_best": batch / best}


def _search_path(pf, space: SearchSpace, resolution: int) -> dict:
    """Archs/s through the search's latency model, as the search loop calls it."""
    from mnas_pred.arch import parse_arch
    from search.predictor_adapter import PredictorFileModel

    model = PredictorFileModel("bench.pred", space, resolution, predictor_file=pf)
    model.predict(space.sample(1, seed=0))  # a one-off table build is not a query
    update = space.sample(8, seed=8)
    strings = [a.to_string() for a in space.sample(1_000, seed=1_000)]
    return {
        "reward (8 decoded archs)": _rate(lambda: model.predict(update), 8, 2.0, 2_000),
        "pareto re-scoring (1,000 strings)": _rate(lambda: model.predict([parse_arch(a) for a in strings]),
                                                   1_000, 2.0, 200),
        "optimistic interval (1,000 strings)": _rate(
            lambda: model.predict_interval([parse_arch(a) for a in strings]), 1_000, 2.0, 200),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pred", type=Path, help="predictor file (default: fit lgbm on --csv)")
    ap.add_argument("--csv", type=Path, help="per-layer CSV to fit a predictor on when --pred is not given")
    ap.add_argument("--device", default="pixel3")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--out", type=Path, default=Path("bench/out/predictor_throughput"))
    args = ap.parse_args(argv)
    from predictors.io import load_predictor

    if args.pred is None:
        if args.csv is None:
            ap.error("give --pred FILE or --csv PATH")
        from predictors.data import from_layer_csvs
        from predictors.workflow import fit_predictor

        pf, _ = fit_predictor(from_layer_csvs([args.csv], args.device), "lgbm", folds=0, baselines=())
    else:
        pf = load_predictor(args.pred)
    space = SearchSpace.default()
    t0 = time.perf_counter()
    table = pf.lookup_table(args.resolution, space)
    build_s = time.perf_counter() - t0
    results = {"predictor": pf.kind, "n_members": pf.predictor.num_members, "resolution": args.resolution,
               "table_build_s": build_s, "distinct_layers": table.n_distinct_layers,
               "table_entries": int(table.block_table.shape[1]), "lookup": [], "interval_lookup": [], "per_layer_path": []}
    for batch in (1, 1_000, 100_000):
        tokens = space.sample_tokens(batch, seed=batch)
        results["lookup"].append(_rate(lambda t=tokens: table.predict(t), batch))
        results["interval_lookup"].append(_rate(lambda t=tokens: table.predict_interval(t), batch))
    for batch in (1, 1_000):  # the per-layer path from strings (layer tables + LightGBM): for comparison
        archs = space.sample(batch, seed=batch)
        results["per_layer_path"].append(_rate(lambda a=archs: pf.predictor.predict(a, args.resolution), batch, 2.0, 20))
    results["search_path"] = _search_path(pf, space, args.resolution)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    lines = [f"# Predictor throughput ({pf.kind}, {results['n_members']} members, {args.resolution}x{args.resolution})", "",
             f"Table build: {build_s:.2f} s for {table.n_distinct_layers} distinct layers, "
             f"{results['table_entries']} block entries.", "",
             "| path | batch | archs/s (median) | archs/s (best) |", "| --- | ---: | ---: | ---: |"]
    for path in ("lookup", "interval_lookup", "per_layer_path"):
        for r in results[path]:
            lines.append(f"| {path} | {r['batch']:,} | {r['archs_per_s_median']:,.0f} | {r['archs_per_s_best']:,.0f} |")
    for query, r in results["search_path"].items():
        lines.append(f"| search: {query} | {r['batch']:,} | {r['archs_per_s_median']:,.0f} | {r['archs_per_s_best']:,.0f} |")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
