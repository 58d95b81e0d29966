"""Search strategies behind one ask/tell protocol (:class:`Strategy`): ``ppo`` (the MnasNet
controller), ``random`` and ``evolution`` (regularized evolution)."""

from __future__ import annotations

from mnas_pred.errors import MnasPredError
from mnas_pred.space import SearchSpace
from search.strategies._base import Strategy, Tokens
from search.strategies.evolution import EvolutionStrategy
from search.strategies.ppo import PPO_DEFAULTS, Controller, PPOStrategy
from search.strategies.random import RandomStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (PPOStrategy, RandomStrategy, EvolutionStrategy)
}


def make_strategy(name: str, space: SearchSpace, seed: int = 0, **options) -> Strategy:
    """Build a strategy by its ``--strategy`` name."""
    if name not in STRATEGIES:
        raise MnasPredError(f"unknown strategy '{name}'", f"use one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name](space, seed=seed, **options)


__all__ = ["PPO_DEFAULTS", "STRATEGIES", "Controller", "EvolutionStrategy", "PPOStrategy", "RandomStrategy",
           "Strategy", "Tokens", "make_strategy"]
