"""LiteRT conversion cost and fidelity, and LiteRT vs ONNX Runtime on this CPU.

Two parts (run both, or one with ``--part``):

* ``convert``: the first ``--models`` (default 30) architectures that ``profile-device`` samples
  (default space, ``--seed``, 224x224), plus the drift reference MnasNet-B1, converted with
  litert-torch in ``--workers`` processes (the campaign's pipeline, ``TfliteFiles``) into the bench's
  cache folder. Reports conversion seconds per network (and the ONNX export of the same networks
  for scale), and for every network LiteRT's output against PyTorch's on the same random input
  (max absolute difference, max difference relative to the largest |output|).
* ``campaign``: ``mnas-pred profile-device --runtime litert --num-models N`` (N = ``--campaign-models``,
  default 20; the conversions of part one are reused through ``MNAS_PRED_CACHE_DIR``) and the ORT
  campaign ``mnas-pred profile-device --num-models N`` on the same networks; per network the LiteRT
  and ORT medians side by side and the median LiteRT/ORT ratio.

Writes ``bench/out/litert_conversion.json`` and ``.md``. A benchmark, not a test: it never fails
on a number. The machine's CPU and load average are recorded with the numbers.

    .venv/bin/python bench/litert_conversion.py [--part convert|campaign] [--models 30] [--workers 2]
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
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
CLI = [sys.executable, "-m", "mnas_pred"]
REFERENCE = "mnasnet-b1"  # profile-device's drift reference: converted too, so the campaign finds it


def machine() -> dict:
    """This machine as `lscpu` names its CPU, and its load (the machine is shared: numbers move with it)."""
    from device_profiler.local import cpu_model

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if shutil.which("lscpu") else ""
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), cpu_model())
    return {"host": platform.node(), "cpu": model, "cpus": os.cpu_count(), "load_avg": os.getloadavg()}


def _machine_line(part: dict, tail: str) -> str:
    m = part["machine"]
    return (f"{part['when']}, {m['cpu']} (lscpu; {m['cpus']} CPUs, shared with other work), load average "
            f"{part['load_avg_before'][0]:.2f} before / {part['load_avg_after'][0]:.2f} after; {tail}")


def litert_output(path: Path, x):
    """The .tflite's output on input ``x`` through ai-edge-litert's CompiledModel (CPU, one thread)."""
    import numpy as np
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import CpuOptions, Options

    model = CompiledModel.from_file(str(path), options=Options(HardwareAccelerator.CPU, CpuOptions(num_threads=1)))
    inputs, outputs = model.create_input_buffers(0), model.create_output_buffers(0)
    inputs[0].write(np.ascontiguousarray(x, dtype=np.float32))
    model.run_by_index(0, inputs, outputs)
    sig = model.get_signature_list()
    out_name = next(iter(next(iter(sig.values()))["outputs"]))
    shape = model.get_output_tensor_details(next(iter(sig)))[out_name]["shape"]
    return outputs[0].read(int(np.prod(shape)), np.float32).reshape(shape)


def part_convert(args, cache_dir: Path) -> dict:
    import numpy as np
    import torch

    from device_profiler.litert.convert import seeded_model
    from device_profiler.litert.model_files import TfliteFiles
    from mnas_pred.export import export_onnx
    from mnas_pred.space import SearchSpace

    space = SearchSpace.default()
    archs = [a.to_string() for a in space.sample(args.models, args.seed)]
    res, nc = args.resolution, space.num_classes
    load_before = os.getloadavg()
    start = time.perf_counter()
    rows = []
    with TfliteFiles(res, nc, cache_dir=cache_dir, workers=args.workers) as files:
        files.prefetch(archs + [REFERENCE])
        for i, a in enumerate(archs + [REFERENCE]):
            try:
                c = files.converted(a)
            except Exception as e:  # a failed conversion is a result of this bench, not its end
                rows.append({"arch": a, "error": str(e)})
                print(f"[{i + 1}/{len(archs) + 1}] FAILED {e}", flush=True)
                continue
            meta = json.loads(c.path.with_suffix(".json").read_text()) if c.path.with_suffix(".json").is_file() else {}
            rows.append({"arch": a, "convert_s": round(c.convert_s, 2), "converted_now": c.converted_now,
                         "converted_at": meta.get("converted_at"), "path": str(c.path),
                         "tflite_mb": round(c.path.stat().st_size / 2**20, 2)})
            print(f"[{i + 1}/{len(archs) + 1}] {c.convert_s:6.1f} s {'(cached)' if not c.converted_now else ''} {a[:60]}",
                  flush=True)
    wall = time.perf_counter() - start
    load_after = os.getloadavg()

    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    for r in rows:
        if "error" in r:
            continue
        model = seeded_model(r["arch"], res, nc)
        x = rng.standard_normal((1, 3, res, res)).astype(np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = litert_output(Path(r["path"]), x)
        diff = np.abs(got - ref)
        r["max_abs_diff"] = float(diff.max())
        r["max_rel_diff"] = float(diff.max() / max(np.abs(ref).max(), 1e-12))
        r["top1_agrees"] = bool(got.argmax() == ref.argmax())
        t0 = time.perf_counter()
        export_onnx(r["arch"], None, resolution=res, num_classes=nc, model=model)
        r["onnx_export_s"] = round(time.perf_counter() - t0, 3)
    ok = [r for r in rows if "error" not in r]
    fresh = [r["convert_s"] for r in ok if r["converted_now"]]
    every = [r["convert_s"] for r in ok]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "load_avg_before": load_before, "load_avg_after": load_after,
        "resolution": res, "workers": args.workers, "networks": len(rows), "failed": len(rows) - len(ok),
        "wall_s": round(wall, 1),
        "convert_s": {"n": len(every), "median": statistics.median(every) if every else None,
                      "min": min(every, default=None), "max": max(every, default=None),
                      "converted_in_this_run": len(fresh)},
        # when the cached files were made (a re-run reads them): the conversion campaign's own window
        "converted_between": [min((r["converted_at"] for r in ok if r.get("converted_at")), default=None),
                              max((r["converted_at"] for r in ok if r.get("converted_at")), default=None)],
        "onnx_export_s_median": statistics.median(r["onnx_export_s"] for r in ok) if ok else None,
        "max_abs_diff": max((r["max_abs_diff"] for r in ok), default=None),
        "max_rel_diff": max((r["max_rel_diff"] for r in ok), default=None),
        "top1_agrees": sum(r["top1_agrees"] for r in ok),
        "per_network": rows,
    }


def profile_run(extra: list[str], db: Path, n: int, seed: int, res: int, env: dict) -> dict:
    cmd = [*CLI, "profile-device", "--db", str(db), "--num-models", str(n), "--seed", str(seed),
           "--resolution", str(res), "--json", *extra]
    print("$ mnas-pred", " ".join(cmd[3:]), flush=True)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"profile-device failed: {r.stderr.strip()[-2000:]}")
    out = json.loads(r.stdout)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def part_campaign(args, cache_dir: Path) -> dict:
    from mnas_pred.store import MeasurementStore

    work = args.out / "litert-campaign"
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MNAS_PRED_CACHE_DIR": str(cache_dir.parent)}
    dbs = {"litert": work / "litert.db", "ort": work / "ort.db"}
    for db in dbs.values():  # fresh campaigns: a database from an earlier run would make them skip everything
        for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            f.unlink(missing_ok=True)
    load_before = os.getloadavg()
    runs = {"litert": profile_run(["--runtime", "litert"], dbs["litert"], args.campaign_models, args.seed,
                                  args.resolution, env),
            "ort": profile_run([], dbs["ort"], args.campaign_models, args.seed, args.resolution, env)}
    load_after = os.getloadavg()
    frames = {}
    for k, db in dbs.items():
        with MeasurementStore(db, create=False) as s:
            frames[k] = s.models_frame()
    both = frames["litert"].merge(frames["ort"], on="arch", suffixes=("_litert", "_ort"))
    per = [{"arch": r.arch, "macs_m": round(r.macs_litert / 1e6, 1), "litert_ms": round(r.latency_ms_litert, 3),
            "ort_ms": round(r.latency_ms_ort, 3), "ratio": round(r.latency_ms_litert / r.latency_ms_ort, 3)}
           for r in both.itertuples()]
    ratios = [p["ratio"] for p in per]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "load_avg_before": load_before, "load_avg_after": load_after,
        "commands": [f"mnas-pred profile-device --runtime litert --num-models {args.campaign_models}",
                     f"mnas-pred profile-device --num-models {args.campaign_models}"],
        "runtimes": {k: {"device": runs[k]["device"], "measured": runs[k]["measured"],
                         "already": runs[k]["already_measured"], "seconds": runs[k]["seconds"],
                         "wall_s": runs[k]["wall_s"]} for k in runs},
        "networks": len(per),
        "median_ratio_litert_over_ort": statistics.median(ratios) if ratios else None,
        "ratio_range": [min(ratios), max(ratios)] if ratios else None,
        "median_litert_ms": statistics.median(p["litert_ms"] for p in per) if per else None,
        "median_ort_ms": statistics.median(p["ort_ms"] for p in per) if per else None,
        "per_network": per,
    }


def markdown(report: dict) -> str:
    lines = ["# LiteRT conversion and LiteRT vs ONNX Runtime", ""]
    c = report.get("convert")
    if c:
        lines += [
            "## Conversion (litert-torch) and fidelity", "",
            _machine_line(c, f"{c['resolution']}x{c['resolution']}, {c['workers']} conversion workers."), "",
            f"- {c['networks']} networks ({c['networks'] - 1} sampled + MnasNet-B1), {c['failed']} failed; "
            f"{c['convert_s']['converted_in_this_run']} converted in this run (wall {c['wall_s']} s); the cached files "
            f"were converted between {c['converted_between'][0]} and {c['converted_between'][1]}",
            f"- conversion seconds per network: median {c['convert_s']['median']}, range {c['convert_s']['min']}-"
            f"{c['convert_s']['max']} (ONNX export of the same networks: median {c['onnx_export_s_median']} s)",
            f"- LiteRT vs PyTorch output: max abs difference {c['max_abs_diff']:.3g}, max relative (to max |output|) "
            f"{c['max_rel_diff']:.3g}; top-1 agrees on {c['top1_agrees']}/{c['networks'] - c['failed']}", "",
            "| network | convert s | MB | max abs | max rel | ONNX export s |", "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in c["per_network"]:
            if "error" in r:
                lines.append(f"| `{r['arch'][:50]}` | failed: {r['error'][:80]} | | | | |")
            else:
                lines.append(f"| `{r['arch'][:50]}` | {r['convert_s']}{'' if r['converted_now'] else ' (cached)'} | "
                             f"{r['tflite_mb']} | {r['max_abs_diff']:.2e} | {r['max_rel_diff']:.2e} | {r['onnx_export_s']} |")
        lines.append("")
    k = report.get("campaign")
    if k:
        lines += [
            "## LiteRT vs ONNX Runtime on this CPU (same networks, end to end, one thread)", "",
            _machine_line(k, "both campaigns one after the other, conversions from the cache of the part above."), "",
            *[f"- `{cmd}`" for cmd in k["commands"]],
            f"- median LiteRT/ORT latency ratio over {k['networks']} networks: **{k['median_ratio_litert_over_ort']:.3f}** "
            f"(range {k['ratio_range'][0]:.3f}-{k['ratio_range'][1]:.3f}); medians {k['median_litert_ms']:.2f} ms vs "
            f"{k['median_ort_ms']:.2f} ms", "",
            "| network | MACs (M) | LiteRT ms | ORT ms | LiteRT/ORT |", "| --- | --- | --- | --- | --- |",
            *[f"| `{p['arch'][:50]}` | {p['macs_m']} | {p['litert_ms']} | {p['ort_ms']} | {p['ratio']} |"
              for p in k["per_network"]],
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("convert", "campaign", "both"), default="both")
    ap.add_argument("--models", type=int, default=30)
    ap.add_argument("--campaign-models", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    cache_dir = args.out / "litert-cache" / "tflite"
    path = args.out / "litert_conversion.json"
    report = json.loads(path.read_text()) if path.is_file() else {}  # one part at a time keeps the other's figures
    if args.part in ("convert", "both"):
        report["convert"] = part_convert(args, cache_dir)
    if args.part in ("campaign", "both"):
        report["campaign"] = part_campaign(args, cache_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / "litert_conversion.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
