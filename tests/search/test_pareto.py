"""Pareto front and its hypervolume (the figure that compares whole searches)."""

import json

import pytest

from search.config import SearchConfig
from search.pareto import hypervolume, pareto_front
from search.runner import run_search


def _c(acc, lat):
    return {"accuracy": acc, "latency_ms": lat}


def test_hypervolume_of_a_hand_computed_two_d_front():
    # T = 4 ms, so latencies are 0.25, 0.5, 0.75, 1.0 T; reference (2 T, accuracy 0)
    cands = [_c(0.5, 1.0), _c(0.8, 2.0), _c(0.6, 3.0), _c(0.9, 4.0)]  # (0.6, 3 ms) is dominated by (0.8, 2 ms)
    assert [c["latency_ms"] for c in pareto_front(cands)] == [1.0, 2.0, 4.0]
    # strips: [0.25, 0.5) x 0.5 + [0.5, 1.0) x 0.8 + [1.0, 2.0) x 0.9
    expected = 0.25 * 0.5 + 0.5 * 0.8 + 1.0 * 0.9
    assert hypervolume(cands, target_ms=4.0) == pytest.approx(expected)
    # a dominated point adds nothing; a point beyond the reference latency adds nothing
    assert hypervolume(cands + [_c(0.4, 3.5), _c(0.99, 9.0)], target_ms=4.0) == pytest.approx(expected)
    # improving one point grows it by exactly the strip it adds
    assert hypervolume(cands + [_c(0.7, 1.0)], 4.0) == pytest.approx(expected + 0.25 * 0.2)
    assert hypervolume([], 4.0) == 0.0


def test_summary_reports_the_hypervolume_of_its_front(tmp_path):
    r = run_search(SearchConfig(out_dir=str(tmp_path), target_ms=8.0, accuracy="analytic", predictor="analytic",
                                device="analytic", samples=16, batch_size=8, revalidate_top=0, export_top=0))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pareto_hypervolume"] == pytest.approx(hypervolume(r.pareto, 8.0))
    assert 0 < summary["pareto_hypervolume"] < 2.0
