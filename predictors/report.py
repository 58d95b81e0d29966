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

from mnas_pred.plotting import bin_labels, legend_outside, pyplot, save_figure
from predictors.evaluation import Evaluation
from predictors.metrics import METRIC_NAMES


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


def plot_predicted_vs_measured(df: pd.DataFrame, level: str, path: Path):
    """Log-log predicted vs measured per predictor, with the ±10% band; returns the Figure."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plt = pyplot()
    names = list(dict.fromkeys(df["predictor"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4), squeeze=False)
    lo = float(min(df["measured_ms"].min(), df["predicted_ms"].min())) * 0.8
    hi = float(max(df["measured_ms"].max(), df["predicted_ms"].max())) * 1.25
    line = np.geomspace(max(lo, 1e-4), hi, 50)
    # a range of less than a few decades gets intermediate ticks (6-36 ms had a single "10")
    decades = np.log10(hi / max(lo, 1e-4))
    subs = ((1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if decades < 1.5 else (1.0, 2.0, 5.0) if decades < 2.3
            else (1.0, 3.0) if decades < 4 else (1.0,))
    plain = FuncFormatter(lambda v, _: np.format_float_positional(v, precision=3, unique=True, fractional=False,
                                                                  trim="-"))
    for ax, name in zip(axes[0], names):
        g = df[df["predictor"] == name]
        ax.fill_between(line, line * 0.9, line * 1.1, color="tab:green", alpha=0.2, label="±10%")
        ax.plot(line, line, color="tab:green", lw=1)
        ax.scatter(g["measured_ms"], g["predicted_ms"], s=6, alpha=0.6)
        within = 100 * np.mean(np.abs(g["predicted_ms"] - g["measured_ms"]) / g["measured_ms"] <= 0.1)
        ax.set(xscale="log", yscale="log", xlim=(line[0], hi), ylim=(line[0], hi), xlabel="measured (ms)",
               ylabel="predicted (ms)", title=f"{name}, {level}: {within:.1f}% within ±10%")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(base=10, subs=subs))
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(NullFormatter())  # minor labels on log axes overlap
        ax.legend(loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_error_by(df: pd.DataFrame, by: str, path: Path, title: str, xlabel: str | None = None):
    """Mean absolute % error per value of ``by`` (bars per predictor, in the column's order: an
    ordered categorical keeps bins in order); returns the Figure."""
    plt = pyplot()
    df = df.assign(abs_pct_error=100 * np.abs(df["predicted_ms"] - df["measured_ms"]) / df["measured_ms"])
    table = df.groupby([by, "predictor"], sort=True, observed=True)["abs_pct_error"].mean().unstack("predictor")
    table = table[list(dict.fromkeys(df["predictor"]))]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(table) * len(table.columns) / 2), 4))
    table.plot.bar(ax=ax, rot=0, legend=False)
    ax.axhline(10, color="gray", ls="--", lw=1, label="10% error")
    ax.set(ylabel="mean absolute % error", xlabel=xlabel or by, title=title)
    legend_outside(ax, title="predictor")
    fig.tight_layout()
    return save_figure(fig, path)


def _binned(values: pd.Series, bins: int, unit: str, scale: str = "", log: bool = False) -> pd.Categorical:
    """Quantile bins of ``values`` as an ordered categorical with readable labels (``8-12 ms``)."""
    key = np.log10(values + 1) if log else values
    codes, edges = pd.qcut(key, q=min(bins, values.nunique()), labels=False, retbins=True, duplicates="drop")
    if log:
        edges = 10 ** edges - 1
    labels = bin_labels(edges, unit, scale)
    return pd.Categorical.from_codes(codes.astype(int), categories=labels, ordered=True)


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
        plot_error_by(layer, "op", out / "error_by_op.png", "layer error by op type", "layer op type")
        sized = layer.assign(macs_bin=_binned(layer["macs"], 6, " MACs", scale="si", log=True))
        plot_error_by(sized, "macs_bin", out / "error_by_size.png", "layer error by size",
                      "layer size (multiply-accumulates, 6 bins of equal count)")
        lines += ["![error by op](error_by_op.png)", "![error by size](error_by_size.png)"]
    model = evaluation.predictions.get("model")
    if model is not None and len(model):
        sized = model.assign(latency_bin=_binned(model["measured_ms"], 5, " ms"))
        plot_error_by(sized, "latency_bin", out / "model_error_by_latency.png", "network error by measured latency",
                      "measured latency of the network (5 bins of equal count)")
        lines.append("![network error by latency](model_error_by_latency.png)")
    (out / "metrics.json").write_text(json.dumps(evaluation.as_dict(), indent=2))
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n")
    return md
