"""The evaluator a search's settings ask for (:mod:`search.evaluator` has the base and the local
siblings; :mod:`search.ray_evaluator` imports Ray, so it is imported only when asked for)."""

from __future__ import annotations

from search.accuracy import AccuracyEvaluator
from search.evaluator import AccuracySpec, Evaluator, ProcessPoolEvaluator, SerialEvaluator


def make_evaluator(spec: AccuracySpec, workers: int = 1, accuracy: AccuracyEvaluator | None = None, *,
                   ray_address: str | None = None, cpus_per_trial: float = 1.0,
                   gpus_per_trial: float = 0.0) -> Evaluator:
    if ray_address:
        from search.ray_evaluator import RayEvaluator

        return RayEvaluator(spec, ray_address, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial)
    if workers <= 1:
        return SerialEvaluator(accuracy or spec.build())
    return ProcessPoolEvaluator(spec, workers)
