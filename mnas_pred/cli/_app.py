"""The typer application and the small helpers every command module shares.

Commands live in one module per stage (``core``, and the profiler, predictor and search modules
that register themselves on :data:`app`); each parses its options, calls one library function and
prints. Errors are turned into one line and exit code 2 by :func:`mnas_pred.cli.main`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from mnas_pred.limits import option_callback

app = typer.Typer(
    name="mnas-pred",
    help=(
        "Hardware-aware neural architecture search with measured latency.\n\n"
        "Pipeline: profile-device (measure sampled networks on your device) -> fit-predictor "
        "(LightGBM latency model) -> search --use-predictor (MnasNet PPO search)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Piped output gets a wide fixed width so tables are not truncated to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

class CommandInterrupted(Exception):
    """Ctrl-C, with the command's own line on what was kept and how to continue (exit code 130)."""


SpaceOption = Annotated[
    Optional[Path],
    typer.Option("--space", help="Search-space file (TOML or JSON); default: the MnasNet paper's space.",
                 dir_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
ResolutionOption = Annotated[
    Optional[int], typer.Option("--resolution", help="Input resolution (default: the space's, 224).",
                                callback=option_callback("resolution"))
]
SeedOption = Annotated[Optional[int], typer.Option("--seed", help="Random seed (same seed, same architectures).",
                                                   callback=option_callback("seed"))]

# The runtime a device measures with (mnas_pred.records.DeviceSpec checks the values: one line, exit 2).
RuntimeOption = Annotated[str, typer.Option(
    "--runtime", help="ort (ONNX Runtime, default) or litert (LiteRT; needs pip install 'mnas-pred\\[litert]'; "
                      "converts each network to .tflite, cached).")]
AcceleratorOption = Annotated[str, typer.Option(
    "--accelerator", help="cpu (default) or gpu (LiteRT's GPU accelerator on a phone or board).")]
BenchmarkModelOption = Annotated[Optional[Path], typer.Option(
    "--benchmark-model", envvar="MNAS_PRED_BENCHMARK_MODEL", dir_okay=False,
    help="LiteRT's benchmark_model tool for the device (per-layer times; $MNAS_PRED_BENCHMARK_MODEL).")]
GpuAcceleratorOption = Annotated[Optional[Path], typer.Option(
    "--gpu-accelerator", dir_okay=False,
    help="With --runtime litert --accelerator gpu: LiteRT's GPU accelerator .so (libLiteRtGpuAccelerator.so), "
         "pushed beside benchmark_model.")]
# How to reach a phone or a board, and the ONNX Runtime tools a phone needs.
SshOption = Annotated[Optional[str], typer.Option("--ssh", help="Linux board as user@host or host (ssh config, keys and jump hosts apply).")]
AdbOption = Annotated[Optional[Path], typer.Option("--adb", help="adb binary (default: $ADB, then PATH).", dir_okay=False)]
PerfTestOption = Annotated[Optional[Path], typer.Option("--perf-test", help="onnxruntime_perf_test built for the phone.", dir_okay=False)]
OrtLibOption = Annotated[Optional[Path], typer.Option("--ort-lib", help="libonnxruntime.so built for the phone.", dir_okay=False)]


def device_options(*, adb: Path | None, perf_test: Path | None, ort_lib: Path | None, runtime: str,
                   accelerator: str, benchmark_model: Path | None, gpu_accelerator: Path | None) -> dict:
    """The device flags as :meth:`mnas_pred.records.DeviceSpec.select` takes them (paths as text)."""
    paths = {"adb": adb, "perf_test": perf_test, "ort_lib": ort_lib, "benchmark_model": benchmark_model,
             "gpu_accelerator": gpu_accelerator}
    return {"runtime": runtime, "accelerator": accelerator, **{k: None if v is None else str(v) for k, v in paths.items()}}


def print_json(obj: Any) -> None:
    """JSON to stdout, bypassing rich so that nothing is wrapped or highlighted."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
