"""Layer labels with part of each training network's shared deviation divided out (the ``lgbm``
predictor's ``network_denoise``).

Why: one layer configuration timed in different networks of one store differs by about 5%
(median), and much of that is shared by all the layers of a network: the machine's state while
that network was profiled (on a 2-core AMD EPYC VM, the model-level residuals of networks
measured one after the other correlate, lag-1 0.38) and the network's own footprint. A layer
model fitted to the raw labels learns that per-network part as if it belonged to the
configurations. So each network's layer labels are divided by its shared factor, shrunk toward
1::

    factor = exp(shrink · median over the network's layers of log(label / out-of-fold prediction))

where the out-of-fold predictions come from layer models fitted without that network (the
calibration's folds, :func:`predictors.calibration.network_folds`). The end-to-end calibration
is then fitted on the de-noised layer model's out-of-fold sums, so what the factors remove on
average is restored at model level. Only fitting changes (five more layer fits); a fitted
predictor's layer model, file format and prediction cost are the same as without it.

Measured (bench/predictor_accuracy.py's split, train 100 / test 100, seed 0; 5-fold CV inside
the 100 training networks, three fold seeds): on a store measured with ``--repeats 3``, MAPE
3.58% → 3.39% (CV; every fold seed gained 0.15-0.22 points), held out 3.55% → 3.54%, ±10% 94%
→ 94%, Spearman 0.990 → 0.990; on a noisier store of the same 200 architectures (one repeat),
CV 5.18% → 5.06%, held out 6.25% → 6.05%, ±10% 79% → 82%; on a third store (200 other
networks, measured while other jobs loaded the second core) CV 5.50% → 5.39%, ±10% 86.7% →
89.7%, held out 4.68% → 4.62%, ±10% 88% → 87%. So a small gain in cross-validation on every
store and fold seed, within the noise on the held-out networks. Shrink 0.5-0.7 was best in CV;
1.0 (the whole factor) and 0.3 gained less. Fitting takes about 1.8× as long (9.5 s instead of
5.3 s on 100 networks, one core); adapting another device's predictor (``init_from``) skips it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictors.calibration import TINY_MS, layer_model_clone, map_folds, network_folds
from predictors.data import TrainingData

#: The ``network_denoise`` of the clones that make the out-of-fold predictions (no recursion).
_OFF = 0.0


def denoised_layers(predictor, data: TrainingData, shrink: float) -> TrainingData:
    """``data`` with each network's layer labels divided by its shrunk shared factor (see the
    module docstring); ``data`` itself unchanged. Layers of external CSVs (no network) keep their
    labels; with too few networks to cross-fit, or ``shrink`` 0, nothing changes."""
    folds = network_folds(data) if shrink > 0 else None
    if folds is None:
        return data
    layers = data.layers
    y = layers["latency_ms"].to_numpy(np.float64)

    def fold_predictions(_rows, train):
        clone = layer_model_clone(predictor, network_denoise=_OFF)
        clone._fit_layers(layers[train].reset_index(drop=True), y[train], None)
        return clone.predict_layers(layers[~train].reset_index(drop=True))

    log_ratio = np.zeros(len(layers))
    for (_, train), predicted in zip(folds, map_folds(fold_predictions, folds)):
        log_ratio[~train] = np.log(np.maximum(y[~train], TINY_MS) / np.maximum(predicted, TINY_MS))
    keys = layers["model_key"].astype(str).to_numpy()
    in_network = ~np.all([train for _, train in folds], axis=0)  # layers some fold held out
    shared = pd.Series(log_ratio).groupby(keys).transform("median").to_numpy()
    factor = np.where(in_network, np.exp(shrink * shared), 1.0)
    return TrainingData(layers.assign(latency_ms=y / factor), data.models, data.sources, data.measurement_quality)
