"""The bounds of mnas_pred.limits refuse what a comparison lets through: NaN and infinity."""

import math

import pytest

from mnas_pred.errors import MnasPredError
from mnas_pred.limits import BOUNDS, check


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.1, 11.0])
def test_ppo_learning_rate_out_of_range_or_not_finite_is_refused(value):
    with pytest.raises(MnasPredError, match="--ppo-lr"):
        check(ppo_lr=value)


def test_values_inside_the_bounds_pass():
    check(ppo_lr=0.005, clip=0.2, entropy_coef=0.001, seed=0, threads=1)
    assert all(b.low <= (b.high if b.high is not None else b.low) for b in BOUNDS.values())
