"""The one extension point of the profiler: a :class:`Device` that times models.

A device only knows how to run a model file and return raw timings: end-to-end samples and,
from a separate profiled run set, the runtime's per-node trace (or per-layer times). Everything
else (which models, statistics, mapping nodes to layers, outlier handling, storage) is the
protocol's job (``device_profiler.protocol``), shared by every device.

The records a device returns live in the core (:mod:`mnas_pred.records`); import them from there
(or from ``device_profiler``, which re-exports them for its callers).
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming


class Device(abc.ABC):
    """Runs model files on one target and returns raw timings.

    Required: :meth:`info` and :meth:`time_model`. Optional hooks, no-ops here, which the
    campaign loop calls on every device (override the ones a device needs): :meth:`prestart`,
    :meth:`close`. ``model_format`` says which model files :meth:`time_model` takes
    (``"onnx"``; a LiteRT device says ``"tflite"``). ``profiles_layers`` is False for a device
    that can time a model only end to end (LiteRT through its Python API, which has no per-op
    profiler): it returns no profiled run set and says why in ``RawTiming.metadata["per_layer"]``."""

    model_format: ClassVar[str] = "onnx"
    profiles_layers: bool = True

    @abc.abstractmethod
    def info(self) -> DeviceInfo:
        """Identity and current properties of the device."""

    @abc.abstractmethod
    def time_model(self, model_path: Path, settings: MeasureSettings) -> RawTiming:
        """Warm up, time ``settings.runs`` end-to-end runs, then a separate profiled run set
        of ``settings.profile_runs`` runs (none when 0).

        What a sample is: one end-to-end time per run where the runner can tell each run's
        time (``RawTiming.runs_per_sample`` 1: ONNX Runtime in process, here or on a board);
        where it prints only aggregates (``onnxruntime_perf_test`` on a phone), one sample per
        burst of ``runs_per_sample`` runs, its median, each burst a new process. The samples
        cover ``settings.runs`` runs: ``ceil(runs / runs_per_sample)`` of them. The protocol cuts
        per-run samples into bursts itself and takes a burst-median sample as one burst.
        A model file that does not exist is a :class:`DeviceError` (checked by
        :mod:`mnas_pred.testing.device`, the suite every device passes)."""

    def prestart(self) -> None:  # noqa: B027 - optional hook
        """Get ready for the first :meth:`time_model` call while the caller prepares the first
        model (the local device starts its worker process here). Called once before a campaign."""

    @staticmethod
    def checked_model_path(model_path: Path) -> Path:
        """``model_path`` as a Path; a file that does not exist is a :class:`DeviceError`."""
        path = Path(model_path)
        if not path.is_file():
            raise DeviceError(f"model file '{path}' does not exist", "export the model first")
        return path

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (worker processes, remote files). Safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["Device"]
