"""LiteRT's CompiledModel ``benchmark_model``: its command line, its output, its failures.

What this module relies on, read in google-ai-edge/LiteRT (snapshot of 2026-08-21,
f67457790c9c2ab67347d6fe53270e8d3df20868; docs page "Benchmark CompiledModel API",
https://ai.google.dev/edge/litert/next/benchmark, which links the nightly prebuilt binaries):

Command line (``tflite/tools/command_line_flags.cc``, ``tflite/tools/benchmark/benchmark_model.cc``,
``litert/tools/benchmark_litert_model.h`` ``GetFlags``):
- a flag is matched only as ``--name=value``; a bool takes ``true``/``false``/``1``/``0``. A bare
  ``--use_gpu`` or any unknown flag is left over and reported as
  ``WARN: Unconsumed cmdline flags: ...`` (on stdout) while the run goes on; a malformed value
  (``--num_runs=x``) prints the usage on stderr and fails;
- ``--num_runs`` and ``--warmup_runs`` are *minimums*: the tool keeps running until
  ``--min_secs`` (default 1 s) resp. ``--warmup_min_secs`` (default 0.5 s) have passed, so this
  module always passes both as 0 to get exactly the counts asked for; a loop also stops after
  ``--max_secs`` (default 150 s), raised here to an hour;
- flags used here: ``--graph``, ``--num_threads``, ``--num_runs``, ``--warmup_runs``,
  ``--min_secs``, ``--warmup_min_secs``, ``--max_secs``, ``--use_gpu``, ``--use_profiler``. Classic
  TFLite flags (``--enable_op_profiling``, ``--use_xnnpack``) are not flags of this tool.

Output (``tflite/tools/logging.h``: ``TFLITE_LOG`` INFO/WARN go to stdout as ``INFO: ...``,
ERROR to stderr; ``litert/c/internal/litert_logging.{h,cc}``: ``LITERT_LOG`` goes to stderr as
``INFO: [file.cc:LINE] ...`` / ``WARNING: [...]`` / ``ERROR: [...]``):
- each run loop (warm-up, then the timed runs) ends with one ``TFLITE_LOG(INFO)`` line from
  ``StatWithPercentiles::OutputToStream`` (xla/tsl ``stats_calculator.h``) in *microseconds*:
  ``count=N first=F curr=C min=A max=B avg=M std=S p5=.. median=.. p95=..``, or, when every run
  took the same time, ``count=N curr=C(all same) p5=.. median=.. p95=..``; the tool keeps no
  per-run samples on its output, so one invocation gives one sample (its median);
- ``BenchmarkLoggingListener::OnBenchmarkEnd`` (``benchmark_litert_model.h``) logs the
  ``========== BENCHMARK RESULTS ==========`` block on stderr (``Model initialization``,
  ``Inference (avg)`` ...) and then, with ``--use_profiler=true``, the profile summary
  (:mod:`device_profiler.litert.op_profile`).

Failures (``benchmark_litert_model_main.cc``, ``litert/runtime/accelerators/gpu_registry.cc``):
- any failing step ends with ``ERROR: Benchmarking failed.`` on stderr and exit 1
  (``EXIT_FAILURE``); a missing or non-model ``--graph`` fails in ``LoadModel`` this way;
- ``--use_gpu=true`` ``dlopen``s the accelerator by bare name (``libLiteRtGpuAccelerator.so``,
  on Android also ``libLiteRtClGlAccelerator.so``, ``libLiteRtOpenClAccelerator.so``), so it must
  lie in a directory of ``LD_LIBRARY_PATH``; when none loads, the tool logs ``WARNING: [...] GPU
  accelerator could not be loaded and registered.``, runs on the CPU and exits 0.
  :func:`check_run` turns that into an error when the GPU was asked for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from device_profiler._shell import first_line, quote_join
from mnas_pred.errors import DeviceError

TOOL_NAME = "benchmark_model"
ENV_VAR = "MNAS_PRED_BENCHMARK_MODEL"
DOWNLOAD_PAGE = "https://ai.google.dev/edge/litert/next/benchmark"
#: The names the tool ``dlopen``s for ``--use_gpu=true``, first one first.
GPU_ACCELERATOR_NAMES = ("libLiteRtGpuAccelerator.so", "libLiteRtClGlAccelerator.so", "libLiteRtOpenClAccelerator.so")
MAX_SECS = 3600.0  # the tool stops a run loop after --max_secs (default 150 s), short of --num_runs
GPU_FALLBACK_TEXT = "GPU accelerator could not be loaded and registered"
FAILED_TEXT = "Benchmarking failed."

_STAT = re.compile(r"^(?:INFO: )?count=(\d+)\b(.*)$", re.M)
_FIELD = re.compile(r"\b(first|curr|min|max|avg|std|p5|median|p95)=(-?[0-9.eE+]+|nan|-?inf)", re.I)
_UNCONSUMED = re.compile(r"Unconsumed cmdline flags:\s*(.*)$", re.M)
_ERROR = re.compile(r"^(?:ERROR|FATAL): (.*)$", re.M)
_INIT = re.compile(r"Model initialization:\s*([0-9.]+)\s*ms")


def missing_tool_fix(platform: str = "android_arm64") -> str:
    """The fix printed when no ``benchmark_model`` was given: where to get it and what to do."""
    return (f"download the prebuilt {platform} benchmark_model from {DOWNLOAD_PAGE} (nightly binaries), "
            f"`chmod +x` it and pass --benchmark-model PATH (or set ${ENV_VAR})")


def locate_tool(explicit: str | os.PathLike | None, platform: str = "android_arm64") -> str:
    """The local ``benchmark_model`` file to push or run: ``--benchmark-model``, else
    ``$MNAS_PRED_BENCHMARK_MODEL``, else an error with the download steps."""
    chosen = explicit or os.environ.get(ENV_VAR) or None
    if not chosen:
        raise DeviceError(f"--runtime litert needs LiteRT's {TOOL_NAME} ({platform})", missing_tool_fix(platform))
    path = os.fspath(chosen)
    if not os.path.isfile(path):
        raise DeviceError(f"{TOOL_NAME} {path!r} does not exist", missing_tool_fix(platform))
    return path


# ----------------------------------------------------------------------------- command line


def tool_arguments(graph: str, *, threads: int, runs: int, warmup: int, use_gpu: bool = False,
                   profile: bool = False) -> list[str]:
    """The tool's flags, every one as ``--name=value`` (the only form it consumes)."""
    args = [
        f"--graph={graph}",
        f"--num_threads={int(threads)}",
        f"--num_runs={int(runs)}",
        f"--warmup_runs={int(warmup)}",
        "--min_secs=0",
        "--warmup_min_secs=0",
        f"--max_secs={MAX_SECS:g}",
    ]
    if use_gpu:
        args.append("--use_gpu=true")
    if profile:
        args.append("--use_profiler=true")
    return args


def shell_command(tool: str, arguments: Sequence[str], *, library_dir: str | None = None,
                  cpu_mask: str | None = None, workdir: str | None = None) -> str:
    """One shell line running the tool: every argument quoted; ``LD_LIBRARY_PATH`` (set through
    ``env`` so no shell assignment syntax is needed) where the accelerator ``.so`` lies;
    ``taskset MASK`` where a CPU mask is given; ``cd WORKDIR &&`` first where given."""
    argv: list[str] = []
    if library_dir:
        argv += ["env", f"LD_LIBRARY_PATH={library_dir}"]
    if cpu_mask:
        argv += ["taskset", cpu_mask]
    argv += [tool, *arguments]
    line = quote_join(argv)
    return f"{quote_join(['cd', workdir])} && {line}" if workdir else line


# ----------------------------------------------------------------------------- output


@dataclass
class RunStats:
    """One run loop's statistics, converted to milliseconds (the tool prints microseconds)."""

    count: int
    values_ms: dict[str, float] = field(default_factory=dict)  # first, curr, min, max, avg, std, p5, median, p95

    @property
    def sample_ms(self) -> float | None:
        """This loop as one end-to-end sample: its median, else its mean, else its only value."""
        for key in ("median", "avg", "curr"):
            if key in self.values_ms:
                return self.values_ms[key]
        return None


@dataclass
class ToolOutput:
    """What one invocation printed, parsed."""

    warmup: RunStats | None
    timed: RunStats | None
    init_ms: float | None
    unconsumed: str  # the flags the tool ignored ("" when none)
    errors: list[str]  # ERROR:/FATAL: lines, prefix dropped
    gpu_fallback: bool
    failed: bool  # "Benchmarking failed." was printed
    last_line: str = ""  # the last line of stderr (else stdout), for errors that print no ERROR: line


def _stats(match: re.Match) -> RunStats:
    values = {k.lower(): float(v) / 1000.0 for k, v in _FIELD.findall(match.group(2))}
    return RunStats(count=int(match.group(1)), values_ms=values)


def parse_output(stdout: str, stderr: str) -> ToolOutput:
    """Parse stdout and stderr of one run. The last ``count=`` line is the timed loop; one
    before it, the warm-up loop (the tool runs warm-up first)."""
    loops = [_stats(m) for m in _STAT.finditer(stdout)]
    both = f"{stdout}\n{stderr}"
    unconsumed = " ".join(m.strip() for m in _UNCONSUMED.findall(both) if m.strip())
    init = _INIT.search(stderr)
    return ToolOutput(
        warmup=loops[-2] if len(loops) >= 2 else None,
        timed=loops[-1] if loops else None,
        init_ms=float(init.group(1)) if init else None,
        unconsumed=unconsumed,
        errors=[e.strip() for e in _ERROR.findall(stderr)],
        gpu_fallback=GPU_FALLBACK_TEXT in both,
        failed=FAILED_TEXT in both,
        last_line=next((ln.strip() for ln in reversed((stderr or stdout).splitlines()) if ln.strip()), ""),
    )


# ----------------------------------------------------------------------------- checks


def check_run(where: str, rc: int, out: ToolOutput, *, use_gpu: bool, runs: int | None = None) -> None:
    """Fail loudly on anything that would store a wrong number: a non-zero exit,
    ``Benchmarking failed.`` or any other ``ERROR:`` line (even with exit 0), flags the tool
    ignored, a GPU run that fell back to the CPU, or a run count that is not the one asked for."""
    if rc != 0 or out.failed or out.errors:
        detail = next((e for e in out.errors if e != FAILED_TEXT), "") or (out.errors[0] if out.errors else out.last_line or f"exit {rc}")
        low = detail.lower()
        if "load model" in low or "no such file" in low or "model" in low and ("open" in low or "read" in low):
            fix = "check that the .tflite file was pushed and is a valid LiteRT model"
        else:
            fix = "run the same command by hand on the device to see the tool's full output"
        what = f"failed with exit {rc}" if rc != 0 else "reported an error (exit 0)"
        raise DeviceError(f"{where}: {TOOL_NAME} {what} ({detail})", fix)
    if out.unconsumed:
        raise DeviceError(f"{where}: {TOOL_NAME} ignored the flags {out.unconsumed}",
                          "use a benchmark_model built from LiteRT's CompiledModel tool (litert/tools), "
                          f"not the classic TFLite one; see {DOWNLOAD_PAGE}")
    if use_gpu and out.gpu_fallback:
        raise DeviceError(
            f"{where}: the GPU accelerator did not load, {TOOL_NAME} fell back to the CPU",
            f"pass --gpu-accelerator PATH ({GPU_ACCELERATOR_NAMES[0]} from the same LiteRT release as the tool); "
            "it is pushed beside the tool and found through LD_LIBRARY_PATH",
        )
    if out.timed is None or out.timed.sample_ms is None:
        raise DeviceError(f"{where}: no timing in {TOOL_NAME} output ({first_line('; '.join(out.errors)) or 'none'})",
                          f"use LiteRT's CompiledModel benchmark_model ({DOWNLOAD_PAGE})")
    if runs is not None and out.timed.count != runs:
        raise DeviceError(f"{where}: {TOOL_NAME} ran {out.timed.count} times, not the {runs} asked for",
                          f"a run loop stops after --max_secs={MAX_SECS:g}: use fewer --runs for a model this slow")
