"""Per-layer additivity of the profiler: per-layer sum / end-to-end median, before and after a change.

Runs ``mnas-pred profile-device`` (separate processes, fresh stores) with the code of one or more
source trees (``--tree LABEL=DIR``, e.g. ``before=/tmp/main-f72f3e4`` and ``after=.``) at one or
more thread counts, on the same sampled networks (224x224 by default), and reports for each the
distribution of ``layer_sum_ms / latency_ms`` (median, p10, p90, worst = largest |ratio - 1|, how
many within 5% and 15%), the throughput, and, where the tree records them (``run_metadata.profile``),
how the raw profile related to the unprofiled run of the same moment (``paired_ratio_raw``), what
the profiler's overhead correction made of it (``paired_ratio``), and how much slower the machine
was while profiling than during the end-to-end runs (``state_ratio``).

Writes ``bench/out/profiler_additivity.json`` and ``.md`` and prints a summary with the CPU model
(``lscpu``) and the load average (``uptime``) before and after every run: the machine may be
shared, and the figures move with its load. A benchmark: it never fails on a number.

    .venv/bin/python bench/profiler_additivity.py --tree before=/tmp/main --tree after=. \
        --models 100 --threads 1 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def machine() -> dict:
    """``lscpu`` model name and ``uptime`` now."""
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""
    model = next((ln.split(":", 1)[1].strip() for ln in run(["lscpu"]).splitlines() if ln.startswith("Model name")), "?")
    return {"cpu": model, "cpus": os.cpu_count(), "uptime": run(["uptime"]).strip(), "load": list(os.getloadavg())}


def distribution(ratios: list[float]) -> dict:
    if not ratios:
        return {"n": 0}
    qs = statistics.quantiles(ratios, n=10) if len(ratios) > 1 else [ratios[0]] * 9
    worst = max(ratios, key=lambda r: abs(r - 1))
    return {"n": len(ratios), "median": statistics.median(ratios), "p10": qs[0], "p90": qs[-1], "min": min(ratios),
            "max": max(ratios), "worst": worst, "within_5pct": sum(abs(r - 1) <= 0.05 for r in ratios),
            "within_15pct": sum(abs(r - 1) <= 0.15 for r in ratios)}


def profile_run(tree: Path, db: Path, n: int, seed: int, resolution: int, threads: int,
                repeats: int | None = None) -> tuple[dict, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "mnas_pred", "profile-device", "--db", str(db), "--num-models", str(n), "--seed",
           str(seed), "--resolution", str(resolution), "--threads", str(threads), "--drift-every", "0", "--json",
           *(["--repeats", str(repeats)] if repeats else [])]
    start = datetime.now(UTC)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
    if res.returncode != 0:
        sys.exit(f"profile-device ({tree}) failed: {res.stderr.strip()[-500:]}")
    return json.loads(res.stdout), (datetime.now(UTC) - start).total_seconds()


def read_store(db: Path) -> list[dict]:
    """Per measurement: arch, latency, layer sum, ratio, and the profile metadata (if any)."""
    import sqlite3

    con = sqlite3.connect(db)
    rows = con.execute("SELECT mo.arch, m.latency_ms, m.layer_sum_ms, m.run_metadata FROM measurements m "
                       "JOIN models mo ON mo.id = m.model_id ORDER BY m.id").fetchall()
    layer_rows = con.execute("SELECT measurement_id, name, latency_ms FROM layer_timings").fetchall()
    ids = [r[0] for r in con.execute("SELECT id FROM measurements ORDER BY id")]
    con.close()
    between, layers = {}, {}
    for mid, name, ms in layer_rows:
        layers.setdefault(mid, {})[name] = ms
        if name in ("between_layers", "other"):
            between[mid] = between.get(mid, 0.0) + ms
    out = []
    for mid, (arch, lat, lsum, meta) in zip(ids, rows):
        meta = json.loads(meta or "{}")
        out.append({"arch": arch, "latency_ms": lat, "layer_sum_ms": lsum, "ratio": lsum / lat if lat and lsum else None,
                    "unattributed_ms": between.get(mid, 0.0), "profile": meta.get("profile"),
                    "layers_ms": layers.get(mid, {}),
                    "overhead_us": meta.get("profiler_overhead_us"), "machine": meta.get("machine")})
    return out


def per_layer(rows: list[dict]) -> dict:
    """Per layer group (stem, block 1-7, head, between_layers): the median share of the end-to-end
    time, and the median stored/raw-profile ratio (what the overhead and state corrections did)."""
    groups: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        raw = (r.get("profile") or {}).get("layers_raw_ms") or {}
        for name, ms in r["layers_ms"].items():
            group = name.split("_layer")[0] if name.startswith("block") else name
            g = groups.setdefault(group, {"share": [], "stored_over_raw": []})
            g["share"].append(ms / r["latency_ms"])
            if raw.get(name):
                g["stored_over_raw"].append(ms / raw[name])
    return {k: {"share_median": statistics.median(v["share"]),
                "stored_over_raw_median": statistics.median(v["stored_over_raw"]) if v["stored_over_raw"] else None,
                "n": len(v["share"])} for k, v in groups.items()}


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def write_report(report: dict, args) -> None:
    report["machine_after"] = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Per-layer sum / end-to-end", "",
             f"{report['when']}, {report['machine']['cpu']} ({report['machine']['cpus']} CPUs), {args.models} networks "
             f"(seed {args.seed}), {args.resolution}x{args.resolution}. `uptime` at start: {report['machine']['uptime']}", "",
             "| tree | threads | median | p10 | p90 | worst | within 5% | within 15% | paired raw (median) | paired calibrated (median) | paired corrected (median) | pool us/section (median) | state (median) | load before -> after | models/h |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["runs"]:
        d = r["ratio"]
        pr, pk, pc, st = (r.get(k, {}).get("median")
                          for k in ("paired_ratio_raw", "paired_ratio_calibrated", "paired_ratio", "state_ratio"))
        lines.append(f"| {r['label']} | {r['threads']} | {d['median']:.3f} | {d['p10']:.3f} | {d['p90']:.3f} | {d['worst']:.3f} | "
                     f"{d['within_5pct']}/{d['n']} | {d['within_15pct']}/{d['n']} | {_fmt(pr)} | {_fmt(pk)} | {_fmt(pc)} | "
                     f"{_fmt(r.get('pool_us_per_section_median'))} | {_fmt(st)} | "
                     f"{r['load_before'][0]:.2f} -> {r['load_after'][0]:.2f} | {r['models_per_hour']} |")
    lines += ["", "ratio = per-layer sum (every profiled node, layers and between_layers) / end-to-end median of the "
              "same measurement. paired = profile / unprofiled run right before it (same machine state): raw, after "
              "removing the profiler's per-node overhead calibrated on trivial nodes (calibrated), and after every correction "
              "(corrected; with several threads this includes the pool overhead per parallel section, measured against those "
              "unprofiled runs, so it is 1 by construction there); state = unprofiled runs during profiling / end-to-end runs.", "",
              f"`uptime` at the end: {report['machine_after']['uptime']}", ""]
    for r in report["runs"]:
        lines += [f"Per layer group, {r['label']}, {r['threads']} thread(s): share of end-to-end (median) and "
                  "stored / raw profile (median; the profiler-overhead and machine-state corrections)", "",
                  "| group | share | stored / raw | n |", "| --- | --- | --- | --- |",
                  *(f"| {k} | {v['share_median']:.3f} | {_fmt(v['stored_over_raw_median'])} | {v['n']} |"
                    for k, v in r["per_layer"].items()), ""]
    (args.out / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines[4:]), flush=True)




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", required=True, help="LABEL=DIR: a source tree to run profile-device from")
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--threads", type=int, action="append")
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--name", default="profiler_additivity")
    ap.add_argument("--repeats", type=int, help="profile-device --repeats for every tree (default: each tree's own "
                    "default, 1 before issue 10's follow-up, 3 after): give it to compare trees at equal cost")
    args = ap.parse_args()
    trees = [(t.split("=", 1)[0], Path(t.split("=", 1)[1]).resolve()) for t in args.tree]
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "models": args.models,
              "repeats": args.repeats, "seed": args.seed, "resolution": args.resolution, "runs": []}
    tmp = Path(tempfile.mkdtemp(prefix="mnas-pred-additivity-"))
    try:
        for threads in args.threads or [1]:
            for label, tree in trees:
                before = machine()
                summary, wall = profile_run(tree, tmp / f"{label}-{threads}.db", args.models, args.seed,
                                            args.resolution, threads, args.repeats)
                after = machine()
                rows = read_store(tmp / f"{label}-{threads}.db")
                ratios = [r["ratio"] for r in rows if r["ratio"]]
                run = {"label": label, "tree": str(tree), "threads": threads, "wall_s": round(wall, 1),
                       "models_per_hour": summary.get("models_per_hour"), "uptime_before": before["uptime"],
                       "uptime_after": after["uptime"], "load_before": before["load"], "load_after": after["load"],
                       "ratio": distribution(ratios),
                       "unattributed_share_median": statistics.median(r["unattributed_ms"] / r["latency_ms"] for r in rows),
                       "per_model": rows}
                profiles = [r["profile"] for r in rows if r.get("profile")]
                if profiles:
                    run["paired_ratio_raw"] = distribution([p["paired_ratio_raw"] for p in profiles])
                    run["paired_ratio"] = distribution([p["paired_ratio"] for p in profiles])
                    if all("paired_ratio_calibrated" in p for p in profiles):  # trees from before the pool overhead lack it
                        run["paired_ratio_calibrated"] = distribution([p["paired_ratio_calibrated"] for p in profiles])
                    pool = [r["overhead_us"]["per_parallel_section"] for r in rows
                            if "per_parallel_section" in (r["overhead_us"] or {})]
                    run["pool_us_per_section_median"] = statistics.median(pool) if pool else None
                    run["state_ratio"] = distribution([p["state_ratio"] for p in profiles])
                    run["overhead_us_median"] = statistics.median(r["overhead_us"]["one_input"] for r in rows if r["overhead_us"])
                run["per_layer"] = per_layer(rows)
                report["runs"].append(run)
                write_report(report, args)  # after every run: a run cut short loses only itself
                d = run["ratio"]
                print(f"{label:>8} {threads} thread(s): sum/e2e median {d['median']:.3f} p10 {d['p10']:.3f} p90 {d['p90']:.3f} "
                      f"worst {d['worst']:.3f}; within 5% {d['within_5pct']}/{d['n']}, within 15% {d['within_15pct']}/{d['n']}; "
                      f"load {before['load'][0]:.2f} -> {after['load'][0]:.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_report(report, args)
    print(f"wrote {args.out / (args.name + '.json')} and .md")


if __name__ == "__main__":
    main()
