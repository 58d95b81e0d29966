"""The worker process of the local LiteRT device: times one ``.tflite`` with ai-edge-litert and exits.

Run as ``python _litert_worker.py`` (by file path: it imports nothing from the project). Like the
ONNX Runtime worker (``device_profiler/_ort_worker.py``), and through the same loop
(``device_profiler/_worker_loop.py``), it answers one JSON request on stdin with one JSON line on stdout: pinned to the given cores, fixed threads, warm-up runs, then one wall-time
and one CPU-time sample per timed run (the protocol corrects preempted runs with the CPU time).

The model runs through LiteRT's CompiledModel API (what the phones' ``benchmark_model`` runs) on the
CPU accelerator (XNNPACK) with ``CpuOptions(num_threads=T)``; its input is filled once with seeded
random values. The Python API has no per-op profiler: the answer carries end-to-end times only.
"""

from __future__ import annotations

import os
import sys
import time


def _model(path: str, threads: int):
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import CpuOptions, Options

    return CompiledModel.from_file(path, options=Options(HardwareAccelerator.CPU, CpuOptions(num_threads=threads)))


def _buffers(model):
    import numpy as np

    rng = np.random.default_rng(0)
    inputs, outputs = model.create_input_buffers(0), model.create_output_buffers(0)
    signature = next(iter(model.get_signature_list()))
    for buf, detail in zip(inputs, model.get_input_tensor_details(signature).values()):
        buf.write(rng.standard_normal(detail["shape"]).astype(detail.get("dtype", "float32")))
    return inputs, outputs


def measure(req: dict) -> dict:
    from _worker_loop import pin, timed_runs  # the folder above's, put on sys.path by main

    affinity, niceness = pin(req)
    t0 = time.perf_counter()
    model = _model(req["model"], int(req["threads"]))
    inputs, outputs = _buffers(model)
    load_s = time.perf_counter() - t0
    run = model.run_by_index
    for _ in range(int(req["warmup"])):
        run(0, inputs, outputs)
    samples, cpu = timed_runs(lambda: run(0, inputs, outputs), int(req["runs"]))
    return {
        "samples_ms": samples, "cpu_ms": cpu, "affinity": affinity, "nice": niceness,
        "pid": os.getpid(), "load_s": load_s, "fully_accelerated": bool(model.is_fully_accelerated()),
    }


def main() -> int:
    # the loop shared with the ONNX Runtime worker, stdlib only, in the folder above; appended so
    # that its other files (trace.py, ...) never shadow a module of the standard library
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from _worker_loop import serve

    return serve(measure)


if __name__ == "__main__":
    sys.exit(main())
