"""Where a search gets latency from: the predictor (``--use-predictor``) and the device
(``--serial``/``--ssh``/this machine, or the analytic stand-ins), built from the settings and
checked against each other before the results folder is touched."""

from __future__ import annotations

from collections.abc import Callable

from mnas_pred.errors import MnasPredError
from mnas_pred.space import SearchSpace
from search.analytic import AnalyticDevice, AnalyticLatencyModel
from search.config import ANALYTIC, SearchConfig
from search.latency import LatencyMeasurer, LatencyModel


def latency_model(config: SearchConfig, space: SearchSpace, resolution: int) -> LatencyModel | None:
    if config.predictor == ANALYTIC:
        return AnalyticLatencyModel(resolution)
    if config.predictor is None:
        return None
    from search.predictor_adapter import PredictorFileModel

    return PredictorFileModel(config.predictor, space, resolution, db=config.db)


# Measurements between two reference runs of the device's drift check: with a predictor, the
# candidates of one re-validation round (the reference is re-timed before each round); without
# one, every candidate is measured and a reference run every 10 costs ~10% more device time.
NO_PREDICTOR_DRIFT_EVERY = 10


def latency_measurer(config: SearchConfig, space: SearchSpace, resolution: int,
                     needed: bool, model: LatencyModel | None = None) -> LatencyMeasurer | None:
    """The device, where the search measures (``needed``: no predictor, or re-validation on),
    reporting latencies of the kind ``model`` learnt (drift-corrected unless it says raw)."""
    if config.device == ANALYTIC:
        return AnalyticDevice(resolution)
    if not needed:
        return None
    from mnas_pred.records import MeasureSettings
    from search.device_measurer import DeviceMeasurer

    return DeviceMeasurer(config.device, db=config.db, resolution=resolution, num_classes=space.num_classes,
                          settings=MeasureSettings(**config.measure),
                          drift_every=max(1, config.revalidate_top) if model is not None else NO_PREDICTOR_DRIFT_EVERY,
                          drift_correction=model.drift_correction if model is not None else True)


def latency_sources(config: SearchConfig, space: SearchSpace, resolution: int,
                    log: Callable[[str], None]) -> tuple[LatencyModel | None, LatencyMeasurer | None]:
    """(predictor, device): either may be None, not both; a predictor of another device is
    refused here (``--allow-other-device`` turns that into a note)."""
    model = latency_model(config, space, resolution)
    device = latency_measurer(config, space, resolution, needed=model is None or config.revalidate_top > 0, model=model)
    if model is not None and device is not None:
        try:
            model.check_device(device, allow_other=config.allow_other_device, log=log)
        except MnasPredError:
            device.close()
            raise
    return model, device
