"""The one extension point of the search: a :class:`Strategy` that proposes candidates.

Ask/tell (as Optuna's samplers): :meth:`Strategy.ask` proposes ``n`` token sequences,
:meth:`Strategy.tell` reports their rewards. Proposals and results are decoupled so that
evaluations can run in parallel and finish in any order (issue 6). A token sequence is one
choice index per decision of the search space (``SearchSpace.vocab_sizes()``; 42 for the
paper's space); ``SearchSpace.decode`` turns it into an architecture.

A strategy is deterministic for a given seed, and its whole state (random generators, network
weights, optimizer moments, population) round-trips through :meth:`get_state`/:meth:`set_state`
as JSON-compatible values plus numpy arrays, which :mod:`search.checkpoint` writes without pickle.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from mnas_pred.space import SearchSpace

Tokens = tuple[int, ...]


class Strategy(abc.ABC):
    """Proposes token sequences and learns from their rewards."""

    #: registry name (``--strategy``)
    name: str = ""

    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space = space
        self.seed = int(seed)
        self.vocab_sizes = space.vocab_sizes()

    @abc.abstractmethod
    def ask(self, n: int) -> list[Tokens]:
        """Propose ``n`` candidates."""

    @abc.abstractmethod
    def tell(self, candidates: Sequence[Tokens], rewards: Sequence[float]) -> None:
        """Report the rewards of candidates returned by :meth:`ask` (all of one ask, in order)."""

    @abc.abstractmethod
    def get_state(self) -> dict:
        """Everything needed to continue exactly where this strategy is: a dict of JSON values
        and ``np.ndarray`` leaves (nested dicts/lists allowed)."""

    @abc.abstractmethod
    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned."""

    def options(self) -> dict:
        """The hyperparameters in effect, as JSON values."""
        return {}


def strategy_rng(seed: int) -> np.random.Generator:
    """A strategy's own random stream. Not ``default_rng(seed)``: ``profile-device --seed S`` draws
    its networks from that stream (``SearchSpace.sample_tokens``), and a search with the same seed
    would otherwise propose exactly the networks the predictor was fitted on."""
    return np.random.default_rng([int(seed), 0x5EA2C4])


def rng_state(rng: np.random.Generator) -> dict:
    """A numpy Generator's state as JSON values (PCG64's state is two big integers)."""
    return rng.bit_generator.state


def restore_rng(state: dict) -> np.random.Generator:
    bit_gen = getattr(np.random, state["bit_generator"])()
    bit_gen.state = state
    return np.random.Generator(bit_gen)


def as_tokens(seq) -> Tokens:
    return tuple(int(t) for t in seq)
