"""A LiteRT phone campaign (issue 9): models per hour on the fake phone with the conversion
pipeline (``TfliteFiles``: worker processes convert ahead while the phone measures) and without
it (each network converted on demand, then measured), and how much of the wall time is conversion.

    .venv/bin/python bench/litert_phone_campaign.py [--models 6] [--resolution 224] [--workers 2]
        [--runs 20] [--warmup 5] [--profile-runs 5] [--seed 0]

The phone is the test suite's fake (tests/device_profiler/fakes/): a fake ``adb`` and a fake
on-device ``benchmark_model`` that really runs every ``.tflite`` with ai-edge-litert *on this
machine*, with the LiteRT phone device (``device_profiler.litert.adb.LiteRtAdbDevice``) doing
what it does on a real phone (push, taskset, end-to-end bursts, one profiled run, per-layer
mapping). So conversion and "phone" share this machine's cores, unlike a real phone, which brings
its own CPU: the pipeline's gain measured here is a floor. Each mode converts into its own fresh
cache folder (nothing is reused between modes). Per model: seconds waiting for the ``.tflite``,
seconds on the phone. Writes bench/out/litert_phone_campaign.json and .md. A benchmark, not a
test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"

from tests.device_profiler.conftest import FakeAndroid, install_fake_tools  # noqa: E402

SERIAL = "BENCHLITERT1"


def fake_phone(home: Path) -> FakeAndroid:
    """One fake Pixel 7 behind a fake adb, with the fake benchmark_model to push."""
    state = home / "adb-home"
    (state / "roots").mkdir(parents=True)
    os.environ["FAKE_ADB_HOME"] = str(state)
    fa = FakeAndroid(home=state, tools=install_fake_tools(home / "tools"))
    fa.add_device(SERIAL)
    return fa


def campaign(mode: str, archs: list[str], fa: FakeAndroid, cache_dir: Path, args) -> dict:
    """Measure ``archs`` on the fake phone, the .tflite files coming from the pipeline or converted on demand."""
    from device_profiler.litert.adb import LiteRtAdbDevice
    from device_profiler.litert.convert import TfliteCache
    from device_profiler.litert.model_files import TfliteFiles
    from mnas_pred.records import MeasureSettings

    settings = MeasureSettings(threads=1, warmup=args.warmup, runs=args.runs, profile_runs=args.profile_runs)
    rows = []
    t_start = time.perf_counter()
    with LiteRtAdbDevice(SERIAL, adb=fa.adb, benchmark_model=str(fa.tools["benchmark_model"])) as dev:
        dev.info()  # push the tool before the clock matters per model
        files = None
        if mode == "pipeline":
            files = TfliteFiles(args.resolution, 1000, cache_dir=cache_dir, workers=args.workers)
            files.prefetch(archs)
        cache = TfliteCache(cache_dir)
        try:
            for arch in archs:
                t0 = time.perf_counter()
                if files is not None:
                    conv = files.converted(arch)
                else:
                    conv = cache.convert(arch, args.resolution, 1000)
                waited = time.perf_counter() - t0
                t1 = time.perf_counter()
                raw = dev.time_model(conv.path, settings)
                on_phone = time.perf_counter() - t1
                layer_sum = sum(raw.layer_ms.values()) if raw.layer_ms else float("nan")
                median = statistics.median(raw.samples_ms)
                rows.append({"arch": arch, "wait_for_tflite_s": round(waited, 2), "convert_s": round(conv.convert_s, 2),
                             "on_phone_s": round(on_phone, 2), "median_ms": round(median, 3),
                             "layer_sum_ratio": round(layer_sum / median, 3) if median > 0 else None})
        finally:
            if files is not None:
                files.close()
    wall = time.perf_counter() - t_start
    waited = sum(r["wait_for_tflite_s"] for r in rows)
    return {
        "mode": mode, "models": len(rows), "wall_s": round(wall, 1),
        "models_per_hour": round(3600 * len(rows) / wall, 1),
        "waiting_for_conversion_s": round(waited, 1), "waiting_fraction_of_wall": round(waited / wall, 3),
        "conversion_cpu_s": round(sum(r["convert_s"] for r in rows), 1),
        "on_phone_s": round(sum(r["on_phone_s"] for r in rows), 1),
        "per_model": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--workers", type=int, default=2, help="conversion processes of the pipeline")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--profile-runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from device_profiler.local import cpu_model
    from device_profiler.protocol import sample_archs
    from mnas_pred.space import SearchSpace

    archs = [a if isinstance(a, str) else a.to_string() for a in sample_archs(SearchSpace.default(), args.models, args.seed)]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-litert-phone-") as tmp:
        fa = fake_phone(Path(tmp))
        for mode in ("on_demand", "pipeline"):
            print(f"{mode}: {len(archs)} models at {args.resolution}x{args.resolution} ...", flush=True)
            r = campaign(mode, archs, fa, Path(tmp) / f"cache-{mode}", args)
            results.append(r)
            print(f"  {r['models_per_hour']} models/hour, wall {r['wall_s']} s, waiting for conversion "
                  f"{r['waiting_for_conversion_s']} s ({r['waiting_fraction_of_wall']:.0%} of wall), "
                  f"conversion {r['conversion_cpu_s']} s in all, phone {r['on_phone_s']} s", flush=True)
    report = {
        "bench": "litert_phone_campaign", "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "cpu": cpu_model(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "args": vars(args), "results": results,
        "speedup_pipeline": round(results[1]["models_per_hour"] / results[0]["models_per_hour"], 2),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "litert_phone_campaign.json").write_text(json.dumps(report, indent=1))
    lines = [f"# LiteRT phone campaign (fake phone), {report['when']}", "",
             f"{report['machine']['cpu']}, {report['machine']['cpus']} CPUs, load {report['machine']['load_avg']}; "
             f"{args.models} models at {args.resolution}x{args.resolution}, runs {args.runs}, warm-up {args.warmup}, "
             f"profile runs {args.profile_runs}, pipeline workers {args.workers}", "",
             "| mode | models/hour | wall s | waiting for .tflite s (share of wall) | conversion s | on phone s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['mode']} | {r['models_per_hour']} | {r['wall_s']} | {r['waiting_for_conversion_s']} "
                     f"({r['waiting_fraction_of_wall']:.0%}) | {r['conversion_cpu_s']} | {r['on_phone_s']} |")
    lines += ["", f"pipeline / on demand: {report['speedup_pipeline']}x models/hour. The fake phone runs on this "
              "machine's CPU, so conversion and measurement compete for the same cores (a real phone does not)."]
    (OUT / "litert_phone_campaign.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
