"""PNG plots of a search (matplotlib's Agg backend, imported only here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_rewards(history: list[dict], path: Path) -> None:
    plt = _pyplot()
    rewards = np.array([r["reward"] for r in history])
    steps = np.arange(len(rewards))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(steps, rewards, s=6, alpha=0.4, label="candidate")
    window = max(1, len(rewards) // 20)
    if len(rewards) >= window:
        smooth = np.convolve(rewards, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color="C1", label=f"moving mean ({window})")
    ax.plot(steps, np.maximum.accumulate(rewards), color="C2", label="best so far")
    ax.set_xlabel("sample")
    ax.set_ylabel("reward")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_pareto(candidates: list[dict], front: list[dict], target_ms: float, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for source, marker in (("predicted", "o"), ("measured", "s")):
        pts = [c for c in candidates if c["latency_source"] == source]
        if pts:
            ax.scatter([c["latency_ms"] for c in pts], [c["accuracy"] for c in pts], s=10, alpha=0.5,
                       marker=marker, label=f"{source} latency")
    ax.plot([c["latency_ms"] for c in front], [c["accuracy"] for c in front], color="C3", marker=".",
            label="Pareto front")
    ax.axvline(target_ms, color="grey", linestyle="--", label=f"target {target_ms:g} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("accuracy")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
