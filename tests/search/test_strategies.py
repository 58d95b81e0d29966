"""The strategy conformance suite (mnas_pred.testing.strategy) for every strategy, plus 'PPO learns'."""

import numpy as np
import pytest

from mnas_pred.space import SearchSpace
from mnas_pred.testing.strategy import StrategyTestCase
from search.analytic import analytic_accuracy, analytic_latency_ms
from search.checkpoint import load_state, save_state
from search.reward import RewardFunction
from search.strategies import STRATEGIES, PPOStrategy, Strategy, make_strategy

SPACE = SearchSpace.default()
SMALL = {"evolution": {"population_size": 8, "tournament_size": 3}}


@pytest.fixture(params=sorted(STRATEGIES))
def make_strategy_of_each_kind(request):
    return lambda space, seed: make_strategy(request.param, space, seed=seed, **SMALL.get(request.param, {}))


class TestEveryStrategy(StrategyTestCase):
    """The conformance suite (mnas_pred.testing.strategy) for ppo, random and evolution, the
    state through a real checkpoint file."""

    @pytest.fixture
    def make_strategy(self, make_strategy_of_each_kind):
        return make_strategy_of_each_kind

    @pytest.fixture
    def round_trip_state(self, tmp_path):
        def round_trip(state):
            save_state(tmp_path / "s.npz", {"strategy": state})
            return load_state(tmp_path / "s.npz")["strategy"]
        return round_trip


def test_ppo_defaults_follow_the_paper():
    s = PPOStrategy(SPACE, seed=0)
    assert s.controller.lstm.hidden_size == 100
    assert len(s.controller.heads) == 42


def _search(name, seed, samples=320, batch=8, target=8.0):
    reward = RewardFunction(target)
    s = make_strategy(name, SPACE, seed=seed)
    cache, rewards = {}, []
    while len(rewards) < samples:
        tokens = s.ask(batch)
        r = []
        for t in tokens:
            if t not in cache:
                arch = SPACE.decode(t)
                cache[t] = reward(analytic_accuracy(arch), analytic_latency_ms(arch))
            r.append(cache[t])
        s.tell(tokens, r)
        rewards.extend(r)
    return np.array(rewards)


def test_ppo_learns_better_than_random_search():
    tail = 64  # last 20% of 320 samples
    for seed in (0, 1):
        ppo, rnd = _search("ppo", seed), _search("random", seed)
        assert ppo[-tail:].mean() > rnd[-tail:].mean() + 0.01
        assert ppo[-tail:].mean() > ppo[:tail].mean()  # it improved over its own start


def test_ppo_teacher_forcing_matches_sampling():
    import torch

    s = PPOStrategy(SPACE, seed=3)
    tokens, logp = s.controller.sample(5, torch.Generator().manual_seed(0))
    again, entropy = s.controller.evaluate(tokens)
    torch.testing.assert_close(again, logp, rtol=1e-5, atol=1e-5)
    assert bool((entropy > 0).all())


def test_ppo_baseline_takes_the_batch_in_before_the_advantages():
    s = PPOStrategy(SPACE, seed=0, baseline_decay=0.0)
    tokens = s.ask(4)
    s.tell(tokens, [0.1, 0.2, 0.3, 0.4])
    assert s.baseline == pytest.approx(0.25)  # decay 0: the advantage is the reward minus the batch mean
    s = PPOStrategy(SPACE, seed=0, baseline_decay=0.5)
    s.tell(s.ask(2), [0.0, 0.2])
    s.tell(s.ask(2), [0.4, 0.6])
    assert s.baseline == pytest.approx(0.5 * 0.1 + 0.5 * 0.5)


def test_ppo_temperature_and_tanh_constant_shape_the_policy_it_samples_from():
    import torch

    s = PPOStrategy(SPACE, seed=3, temperature=2.0, tanh_constant=1.0)
    tokens, logp = s.controller.sample(64, torch.Generator().manual_seed(0))
    again, _ = s.controller.evaluate(tokens)
    torch.testing.assert_close(again, logp, rtol=1e-5, atol=1e-5)  # PPO's ratio is 1 before an update
    # bounded logits (|logit| <= 1) at temperature 2: no choice of a v-way decision passes
    # e^0.5 / (e^0.5 + (v - 1) e^-0.5)
    with torch.no_grad():
        out, _ = s.controller.lstm(s.controller.start.expand(1, 1, -1))
        probs = s.controller._log_probs(out[:, 0] * 1e3, 0).exp()  # huge activations: logits saturate
    bound = np.exp(0.5) / (np.exp(0.5) + (SPACE.vocab_sizes()[0] - 1) * np.exp(-0.5))
    assert float(probs.max()) <= bound + 1e-6


class _CoordinateAscent(Strategy):
    """A strategy outside the registry, as a plug-in author would write one: change one decision
    of the best candidate so far, or draw a new one."""

    name = "coordinate-ascent"

    def __init__(self, space, seed=0):
        super().__init__(space, seed)
        self.rng = np.random.default_rng([self.seed, 7])
        self.best: tuple[tuple, float] | None = None

    def ask(self, n):
        out = []
        for _ in range(n):
            t = [int(self.rng.integers(0, v)) for v in self.vocab_sizes]
            if self.best is not None and self.rng.random() < 0.8:
                t = list(self.best[0])
                i = int(self.rng.integers(0, len(t)))
                t[i] = int(self.rng.integers(0, self.vocab_sizes[i]))
            out.append(tuple(t))
        return out

    def tell(self, candidates, rewards):
        for c, r in zip(candidates, rewards):
            if self.best is None or r > self.best[1]:
                self.best = (tuple(c), float(r))

    def get_state(self):
        return {"rng": self.rng.bit_generator.state, "best": None if self.best is None else
                {"tokens": list(self.best[0]), "reward": self.best[1]}}

    def set_state(self, state):
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        best = state["best"]
        self.best = None if best is None else (tuple(int(v) for v in best["tokens"]), float(best["reward"]))


class TestAPluginStrategy(StrategyTestCase):
    """The suite as a plug-in author runs it: one fixture."""

    @pytest.fixture
    def make_strategy(self):
        return lambda space, seed: _CoordinateAscent(space, seed)
