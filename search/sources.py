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


def latency_measurer(config: SearchConfig, space: SearchSpace, resolution: int,
                     needed: bool) -> LatencyMeasurer | None:
    """The device, where the search measures (``needed``: no predictor, or re-validation on)."""
    if config.device == ANALYTIC:
        return AnalyticDevice(resolution)
    if not needed:
        return None
    from mnas_pred.records import MeasureSettings
    from search.device_measurer import DeviceMeasurer

    return DeviceMeasurer(config.device, db=config.db, resolution=resolution, num_classes=space.num_classes,
                          settings=MeasureSettings(**config.measure))


def latency_sources(config: SearchConfig, space: SearchSpace, resolution: int,
                    log: Callable[[str], None]) -> tuple[LatencyModel | None, LatencyMeasurer | None]:
    """(predictor, device): either may be None, not both; a predictor of another device is
    refused here (``--allow-other-device`` turns that into a note)."""
    model = latency_model(config, space, resolution)
    device = latency_measurer(config, space, resolution, needed=model is None or config.revalidate_top > 0)
    if model is not None and device is not None:
        try:
            model.check_device(device, allow_other=config.allow_other_device, log=log)
        except MnasPredError:
            device.close()
            raise
    return model, device
