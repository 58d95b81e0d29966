"""PNG plots of a search. Each function returns its Figure (tests inspect what was drawn).

Both plots carry the labels of :mod:`search.report` (proxy task, latency setup, device spread)
in a footer, and keep their legends outside the axes so that no point is hidden.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnas_pred.plotting import legend_outside, pyplot, save_figure
from search.report import subtitle


def _titles(fig, ax, title: str, summary: dict) -> None:
    """The title above the axes; what the numbers are (proxy task, latency setup, spread) in a
    footer under the x label, one line each, where long device names have room."""
    ax.set_title(title, loc="left", fontsize=11)
    fig.text(0.02, 0.0, subtitle(summary), ha="left", va="top", fontsize=8, color="dimgray")


def plot_rewards(history: list[dict], summary: dict, path: Path):
    """Reward of every candidate in the order drawn, a moving mean over one controller update's
    candidates, the best so far, and the best after re-scoring with measured latency."""
    plt = pyplot()
    rewards = np.array([r["reward"] for r in history])
    steps = np.arange(len(rewards))
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.scatter(steps, rewards, s=8, alpha=0.45, label="candidate")
    window = sum(1 for r in history if r["update"] == history[0]["update"]) if history else 0
    if window >= 2 and len(rewards) >= 2 * window:  # fewer points than two windows: no trend to show
        smooth = np.convolve(rewards, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color="C1",
                label=f"moving mean of {window} candidates\n(one controller update)")
    predicted = summary.get("latency") == "predictor"
    ax.plot(steps, np.maximum.accumulate(rewards) if len(rewards) else rewards, color="C2",
            label="best so far, as scored during\nthe search" if predicted else "best so far")
    best = summary.get("best")
    if predicted and best is not None:
        ax.axhline(best["reward"], color="C3", ls="--", lw=1,
                   label=f"best re-scored with measured\nlatency (summary.json): {best['reward']:.4f}")
    ax.set_xlabel("candidate (in the order drawn)")
    ax.set_ylabel("reward (predicted latency unless measured)" if predicted else "reward (measured latency)")
    legend_outside(ax, fontsize=8)
    _titles(fig, ax, f"Reward ACC × (LAT/T)^w per candidate, T = {summary['target_ms']:g} ms", summary)
    return save_figure(fig, path, dpi=100)


def plot_pareto(candidates: list[dict], front: list[dict], summary: dict, path: Path):
    """Proxy accuracy against latency: candidates (by latency source), the Pareto front, the
    target, and the reference networks (stars, p10-p90 bars where measured)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for source, marker in (("predicted", "o"), ("measured", "s")):
        pts = [c for c in candidates if c["latency_source"] == source]
        if pts:
            ax.scatter([c["latency_ms"] for c in pts], [c["accuracy"] for c in pts], s=14, alpha=0.7,
                       marker=marker, label=f"candidate, {source} latency", zorder=3)
    if front:  # under the points: a measured candidate on the front stays visible
        ax.plot([c["latency_ms"] for c in front], [c["accuracy"] for c in front], color="C3", lw=1.2,
                label="Pareto front", zorder=2)
    best = summary.get("best")
    if best:
        ax.scatter([best["latency_ms"]], [best["accuracy"]], s=110, facecolors="none", edgecolors="black",
                   linewidths=1.2, label="best by reward (summary.json)", zorder=4)
    ax.axvline(summary["target_ms"], color="grey", linestyle="--", label=f"target {summary['target_ms']:g} ms")
    for i, ref in enumerate(summary.get("references") or []):
        spread = ref.get("latency_spread")
        xerr = None if not spread else [[max(0.0, ref["latency_ms"] - spread["p10_ms"])],
                                        [max(0.0, spread["p90_ms"] - ref["latency_ms"])]]
        ax.errorbar([ref["latency_ms"]], [ref["accuracy"]], xerr=xerr, fmt="*", ms=13, color=f"C{4 + i % 6}",
                    mec="black", mew=0.6, capsize=3,
                    label=f"{ref['display_name']} ({ref['latency_source']})")
        ax.annotate(ref["display_name"], (ref["latency_ms"], ref["accuracy"]), textcoords="offset points",
                    xytext=(6, 6 + 11 * i), fontsize=8)  # staggered: references often lie close together
    res = summary["latency_measurement"]["resolution"]
    if summary.get("latency") == "predictor":
        ax.set_xlabel(f"latency (ms at {res} px: predicted, or measured where marked)")
    else:
        ax.set_xlabel(f"latency (ms, measured at {res} px)")
    ax.set_ylabel(f"proxy accuracy ({summary['proxy_task']['short']})")
    legend_outside(ax, fontsize=8)
    n_refs = len(summary.get("references") or [])
    _titles(fig, ax, f"Proxy accuracy vs latency: {len(candidates)} candidates"
            + (f", {n_refs} reference networks" if n_refs else ""), summary)
    return save_figure(fig, path, dpi=100)
