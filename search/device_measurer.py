"""The real device behind :class:`search.latency.LatencyMeasurer`: the profiler's protocol on the
device the search was given (``--serial``, ``--ssh``, or this machine), every measurement added
to the measurement store (``--db``) exactly as ``profile-device`` adds it, so that refits and
later predictor fits can use it. ``device_profiler`` and the store are imported only here."""

from __future__ import annotations

import os
from pathlib import Path

from mnas_pred.errors import DeviceError, MnasPredError
from mnas_pred.records import DeviceSpec, MeasureSettings
from search.latency import LatencyMeasurement, LatencyMeasurer


def _user_error(e: DeviceError, spec: DeviceSpec) -> MnasPredError:
    from device_profiler.adb import TOOLS_FIX

    fix = e.fix
    if fix == TOOLS_FIX:  # search has no --perf-test: the tools are pushed once by profile-device
        fix = (f"push them once with `mnas-pred profile-device --serial {spec.address} --perf-test PATH "
               "--ort-lib PATH -n 1` (search reuses the tools on the phone)")
    return MnasPredError(e.problem, fix)


class DeviceMeasurer(LatencyMeasurer):
    def __init__(self, spec: DeviceSpec, db: str | os.PathLike | None = None, resolution: int = 224,
                 num_classes: int = 1000, settings: MeasureSettings | None = None):
        from device_profiler import open_device
        from device_profiler.formats import model_files_class

        try:
            self.device = open_device(spec)
        except DeviceError as e:
            raise _user_error(e, spec) from None
        try:
            self.info = self.device.info()
            # one provider of model files for the whole search (a LiteRT device's conversions are cached)
            self.files = model_files_class(self.device.model_format)(resolution, num_classes, None)
        except BaseException as e:
            self.device.close()
            if isinstance(e, DeviceError):
                raise _user_error(e, spec) from None
            raise
        self.settings = settings or MeasureSettings()
        self.resolution, self.num_classes = resolution, num_classes
        self.db = Path(db) if db else None
        self._store = None

    @property
    def store(self):
        if self._store is None and self.db is not None:
            from mnas_pred.store import MeasurementStore

            self._store = MeasurementStore(self.db)
        return self._store

    def key(self):
        return self.info.key

    def measure(self, arch, store=True):
        from device_profiler.protocol import measure_arch

        try:
            m = measure_arch(self.device, arch, self.resolution, self.settings, num_classes=self.num_classes,
                             device_info=self.info, files=self.files)
        except DeviceError as e:
            raise MnasPredError(f"measuring on {self.info.key} failed: {e.problem}", e.fix) from None
        if store and self.store is not None:  # one stored before (same device, model, settings) is kept
            self.store.insert(self.info, arch.to_string(), self.resolution, self.settings, m)
        spread = {"p10_ms": float(m.latency_p10_ms), "p90_ms": float(m.latency_p90_ms), "cv": float(m.cv),
                  "runs": len(m.samples_ms)}
        return LatencyMeasurement(float(m.latency_ms), spread)

    def close(self):
        self.files.close()
        self.device.close()
        if self._store is not None:
            self._store.close()
