"""Runs on a Linux board (sent over ssh on stdin: ``python3 - ARGS``); standard library plus
``onnxruntime`` and ``numpy`` only, Python 3.8+. Never imported by the host code.

``--info`` prints the board's identity; ``--model M`` times a model with ONNX Runtime's Python
API: ``--warmup`` runs, ``--runs`` timed runs (each one a sample, ``time.perf_counter`` around
``InferenceSession.run``), then a separate session with profiling enabled runs one warm-up and
``--profile-runs`` runs and writes ``PREFIX_<date>_<time>.json``. The process is pinned to the
fastest cores (``cpuinfo_max_freq``) unless ``--no-pin``. The last stdout line is
``MNAS_RESULT {json}``; failures print ``{"ok": false, "error": CODE, "detail": ...}`` there and
exit with 3 (no onnxruntime) or 4 (the model does not run).
"""

import argparse
import glob
import json
import os
import platform
import socket
import sys
import time

MARK = "MNAS_RESULT "


def emit(obj, rc=0):
    sys.stdout.write(MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()
    sys.exit(rc)


def read(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def cpu_table():
    cpus = {}
    for d in glob.glob("/sys/devices/system/cpu/cpu[0-9]*"):
        n = os.path.basename(d)[3:]
        if not n.isdigit():
            continue
        mx = read(d + "/cpufreq/cpuinfo_max_freq")
        cur = read(d + "/cpufreq/scaling_cur_freq")
        cpus[int(n)] = {
            "max_khz": int(mx) if mx.isdigit() else None,
            "cur_khz": int(cur) if cur.isdigit() else None,
            "governor": read(d + "/cpufreq/scaling_governor"),
        }
    return cpus


def temperature():
    best = None
    for z in glob.glob("/sys/class/thermal/thermal_zone[0-9]*"):
        t = read(z + "/temp")
        try:
            c = float(t)
        except ValueError:
            continue
        c = c / 1000.0 if abs(c) >= 1000 else c
        if -30 < c < 150:
            best = c if best is None else max(best, c)
    return best


def big_cores(cpus, threads):
    known = sorted(((v["max_khz"] or 0, n) for n, v in cpus.items()), reverse=True)
    if not known or known[0][0] == 0:
        return sorted(cpus)
    cutoff = known[min(max(threads, 1), len(known)) - 1][0]
    return sorted(n for f, n in known if f >= cutoff)


def board_model():
    for p in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model", "/sys/class/dmi/id/product_name"):
        m = read(p).replace("\x00", "").strip()
        if m:
            return m
    return ""


def cpu_model():
    text = read("/proc/cpuinfo")
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.lower().startswith(key.lower()) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor()


def info():
    try:
        import onnxruntime as ort

        ort_version = ort.__version__
    except ImportError:
        ort_version = ""
    cpus = cpu_table()
    return {
        "ok": True,
        "hostname": socket.gethostname(),
        "board_model": board_model(),
        "cpu_model": cpu_model(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "ort_version": ort_version,
        "cpus": {str(k): v for k, v in sorted(cpus.items())},
        "online_cpus": os.cpu_count(),
        "temperature_c": temperature(),
    }


def measure(args):
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        emit({"ok": False, "error": "onnxruntime_missing", "detail": str(e), "python": sys.executable}, 3)
    cpus = cpu_table()
    cores = []
    if args.pin and hasattr(os, "sched_setaffinity"):
        cores = [c for c in big_cores(cpus, args.threads) if c in os.sched_getaffinity(0)]
        if cores:
            os.sched_setaffinity(0, cores)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

    def session(profile_prefix=None):
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if profile_prefix:
            so.enable_profiling = True
            so.profile_file_prefix = profile_prefix
        return ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])

    temp_before = temperature()
    try:
        sess = session()
        rng = np.random.default_rng(0)
        feeds = {
            i.name: rng.standard_normal([d if isinstance(d, int) and d > 0 else 1 for d in i.shape]).astype(np.float32)
            for i in sess.get_inputs()
        }
        for _ in range(args.warmup):
            sess.run(None, feeds)
        samples = []
        for _ in range(args.runs):
            t = time.perf_counter()
            sess.run(None, feeds)
            samples.append((time.perf_counter() - t) * 1000.0)
        del sess
        profile = None
        if args.profile_runs > 0:
            psess = session(args.profile_prefix)
            for _ in range(args.profile_runs + 1):  # the first one is the warm-up the parser drops
                psess.run(None, feeds)
            profile = psess.end_profiling()
    except Exception as e:  # noqa: BLE001 - reported to the host as one line
        emit({"ok": False, "error": "model_failed", "detail": str(e).splitlines()[0] if str(e) else repr(e)}, 4)
    emit({
        "ok": True,
        "samples_ms": samples,
        "profile": os.path.abspath(profile) if profile else None,
        "ort_version": ort.__version__,
        "affinity": affinity,
        "pinned_cores": cores,
        "cpu_max_khz": [cpus[c]["max_khz"] for c in affinity if c in cpus],
        "governor": sorted({cpus[c]["governor"] for c in affinity if c in cpus}),
        "temperature_c": temp_before,
        "temperature_c_after": temperature(),
    })


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mnas-pred-remote-runner")
    ap.add_argument("--info", action="store_true")
    ap.add_argument("--model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--profile-runs", type=int, default=10)
    ap.add_argument("--profile-prefix", default="mnas-profile")
    ap.add_argument("--no-pin", dest="pin", action="store_false")
    args = ap.parse_args(argv)
    if args.info:
        emit(info())
    if not args.model:
        ap.error("--model or --info is required")
    measure(args)


if __name__ == "__main__":
    main()
