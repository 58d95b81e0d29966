"""Several phones at once (issue 6): models per hour of ``profile-device`` with two fake phones
(``--serial A --serial B``) against one, on the same sampled architectures.

    .venv/bin/python bench/profile_fleet.py [--models 12] [--resolution 224] [--runs 20] [--repeats 3]

The phones are the test suite's fakes (tests/device_profiler/fakes/): a fake ``adb`` and a fake
on-device ``onnxruntime_perf_test`` that really runs every model with ONNX Runtime *on this
machine*. Two fake phones therefore share this machine's cores (and its Python start-ups: every
adb call and every perf_test burst is a new process), unlike two real phones, which each bring
their own CPU: the speed-up measured here is a floor, not what real phones give. Each
configuration runs as a separate ``mnas-pred`` process into a fresh store. Writes
bench/out/profile_fleet.md and .json. A benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnas_pred.store import MeasurementStore  # noqa: E402
from tests.device_profiler.conftest import FakeAndroid, install_fake_tools  # noqa: E402

SERIALS = ("BENCH0PHONE1", "BENCH0PHONE2")


def fake_phones(home: Path) -> FakeAndroid:
    """Two fake Pixel 7 phones behind one fake adb, as the test fixtures build them."""
    state = home / "adb-home"
    (state / "roots").mkdir(parents=True)
    fa = FakeAndroid(home=state, tools=install_fake_tools(home / "tools"))
    for serial in SERIALS:
        fa.add_device(serial)
    return fa


def run(fa: FakeAndroid, serials: tuple[str, ...], db: Path, args) -> dict:
    cmd = [sys.executable, "-m", "mnas_pred", "profile-device", *[x for s in serials for x in ("--serial", s)],
           "--adb", fa.adb, "--perf-test", str(fa.tools["perf_test"]), "--ort-lib", str(fa.tools["ort_lib"]),
           "-n", str(args.models), "--resolution", str(args.resolution), "--runs", str(args.runs),
           "--warmup", str(args.warmup), "--profile-runs", str(args.profile_runs), "--drift-every", "0",
           "--seed", str(args.seed), "--db", str(db), "--json"]
    env = {**os.environ, "FAKE_ADB_HOME": str(fa.home)}
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"profile-device failed: {p.stderr.strip()}")
    out = json.loads(p.stdout)
    with MeasurementStore(db, create=False) as store:
        records = store.records()
    return {
        "phones": len(serials), "measured": out["measured"], "seconds_in_loop": out["seconds"],
        "wall_s": round(wall, 2), "models_per_hour": out["models_per_hour"],
        "models_per_hour_wall": round(3600 * out["measured"] / wall),
        "per_phone": {r["device"]: sum(1 for x in records if x["device"] == r["device"]) for r in records},
        "stored": len(records), "distinct_archs": len({r["arch"] for r in records}),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=12)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--profile-runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each configuration, alternating; medians reported")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="mnas-fleet-bench-") as tmp:
        for rep in range(args.repeats):
            for serials in (SERIALS[:1], SERIALS):
                name = f"phones{len(serials)}-r{rep}"
                fa = fake_phones(Path(tmp) / name)
                results.append({"repeat": rep, **run(fa, serials, Path(tmp) / f"{name}.db", args)})
    median = {n: statistics.median(r["models_per_hour"] for r in results if r["phones"] == n) for n in (1, 2)}
    load = os.getloadavg()
    text = "\n".join([
        f"# profile-device on 1 vs 2 fake phones: {args.models} models at {args.resolution}x{args.resolution}, "
        f"{args.warmup} warm-up + {args.runs} runs + {args.profile_runs} profiled, {args.repeats} repeats",
        "",
        "| phones | repeat | measured | per phone | seconds | models/hour (loop) | models/hour (process wall) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *[f"| {r['phones']} | {r['repeat']} | {r['measured']} | "
          f"{', '.join(f'{k}: {v}' for k, v in sorted(r['per_phone'].items()))} | "
          f"{r['seconds_in_loop']} | {r['models_per_hour']} | {r['models_per_hour_wall']} |" for r in results],
        "",
        f"median models/hour: 1 phone {median[1]:.0f}, 2 phones {median[2]:.0f}: {median[2] / median[1]:.2f}x "
        f"on {os.cpu_count()} cores, load average after {load[0]:.1f}; the fake phones run on this machine's CPU, "
        "so real phones (each with its own CPU) scale better",
    ])
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile_fleet.md").write_text(text + "\n")
    (out / "profile_fleet.json").write_text(json.dumps({"args": vars(args), "results": results,
                                                        "load_average": load}, indent=2) + "\n")


if __name__ == "__main__":
    main()
