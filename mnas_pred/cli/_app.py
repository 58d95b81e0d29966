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


def print_json(obj: Any) -> None:
    """JSON to stdout, bypassing rich so that nothing is wrapped or highlighted."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
