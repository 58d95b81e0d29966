"""Latency predictors: LightGBM per-layer model with end-to-end calibration, and baselines.

Public API (what the search stage calls)::

    from predictors.io import load_predictor, save_predictor
    from predictors.data import load_training_data
    from predictors.workflow import fit_predictor

    pf = load_predictor("cpu.pred", space=space, device=device_model)  # refuses another space, warns on another device
    ms = pf.predictor.predict(["mbconv6_k3_...", ...], resolution=224)  # any architectures, per-layer path
    table = pf.lookup_table(resolution, space)                         # built once (~0.3 s), cached on pf
    ms = table.predict(tokens)                                         # (n, 42) token array -> (n,) ms
    low, high = table.predict_interval(tokens, coverage=0.8)
    data = load_training_data(db="store.db", device=device_model)      # after re-validation added rows
    pf, evaluation = fit_predictor(data, "lgbm", space, folds=0)       # refit (seconds)
    pf, _ = fit_predictor(few, "lgbm", space, folds=0, init_from=other_pf)  # adapt another device's
    save_predictor(pf, "cpu.pred")
"""

from predictors._base import LatencyPredictor
from predictors.baselines import FlopsPredictor, LookupTablePredictor, RandomForestPredictor
from predictors.lgbm import LGBMPredictor

#: Every predictor kind, the default first.
PREDICTORS: dict[str, type[LatencyPredictor]] = {
    "lgbm": LGBMPredictor,
    "rf": RandomForestPredictor,
    "flops": FlopsPredictor,
    "lut": LookupTablePredictor,
}


def make_predictor(kind: str, **params) -> LatencyPredictor:
    from mnas_pred.errors import MnasPredError

    if kind not in PREDICTORS:
        raise MnasPredError(f"unknown predictor kind '{kind}'", f"use one of {', '.join(PREDICTORS)}")
    return PREDICTORS[kind](**params)


__all__ = ["PREDICTORS", "LatencyPredictor", "LGBMPredictor", "FlopsPredictor", "LookupTablePredictor",
           "RandomForestPredictor", "make_predictor"]
