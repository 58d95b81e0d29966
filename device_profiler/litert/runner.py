"""Time one ``.tflite`` with LiteRT's ``benchmark_model`` on any machine a shell reaches.

The same runner serves a phone (``adb shell``), a Linux board (``ssh``) and this machine (a
local ``sh -c``): it only needs a function that runs one shell line there and returns the exit
status, stdout and stderr. Per model (design.md §4 protocol, as for ``onnxruntime_perf_test``):

1. the end-to-end runs as short bursts, each one invocation of the tool
   (``--warmup_runs=W --num_runs=B``; the first burst warms up with ``settings.warmup`` runs,
   later ones with one, as every new process needs its first inference). The tool prints only
   statistics, not each run, so each burst gives one sample: its median (``median=``);
2. one separate profiled invocation (``--use_profiler=true``, one warm-up run, then
   ``settings.profile_runs`` runs) whose Run Order table is mapped back to the network's layers
   (:mod:`device_profiler.litert.op_profile`) against the operator list of the local copy of the
   same ``.tflite``.

Every invocation is checked (:func:`device_profiler.litert.benchmark_model.check_run`): flags
the tool ignored, a GPU run that fell back to the CPU, ``ERROR: Benchmarking failed.``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_profiler._shell import run
from device_profiler.litert import benchmark_model as bm
from device_profiler.litert import op_profile
from device_profiler.trace import UNMAPPED
from mnas_pred.errors import DeviceError
from mnas_pred.records import MeasureSettings, RawTiming

#: Runs one shell line on the target; returns (exit status, stdout, stderr).
Execute = Callable[[str], tuple[int, str, str]]


def local_shell(command: str, timeout: float = 1800.0) -> tuple[int, str, str]:
    """:data:`Execute` for this machine (a linux_x86_64 ``benchmark_model``): ``sh -c``."""
    p = run(["sh", "-c", command], timeout=timeout, what=bm.TOOL_NAME)
    return p.returncode, p.stdout, p.stderr


@dataclass
class BenchmarkModelRunner:
    """``benchmark_model`` on one target. ``tool`` and ``workdir`` are paths *there*;
    ``library_dir`` is put on ``LD_LIBRARY_PATH`` (where the GPU accelerator lies)."""

    execute: Execute
    tool: str
    where: str  # names the target in errors, e.g. "adb device R5CT21"
    workdir: str | None = None
    library_dir: str | None = None
    use_gpu: bool = False
    burst_runs: int = 10

    def command(self, graph: str, *, runs: int, warmup: int, threads: int, cpu_mask: str | None,
                profile: bool = False) -> str:
        args = bm.tool_arguments(graph, threads=threads, runs=runs, warmup=warmup, use_gpu=self.use_gpu,
                                 profile=profile)
        return bm.shell_command(self.tool, args, library_dir=self.library_dir, cpu_mask=cpu_mask,
                                workdir=self.workdir)

    def invoke(self, graph: str, *, runs: int, warmup: int, threads: int, cpu_mask: str | None,
               profile: bool = False) -> tuple[bm.ToolOutput, str]:
        """One checked invocation; returns the parsed output and stderr (the profile lies there)."""
        rc, out, err = self.execute(self.command(graph, runs=runs, warmup=warmup, threads=threads,
                                                 cpu_mask=cpu_mask, profile=profile))
        parsed = bm.parse_output(out, err)
        bm.check_run(self.where, rc, parsed, use_gpu=self.use_gpu, runs=runs)
        return parsed, err

    def time(self, graph: str, local_model: Path, settings: MeasureSettings, cpu_mask: str | None = None) -> RawTiming:
        """End-to-end bursts and one profiled invocation of ``graph`` (the model's path on the
        target; ``local_model`` is the same file here, read for its operator list)."""
        n_bursts = max(1, math.ceil(settings.runs / self.burst_runs))
        sizes = [settings.runs // n_bursts + (1 if i < settings.runs % n_bursts else 0) for i in range(n_bursts)]
        bursts, samples = [], []
        for i, size in enumerate(sizes):
            warm = settings.warmup if i == 0 else min(settings.warmup, 1)
            parsed, _ = self.invoke(graph, runs=max(size, 1), warmup=warm, threads=settings.threads, cpu_mask=cpu_mask)
            bursts.append({"runs": parsed.timed.count, "warmup_runs": warm, **parsed.timed.values_ms,
                           "init_ms": parsed.init_ms})
            samples.append(parsed.timed.sample_ms)
        layer_ms, profile_meta = None, {}
        if settings.profile_runs > 0:
            layer_ms, profile_meta = self._profile(graph, local_model, settings, cpu_mask)
        metadata = {
            "sample_kind": "burst_median",
            "burst_runs": sizes,
            "bursts": bursts,
            "runner": bm.TOOL_NAME,
            "accelerator": "gpu" if self.use_gpu else "cpu",
            "command": self.command(graph, runs=sizes[0], warmup=settings.warmup, threads=settings.threads,
                                    cpu_mask=cpu_mask),
            **profile_meta,
        }
        return RawTiming(samples_ms=samples, node_events=[], profiled_runs=settings.profile_runs if layer_ms else 0,
                         metadata=metadata, layer_ms=layer_ms, runs_per_sample=max(sizes))

    def _profile(self, graph: str, local_model: Path, settings: MeasureSettings,
                 cpu_mask: str | None) -> tuple[dict[str, float] | None, dict]:
        parsed, err = self.invoke(graph, runs=settings.profile_runs, warmup=1, threads=settings.threads,
                                  cpu_mask=cpu_mask, profile=True)
        rows = op_profile.parse_run_order(err)
        meta = {"profile_rows": len(rows), "profile_median_ms": parsed.timed.sample_ms,
                "profile_note": "benchmark_model --use_profiler=true Run Order; first (warm-up) call dropped"}
        if not rows:
            raise DeviceError(f"{self.where}: {bm.TOOL_NAME} --use_profiler=true printed no Run Order table",
                              f"use LiteRT's CompiledModel benchmark_model ({bm.DOWNLOAD_PAGE})")
        ops = op_profile.graph_ops(local_model)
        names = list(dict.fromkeys(op.layer for op in ops if op.layer != UNMAPPED))
        if not any(r.delegated for r in rows):
            # e.g. a GPU run whose accelerator reports no per-op rows: end-to-end only, said so
            meta["profile_note"] += "; no per-op rows in this profile, no per-layer times"
            return None, meta
        try:
            layers = op_profile.layer_times_ms(rows, ops, names)
        except op_profile.LayerMapError as e:
            raise DeviceError(f"{self.where}: cannot map the {bm.TOOL_NAME} profile to layers ({e})",
                              "report this with the model file: the converter or XNNPACK changed the operator list") from None
        meta["unattributed_ms"] = layers.get(UNMAPPED, 0.0)
        return layers, meta


