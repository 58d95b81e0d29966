"""Re-validation: every ``--revalidate-every K`` controller updates, the ``--revalidate-top M``
most promising candidates not yet measured are measured on the device, the predictor's error on
them is logged, and the predictor is refitted when the error exceeds ``--refit-threshold``.

It is a post-update callback of the search loop (:class:`Revalidation`, called with the search
after each update, as Optuna's ``study.optimize(callbacks=...)`` and LightGBM's ``callbacks``
are), so the loop itself only asks, evaluates, rewards and tells. :class:`RevalidationPolicy`
says when and which; :meth:`search.oracle.LatencyOracle.revalidate` measures and refits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mnas_pred.errors import MnasPredError

REVALIDATE_BY = ("reward", "optimistic")


@dataclass(frozen=True)
class RevalidationPolicy:
    """When and which candidates to re-measure, and when to refit the predictor.

    ``by = "reward"`` re-measures the best not-yet-measured candidates by their (predicted)
    reward. ``by = "optimistic"`` ranks them by the reward they would have at the low end of the
    predictor's latency interval (``predict_interval``): a candidate that could be the best if
    the predictor overestimates it gets measured, one that is confidently predicted does not —
    the predictor's uncertainty decides where device time goes (design.md §6)."""

    every: int = 5  # controller updates between re-validations
    top: int = 2  # best not-yet-measured candidates measured each time
    refit_threshold: float = 0.1  # mean absolute relative error that triggers a refit
    by: str = "reward"

    def __post_init__(self):
        if self.every < 1 or self.top < 0 or self.refit_threshold < 0:
            raise MnasPredError("--revalidate-every must be >= 1, --revalidate-top and --refit-threshold >= 0",
                                "e.g. --revalidate-every 5 --revalidate-top 2 --refit-threshold 0.1")
        if self.by not in REVALIDATE_BY:
            raise MnasPredError(f"unknown --revalidate-by '{self.by}'", f"use one of {', '.join(REVALIDATE_BY)}")

    def due(self, update: int) -> bool:
        """After controller update ``update`` (1-based)?"""
        return self.top > 0 and update % self.every == 0

    def select(self, rows: list[dict], measured: set[str], score: dict[str, float] | None = None) -> list[str]:
        """The ``top`` best not-yet-measured candidates (one per architecture), by ``score``
        (architecture → value, higher first) where given, else by the rows' rewards."""
        first = first_rows(rows, measured)
        key = (lambda a: (-score[a], first[a]["step"])) if score is not None else \
            (lambda a: (-first[a]["reward"], first[a]["step"]))
        return sorted(first, key=key)[: self.top]


@dataclass
class RevalidationReport:
    update: int
    archs: list[str]
    predicted_ms: list[float]
    measured_ms: list[float]
    mean_abs_rel_error: float
    refitted: bool
    error_after_refit: float | None = None
    extra: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        return [
            {"update": self.update, "arch": a, "predicted_ms": p, "measured_ms": m,
             "rel_error": (p - m) / m, "refitted": self.refitted}
            for a, p, m in zip(self.archs, self.predicted_ms, self.measured_ms)
        ]

    def message(self, threshold: float) -> str:
        msg = (f"update {self.update}: re-measured {len(self.archs)} candidates, predicted vs measured "
               f"error {100 * self.mean_abs_rel_error:.1f}%")
        if "refit_error" in self.extra:
            msg += f"; predictor not refitted: {self.extra['refit_error']}"
        if self.refitted:
            msg += f" > {100 * threshold:g}%: predictor refitted"
            if self.error_after_refit is not None:
                msg += f" (error on them now {100 * self.error_after_refit:.1f}%)"
        return msg


def first_rows(rows: list[dict], skip: set[str] = frozenset()) -> dict[str, dict]:
    """The first history row of each architecture not in ``skip``, in history order."""
    first: dict[str, dict] = {}
    for row in rows:
        if row["arch"] not in skip:
            first.setdefault(row["arch"], row)
    return first


class Revalidation:
    """The post-update callback: re-validate when the policy says so, mark the measured
    candidates in the history, record and log the report."""

    def __init__(self, policy: RevalidationPolicy):
        self.policy = policy

    def __call__(self, search) -> None:
        oracle, policy = search.oracle, self.policy
        if not (oracle.uses_predictor and oracle.device is not None and policy.due(search.update)):
            return
        measured = set(oracle.reached)
        score = self._optimistic_rewards(search, measured) if policy.by == "optimistic" else None
        picked = policy.select(search.history, measured, score)
        if picked:
            search.set_phase(f"re-validation: measuring {len(picked)} candidates on the device")
        report = oracle.revalidate(search.update, *search.candidates.get(picked))
        if report is None:
            return
        by_arch = dict(zip(report.archs, report.measured_ms))
        for row in search.history:
            if row["arch"] in by_arch:
                row["measured_latency_ms"] = by_arch[row["arch"]]
        search.revalidations.extend(report.rows())
        search.log(report.message(policy.refit_threshold))

    @staticmethod
    def _optimistic_rewards(search, measured: set[str]) -> dict[str, float]:
        """Reward of each unmeasured candidate at the low end of the current predictor's interval."""
        first = first_rows(search.history, measured)
        if not first:
            return {}
        archs, tokens = search.candidates.get(list(first))
        low, _ = search.oracle.model.predict_interval(archs, tokens=tokens)
        return {a: float(search.reward_fn(row["accuracy"], lat)) for (a, row), lat in zip(first.items(), low)}
