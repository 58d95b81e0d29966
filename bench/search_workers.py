"""``--workers N`` (issue 6): the same search with 1 and N local worker processes.

    .venv/bin/python bench/search_workers.py [--workers 2] [--repeats 3] [--samples 16]

Real proxy training on digits (1 epoch, 32x32), analytic stand-in latency, PPO. Reports the
median wall time of ``--repeats`` runs for each worker count, their ratio, and whether every
history.csv is byte-identical to the serial one. Writes bench/out/search_workers.md/.json.
On a shared machine the ratio depends on what else runs: read it with the load average printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args(argv)
    work = Path(args.out) / "search_workers"
    common = ["--target-ms", "8", "--dataset", "digits", "--epochs", "1", "--samples", str(args.samples),
              "--batch-size", str(args.batch_size), "--latency", "analytic", "--use-predictor", "analytic",
              "--export-top", "0", "--json", "--no-references"]  # references train in the driver: not what scales
    walls: dict[int, list[float]] = {1: [], args.workers: []}
    histories = {}
    for rep in range(args.repeats):
        for w in walls:
            out = work / f"w{w}-r{rep}"
            shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mnas_pred", "search", *common, "--workers", str(w), "--out", str(out)],
                           check=True, stdout=subprocess.DEVNULL)
            walls[w].append(time.perf_counter() - t)
            histories[(w, rep)] = (out / "history.csv").read_text()
    reference = histories[(1, 0)]
    identical = all(h == reference for h in histories.values())
    med = {w: statistics.median(v) for w, v in walls.items()}
    load = os.getloadavg()
    text = "\n".join([
        f"# --workers {args.workers} vs 1: {args.samples} candidates (digits, 1 epoch, 32x32), {args.repeats} repeats",
        "",
        "| workers | wall times s | median s |", "| --- | --- | --- |",
        *[f"| {w} | {', '.join(f'{x:.1f}' for x in v)} | {med[w]:.1f} |" for w, v in walls.items()],
        "",
        f"ratio (1 worker / {args.workers} workers, medians): {med[1] / med[args.workers]:.2f}x; "
        f"histories identical: {identical}; load average after: {load[0]:.1f} on {os.cpu_count()} cores",
    ])
    print(text)
    (Path(args.out) / "search_workers.md").write_text(text + "\n")
    (Path(args.out) / "search_workers.json").write_text(json.dumps(
        {"args": vars(args), "walls": {str(k): v for k, v in walls.items()}, "identical": identical,
         "load_average": load}, indent=2) + "\n")


if __name__ == "__main__":
    main()
