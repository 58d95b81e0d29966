"""Candidate evaluation: maps a batch of architectures to their accuracies.

The search loop hands an :class:`Evaluator` the candidates of one controller update that are not
in the accuracy cache and gets their accuracies back *in the order given*, whatever order they
finish in. Because every candidate trains with its own seed on a fixed thread count
(:mod:`search.accuracy`), the result of a candidate does not depend on which process trained it,
so ``--workers N`` gives the same history as a serial run.

* :class:`SerialEvaluator`: in this process (the default, ``--workers 1``).
* :class:`ProcessPoolEvaluator`: ``N`` local worker processes (``spawn``: no forked torch or
  OpenMP state), each loading the proxy data once.
* :class:`search.ray_evaluator.RayEvaluator`: one Ray task per candidate on a cluster
  (``--ray-address``), imported only then.

:func:`search.evaluator_factory.make_evaluator` picks one from the settings (it lives outside this
module so that the siblings import the base and the base imports none of them).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

from mnas_pred.arch import parse_arch
from search.accuracy import AccuracyEvaluator, AnalyticAccuracy, ProxyTrainer, TrainSettings
from search.data import DataSpec


@dataclass(frozen=True)
class AccuracySpec:
    """How to build the accuracy evaluator: plain values, so it crosses process boundaries."""

    kind: str = "proxy"  # "proxy" | "analytic"
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSettings = field(default_factory=TrainSettings)
    seed: int = 0

    def build(self) -> AccuracyEvaluator:
        if self.kind == "analytic":
            return AnalyticAccuracy(self.seed)
        return ProxyTrainer(self.data, self.train, self.seed)


class Evaluator(abc.ABC):
    """Accuracies of a batch of architecture strings, in the given order."""

    @abc.abstractmethod
    def evaluate(self, archs: list[str], on_result: Callable[[str, float], None] | None = None) -> list[float]:
        """``on_result(arch, accuracy)`` is called as each result arrives (for caching)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop workers."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialEvaluator(Evaluator):
    def __init__(self, accuracy: AccuracyEvaluator):
        self.accuracy = accuracy

    def evaluate(self, archs, on_result=None):
        out = []
        for a in archs:
            acc = float(self.accuracy.accuracy(parse_arch(a)))
            if on_result:
                on_result(a, acc)
            out.append(acc)
        return out


_WORKER_EVALUATOR: AccuracyEvaluator | None = None


def _init_worker(spec: AccuracySpec) -> None:
    global _WORKER_EVALUATOR
    _WORKER_EVALUATOR = spec.build()


def evaluate_one(arch: str) -> tuple[str, float]:
    """Run in a worker process: the accuracy of one candidate."""
    assert _WORKER_EVALUATOR is not None, "worker not initialized"
    return arch, float(_WORKER_EVALUATOR.accuracy(parse_arch(arch)))


class ProcessPoolEvaluator(Evaluator):
    """``workers`` local processes; results are put back in submission order."""

    def __init__(self, spec: AccuracySpec, workers: int):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                        initializer=_init_worker, initargs=(spec,))

    def evaluate(self, archs, on_result=None):
        from concurrent.futures import as_completed

        futures = {self.pool.submit(evaluate_one, a): i for i, a in enumerate(archs)}
        out: list[float | None] = [None] * len(archs)
        for fut in as_completed(futures):
            arch, acc = fut.result()
            out[futures[fut]] = acc
            if on_result:
                on_result(arch, acc)
        return [float(v) for v in out]

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)
