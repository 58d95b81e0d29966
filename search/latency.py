"""The two protocols through which the search gets latency, so that it stays independent of the
profiler and predictor packages:

* :class:`LatencyModel`: predicts latency (``predict``, ``predict_interval``) and is refitted
  with device measurements (``refit``). Implementations: :class:`search.analytic.AnalyticLatencyModel`
  (tests, benchmarks) and :class:`search.predictor_adapter.PredictorFileModel` (``--use-predictor``).
* :class:`LatencyMeasurer`: measures one architecture on a device (``measure``). Implementations:
  :class:`search.analytic.AnalyticDevice` and :class:`search.device_measurer.DeviceMeasurer`.

Both are checked by the conformance suite :mod:`mnas_pred.testing.latency_model`, which a
plug-in author runs on their own implementation. :class:`search.oracle.LatencyOracle` puts them
together for the search loop.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnas_pred.arch import Architecture

#: One token row per architecture where the caller has it (the strategy proposed tokens), else
#: ``None``: a model that works on tokens need not encode the architecture again.
TokenRows = Sequence["Sequence[int] | None"] | None


@dataclass(frozen=True)
class LatencyMeasurement:
    """One device measurement as the search sees it."""

    #: what the search compares and rewards: drift-corrected where the device times a reference
    #: network (:class:`search.device_measurer.DeviceMeasurer`) and the predictor learnt corrected values
    latency_ms: float
    #: spread over the timed runs (``p10_ms``, ``p90_ms``, ``cv``, ``runs``), where the device gives one
    spread: dict | None = None
    #: the measured median before the drift correction (None: not corrected, ``latency_ms`` is raw)
    raw_ms: float | None = None


class LatencyModel(abc.ABC):
    """Predicts latency (ms) of architectures at the deployment resolution."""

    @abc.abstractmethod
    def predict(self, archs: Sequence[Architecture], tokens: TokenRows = None) -> np.ndarray:
        """Predicted latency of each architecture (``tokens``: see :data:`TokenRows`)."""

    @abc.abstractmethod
    def refit(self, archs: list[Architecture], measured_ms: np.ndarray, out_dir: Path) -> LatencyModel:
        """A model refitted with these device measurements (the original stays untouched); may
        write files under ``out_dir`` that :meth:`get_state` refers to."""

    def predict_interval(self, archs: Sequence[Architecture], coverage: float = 0.8,
                         tokens: TokenRows = None) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` bounds; a model without uncertainty returns its point prediction twice."""
        point = self.predict(archs, tokens)
        return point, point

    @property
    def drift_correction(self) -> bool:
        """Whether the model predicts drift-corrected latencies (the device then reports corrected
        ones to compare with); a model fitted on raw ones says False."""
        return True

    def check_device(self, device: LatencyMeasurer, allow_other: bool = False, log=None) -> None:  # noqa: B027
        """Refuse (raise :class:`~mnas_pred.errors.MnasPredError`) a device this model does not
        describe; optional hook, called once before the search starts."""

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:  # noqa: B027 - optional hook
        """Restore a refitted model from :meth:`get_state` (resume)."""


class LatencyMeasurer(abc.ABC):
    """Measures architectures on a device."""

    #: what the device reports about itself (``DeviceInfo``), or ``None`` for a stand-in
    info = None

    @abc.abstractmethod
    def measure(self, arch: Architecture, store: bool = True) -> LatencyMeasurement:
        """Measure one architecture. ``store=False`` keeps the measurement out of the
        measurement store (reference networks: a refit must not learn from them)."""

    @abc.abstractmethod
    def key(self) -> str:
        """Identity of the device (measurements of other devices are not reused)."""

    def end_round(self) -> dict[str, LatencyMeasurement]:
        """Close a round of measurements (a re-validation): the architectures measured since the
        previous call, by their strings, with better values where the device has them once the
        round is over (a device that corrects the machine's drift times its reference again and
        interpolates); ``{}``: keep the values :meth:`measure` gave."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""
