"""The search plots, checked by what they draw (labels, legend placement, references), not only
that a PNG exists."""

import numpy as np
import pytest

from search.plots import plot_pareto, plot_rewards

SUMMARY = {
    "target_ms": 8.0, "latency": "predictor", "best": {"reward": 0.9, "accuracy": 0.9, "latency_ms": 7.5},
    "proxy_task": {"label": "digits, 1 epoch at 32 px, 1437 training / 360 validation images",
                   "short": "digits, 1 epoch, 32 px"},
    "latency_measurement": {"resolution": 224, "label": "ms at 224 px, predicted; re-validated candidates measured on local"},
    "device_spread": {"measurements": 5, "median_cv": 0.021, "max_cv": 0.05},
    "references": [
        {"display_name": "MnasNet-A1", "accuracy": 0.88, "latency_ms": 9.0, "latency_source": "measured",
         "latency_spread": {"p10_ms": 8.7, "p90_ms": 9.6, "cv": 0.03}},
        {"display_name": "MobileNetV2", "accuracy": 0.73, "latency_ms": 8.5, "latency_source": "predicted",
         "latency_spread": None},
    ],
}


def _history(updates=4, per_update=4):
    rng = np.random.default_rng(0)
    return [{"update": 1 + i // per_update, "reward": float(r)} for i, r in enumerate(rng.uniform(0.7, 0.88, updates * per_update))]


def _legend_outside(fig, ax):
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    return legend.x0 >= ax.get_window_extent().x1


def test_reward_plot_has_a_title_a_real_moving_mean_and_both_bests(tmp_path):
    fig = plot_rewards(_history(), SUMMARY, tmp_path / "reward.png")
    ax = fig.axes[0]
    assert "Reward" in ax.get_title(loc="left") and "T = 8 ms" in ax.get_title(loc="left")
    footer = fig.texts[0].get_text().splitlines()
    assert footer[0].startswith("proxy: digits, 1 epoch at 32 px") and footer[1].startswith("latency: ms at 224 px")
    assert footer[2] == "device spread: median CV 2.1% over 5 measurements"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "moving mean of 4 candidates\n(one controller update)" in labels
    mean = next(line for line in ax.get_lines() if line.get_label().startswith("moving mean"))
    assert len(mean.get_xdata()) == 16 - 4 + 1  # a window of 4, not the raw data
    assert any("re-scored with measured" in t and "0.9000" in t for t in labels)
    assert ax.get_ylabel() == "reward (predicted latency unless measured)"
    assert _legend_outside(fig, ax)
    assert (tmp_path / "reward.png").stat().st_size > 0


def test_reward_plot_without_enough_points_draws_no_moving_mean(tmp_path):
    fig = plot_rewards(_history(updates=1), {**SUMMARY, "latency": "device"}, tmp_path / "reward.png")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert not any(t.startswith("moving mean") for t in labels) and "best so far" in labels
    assert not any("re-scored" in t for t in labels)  # a device-only search scores with measured latency


def test_pareto_plot_labels_axes_and_draws_the_references_outside_the_points(tmp_path):
    cands = [{"latency_ms": 5 + i, "accuracy": 0.7 + 0.02 * i, "latency_source": "measured" if i % 3 == 0 else "predicted"}
             for i in range(8)]
    fig = plot_pareto(cands, cands[::2], SUMMARY, tmp_path / "pareto.png")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "proxy accuracy (digits, 1 epoch, 32 px)"
    assert ax.get_xlabel() == "latency (ms at 224 px: predicted, or measured where marked)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "MnasNet-A1 (measured)" in labels and "MobileNetV2 (predicted)" in labels
    assert "best by reward (summary.json)" in labels
    assert {t.get_text() for t in ax.texts} == {"MnasNet-A1", "MobileNetV2"}
    assert ax.get_title(loc="left") == "Proxy accuracy vs latency: 8 candidates, 2 reference networks"
    assert _legend_outside(fig, ax)
    device_only = plot_pareto(cands, cands, {**SUMMARY, "latency": "device"}, tmp_path / "p2.png")
    assert device_only.axes[0].get_xlabel() == "latency (ms, measured at 224 px)"


@pytest.mark.parametrize("refs", [[], None])
def test_pareto_plot_without_references(tmp_path, refs):
    cands = [{"latency_ms": 6.0, "accuracy": 0.8, "latency_source": "predicted"}]
    fig = plot_pareto(cands, cands, {**SUMMARY, "references": refs}, tmp_path / "pareto.png")
    assert "reference" not in fig.axes[0].get_title(loc="left")
