"""The precision ceiling of a measurement pooled from k processes (mnas_pred.noise_floor)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from mnas_pred import noise_floor as nf

# Three process medians, each as likely: 9, 10 and 12 ms (median 10). Ten copies of each make 30
# values, enough for the empirical share alone (no normal model mixed in).
HAND = [9.0, 10.0, 12.0]


def test_median_of_three_draws_by_hand():
    # P(median <= v) = P(at least 2 of 3 draws <= v) = 3F^2 - 2F^3: F = 1/3 -> 7/27, F = 2/3 -> 20/27
    dist = dict(nf.median_of_k(HAND, 3))
    assert dist == pytest.approx({9.0: 7 / 27, 10.0: 13 / 27, 12.0: 7 / 27})
    values = HAND * 10
    assert nf.precision_ceiling(values, 0.10) == pytest.approx(2 / 3)  # 12 is 20% off
    assert nf.precision_ceiling(values, 0.10, 3) == pytest.approx(20 / 27)  # the median is 12 in 7/27 of cases
    assert nf.mape_floor(values, 3) == pytest.approx((7 * 0.1 + 7 * 0.2) / 27)
    # two draws: the median is their mean; only (12, 12) is more than 10% off (11 is on the edge)
    assert dict(nf.median_of_k(HAND, 2))[11.0] == pytest.approx(2 / 9)
    assert nf.precision_ceiling(values, 0.10, 2) == pytest.approx(8 / 9)


def test_one_process_is_the_single_ceiling():
    rng = random.Random(3)
    values = [10 * rng.lognormvariate(0, 0.05) for _ in range(40)]
    few = values[:12]  # the normal model takes part below 30 values
    for v in (values, few, values[:5]):
        for tol in (0.05, 0.10):
            assert nf.precision_ceiling(v, tol, 1) == nf.precision_ceiling(v, tol)
        assert nf.mape_floor(v, 1) == pytest.approx(nf.mape_floor(v))
    assert "pooled" not in nf.noise_floor(values, 1) and "pooled" not in nf.floor_from_sigma(0.05, 40, 1)
    assert nf.normal_ceiling(0.05, 0.1, 1) == nf.normal_ceiling(0.05, 0.1)


def test_pooling_raises_the_ceiling_on_two_clusters():
    # a quiet 2-core VM: process medians in two clusters ~9% apart, little spread inside each
    rng = random.Random(7)
    values = [10 * rng.lognormvariate(0, 0.015) for _ in range(60)] + \
             [10.9 * rng.lognormvariate(0, 0.015) for _ in range(40)]
    single, pooled = nf.noise_floor(values), nf.noise_floor(values, 3)["pooled"]
    assert pooled["repeats"] == 3
    assert pooled["ceiling_within_5pct"] > single["ceiling_within_5pct"] + 0.05
    assert pooled["ceiling_within_10pct"] >= single["ceiling_within_10pct"]
    assert pooled["mape_floor"] < single["mape_floor"]
    assert "with 3 processes per measurement: ±10% accuracy <= " in nf.sentence(nf.noise_floor(values, 3))


def test_normal_model_of_a_pooled_median_matches_the_closed_form():
    sigma, tol = 0.063, 0.10
    unit = statistics.NormalDist(0, sigma)
    at_most = [3 * p * p - 2 * p ** 3 for p in (unit.cdf(-math.log1p(tol)), unit.cdf(math.log1p(tol)))]
    assert nf.normal_ceiling(sigma, tol, 3) == pytest.approx(at_most[1] - at_most[0], abs=2e-3)
    # the median of two is their mean: sigma / sqrt(2)
    assert nf.normal_ceiling(sigma, tol, 2) == pytest.approx(nf.normal_ceiling(sigma / math.sqrt(2), tol), abs=2e-3)
    grouped = nf.groups_floor([[10.0, 10.6, 9.5], [10.2, 9.7, 10.9], [10.0, 10.3, 9.4]], "3 reference runs", 3)
    assert grouped["pooled"]["ceiling_within_5pct"] > grouped["ceiling_within_5pct"]
    assert "with 3 processes per measurement" in grouped["summary"]


def test_even_k_resamples_with_a_seed_where_enumerating_is_too_dear(monkeypatch):
    rng = random.Random(5)
    values = [10 * rng.lognormvariate(0, 0.06) for _ in range(30)]
    exact = nf.precision_ceiling(values, 0.05, 4)  # C(33, 4) = 40,920 multisets
    monkeypatch.setattr(nf, "EXACT_LIMIT", 1000)
    resampled = nf.precision_ceiling(values, 0.05, 4)
    assert resampled == nf.precision_ceiling(values, 0.05, 4)  # seeded: the same every time
    assert resampled == pytest.approx(exact, abs=0.015)


def test_repeats_of_the_training_measurements():
    assert nf.settings_repeats(['{"repeats": 3, "runs": 50}', '{"repeats": 3}', {"repeats": 1}]) == 3
    assert nf.settings_repeats(['{"runs": 50}', float("nan")]) == 1 and nf.settings_repeats([]) == 1


def test_back_to_back_processes_pool_less_well_by_hand():
    # 30 processes at 10 ms, then a slow stretch of 15 at 12 ms (20% off): the median of 3
    # consecutive ones is 10 for the windows starting at 0..28 (29 of 43); independent: 20/27
    series = [10.0] * 30 + [12.0] * 15
    b2b = nf.back_to_back_floor(series, 3)
    assert b2b["windows"] == 43 and b2b["ceiling_within_10pct"] == round(29 / 43, 4)
    assert b2b["mape_floor"] == round(14 * 0.2 / 43, 4)
    assert nf.precision_ceiling(series, 0.10, 3) == pytest.approx(20 / 27)
    assert nf.back_to_back_floor(series[:31], 3) == {}  # 29 windows: too few to say
    assert nf.back_to_back_floor(series, 1) == {}
