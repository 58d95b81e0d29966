"""The worker process of the local device: times one ONNX model with ONNX Runtime and exits.

Run as ``python _ort_worker.py`` (by file path, so that it imports nothing from the project and
starts fast). It reads one JSON request from stdin, writes one JSON result line to stdout and
exits. The parent starts it *before* it needs it (while the next model is being exported), so
the ~0.3 s import of onnxruntime overlaps with the export instead of adding to every
measurement. One process per model: a crash or hang costs only that model, and every model
starts from the same process state (allocator, arena, caches).

JSON both ways, never pickle: the request names a file, the answer is numbers and a path.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import onnxruntime as ort


def _session(model: str, threads: int, profile_prefix: str | None, spin: bool = True) -> ort.InferenceSession:
    so = ort.SessionOptions()
    if not spin:  # the intra-op pool's threads sleep as soon as a run ends instead of spinning
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # graph_optimization_level is left at ONNX Runtime's default on purpose (design.md §4:
    # the default fuses Conv+activation+Add; other levels are much slower).
    so.log_severity_level = 3
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def _feeds(sess: ort.InferenceSession) -> dict:
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def measure(req: dict) -> dict:
    from _worker_loop import pin, timed_run, timed_runs  # this folder's, stdlib only (see main)

    affinity, niceness = pin(req)
    threads = int(req["threads"])
    t0 = time.perf_counter()
    sess = _session(req["model"], threads, None)
    session_s = time.perf_counter() - t0
    feeds = _feeds(sess)
    run = sess.run
    for _ in range(int(req["warmup"])):
        run(None, feeds)
    samples, cpu = timed_runs(lambda: run(None, feeds), int(req["runs"]))
    phases = {"session": session_s, "timed": time.perf_counter() - t0 - session_s}
    profile_path, calibration_path, profile_warmup = None, None, int(req.get("profile_warmup", 2))
    profile_on_cpu: list[float] = []
    paired_ms: list[float] = []
    calibration_on_cpu: list[float] = []
    if int(req.get("profile_runs", 0)) > 0:
        # A separate session: profiling adds overhead, so its runs never enter the end-to-end
        # samples. Each profiled run follows one unprofiled run of the end-to-end session
        # (``paired_ms``): the pair sees the same machine state, which on a shared machine moves
        # 10-15% within a second, so the profile can be related to the end-to-end value run by
        # run. The first runs are warm-up and are dropped by the parser.
        # Runs during which the process was preempted do not count towards profile_runs (their
        # node times include the wait; the parent drops them when enough clean ones remain): more
        # runs are taken to get profile_runs clean ones on a busy machine. On a quiet one this adds nothing.
        # With several threads each session has its own intra-op pool, whose threads spin after a
        # run, so the other session's next run competes with them (2-core VM, 2 threads: paired
        # runs 1.5x slower than the end-to-end runs, and the profile slowed by a different
        # amount). So the pairs are taken by two sessions whose pools do not spin: the end-to-end
        # session (default spinning: what users run) is replaced by one without spinning, and the
        # profiled session spins neither. The profile is related to the unspun run beside it and
        # scaled to the end-to-end value by the parent (e2e / median of the paired runs). With one
        # thread there is no pool, and the end-to-end session itself takes the paired runs.
        spin = threads == 1
        if not spin:
            del sess, run
            sess = _session(req["model"], threads, None, spin=False)
            run = sess.run
        psess = _session(req["model"], threads, req["profile_prefix"], spin=spin)
        # With one thread preempted runs are usable (the per-layer median over runs leaves their
        # waits out), so fewer extra runs are taken than with several, where they are dropped.
        wanted, clean = int(req["profile_runs"]), 0
        cap = profile_warmup + (2 if threads == 1 else 5) * wanted
        min_on_cpu = float(req.get("min_on_cpu", 0.9))
        while len(profile_on_cpu) < cap and (len(profile_on_cpu) < profile_warmup + wanted or clean < wanted):
            wall, on_cpu = timed_run(lambda: run(None, feeds))
            # a preempted unprofiled run's CPU time is its run time without the wait (one thread
            # only: with several, CPU time is the sum over the threads)
            paired_ms.append(on_cpu if threads == 1 and on_cpu < min_on_cpu * wall else wall)
            wall, on_cpu = timed_run(lambda: psess.run(None, feeds))
            profile_on_cpu.append(on_cpu / max(wall, 1e-6))
            if len(profile_on_cpu) > profile_warmup and profile_on_cpu[-1] >= min_on_cpu:
                clean += 1
        profile_path = psess.end_profiling()
        phases["profile"] = time.perf_counter() - t0 - sum(phases.values())
        del psess
        if req.get("calibration_model"):
            # The profiler's own per-node overhead: a model of trivial nodes whose profiled kernel
            # time is nothing but that overhead. A constant of the machine and thread count (with
            # several threads the profiler also records the pool's scheduling of every node: 2.35
            # against 1.2-1.3 us a node with one, 2-core VM), so the parent asks only its first
            # profiled worker at each thread count, and it runs as the profiled session did.
            csess = _session(req["calibration_model"], threads, req["profile_prefix"] + "_calibration", spin=spin)
            cfeeds = _feeds(csess)
            for _ in range(profile_warmup + int(req.get("calibration_runs", 20))):
                wall, on_cpu = timed_run(lambda: csess.run(None, cfeeds))
                calibration_on_cpu.append(on_cpu / max(wall, 1e-6))
            calibration_path = csess.end_profiling()
            phases["calibration"] = time.perf_counter() - t0 - sum(phases.values())
    return {
        "samples_ms": samples,
        "cpu_ms": cpu,
        "profile_on_cpu": profile_on_cpu,
        "profile_path": profile_path,
        "paired_ms": paired_ms,
        "calibration_path": calibration_path,
        "calibration_on_cpu": calibration_on_cpu,
        "profile_warmup": profile_warmup,
        "affinity": affinity,
        "nice": niceness,
        "pid": os.getpid(),
        "session_s": session_s,
        "phases_s": {k: round(v, 4) for k, v in phases.items()},
        "ort_version": ort.__version__,
    }


def main() -> int:
    # the loop shared with the LiteRT worker, beside this file (on sys.path already unless
    # PYTHONSAFEPATH is set; appended so that it never shadows a module of the standard library)
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    from _worker_loop import serve

    return serve(measure, {"ort_version": ort.__version__})


if __name__ == "__main__":
    sys.exit(main())
