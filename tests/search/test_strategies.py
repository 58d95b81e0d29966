"""One conformance suite for every strategy, plus 'PPO learns'."""

import numpy as np
import pytest

from mnas_pred.space import SearchSpace
from search.analytic import analytic_accuracy, analytic_latency_ms
from search.checkpoint import load_state, save_state
from search.reward import RewardFunction
from search.strategies import STRATEGIES, PPOStrategy, make_strategy

SPACE = SearchSpace.default()
SMALL = {"evolution": {"population_size": 8, "tournament_size": 3}}


def _reward(tokens):
    # cheap and deterministic: prefer high token values at even positions
    return [float(sum(t[::2])) / 100 for t in tokens]


def _make(name, seed=0):
    return make_strategy(name, SPACE, seed=seed, **SMALL.get(name, {}))


def _drive(s, updates, batch=6):
    out = []
    for _ in range(updates):
        tokens = s.ask(batch)
        s.tell(tokens, _reward(tokens))
        out.extend(tokens)
    return out


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_ask_returns_valid_token_sequences(name):
    s = _make(name)
    vocab = SPACE.vocab_sizes()
    assert len(vocab) == 42
    for n in (1, 5):
        tokens = s.ask(n)
        assert len(tokens) == n
        for t in tokens:
            assert len(t) == 42 and all(isinstance(v, int) and 0 <= v < k for v, k in zip(t, vocab))
            SPACE.decode(t)  # every sequence is an architecture
        s.tell(tokens, _reward(tokens))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_same_seed_same_proposals_other_seed_other_proposals(name):
    a, b, c = _drive(_make(name, 1), 4), _drive(_make(name, 1), 4), _drive(_make(name, 2), 4)
    assert a == b
    assert a != c


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_state_round_trips_through_a_checkpoint_file(name, tmp_path):
    s = _make(name)
    _drive(s, 3)
    save_state(tmp_path / "s.npz", {"strategy": s.get_state()})
    restored = _make(name, seed=99)  # the state, not the constructor seed, decides what follows
    restored.set_state(load_state(tmp_path / "s.npz")["strategy"])
    assert _drive(restored, 3) == _drive(s, 3)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_tell_accepts_several_asks_answered_late(name):
    s = _make(name)
    first, second = s.ask(3), s.ask(3)
    s.tell(second, _reward(second))
    s.tell(first, _reward(first))
    assert len(s.ask(2)) == 2


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


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_search_does_not_repropose_the_networks_profiled_with_its_seed(name):
    profiled = {tuple(int(v) for v in row) for row in SPACE.sample_tokens(8, seed=0)}  # profile-device --seed 0
    assert not profiled & set(_make(name, seed=0).ask(8))
