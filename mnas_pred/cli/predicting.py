"""Predictor commands: ``fit-predictor``, ``evaluate-predictor``, ``predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mnas_pred.cli._app import JsonOption, ResolutionOption, SpaceOption, app, console, err_console, print_json
from mnas_pred.errors import MnasPredError

DbOption = Annotated[Optional[Path], typer.Option("--db", help="Measurement database written by profile-device.", dir_okay=False)]
MeasurementsOption = Annotated[
    Optional[list[Path]],
    typer.Option("--measurements", help="Per-layer CSV of another tool or phone (columns: README, 'Per-layer CSV files'); repeat for several.", dir_okay=False),
]
DeviceOption = Annotated[Optional[str], typer.Option("--device", help="Use only this device's measurements (name or store key).")]
RuntimeFilter = Annotated[Optional[str], typer.Option("--runtime", help="Use only measurements of this runtime (ort or litert), when the device has several.")]
AcceleratorFilter = Annotated[Optional[str], typer.Option("--accelerator", help="Use only measurements on this accelerator (cpu or gpu), when the device has several.")]
PredictorArgument = Annotated[Path, typer.Argument(help="Predictor file written by fit-predictor.", dir_okay=False, show_default=False)]


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}%" if pct else f"{value:.3f}"


def _print_metrics(metrics: dict, title: str) -> None:
    for level, per_predictor in metrics.items():
        table = Table(title=f"{title}: {level} level", title_justify="left")
        for col in ("predictor", "±10%", "±5%", "MAPE", "RMSE ms", "Spearman", "Kendall", "n"):
            table.add_column(col, justify="left" if col == "predictor" else "right")
        for name, m in per_predictor.items():
            table.add_row(name, _fmt(m["within_10pct"], True), _fmt(m["within_5pct"], True), _fmt(m["mape"], True),
                          _fmt(m["rmse_ms"]), _fmt(m["spearman"]), _fmt(m["kendall"]), str(m["n"]))
        console.print(table)


@app.command("fit-predictor")
def fit_predictor(
    out: Annotated[Path, typer.Option("--out", help="Predictor file to write (JSON).", dir_okay=False, show_default=False)],
    db: DbOption = None,
    measurements: MeasurementsOption = None,
    device: DeviceOption = None,
    kind: Annotated[str, typer.Option("--kind", help="Predictor: lgbm, rf, flops or lut (the others are fitted as baselines).")] = "lgbm",
    report: Annotated[Optional[Path], typer.Option("--report", help="Write a markdown report with plots into this folder.", file_okay=False)] = None,
    init_from: Annotated[Optional[Path], typer.Option("--init-from", help="Start from another device's predictor file (few-sample adaptation).", dir_okay=False)] = None,
    folds: Annotated[int, typer.Option("--folds", min=0, help="k-fold cross-validation by network (or by configuration for CSVs); 0 skips it.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the folds and the models.")] = 0,
    space: SpaceOption = None,
    runtime: RuntimeFilter = None,
    accelerator: AcceleratorFilter = None,
    drift_correction: Annotated[bool, typer.Option("--drift-correction/--no-drift-correction", help="Divide every stored latency by the machine's drift at the time (interpolated between the profiling campaign's reference runs); --no-drift-correction trains on the raw medians.")] = True,
    json_out: JsonOption = False,
) -> None:
    """Fit a latency predictor (and the flops/lut/rf baselines) on measurements, cross-validate
    it, and write it as one JSON file. A predictor is for one device, one runtime, one accelerator.
    The report says how much the drift correction moved the latencies and the accuracy the
    device's noise allows (from the reference runs)."""
    from predictors.workflow import fit_predictor_file

    if folds == 1:
        raise MnasPredError("--folds 1 cannot hold out anything", "use --folds 0 (no evaluation) or 2 or more")
    if report is not None and folds == 0:
        raise MnasPredError("--report needs the cross-validation that --folds 0 skips", "drop --folds 0 or --report")
    result = fit_predictor_file(out, db, measurements or [], device, kind, report, init_from, folds, space, seed,
                                runtime=runtime, accelerator=accelerator, drift_correction=drift_correction)
    if json_out:
        print_json(result)
        return
    if result["evaluation"]:
        _print_metrics(result["evaluation"]["metrics"], f"{folds}-fold CV ({result['evaluation']['split']})")
    td = result["training_data"]
    from predictors.workflow import quality_lines

    for key, line in quality_lines(td.get("measurement_quality", {})).items():
        console.print(f"{key}: {line}", markup=False, highlight=False)
    console.print(
        f"wrote {result['out']}: {kind} for device '{result['device'].get('name')}', trained on {td['n_layers']} layers"
        + (f" and {td['n_models']} networks" if td["n_models"] else "")
        + (f"; report in {result['report']}" if result.get("report") else "")
    )


@app.command("evaluate-predictor")
def evaluate_predictor(
    predictor: PredictorArgument,
    db: DbOption = None,
    measurements: MeasurementsOption = None,
    device: DeviceOption = None,
    drift_correction: Annotated[bool | None, typer.Option("--drift-correction/--no-drift-correction", help="Score against drift-corrected (or raw) store latencies; default: the kind the predictor learnt (corrected for files that do not say).", show_default=False)] = None,
    json_out: JsonOption = False,
) -> None:
    """Accuracy of a saved predictor and its baselines on other measurements."""
    from predictors.workflow import evaluate_predictor_file

    result = evaluate_predictor_file(predictor, db, measurements or [], device, drift_correction)
    for w in result["warnings"]:
        err_console.print(f"warning: {w}", markup=False, highlight=False, soft_wrap=True)
    if json_out:
        print_json(result)
        return
    o = result["overlap"]
    partly_seen = 0 < o["in_training_data"] < o["networks"]
    unseen = f", the {o['networks'] - o['in_training_data']} networks it was not trained on" if partly_seen else ""
    _print_metrics(result["metrics"], f"{predictor.name} on {', '.join(result['data_devices'])}{unseen}")


@app.command()
def predict(
    predictor: PredictorArgument,
    archs: Annotated[list[str], typer.Argument(help="Architecture strings or named references.", show_default=False)],
    resolution: ResolutionOption = None,
    coverage: Annotated[float, typer.Option("--coverage", min=0.01, max=0.99, help="Probability of the interval.")] = 0.8,
    space: SpaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """Predicted latency of architectures, with an uncertainty interval."""
    from predictors.workflow import predict_archs

    result = predict_archs(predictor, archs, space, resolution, coverage)
    if json_out:
        print_json(result)
        return
    table = Table(title=f"{result['kind']} on {result['device']} at {result['resolution']}x{result['resolution']}", title_justify="left")
    table.add_column("architecture", overflow="fold")  # as typed: a reference name, or the whole string
    for col in ("latency ms", f"{coverage:.0%} interval"):
        table.add_column(col, justify="right", no_wrap=True)
    for p in result["predictions"]:
        table.add_row(p["name"], f"{p['latency_ms']:.3f}", f"{p['low_ms']:.3f}–{p['high_ms']:.3f}")
    console.print(table)
