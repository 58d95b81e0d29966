"""Regularized (aging) evolution, Real et al., "Regularized Evolution for Image Classifier
Architecture Search" (AAAI 2019).

The population is a queue of the last ``population_size`` evaluated candidates. Until it is
full, candidates are drawn uniformly. Afterwards each child is a mutation of the best of a
random tournament of ``tournament_size`` members: one decision is re-drawn to a different
value. Telling adds the evaluated children to the queue and removes the oldest members (aging
rather than removing the worst is what regularizes the search).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from search.strategies._base import Strategy, Tokens, as_tokens, restore_rng, rng_state, strategy_rng


class EvolutionStrategy(Strategy):
    name = "evolution"

    def __init__(self, space, seed: int = 0, population_size: int = 32, tournament_size: int = 8,
                 mutations: int = 1):
        super().__init__(space, seed)
        if population_size < 2 or not 1 <= tournament_size <= population_size or mutations < 1:
            raise ValueError("evolution needs population_size >= 2, 1 <= tournament_size <= population_size, "
                             "mutations >= 1")
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.mutations = mutations
        self.rng = strategy_rng(self.seed)
        self.population: deque[tuple[Tokens, float]] = deque(maxlen=population_size)
        self.evaluated = 0

    def options(self) -> dict:
        return {"population_size": self.population_size, "tournament_size": self.tournament_size,
                "mutations": self.mutations}

    def _random(self) -> Tokens:
        return as_tokens(self.rng.integers(0, v) for v in self.vocab_sizes)

    def _mutate(self, parent: Tokens) -> Tokens:
        child = list(parent)
        mutable = [i for i, v in enumerate(self.vocab_sizes) if v > 1]
        for pos in self.rng.choice(mutable, size=min(self.mutations, len(mutable)), replace=False):
            # a different value: draw from the other v-1 choices
            shift = int(self.rng.integers(1, self.vocab_sizes[pos]))
            child[pos] = (child[pos] + shift) % self.vocab_sizes[pos]
        return tuple(child)

    def ask(self, n: int) -> list[Tokens]:
        out = []
        members = list(self.population)
        for _ in range(n):
            if len(members) < self.population_size:
                out.append(self._random())
                continue
            picks = self.rng.choice(len(members), size=self.tournament_size, replace=False)
            parent = max((members[i] for i in picks), key=lambda m: m[1])[0]
            out.append(self._mutate(parent))
        return out

    def tell(self, candidates: Sequence[Tokens], rewards: Sequence[float]) -> None:
        for tokens, r in zip(candidates, rewards):
            self.population.append((as_tokens(tokens), float(r)))  # deque(maxlen) drops the oldest
            self.evaluated += 1

    def get_state(self) -> dict:
        return {
            "rng": rng_state(self.rng),
            "population": [[list(t), r] for t, r in self.population],
            "evaluated": self.evaluated,
        }

    def set_state(self, state: dict) -> None:
        self.rng = restore_rng(state["rng"])
        self.population = deque(((as_tokens(t), float(r)) for t, r in state["population"]),
                                maxlen=self.population_size)
        self.evaluated = int(state["evaluated"])
