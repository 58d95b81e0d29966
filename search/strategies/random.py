"""Random search: uniform over the token view of the space. The baseline every learner must beat."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search.strategies._base import Strategy, Tokens, as_tokens, restore_rng, rng_state, strategy_rng


class RandomStrategy(Strategy):
    name = "random"

    def __init__(self, space, seed: int = 0):
        super().__init__(space, seed)
        self.rng = strategy_rng(self.seed)

    def ask(self, n: int) -> list[Tokens]:
        cols = [self.rng.integers(0, v, size=n) for v in self.vocab_sizes]
        return [as_tokens(row) for row in np.stack(cols, axis=1)]

    def tell(self, candidates: Sequence[Tokens], rewards: Sequence[float]) -> None:
        pass  # nothing to learn

    def get_state(self) -> dict:
        return {"rng": rng_state(self.rng)}

    def set_state(self, state: dict) -> None:
        self.rng = restore_rng(state["rng"])
