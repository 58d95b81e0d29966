"""The contract of a search strategy (ask/tell, ``search.strategies.Strategy``), as a pytest suite
a plug-in author runs against a new strategy.

Written like Optuna's ``optuna/testing/pytest_storages.py``: subclass :class:`StrategyTestCase`
in a test module and define the fixture it asks for::

    import pytest
    from mnas_pred.testing.strategy import StrategyTestCase
    from my_plugin import MyStrategy

    @pytest.fixture
    def make_strategy():
        return lambda space, seed: MyStrategy(space, seed=seed)

    class TestMyStrategy(StrategyTestCase):
        pass

Optional fixtures: ``space`` (default: the paper's search space) and ``round_trip_state``
(default: a copy of the state through JSON and numpy arrays; the project's tests pass the
search's checkpoint file). The project's own tests run it for every strategy in
``search.strategies.STRATEGIES``. This module imports only the core and pytest.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from mnas_pred.space import SearchSpace


def toy_reward(tokens) -> list[float]:
    """Cheap and deterministic: prefer high token values at even positions."""
    return [float(sum(t[::2])) / 100 for t in tokens]


def _check_leaves(value, where: str = "state") -> None:
    """A strategy's state is JSON values and numpy arrays (what a checkpoint writes without pickle)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{where}: key {k!r} is not a string"
            _check_leaves(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_leaves(v, f"{where}[{i}]")
    elif isinstance(value, np.ndarray):
        assert value.dtype != object, f"{where}: an object array would need pickle"
    else:
        json.dumps(value)  # raises for anything that is not a JSON value


class StrategyTestCase:
    """Tests of one strategy implementation; needs the fixture ``make_strategy`` (a function
    ``(space, seed) -> Strategy``)."""

    @pytest.fixture
    def space(self) -> SearchSpace:
        return SearchSpace.default()

    @pytest.fixture
    def round_trip_state(self):
        def round_trip(state: dict) -> dict:
            _check_leaves(state)
            return copy.deepcopy(state)
        return round_trip

    @staticmethod
    def drive(strategy, updates: int, batch: int = 6) -> list[tuple]:
        out = []
        for _ in range(updates):
            tokens = strategy.ask(batch)
            strategy.tell(tokens, toy_reward(tokens))
            out.extend(tokens)
        return out

    def test_ask_returns_valid_token_sequences(self, make_strategy, space):
        s = make_strategy(space, 0)
        vocab = space.vocab_sizes()
        for n in (1, 5):
            tokens = s.ask(n)
            assert len(tokens) == n
            for t in tokens:
                assert len(t) == len(vocab) and all(isinstance(v, int) and 0 <= v < k for v, k in zip(t, vocab))
                space.decode(t)  # every sequence is an architecture
            s.tell(tokens, toy_reward(tokens))

    def test_same_seed_same_proposals_other_seed_other_proposals(self, make_strategy, space):
        a, b = self.drive(make_strategy(space, 1), 4), self.drive(make_strategy(space, 1), 4)
        c = self.drive(make_strategy(space, 2), 4)
        assert a == b
        assert a != c

    def test_state_round_trips(self, make_strategy, space, round_trip_state):
        s = make_strategy(space, 0)
        self.drive(s, 3)
        restored = make_strategy(space, 99)  # the state, not the constructor seed, decides what follows
        restored.set_state(round_trip_state(s.get_state()))
        assert self.drive(restored, 3) == self.drive(s, 3)

    def test_tell_accepts_several_asks_answered_late(self, make_strategy, space):
        s = make_strategy(space, 0)
        first, second = s.ask(3), s.ask(3)
        s.tell(second, toy_reward(second))
        s.tell(first, toy_reward(first))
        assert len(s.ask(2)) == 2

    def test_does_not_repropose_the_networks_profiled_with_its_seed(self, make_strategy, space):
        profiled = {tuple(int(v) for v in row) for row in space.sample_tokens(8, seed=0)}  # profile-device --seed 0
        assert not profiled & set(make_strategy(space, 0).ask(8))

    def test_options_are_json(self, make_strategy, space):
        json.dumps(make_strategy(space, 0).options())
