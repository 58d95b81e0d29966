import numpy as np
import pytest

from mnas_pred.errors import MnasPredError
from search.reward import RewardFunction


def test_soft_constraint_matches_the_formula():
    r = RewardFunction(target_ms=10.0)  # alpha = beta = -0.07
    assert r(0.8, 10.0) == pytest.approx(0.8)
    assert r(0.8, 20.0) == pytest.approx(0.8 * 2 ** -0.07)
    assert r(0.8, 5.0) == pytest.approx(0.8 * 0.5 ** -0.07)
    # twice as fast earns about 5% more, twice as slow about 5% less (MnasNet's calibration)
    assert r(1.0, 5.0) == pytest.approx(1.05, abs=0.005)
    assert r(1.0, 20.0) == pytest.approx(0.953, abs=0.005)


def test_hard_constraint_gives_no_bonus_below_and_a_steep_penalty_above():
    r = RewardFunction(target_ms=10.0, alpha=0.0, beta=-1.0)
    assert r(0.8, 2.0) == pytest.approx(0.8)
    assert r(0.8, 10.0) == pytest.approx(0.8)
    assert r(0.8, 20.0) == pytest.approx(0.4)


def test_vectorized():
    r = RewardFunction(target_ms=10.0, alpha=-0.1, beta=-0.5)
    acc, lat = np.array([0.5, 0.9]), np.array([5.0, 40.0])
    np.testing.assert_allclose(r(acc, lat), [0.5 * 0.5 ** -0.1, 0.9 * 4 ** -0.5])


@pytest.mark.parametrize("target", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_target_is_a_user_error(target):
    with pytest.raises(MnasPredError, match="--target-ms"):
        RewardFunction(target_ms=target)
