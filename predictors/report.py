"""The report folder of ``fit-predictor --report DIR``: a markdown summary and PNG plots.

Plots: predicted vs measured (log-log, with the ±10% band) per level and predictor; relative
error by op type; relative error by layer size (MACs bins). matplotlib is imported lazily with
the Agg backend, so nothing needs a display and commands without ``--report`` never load it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from predictors.evaluation import Evaluation
from predictors.metrics import METRIC_NAMES


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metrics_table_md(metrics: dict) -> str:
    lines = []
    for level, per_predictor in metrics.items():
        if not per_predictor:
            continue
        lines += [f"### {level} level", "", "| predictor | " + " | ".join(METRIC_NAMES) + " |",
                  "| --- |" + " ---: |" * len(METRIC_NAMES)]
        for name, m in per_predictor.items():
            cells = [("—" if m[k] is None else f"{m[k]:.3f}" if isinstance(m[k], float) else str(m[k])) for k in METRIC_NAMES]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_predicted_vs_measured(df: pd.DataFrame, level: str, path: Path) -> None:
    plt = _pyplot()
    names = list(dict.fromkeys(df["predictor"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4), squeeze=False)
    lo = float(min(df["measured_ms"].min(), df["predicted_ms"].min())) * 0.8
    hi = float(max(df["measured_ms"].max(), df["predicted_ms"].max())) * 1.25
    line = np.geomspace(max(lo, 1e-4), hi, 50)
    for ax, name in zip(axes[0], names):
        g = df[df["predictor"] == name]
        ax.fill_between(line, line * 0.9, line * 1.1, color="tab:green", alpha=0.2, label="±10%")
        ax.plot(line, line, color="tab:green", lw=1)
        ax.scatter(g["measured_ms"], g["predicted_ms"], s=6, alpha=0.6)
        within = 100 * np.mean(np.abs(g["predicted_ms"] - g["measured_ms"]) / g["measured_ms"] <= 0.1)
        ax.set(xscale="log", yscale="log", xlabel="measured (ms)", ylabel="predicted (ms)",
               title=f"{name}, {level}: {within:.1f}% within ±10%")
        from matplotlib.ticker import NullFormatter

        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels on log axes overlap
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_error_by(df: pd.DataFrame, by: str, path: Path, title: str) -> None:
    plt = _pyplot()
    df = df.assign(abs_pct_error=100 * np.abs(df["predicted_ms"] - df["measured_ms"]) / df["measured_ms"])
    table = df.groupby([by, "predictor"], sort=True, observed=True)["abs_pct_error"].mean().unstack("predictor")
    table = table[list(dict.fromkeys(df["predictor"]))]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(table) * len(table.columns) / 2), 4))
    table.plot.bar(ax=ax)
    ax.axhline(10, color="gray", ls="--", lw=1)
    ax.set(ylabel="mean absolute % error", xlabel=by, title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(evaluation: Evaluation, out_dir: str | Path, title: str, info: dict | None = None) -> Path:
    """Write ``report.md``, ``metrics.json`` and the PNG plots into ``out_dir``; returns the .md path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", ""]
    for key, value in (info or {}).items():
        lines.append(f"- {key}: {value if not isinstance(value, (dict, list)) else json.dumps(value)}")
    lines += ["", f"Evaluation: {evaluation.folds}-fold cross-validation, split {evaluation.split}."
              if evaluation.folds else f"Evaluation: {evaluation.split}.",
              "within_*pct and mape are percentages.", "", metrics_table_md(evaluation.metrics), "## Plots", ""]
    for level, df in evaluation.predictions.items():
        name = f"predicted_vs_measured_{level}.png"
        plot_predicted_vs_measured(df, level, out / name)
        lines.append(f"![{level}: predicted vs measured]({name})")
    layer = evaluation.predictions.get("layer")
    if layer is not None and len(layer):
        plot_error_by(layer, "op", out / "error_by_op.png", "layer error by op type")
        bins = pd.qcut(np.log10(layer["macs"] + 1), q=min(6, layer["macs"].nunique()), duplicates="drop")
        sized = layer.assign(macs_bin=bins.map(lambda iv: f"{10 ** iv.left / 1e6:.2g}-{10 ** iv.right / 1e6:.2g}M"))
        plot_error_by(sized, "macs_bin", out / "error_by_size.png", "layer error by size (MACs)")
        lines += ["![error by op](error_by_op.png)", "![error by size](error_by_size.png)"]
    model = evaluation.predictions.get("model")
    if model is not None and len(model):
        sized = model.assign(latency_bin=pd.qcut(model["measured_ms"], q=min(5, model["measured_ms"].nunique()), duplicates="drop").astype(str))
        plot_error_by(sized, "latency_bin", out / "model_error_by_latency.png", "network error by measured latency (ms)")
        lines.append("![network error by latency](model_error_by_latency.png)")
    (out / "metrics.json").write_text(json.dumps(evaluation.as_dict(), indent=2))
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n")
    return md
