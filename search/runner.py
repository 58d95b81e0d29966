"""The search loop: ask the strategy, evaluate accuracy and latency, reward, tell, call the
post-update callbacks (re-validation is one: :mod:`search.revalidation`), checkpoint.

One controller update = one ``ask(batch_size)``/``tell``. After every update the whole state
(strategy, history, latency oracle, random generators) is checkpointed atomically to
``checkpoint.npz`` (no pickle, :mod:`search.checkpoint`) and ``history.csv`` is rewritten, so
``--resume`` continues from the last update. Accuracies and device measurements are also
appended to their logs as soon as they exist (:mod:`search.caches`), so the candidates of an
interrupted update are not trained or measured again; since both are deterministic per candidate
(or logged), the resumed search reproduces an uninterrupted one exactly.

The modules around the loop: :mod:`search.config` (settings), :mod:`search.folder` (results
folder, resume, checkpoint contents), :mod:`search.sources` (predictor and device),
:mod:`search.results` (what is written at the end).

Results folder (``--out``):

====================  ==============================================================================
history.csv           one row per candidate: step, arch, accuracy, predicted_latency_ms,
                      measured_latency_ms (empty unless measured), reward, update, latency_ms
                      (the value the reward used: measured where there is one)
pareto.csv            the accuracy–latency Pareto front over distinct architectures
best/                 the best architectures by reward: ``rank-N.arch.txt``, ``rank-N.onnx`` (deployment
                      resolution, trained proxy weights), ``rank-N.safetensors`` (the PyTorch state
                      dict: ``safetensors.torch.load_file``, :mod:`search.weights`), ``best.json``
revalidation.csv      every re-measured candidate: predicted vs measured, whether a refit followed
references.jsonl      the reference networks' results and cost (:mod:`search.references`)
reward.png pareto.png plots
summary.json          the final numbers; config.json the settings; checkpoint.npz the state
====================  ==============================================================================
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.errors import ArchitectureError
from mnas_pred.space import SearchSpace
from search import results
from search.accuracy import ProxyTrainer
from search.caches import AccuracyCache, MeasurementCache
from search.checkpoint import save_state
from search.config import SearchConfig
from search.evaluator import AccuracySpec
from search.evaluator_factory import make_evaluator
from search.folder import CHECKPOINT, check_out_dir, loop_state, restore_loop, start_out_dir
from search.killpoint import kill_point
from search.oracle import LatencyOracle
from search.references import references_for
from search.results import SearchResult, write_history
from search.revalidation import Revalidation
from search.reward import RewardFunction
from search.sources import latency_sources
from search.state_schema import restore_errors
from search.strategies import make_strategy

#: a post-update callback: called with the search after every controller update, before the checkpoint
Callback = Callable[["Search"], None]


@dataclass
class SearchProgress:
    """What the progress callback receives after every controller update."""

    update: int
    total_updates: int
    samples_done: int
    samples_total: int
    best_reward: float
    best_arch: str
    best_accuracy: float
    best_latency_ms: float
    device_measurements: int
    refits: int
    last_revalidation: dict | None
    elapsed_s: float


class Candidates:
    """Each candidate's architecture and token row, by architecture string: the strategy's tokens
    are decoded once, and latency queries reuse both (no re-parsing, no re-encoding). Candidates
    of a resumed history are parsed and encoded on first use."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self._by_name: dict[str, tuple[Architecture, tuple | None]] = {}

    def add(self, tokens: Sequence[tuple]) -> list[Architecture]:
        archs = [self.space.decode(t) for t in tokens]
        for a, t in zip(archs, tokens):
            self._by_name.setdefault(a.to_string(), (a, tuple(t)))
        return archs

    def _entry(self, name: str) -> tuple[Architecture, tuple | None]:
        if name not in self._by_name:
            arch = parse_arch(name)
            try:
                tokens = tuple(self.space.encode(arch))
            except ArchitectureError:
                tokens = None
            self._by_name[name] = (arch, tokens)
        return self._by_name[name]

    def get(self, names: Sequence[str]) -> tuple[list[Architecture], list[tuple | None]]:
        """``(architectures, token rows)`` of ``names``."""
        entries = [self._entry(n) for n in names]
        return [a for a, _ in entries], [t for _, t in entries]


class Search:
    """One search run (fresh or resumed) writing into ``config.out_dir``."""

    def __init__(self, config: SearchConfig, resume: bool = False,
                 progress: Callable[[SearchProgress], None] | None = None,
                 log: Callable[[str], None] | None = None, callbacks: Sequence[Callback] = ()):
        config.validate()
        self.config = config
        self.out = Path(config.out_dir)
        self.progress = progress
        self.log = log or (lambda msg: None)
        self.phase: Callable[[str], None] | None = None  # what the search is doing now (live display)
        self._running_update = 1
        self.space = SearchSpace.load(config.space)
        self.candidates = Candidates(self.space)
        self.resolution = config.resolution or self.space.resolution
        self.reward_fn = RewardFunction(config.target_ms, config.alpha, config.beta)
        self.checkpoint_path = self.out / CHECKPOINT
        state = check_out_dir(self.out, config, resume, self.log)
        self.strategy = make_strategy(config.strategy, self.space, seed=config.seed, **config.strategy_options)
        self.accuracy_spec = AccuracySpec(config.accuracy, config.data, config.train, config.seed)
        self.accuracy_eval = self.accuracy_spec.build()
        # everything that can fail on user input (dataset files, predictor file, device) before the
        # folder is touched
        if isinstance(self.accuracy_eval, ProxyTrainer):
            self.accuracy_eval.data  # noqa: B018 - load now: a broken dataset fails here, in one line
            self.accuracy_eval.cpu_if_unavailable = True  # references, export: a Ray driver may lack the workers' GPU
        model, device = latency_sources(config, self.space, self.resolution, self.log)
        if state is None:
            start_out_dir(self.out, config)
        self.accuracy_cache = AccuracyCache(self.out / "accuracy_cache.jsonl", self.accuracy_eval.fingerprint(),
                                            self.log)
        cache = MeasurementCache(self.out / "measurements.jsonl", device.key() if device else "none")
        self.oracle = LatencyOracle(model, device, cache, config.refit_threshold, refit_dir=self.out / "refits")
        self.callbacks: list[Callback] = [Revalidation(config.policy), *callbacks]
        self.history: list[dict] = []
        self.revalidations: list[dict] = []
        self.references: list[dict] = []
        self.update = 0
        self.elapsed_before = 0.0
        if state is not None:
            with restore_errors(self.checkpoint_path):
                restore_loop(self, state)
        else:  # the global generators (untrained weights of best/ with --accuracy analytic) from the seed,
            # so a search does not depend on what the calling process drew before (a resume restores them)
            torch.manual_seed(config.seed)
            np.random.seed(config.seed)

    @property
    def total_updates(self) -> int:
        return math.ceil(self.config.samples / self.config.batch_size)

    @property
    def device_measurements(self) -> int:
        """Distinct architectures measured on the device in this search (resume-stable)."""
        return len(self.oracle.reached)

    def run(self) -> SearchResult:
        c = self.config
        if not self.checkpoint_path.exists():
            # Ctrl-C during the first update can then be continued with --resume, like any later one
            # (the candidates it trained are in the accuracy cache)
            save_state(self.checkpoint_path, loop_state(self, self.elapsed_before))
        self.oracle.on_phase = self.set_phase
        start = time.perf_counter()
        evaluator = make_evaluator(self.accuracy_spec, c.workers, self.accuracy_eval, ray_address=c.ray_address,
                                   cpus_per_trial=c.cpus_per_trial or float(c.train.threads),
                                   gpus_per_trial=c.gpus_per_trial)
        try:
            if self.phase and c.references:
                self.phase(f"reference networks: training and timing {len(set(c.references))} "
                           "(each one's line follows when it is done)")
            self.references = references_for(self)  # cached in references.jsonl: a resume reuses them
            while len(self.history) < c.samples:
                self._one_update(min(c.batch_size, c.samples - len(self.history)), evaluator)
                for callback in self.callbacks:
                    callback(self)
                elapsed = self.elapsed_before + time.perf_counter() - start
                save_state(self.checkpoint_path, loop_state(self, elapsed))
                kill_point("checkpointed")
                write_history(self)
                kill_point("written")
                if self.progress:
                    self.progress(self._progress(elapsed))
        finally:
            evaluator.close()
        result = self.finish(self.elapsed_before + time.perf_counter() - start)
        self.oracle.close()
        return result

    def _one_update(self, n: int, evaluator) -> None:
        self._running_update = self.update + 1
        tokens = self.strategy.ask(n)
        archs = self.candidates.add(tokens)
        names = [a.to_string() for a in archs]
        accuracy = self._accuracies(names, evaluator)
        if not self.oracle.uses_predictor:
            self.set_phase(f"measuring {len(names)} candidates on the device")
        predicted, measured = self.oracle.latency(archs, tokens)
        used = np.where(np.isfinite(measured), measured, predicted)
        rewards = self.reward_fn(accuracy, used)
        self.strategy.tell(tokens, rewards.tolist())
        self.update += 1
        for i, name in enumerate(names):
            self.history.append({
                "step": len(self.history), "arch": name, "accuracy": float(accuracy[i]),
                "predicted_latency_ms": float(predicted[i]), "measured_latency_ms": float(measured[i]),
                "reward": float(rewards[i]), "update": self.update, "latency_ms": float(used[i]),
            })
        kill_point("rewarded")

    def _accuracies(self, names: list[str], evaluator) -> np.ndarray:
        """Accuracy of each candidate: from the cache, else evaluated (and cached as each arrives)."""
        todo = [a for a in dict.fromkeys(names) if self.accuracy_cache.get(a) is None]
        if todo:
            trained = []

            def on_result(arch: str, acc: float) -> None:
                self.accuracy_cache.put(arch, acc)
                kill_point("accuracy-stored")
                trained.append(arch)
                self.set_phase(f"training candidates ({len(trained)}/{len(todo)} done)")

            self.set_phase(f"training candidates (0/{len(todo)} done)")
            evaluator.evaluate(todo, on_result=on_result)
        kill_point("trained")
        return np.array([self.accuracy_cache.get(a) for a in names])

    def finish(self, elapsed: float) -> SearchResult:
        """Pareto front, best architectures, plots, summary (:func:`search.results.finish`)."""
        return results.finish(self, elapsed)

    def set_phase(self, what: str) -> None:
        if self.phase:
            self.phase(f"update {self._running_update}/{self.total_updates}: {what}")

    def _progress(self, elapsed: float) -> SearchProgress:
        best = max(self.history, key=lambda r: r["reward"])
        last = self.revalidations[-1] if self.revalidations else None
        return SearchProgress(
            update=self.update, total_updates=self.total_updates, samples_done=len(self.history),
            samples_total=self.config.samples, best_reward=best["reward"], best_arch=best["arch"],
            best_accuracy=best["accuracy"], best_latency_ms=best["latency_ms"],
            device_measurements=self.device_measurements, refits=self.oracle.refits, last_revalidation=last,
            elapsed_s=elapsed,
        )


def run_search(config: SearchConfig, resume: bool = False, progress=None, log=None,
               callbacks: Sequence[Callback] = ()) -> SearchResult:
    return Search(config, resume=resume, progress=progress, log=log, callbacks=callbacks).run()


__all__ = ["Callback", "Search", "SearchConfig", "SearchProgress", "SearchResult", "run_search"]
