"""The one place that imports matplotlib (Agg backend: no display needed), for the predictor
report and the search plots. Imported lazily: commands that draw nothing never load matplotlib."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 110):
    """Write ``fig`` (``bbox_inches="tight"`` keeps legends placed outside the axes in the image),
    release it from pyplot, and return it so tests can inspect what was drawn."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return fig


def legend_outside(ax, **kw):
    """A legend to the right of the axes, where it cannot cover data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False, **kw)


def bin_labels(edges, unit: str = "", scale: str = "") -> list[str]:
    """Labels of consecutive bins from their edges, e.g. ``["6-8.3 ms", "8.3-12 ms"]``: the
    fewest significant digits that keep every edge distinct. ``scale="si"`` writes 25M, 1.2K."""
    edges = [float(e) for e in edges]
    for digits in (2, 3, 4, 6):
        text = [_si(e, digits) if scale == "si" else _plain(e, digits) for e in edges]
        if len(set(text)) == len(text):
            break
    return [f"{a}-{b}{unit}" for a, b in zip(text[:-1], text[1:])]


def _plain(x: float, digits: int) -> str:
    import numpy as np

    return np.format_float_positional(x, precision=digits, unique=True, fractional=False, trim="-")


def _si(x: float, digits: int) -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= factor:
            return _plain(x / factor, digits) + prefix
    return _plain(x, digits)
