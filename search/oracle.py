"""Latency of candidates for the search: a :class:`LatencyOracle` over a predictor
(:class:`~search.latency.LatencyModel`), a device (:class:`~search.latency.LatencyMeasurer`), or both.

* ``--use-predictor FILE``: every candidate's latency is predicted; every ``--revalidate-every K``
  controller updates the re-validation callback (:mod:`search.revalidation`) has the oracle
  measure a few candidates (:meth:`LatencyOracle.revalidate`), compare, and refit the predictor
  when the error exceeds ``--refit-threshold``.
* no predictor: every candidate is measured on the device (the original MnasNet).

Every device measurement goes to the measurement log (:class:`search.caches.MeasurementCache`,
``measurements.jsonl``), so an architecture is never measured twice in one search and a resumed
search sees exactly the values the interrupted one saw.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.errors import MnasPredError
from search.caches import MeasurementCache
from search.killpoint import kill_point
from search.latency import LatencyMeasurer, LatencyModel, TokenRows
from search.revalidation import RevalidationReport


def _relative_to(path: str, folder: Path) -> str:
    """``path`` relative to ``folder`` when it lies inside it, else unchanged."""
    try:
        return str(Path(path).resolve().relative_to(folder.resolve()))
    except ValueError:
        return path


class LatencyOracle:
    """``latency(archs)`` returns ``(predicted_ms, measured_ms)`` arrays with NaN where there is no
    value: with a model, every candidate is predicted and measured only if it was re-validated
    before; without one, every candidate is measured. The search rewards the measured value where
    there is one, else the predicted one."""

    def __init__(self, model: LatencyModel | None, device: LatencyMeasurer | None, cache: MeasurementCache,
                 refit_threshold: float = float("inf"), refit_dir: str | os.PathLike | None = None):
        if model is None and device is None:
            raise ValueError("a latency oracle needs a predictor, a device, or both")
        self.model, self.device, self.cache = model, device, cache
        self.refit_threshold = refit_threshold  # refit when the re-validation error exceeds it
        self.refit_dir = Path(refit_dir) if refit_dir else Path(".")
        self.refits = 0
        # measured by re-validation: the training set of refits
        self.revalidated: list[str] = []
        # Measurements the search has reached, i.e. may reward with. A resumed search finds in the
        # cache also what the interrupted run measured after its last checkpoint; those are reused
        # (not measured again) but rewarded only once the replayed run reaches them again, so the
        # resumed search matches an uninterrupted one at every kill point.
        self.reached: set[str] = set(cache.values)
        self._parsed: dict[str, Architecture] = {}
        self.on_phase: Callable[[str], None] | None = None  # what it is doing now, for the live display

    @property
    def uses_predictor(self) -> bool:
        return self.model is not None

    def measured(self, arch: str) -> float | None:
        """The measured latency of ``arch`` if the search has reached its measurement."""
        return self.cache.get(arch) if arch in self.reached else None

    def _arch(self, name: str) -> Architecture:
        if name not in self._parsed:
            self._parsed[name] = parse_arch(name)
        return self._parsed[name]

    def _measure(self, arch: Architecture) -> float:
        key = arch.to_string()
        self._parsed.setdefault(key, arch)
        self.reached.add(key)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if self.device is None:
            raise RuntimeError("no device to measure on")
        kill_point("measure-before")
        timing = self.device.measure(arch)
        self.cache.put(key, float(timing.latency_ms), timing.spread, timing.raw_ms)
        kill_point("measure-after")
        return float(timing.latency_ms)

    def latency(self, archs: Sequence[Architecture], tokens: TokenRows = None) -> tuple[np.ndarray, np.ndarray]:
        n = len(archs)
        predicted = np.full(n, np.nan)
        measured = np.full(n, np.nan)
        if self.model is not None:
            if n:
                predicted = np.asarray(self.model.predict(archs, tokens), dtype=np.float64)
            for i, a in enumerate(archs):
                ms = self.measured(a.to_string())
                if ms is not None:
                    measured[i] = ms
        else:
            for i, a in enumerate(archs):
                measured[i] = self._measure(a)
        return predicted, measured

    def revalidate(self, update: int, archs: Sequence[Architecture], tokens: TokenRows = None
                   ) -> RevalidationReport | None:
        """Measure ``archs`` on the device, compare with the predictions, refit if needed."""
        if not archs or self.model is None or self.device is None:
            return None
        names = [a.to_string() for a in archs]
        predicted = np.asarray(self.model.predict(archs, tokens), dtype=np.float64)
        held = [self._measure(a) for a in archs]
        # the device's values once the round is over (its drift interpolated across the round)
        closed = self.device.end_round()
        for a, timing in closed.items():
            self.cache.put(a, float(timing.latency_ms), timing.spread, timing.raw_ms)
        measured = np.array([closed[a].latency_ms if a in closed else ms for a, ms in zip(names, held)])
        for a in names:
            if a not in self.revalidated:
                self.revalidated.append(a)
        error = float(np.mean(np.abs(predicted - measured) / measured))
        refitted, after = False, None
        threshold = self.refit_threshold
        extra = {}
        if error > threshold:
            if self.on_phase:
                self.on_phase(f"refitting the predictor (error {100 * error:.1f}% > {100 * threshold:g}%)")
            train = [self._arch(a) for a in self.revalidated]
            train_ms = np.array([self.cache.get(a) for a in self.revalidated])
            kill_point("refit-before")
            try:
                self.model = self.model.refit(train, train_ms, self.refit_dir)
                kill_point("refit-after")
            except MnasPredError as e:  # e.g. too little data yet: go on with the current predictor
                extra["refit_error"] = str(e)
            else:
                self.refits += 1
                refitted = True
                after = float(np.mean(np.abs(self.model.predict(archs, tokens) - measured) / measured))
        return RevalidationReport(update, names, predicted.tolist(), measured.tolist(), error, refitted, after, extra)

    def get_state(self) -> dict:
        model = self.model.get_state() if self.model is not None else None
        if model and "path" in model:  # a refitted predictor file: relative, so a moved folder resumes
            model = {**model, "path": _relative_to(model["path"], self.refit_dir)}
        return {"model": model, "revalidated": list(self.revalidated), "refits": self.refits,
                "reached": sorted(self.reached)}

    def set_state(self, state: dict) -> None:
        model = state.get("model")
        if self.model is not None and model is not None:
            if "path" in model and (self.refit_dir / model["path"]).exists():
                model = {**model, "path": str(self.refit_dir / model["path"])}
            self.model.set_state(model)
        self.revalidated = list(state.get("revalidated", []))
        self.refits = int(state.get("refits", 0))
        if "reached" in state:  # checkpoints before it: everything in the cache counts as reached
            self.reached = set(state["reached"])

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
