"""What checking a predictor file costs at load time (issue 12): the whole ``load_predictor``
beside its parts: reading the JSON, the pydantic schema, the structural check of every embedded
LightGBM model text, and LightGBM's own parsing of those texts. Medians of ``--repeats`` runs
of a real predictor file (``--pred``, or one fitted on ``--csv`` for ``--device``). Measures and
reports; never fails on a number.

    .venv/bin/python bench/predictor_load_validation.py --csv datasets/hwnasbench_fbnet_ops.csv --device pixel3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pred", type=Path, help="predictor file (default: fit lgbm on --csv)")
    ap.add_argument("--csv", type=Path, default=Path("datasets/hwnasbench_fbnet_ops.csv"))
    ap.add_argument("--device", default="pixel3")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench/out/predictor_load_validation.json"))
    args = ap.parse_args(argv)

    import lightgbm as lgb

    from mnas_pred.validation import parse_json
    from predictors.io import load_predictor, save_predictor
    from predictors.schema import Payload, check_model_texts

    path = args.pred
    if path is None:
        from mnas_pred.space import SearchSpace
        from predictors.data import from_layer_csvs
        from predictors.workflow import fit_predictor

        pf, _ = fit_predictor(from_layer_csvs([args.csv], args.device), "lgbm", SearchSpace.default(), folds=0)
        path = save_predictor(pf, args.out.with_suffix(".pred"))
    raw = path.read_bytes()
    payload = json.loads(raw)["payload"]
    checked = Payload.model_validate(payload)
    texts = [m["booster"] for m in payload["predictors"]["lgbm"]["layer_model"]["members"] if m.get("booster")]
    texts.append(payload["predictors"]["rf"]["layer_model"]["booster"])
    load_predictor(path)  # warm imports

    result = {
        "file": str(path), "file_bytes": len(raw), "lightgbm_texts": len(texts),
        "lightgbm_text_chars": sum(len(t) for t in texts), "repeats": args.repeats,
        "median_ms": {
            "load_predictor (all of it)": _median_ms(lambda: load_predictor(path), args.repeats),
            "json.loads": _median_ms(lambda: json.loads(raw), args.repeats),
            "parse_json (NaN + depth checks)": _median_ms(lambda: parse_json(raw, "x", "y"), args.repeats),
            "pydantic schema": _median_ms(lambda: Payload.model_validate(payload), args.repeats),
            "LightGBM text check": _median_ms(lambda: check_model_texts(checked), args.repeats),
            "lgb.Booster(model_str) of the same texts": _median_ms(lambda: [lgb.Booster(model_str=t) for t in texts], args.repeats),
        },
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_average": os.getloadavg()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{path} ({len(raw) / 2**20:.1f} MiB, {len(texts)} LightGBM texts), median of {args.repeats}:")
    for k, v in result["median_ms"].items():
        print(f"  {k:45s} {v:8.1f} ms")
    print(f"load average {result['machine']['load_average']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
