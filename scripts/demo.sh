#!/usr/bin/env bash
# The whole pipeline on this machine, as a user would type it: profile this CPU, fit a latency
# predictor, run the MnasNet search against it on the bundled digits task. Resumable: re-running
# continues (the store skips measured models, the search resumes from its checkpoint).
# Sized to finish in under 10 minutes on a 2-core machine: fewer profiled networks and timed runs,
# 3-fold cross-validation, 32 candidates trained on all cores (960 digits, batches of 64), 2 best
# models exported; PPO, which did better than evolution at small budgets (README). The README's
# workflow section has the full-size commands.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${DEMO_DIR:-demo-out}
MNAS=${MNAS:-.venv/bin/mnas-pred}
MODELS=${DEMO_MODELS:-48}
SAMPLES=${DEMO_SAMPLES:-32}
WORKERS=${DEMO_WORKERS:-$(nproc)}
# the device protocol for profiling and re-validation: fewer timed and profiled runs than the defaults (50/10)
MEASURE=(--warmup 5 --runs 20 --profile-runs 3)
mkdir -p "$OUT"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "== 1/4 the search space and a reference network"
step "$MNAS" space
step "$MNAS" arch-info mnasnet-a1

echo "== 2/4 measure $MODELS sampled networks on this CPU (end-to-end and per layer)"
step "$MNAS" profile-device --num-models "$MODELS" --db "$OUT/measurements.db" "${MEASURE[@]}"
step "$MNAS" measurements --db "$OUT/measurements.db" --format csv --out "$OUT/measurements.csv"

echo "== 3/4 fit the LightGBM latency predictor beside the FLOPs and lookup-table baselines"
step "$MNAS" fit-predictor --db "$OUT/measurements.db" --out "$OUT/local.pred" --report "$OUT/predictor-report" --folds 3

# Target: the median measured latency, so the search has to trade accuracy against speed.
T=$("$MNAS" measurements --db "$OUT/measurements.db" --format jsonl |
    .venv/bin/python -c 'import json,statistics,sys; print(round(statistics.median(json.loads(l)["latency_ms"] for l in sys.stdin), 2))')

echo "== 4/4 MnasNet search (PPO) with predicted latency, re-measuring the best candidates (T = $T ms)"
RESUME=()
[ -f "$OUT/search/checkpoint.npz" ] && RESUME=(--resume)
step "$MNAS" search --use-predictor "$OUT/local.pred" --db "$OUT/measurements.db" --target-ms "$T" \
    --strategy ppo --dataset digits --samples "$SAMPLES" --batch-size 8 --epochs 1 --train-batch-size 64 --train-limit 960 --workers "$WORKERS" \
    --revalidate-every 2 --revalidate-top 3 --export-top 2 "${MEASURE[@]}" --out "$OUT/search" "${RESUME[@]}"

echo
echo "Results:"
echo "  measurements      $OUT/measurements.db ($OUT/measurements.csv)"
echo "  predictor         $OUT/local.pred, report in $OUT/predictor-report/"
echo "  search            $OUT/search/ (history.csv, pareto.csv, best/, plots)"
