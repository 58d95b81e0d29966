"""The real device behind :class:`search.latency.LatencyMeasurer`: the profiler's protocol on the
device the search was given (``--serial``, ``--ssh``, or this machine), every measurement added
to the measurement store (``--db``) exactly as ``profile-device`` adds it, so that refits and
later predictor fits can use it. ``device_profiler`` and the store are imported only here.

The search's measurements are a drift campaign of their own (:class:`device_profiler.drift.DriftCheck`):
the reference network is timed before the first measurement, again once ``drift_every``
measurements were taken since (without a predictor), before and after each re-validation round
(:meth:`DeviceMeasurer.end_round`), and once more when the device is closed if a measurement
followed the last one; every reference run goes to the
store's ``reference_runs`` and every stored measurement carries ``run_metadata.drift`` as
profile-device's do. The latency the search compares and rewards is the measured median divided
by the drift factor: the reference level over the baseline B, B being the median of every
reference run of this device, runtime, resolution and settings in the store and of this search's
own (without a store, or with none there, B is the median of this search's own, so the factor
follows the drift within the search). While a measurement is taken the level is the newest one,
held (:func:`mnas_pred.drift_correction.latest_factor`); once its re-validation round is closed
it is interpolated between the reference runs before and after the round. A predictor that learnt
raw latencies is compared with raw ones. The raw median is kept beside it (``raw_ms``)."""

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
                 num_classes: int = 1000, settings: MeasureSettings | None = None, *, drift_every: int = 10,
                 drift_correction: bool = True):
        from device_profiler import open_device
        from device_profiler.drift import DEFAULT_REFERENCE, DriftCheck
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
        self.drift_correction = drift_correction
        self.drift = DriftCheck(self.device, self.files, DEFAULT_REFERENCE, drift_every, self.settings, self.info,
                                on_reference=self._store_reference) if drift_every > 0 else None
        self.measured = 0
        self._round: list[tuple[str, float, float, dict]] = []  # (arch, raw ms, factor used, spread) since end_round
        self._earlier: list[float] | None = None  # the store's reference runs from before this search

    @property
    def store(self):
        if self._store is None and self.db is not None:
            from mnas_pred.store import MeasurementStore

            self._store = MeasurementStore(self.db)
        return self._store

    def key(self):
        return self.info.key

    def _store_reference(self, run: dict) -> None:
        if self.store is not None:
            self.store.add_reference_run(self.info, self.resolution, self.num_classes, self.settings, run)

    def _earlier_references(self) -> list[float]:
        """The reference runs in the store of this device, runtime, accelerator, resolution and
        settings, other campaigns' (read once: the baseline they give changes only with this search's own)."""
        if self._earlier is None:
            self._earlier = []
            if self.store is not None:
                from mnas_pred.store import runtime_identity
                from mnas_pred.store_references import settings_json

                runtime, _version, accelerator = runtime_identity(self.info)
                refs = self.store.reference_runs_frame(self.info.key)
                same = ((refs["campaign"] != self.drift.campaign) & (refs["runtime"] == runtime)
                        & (refs["accelerator"] == accelerator) & (refs["resolution"] == self.resolution)
                        & (refs["settings"] == settings_json(self.settings)))
                self._earlier = refs.loc[same, "reference_ms"].astype(float).tolist()
        return self._earlier

    def drift_factor(self) -> float:
        """The drift factor of a measurement taken now (after the newest reference run)."""
        import statistics

        from mnas_pred.drift_correction import latest_factor

        own, earlier = self.drift.reference_ms, self._earlier_references()
        return latest_factor(own, statistics.median(earlier + own) if earlier else None)

    def measure(self, arch, store=True):
        from device_profiler.protocol import measure_arch

        try:
            if self.drift is not None:
                self.drift.before_model(self.measured)
            m = measure_arch(self.device, arch, self.resolution, self.settings, num_classes=self.num_classes,
                             device_info=self.info, files=self.files)
        except DeviceError as e:
            raise MnasPredError(f"measuring on {self.info.key} failed: {e.problem}", e.fix) from None
        self.measured += 1
        raw = latency = float(m.latency_ms)
        spread = {"p10_ms": float(m.latency_p10_ms), "p90_ms": float(m.latency_p90_ms), "cv": float(m.cv),
                  "runs": len(m.samples_ms)}
        if self.drift is not None:
            if store:  # a network kept out of the store is no measurement of the campaign's either
                self.drift.after_model(m)
            if self.drift_correction:
                factor = self.drift_factor()
                latency = raw / factor
                if store:
                    self._round.append((arch.to_string(), raw, factor, spread))
        if store and self.store is not None:  # one stored before (same device, model, settings) is kept
            self.store.insert(self.info, arch.to_string(), self.resolution, self.settings, m)
        return LatencyMeasurement(latency, spread, raw_ms=raw)

    def end_round(self):
        """The reference is timed again after the round, and the round's measurements are
        corrected by the level interpolated between the reference before the round and this one,
        as a later refit corrects the same rows (:mod:`mnas_pred.drift_correction`): the level
        held from before the round alone was off by up to 8% on a 2-core VM (`make demo`: the
        first reference of a search ran fast, the candidates after it did not). The next round
        re-times the reference first: the search trains in between."""
        done, self._round = self._round, []
        if self.drift is None:
            return {}
        try:
            self.drift.finish(self.measured)
        except DeviceError:  # the measurements are stored; they keep the held level
            return {}
        finally:
            self.drift.expire()
        if not done:
            return {}
        from mnas_pred.drift_correction import interpolated

        after, n = self.drift_factor(), len(done)
        return {arch: LatencyMeasurement(raw / interpolated(factor, after, j, n), spread, raw_ms=raw)
                for j, (arch, raw, factor, spread) in enumerate(done)}

    def close(self):
        try:
            if self.drift is not None:
                try:
                    self.drift.finish(self.measured)  # the last round then lies between two reference runs
                except DeviceError:
                    pass  # the measurements are stored; only their last segment's correction is held
                self.drift.close()
        finally:
            self.files.close()
            self.device.close()
            if self._store is not None:
                self._store.close()
