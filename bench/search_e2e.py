"""End to end on this machine: profile → fit-predictor → search on digits, and the same search
with every candidate measured on the device (the original MnasNet) at the same budget.

    .venv/bin/python bench/search_e2e.py [--profile-models 40] [--samples 64] [--batch-size 8]
                                         [--target-ms 6] [--accuracy proxy|analytic]

Runs the issue's command (``search --use-predictor P --target-ms T --dataset digits --samples 64
--batch-size 8 --epochs 1 --revalidate-every 2 --revalidate-top 2``) through the real CLI, checks
that the exported ONNX models load in ONNX Runtime, then the device-only search, and reports
device measurements used, wall time and final reward of both side by side. Writes
bench/out/search_e2e.md/.json (and keeps the two results folders under bench/out/search_e2e/).
A benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def _cli(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mnas_pred", *args], check=True)
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile-models", type=int, default=40)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--target-ms", type=float, default=6.0)
    ap.add_argument("--accuracy", default="proxy", choices=["proxy", "analytic"])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args(argv)
    work = Path(args.out) / "search_e2e"
    work.mkdir(parents=True, exist_ok=True)
    db, pred = work / "measurements.db", work / "predictor.json"
    measure = ["--runs", str(args.runs), "--warmup", "5"]
    times = {}
    if not pred.exists():
        times["profile_s"] = _cli(["profile-device", "--num-models", str(args.profile_models), "--db", str(db),
                                   "--runs", str(args.runs), "--warmup", "5"])
        times["fit_s"] = _cli(["fit-predictor", "--db", str(db), "--out", str(pred)])
    common = ["--target-ms", str(args.target_ms), "--dataset", "digits", "--samples", str(args.samples),
              "--batch-size", str(args.batch_size), "--epochs", "1", "--db", str(db), "--accuracy", args.accuracy,
              *measure]
    results = {}
    for name, extra in (("predictor", ["--use-predictor", str(pred), "--revalidate-every", "2", "--revalidate-top", "2"]),
                        ("device-only", [])):
        out = work / name
        shutil.rmtree(out, ignore_errors=True)
        wall = _cli(["search", *common, *extra, "--out", str(out)])
        summary = json.loads((out / "summary.json").read_text())
        best = json.loads((out / "best" / "best.json").read_text())
        import onnxruntime as ort

        for b in best:
            ort.InferenceSession(str(out / "best" / b["onnx"]), providers=["CPUExecutionProvider"])
        results[name] = {"wall_s": round(wall, 1), "device_measurements": summary["device_measurements"],
                         "predictor_refits": summary["predictor_refits"], "best": summary["best"],
                         "onnx_loaded": len(best), "out": str(out)}
        if name == "predictor":
            reval = out / "revalidation.csv"
            results[name]["revalidation_csv"] = reval.read_text() if reval.exists() else ""
    lines = [f"# Search on this machine: {args.samples} samples, batch {args.batch_size}, T = {args.target_ms} ms, "
             f"accuracy {args.accuracy} (digits, 1 epoch)", "",
             "| latency source | device measurements | refits | wall s | best reward | best accuracy | best latency ms (source) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        b = r["best"]
        lines.append(f"| {name} | {r['device_measurements']} | {r['predictor_refits']} | {r['wall_s']} | "
                     f"{b['reward']:.4f} | {b['accuracy']:.4f} | {b['latency_ms']:.2f} ({b['latency_source']}) |")
    if times:
        lines += ["", f"profiling {args.profile_models} models: {times['profile_s']:.0f} s, fit: {times['fit_s']:.0f} s"]
    if results["predictor"].get("revalidation_csv"):
        lines += ["", "Re-validation log (predicted vs measured):", "", "```",
                  results["predictor"]["revalidation_csv"].strip(), "```"]
    text = "\n".join(lines)
    print(text)
    (Path(args.out) / "search_e2e.md").write_text(text + "\n")
    (Path(args.out) / "search_e2e.json").write_text(json.dumps({"args": vars(args), "times": times,
                                                                 "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
