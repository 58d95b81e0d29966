"""Core commands: ``arch-info``, ``sample``, ``export``, ``space``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mnas_pred import summary
from mnas_pred.cli._app import JsonOption, ResolutionOption, SeedOption, SpaceOption, app, console, print_json
from mnas_pred.limits import option_callback
from mnas_pred.space import SearchSpace

ArchArgument = Annotated[
    str,
    typer.Argument(
        help="Architecture string (e.g. mbconv6_k3_r2_c24_s2_se0_skipid-...) or a named reference: "
        "mobilenetv2, mnasnet-a1, mnasnet-b1.",
        show_default=False,
    ),
]
NumClassesOption = Annotated[Optional[int], typer.Option("--num-classes", help="Classes of the head (default: the space's, 1000).", callback=option_callback("num_classes"))]


@app.command("arch-info")
def arch_info(
    arch: ArchArgument,
    resolution: ResolutionOption = None,
    num_classes: NumClassesOption = None,
    space: SpaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """Layers, parameters and MACs of an architecture, computed analytically."""
    info = summary.describe(arch, SearchSpace.load(space), resolution, num_classes)
    if json_out:
        print_json(info)
        return
    table = Table(title=info["arch"], title_justify="left", show_footer=True)
    for col, justify in (("layer", "left"), ("op", "left"), ("k", "right"), ("s", "right"), ("e", "right"),
                         ("se", "right"), ("skip", "left"), ("input", "right"), ("cout", "right"),
                         ("params", "right"), ("MACs", "right")):
        table.add_column(col, justify=justify)
    for lay in info["layers"]:
        table.add_row(
            lay["name"], lay["op"], str(lay["kernel"]), str(lay["stride"]), str(lay["expansion"]),
            f"{lay['se_ratio']:g}", lay["skip"], f"{lay['cin']}x{lay['in_h']}x{lay['in_w']}", str(lay["cout"]),
            f"{lay['params']:,}", f"{lay['macs']:,}",
        )
    table.columns[0].footer = "total"
    table.columns[-2].footer = f"{info['params']:,}"
    table.columns[-1].footer = f"{info['macs']:,}"
    console.print(table)
    console.print(
        f"{info['params'] / 1e6:.2f}M parameters, {info['macs'] / 1e6:.1f}M MACs at "
        f"{info['resolution']}x{info['resolution']}, {info['num_classes']} classes; "
        + _space_verdict(info)
    )


def _space_verdict(info: dict) -> str:
    """Whether search and profile-device can produce the network (named references need not)."""
    space = "the default search space" if info["space"] == "default" else f"the search space {info['space']}"
    if info["in_space"]:
        return f"inside {space}"
    return f"outside {space} ({info['space_note']})"


@app.command()
def sample(
    n: Annotated[int, typer.Option("-n", "--num", help="How many architectures.", callback=option_callback("sample"))] = 1,
    seed: SeedOption = None,
    space: SpaceOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list of strings.")] = False,
) -> None:
    """Sample architectures uniformly from the search space, one string per line."""
    archs = [a.to_string() for a in SearchSpace.load(space).sample(n, seed)]
    if json_out:
        print_json(archs)
        return
    for a in archs:
        typer.echo(a)


@app.command()
def export(
    arch: ArchArgument,
    onnx: Annotated[Path, typer.Option("--onnx", help="Output ONNX file.", dir_okay=False, show_default=False)],
    resolution: ResolutionOption = None,
    num_classes: NumClassesOption = None,
    space: SpaceOption = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Run the exported model in ONNX Runtime and compare with PyTorch.")] = True,
    json_out: JsonOption = False,
) -> None:
    """Export an architecture (random weights) to ONNX: opset 17, batch 1."""
    info = summary.export_checked(arch, onnx, SearchSpace.load(space), resolution, num_classes, check)
    if json_out:
        print_json(info)
        return
    diff = (
        f", ONNX Runtime matches PyTorch (max abs diff {info['max_abs_diff']:.1e} on outputs up to "
        f"{info['output_max_abs']:.2g})" if check else ""
    )
    console.print(f"wrote {info['onnx']} ({info['bytes'] / 1e6:.1f} MB, sha256 {info['sha256'][:12]}){diff}")


@app.command("space")
def space_info(space: SpaceOption = None, json_out: JsonOption = False) -> None:
    r"""Show the search space: blocks, choices per decision and its size.

    A space file (TOML or JSON) may set resolution, num_classes, a \[choices] table with the
    lists ops, kernels, se_ratios, skips, filter_multipliers, layer_offsets, and one \[\[blocks]]
    table per block with filters, layers, stride (and any choice list to override).
    """
    s = SearchSpace.load(space)
    if json_out:
        print_json({**s.to_dict(), "size": s.size, "num_decisions": s.num_decisions})
        return
    table = Table(title=f"search space ({s.source})", title_justify="left")
    for col in ("block", "stride", "ops", "kernels", "se", "skips", "filters", "layers", "choices"):
        table.add_column(col)
    for i, b in enumerate(s.blocks, start=1):
        table.add_row(
            str(i), str(b.stride), " ".join(b.ops), " ".join(map(str, b.kernels)),
            " ".join(f"{r:g}" for r in b.se_ratios), " ".join(b.skips), " ".join(map(str, b.filters)),
            " ".join(map(str, b.layers)), str(b.num_choices),
        )
    console.print(table)
    console.print(
        f"{s.num_decisions} decisions, {s.size:.3g} architectures; input {s.resolution}x{s.resolution}, "
        f"{s.num_classes} classes"
    )
