"""The predictor report's plots, checked by what they draw: bins in order with readable labels,
words on the axes, legends beside the bars, enough ticks on narrow log ranges."""

import numpy as np
import pandas as pd

from mnas_pred.plotting import bin_labels
from predictors.report import _binned, plot_error_by, plot_predicted_vs_measured


def _predictions(n=40, lo=6.0, hi=36.0):
    rng = np.random.default_rng(1)
    measured = np.geomspace(lo, hi, n)
    rows = []
    for name, noise in (("lgbm", 0.05), ("flops", 0.2)):
        predicted = measured * (1 + rng.normal(0, noise, n))
        rows.append(pd.DataFrame({"predictor": name, "measured_ms": measured, "predicted_ms": predicted,
                                  "macs": np.geomspace(3e5, 2.4e8, n)}))
    return pd.concat(rows, ignore_index=True)


def test_bin_labels_are_short_ordered_and_distinct():
    assert bin_labels([5.98, 8.258000000000001, 12.375, 36.0], " ms") == ["6-8.3 ms", "8.3-12 ms", "12-36 ms"]
    assert bin_labels([10.1, 10.2, 10.4], " ms") == ["10.1-10.2 ms", "10.2-10.4 ms"]  # more digits when needed
    assert bin_labels([2.5e7, 2.43e8], " MACs", scale="si") == ["25M-240M MACs"]


def _ticks(ax):
    return [t.get_text() for t in ax.get_xticklabels()]


def test_error_by_latency_bins_are_in_order_readable_and_the_legend_is_beside_them(tmp_path):
    df = _predictions()
    binned = df.assign(latency_bin=_binned(df["measured_ms"], 5, " ms"))
    fig = plot_error_by(binned, "latency_bin", tmp_path / "lat.png", "network error by measured latency",
                        "measured latency of the network")
    ax = fig.axes[0]
    ticks = _ticks(ax)
    assert len(ticks) == 5 and all(t.endswith(" ms") and "(" not in t for t in ticks)
    lows = [float(t.split("-")[0]) for t in ticks]
    assert lows == sorted(lows) and ticks[0].startswith("6-")
    assert all(t.get_rotation() == 0 for t in ax.get_xticklabels())
    assert ax.get_xlabel() == "measured latency of the network"
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1  # not over the bars
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["10% error", "lgbm", "flops"]


def test_error_by_size_labels_name_macs(tmp_path):
    df = _predictions()
    sized = df.assign(macs_bin=_binned(df["macs"], 6, " MACs", scale="si", log=True))
    fig = plot_error_by(sized, "macs_bin", tmp_path / "size.png", "layer error by size", "layer size (MACs)")
    ticks = _ticks(fig.axes[0])
    assert len(ticks) == 6 and all(t.endswith(" MACs") and "e+" not in t for t in ticks)
    assert ticks[0].startswith("300K-") and ticks[-1].endswith("-240M MACs")
    assert fig.axes[0].get_xlabel() == "layer size (MACs)"


def test_predicted_vs_measured_has_several_ticks_on_a_narrow_range(tmp_path):
    fig = plot_predicted_vs_measured(_predictions(), "model", tmp_path / "pvm.png")
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        visible = [t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi and t.get_text()]
        assert len(visible) >= 4, visible  # 6-36 ms used to show one label, "10^1"
        assert "10" in visible and all("^" not in t for t in visible)
