"""MnasNet's controller: an LSTM that emits one token per decision, trained with PPO.

The controller (Zoph & Le; Tan et al. 2019 §4) is a single-layer LSTM with ``hidden_size``
units (100 in the paper). At step ``t`` it reads the embedding of the token chosen at step
``t-1`` (a learned start vector at ``t = 0``) and a per-decision linear head turns its output
into a softmax over that decision's choices; 42 steps for the paper's space.

Training is Proximal Policy Optimization (Schulman et al. 2017) on whole sequences: the
advantage of a candidate is its reward minus the baseline, an exponential moving average of
batch-mean rewards that takes the current batch in first (ENAS's order); each controller update
makes ``ppo_epochs`` passes of the clipped surrogate objective over the batch, plus an entropy
bonus that keeps the controller exploring.

Defaults (the paper gives the algorithm, not these numbers). Tuned on the cheap deterministic
reward of ``bench/search_controller.py`` (800 samples, batch 8, tuning seeds 100-102, never the
reported seeds 0-4); the mean reward of the last 20% of samples, against regularized evolution's
0.898 on those seeds (as it drew before it got its own random stream): the old defaults (decay
0.9 applied after the advantages, 4 epochs) 0.888; decay 0 0.896; decay 0 with 8 epochs 0.901;
faster learning (lr 0.01, or clip 1.0, or 1 epoch at lr 0.03) converged by 200 samples to
0.88-0.89; lr 0.003, or tanh_constant 2.5, 0.894-0.897:

=================== =======  ==========================================================
option              default  meaning
=================== =======  ==========================================================
hidden_size         100      LSTM units (the paper's)
embedding_size      32       size of the previous-token embedding fed to the LSTM
learning_rate       0.005    Adam step size
ppo_epochs          8        optimization passes over each batch (reuses each costly sample)
clip                0.2      PPO ratio clip epsilon
entropy_coef        0.001    weight of the mean per-sequence entropy (nats) in the loss
baseline_decay      0.0      EMA decay of the reward baseline; 0: the batch's mean reward. A
                             lagging baseline (0.9) made most advantages positive while rewards
                             rose and the controller settled early on a mediocre architecture
normalize_advantage True     divide advantages by the batch's reward standard deviation
temperature         1.0      softmax temperature of the policy (> 1 explores more)
tanh_constant       0.0      if > 0, logits are bounded to C*tanh(logits/C) (Bello et al. 2017)
=================== =======  ==========================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mnas_pred.threads import torch_threads
from search.strategies._base import Strategy, Tokens, as_tokens

PPO_DEFAULTS = {
    "hidden_size": 100,
    "embedding_size": 32,
    "learning_rate": 0.005,
    "ppo_epochs": 8,
    "clip": 0.2,
    "entropy_coef": 0.001,
    "baseline_decay": 0.0,
    "normalize_advantage": True,
    "temperature": 1.0,
    "tanh_constant": 0.0,
}


class Controller(nn.Module):
    """LSTM policy over a sequence of categorical decisions of different sizes."""

    def __init__(self, vocab_sizes: Sequence[int], hidden_size: int = 100, embedding_size: int = 32,
                 temperature: float = 1.0, tanh_constant: float = 0.0):
        super().__init__()
        self.temperature, self.tanh_constant = float(temperature), float(tanh_constant)
        self.vocab_sizes = list(vocab_sizes)
        # one embedding table for all decisions: token j of decision t is row offsets[t] + j
        self.register_buffer("offsets", torch.tensor(np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]])),
                             persistent=False)
        self.embedding = nn.Embedding(sum(self.vocab_sizes), embedding_size)
        self.start = nn.Parameter(torch.zeros(embedding_size))
        self.lstm = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, v) for v in self.vocab_sizes)

    def _log_probs(self, out: torch.Tensor, t: int) -> torch.Tensor:
        logits = self.heads[t](out)
        if self.tanh_constant:  # bounded logits: no choice gets probability ~1 (Bello et al. 2017)
            logits = self.tanh_constant * torch.tanh(logits / self.tanh_constant)
        return torch.log_softmax(logits / self.temperature, dim=-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` sequences, shape ``(n, T)``, and their log-probabilities, shape ``(n,)``."""
        x = self.start.expand(n, 1, -1)
        state = None
        tokens, logp = [], torch.zeros(n)
        for t in range(len(self.heads)):
            out, state = self.lstm(x, state)
            log_probs = self._log_probs(out[:, 0], t)
            tok = torch.multinomial(log_probs.exp(), 1, generator=generator)[:, 0]
            logp += log_probs.gather(1, tok[:, None])[:, 0]
            tokens.append(tok)
            x = self.embedding(tok + self.offsets[t])[:, None]
        return torch.stack(tokens, dim=1), logp

    def evaluate(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy (summed over decisions) of given sequences (teacher forcing)."""
        n = tokens.shape[0]
        prev = self.embedding(tokens[:, :-1] + self.offsets[:-1])  # token t-1 is row offsets[t-1] + j
        inputs = torch.cat([self.start.expand(n, 1, -1), prev], dim=1)
        out, _ = self.lstm(inputs)
        logp = torch.zeros(n)
        entropy = torch.zeros(n)
        for t in range(len(self.heads)):
            log_probs = self._log_probs(out[:, t], t)
            logp = logp + log_probs.gather(1, tokens[:, t:t + 1])[:, 0]
            entropy = entropy - (log_probs.exp() * log_probs).sum(-1)
        return logp, entropy


class PPOStrategy(Strategy):
    name = "ppo"

    def __init__(self, space, seed: int = 0, **options):
        super().__init__(space, seed)
        unknown = set(options) - set(PPO_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown PPO option(s): {', '.join(sorted(unknown))}")
        self.opts = {**PPO_DEFAULTS, **options}
        # weights from a seeded fork of torch's global generator: reproducible, and the caller's
        # random state is left alone
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.controller = Controller(self.vocab_sizes, int(self.opts["hidden_size"]),
                                         int(self.opts["embedding_size"]), float(self.opts["temperature"]),
                                         float(self.opts["tanh_constant"]))
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=float(self.opts["learning_rate"]))
        self.generator = torch.Generator().manual_seed(self.seed)
        self.baseline: float | None = None
        self.updates = 0
        # log-probabilities of asked, not yet told candidates under the policy that sampled them
        self.pending: dict[Tokens, list[float]] = {}

    def options(self) -> dict:
        return dict(self.opts)

    def ask(self, n: int) -> list[Tokens]:
        # The controller is tiny: one thread is fastest, and on a busy machine two threads can be
        # 50x slower (measured: 3.2 s vs 0.07 s per ask+tell of 8 candidates with 4 busy neighbours).
        with torch_threads(1):
            tokens, logp = self.controller.sample(n, self.generator)
        out = [as_tokens(row) for row in tokens.tolist()]
        for t, lp in zip(out, logp.tolist()):
            self.pending.setdefault(t, []).append(lp)
        return out

    def tell(self, candidates: Sequence[Tokens], rewards: Sequence[float]) -> None:
        candidates = [as_tokens(c) for c in candidates]
        if not candidates:
            return
        with torch_threads(1):
            self._update(candidates, rewards)

    def _update(self, candidates: list[Tokens], rewards: Sequence[float]) -> None:
        tokens = torch.tensor(candidates, dtype=torch.long)
        rewards_t = torch.tensor([float(r) for r in rewards], dtype=torch.float32)
        old = []
        with torch.no_grad():
            current, _ = self.controller.evaluate(tokens)
        for i, c in enumerate(candidates):
            queue = self.pending.get(c)
            # a candidate not asked from this controller (e.g. a seeded architecture) is treated as on-policy
            old.append(queue.pop(0) if queue else float(current[i]))
            if queue == []:
                del self.pending[c]
        old_logp = torch.tensor(old)

        # the baseline takes this batch in before the advantages (as ENAS does): with decay 0 the
        # advantage is the reward minus the batch mean; a baseline that lags rising rewards would make
        # every advantage positive and reinforce whatever was sampled
        mean_reward = float(rewards_t.mean())
        decay = float(self.opts["baseline_decay"])
        self.baseline = mean_reward if self.baseline is None else decay * self.baseline + (1 - decay) * mean_reward
        advantage = rewards_t - self.baseline
        if self.opts["normalize_advantage"] and len(candidates) > 1:
            advantage = advantage / (rewards_t.std() + 1e-8)
        clip = float(self.opts["clip"])
        for _ in range(int(self.opts["ppo_epochs"])):
            logp, entropy = self.controller.evaluate(tokens)
            ratio = torch.exp(logp - old_logp)
            surrogate = torch.minimum(ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage)
            loss = -surrogate.mean() - float(self.opts["entropy_coef"]) * entropy.mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.updates += 1

    # ------------------------------------------------------------------ state (no pickle)
    def get_state(self) -> dict:
        params = {k: v.detach().numpy().copy() for k, v in self.controller.state_dict().items()}
        opt = self.optimizer.state_dict()
        opt_state = {
            str(idx): {k: (v.detach().numpy().copy() if torch.is_tensor(v) else v) for k, v in s.items()}
            for idx, s in opt["state"].items()
        }
        return {
            "params": params,
            "optimizer": {"state": opt_state, "param_groups": opt["param_groups"]},
            "generator": self.generator.get_state().numpy().copy(),
            "baseline": self.baseline,
            "updates": self.updates,
            "pending": [[list(t), lps] for t, lps in self.pending.items()],
        }

    def set_state(self, state: dict) -> None:
        self.controller.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state["params"].items()})
        opt = state["optimizer"]
        self.optimizer.load_state_dict({
            "state": {int(idx): {k: (torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v)
                                 for k, v in s.items()} for idx, s in opt["state"].items()},
            "param_groups": opt["param_groups"],
        })
        self.generator.set_state(torch.from_numpy(np.asarray(state["generator"], dtype=np.uint8)))
        self.baseline = state["baseline"]
        self.updates = int(state["updates"])
        self.pending = {as_tokens(t): list(lps) for t, lps in state["pending"]}
