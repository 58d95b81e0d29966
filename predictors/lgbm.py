"""``lgbm``: per-layer LightGBM on log latency, an ensemble for uncertainty, and adaptation.

The layer model starts from analytic guesses (:class:`AdditiveBase`: non-negative sums of MAC
terms and per-op memory/fixed costs, fitted by NNLS) and ``n_members`` boosters, trained on row
subsamples with different seeds, learn the log ratio of measured to guessed latency from
:func:`mnas_pred.features.layer_features` plus the parts' MACs (:data:`EXTRA_FEATURE_COLUMNS`).
With ``base="additive+parts"`` (the default) the members alternate between two guesses: dense +
depthwise MACs (``dense_dw``), and the MACs of a bottleneck's parts at their own speeds plus
weight traffic (``parts``, whose members also see each part's share of the guess). On
HW-NAS-Bench's 225 configurations per device the first base raised the cross-validated ±10%
share from about 50% to about 70%; alternating both (mean of 5-fold CV over 5 fold seeds)
raised it from 80.8/67.1/77.5% to 82.8/71.4/80.0% on pixel3/raspi4/jetson_tx2, MAPE
9.3/17.7/7.4% to 7.5/13.3/7.4% (bench/predictor_accuracy.py; the design was chosen on pixel3
folds, raspi4 and jetson_tx2 were the check). Log targets make the loss relative (layers span
four orders of magnitude, and the metrics are relative errors). The parameters suit small
tables (a few hundred configurations): small leaves (``min_data_in_leaf``), fine bins
(``min_data_in_bin=1``) and L2 regularisation.

At model level (a store of 200 networks measured with ``--repeats 3`` on a 2-core AMD EPYC VM,
224x224, one thread; 5-fold CV inside the 100 training networks of bench/predictor_accuracy.py's
split) the linear calibration on the layer sum (:mod:`predictors.calibration`) reached 96% within
±10%, MAPE 3.5-3.7% (three fold seeds), and nothing tried beat it beyond the folds' spread:
per-op calibration scales or op-type counts (3.5-3.7%), a ridge on log aggregates (MACs,
parameters, depth, op shares; 4.1%), layer targets rescaled to each network's end-to-end time
(3.4-3.7%), a latency-weighted layer loss (3.6%), the neighbouring layers' op as a feature (3.7-
3.8%), the network's total MACs and parameters as layer features (4.7%), other tree sizes,
ensemble sizes and regularisation (3.5-3.7%).
The layers' own labels, summed and calibrated, give MAPE 1.2% (``ceiling`` in the bench), but
that ceiling cannot see what a network's layers and its end-to-end time share: the same 200
architectures measured in two sessions differ end to end by 4.7% (median, after a global scale),
the predictor's residuals in the two sessions correlate only 0.25, and in measurement order they
correlate lag-1 0.38 (the machine's state over a few networks; taking out the neighbours'
residuals would move MAPE 3.4% → 3.0%). An identical layer configuration measured in different
networks varies by about 10% (the stem by 21%); training on 160 networks instead of 100 moved
MAPE only from 3.5% to 3.4%. Context-aware designs, same CV (MAPE, mean of three fold seeds;
today 3.58%, ±10% 95.7%, Spearman 0.992):

* a second-stage booster on log(label / out-of-fold layer prediction) with network context (log
  of the network's predicted sum, the layer's share, total/peak activation bytes, depth): all
  features 4.00%, op + context 3.77%, + activation bytes 4.06%, without size context 3.64%;
* a per-op ridge of that ratio on the log predicted network sum (and total activation bytes):
  3.65% (3.72%);
* a ridge on the calibrated out-of-fold network log residuals (log sum, op shares of the sum,
  layer count, total/peak activation bytes; alpha 10/30/100): 3.65-3.70%;
* mixed effects: per-network factor of the layer labels from out-of-fold predictions, modelled by
  a ridge on network features: 3.43-3.56% (the ridge hurts); without the ridge, dividing the
  factor out (shrunk) is ``network_denoise`` (3.39%; two rounds 3.41%).

Adaptation to a new device (``fit(data, init_from=other)``), per member: the other device's
prediction ``p(x)`` (log ms) is mapped by an affine correction ``a + b·p(x)`` fitted on the new
samples (``b`` shrunk toward 1 with ``adapt_prior`` pseudo-samples, so 10 samples cannot tilt it
wildly), then ``adapt_rounds`` small boosting rounds learn what remains, starting from that
corrected prediction (LightGBM ``init_score``). A member is therefore a chain
``a + b·prior(x) + booster(x)``, stored recursively as JSON with LightGBM's text format.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.optimize import nnls

from mnas_pred.errors import MnasPredError
from mnas_pred.features import FEATURE_COLUMNS, OP_CODES, layer_features, normalize_layer_table
from predictors._base import TINY_MS, LatencyPredictor
from predictors.lgbm_compact import compact_model_string
from predictors.network_effects import denoised_layers

#: Extra per-layer features of the predictor (on top of mnas_pred.features.FEATURE_COLUMNS):
#: the MACs of a layer's parts. Dense (1x1/kxk convolutions, linear) and depthwise MACs run at
#: very different speeds, so their total alone hides what a layer costs; and a ``skip`` that
#: changes the tensor's shape is a 1x1 projection, not a no-op.
EXTRA_FEATURE_COLUMNS = ("log_dense_macs", "log_depthwise_macs", "log_elements", "shape_change")
PREDICTOR_FEATURE_COLUMNS = (*FEATURE_COLUMNS, *EXTRA_FEATURE_COLUMNS)


def feature_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Layer features plus :data:`EXTRA_FEATURE_COLUMNS`, vectorized over the table."""
    f = layer_features(table)
    op = normalize_layer_table(table)["op"].to_numpy(dtype=object)
    k, e = f["kernel"].to_numpy(np.float64), f["mid"].to_numpy(np.float64)
    cin, cout = f["cin"].to_numpy(np.float64), f["cout"].to_numpy(np.float64)
    g = np.maximum(f["groups"].to_numpy(np.float64), 1)
    in_px = f["in_h"].to_numpy(np.float64) * f["in_w"].to_numpy(np.float64)
    out_px = f["out_h"].to_numpy(np.float64) * f["out_w"].to_numpy(np.float64)
    shape_change = (cin != cout) | (f["stride"].to_numpy() != 1)
    dense = np.select(
        [np.isin(op, ("conv", "stem")), op == "sepconv", op == "mbconv", op == "head", op == "linear", op == "skip"],
        [k * k * cin * cout * out_px, cin * cout * out_px, (cin * e * in_px + e * cout * out_px) / g,
         cin * cout * in_px, cin * cout, np.where(shape_change, cin * cout * out_px, 0.0)],
        0.0,
    )
    depthwise = np.where(np.isin(op, ("sepconv", "mbconv")), k * k * e * out_px, 0.0)
    elements = (f["in_bytes"] + f["out_bytes"] + f["mid_bytes"]).to_numpy(np.float64) / 4
    return f.assign(
        log_dense_macs=np.log1p(dense), log_depthwise_macs=np.log1p(depthwise),
        log_elements=np.log1p(elements), shape_change=shape_change.astype(np.float64),
    )


def feature_matrix(table: pd.DataFrame) -> np.ndarray:
    return feature_frame(table)[list(PREDICTOR_FEATURE_COLUMNS)].to_numpy(np.float64)


_COL = {name: i for i, name in enumerate(PREDICTOR_FEATURE_COLUMNS)}
#: ``base`` settings of :class:`LGBMPredictor`: which analytic guesses its members correct.
BASES = ("additive+parts", "additive", "parts", "none")
#: Fewer training rows than this: the ``parts`` base is replaced by ``dense_dw``.
MIN_ROWS_FOR_PARTS = 100


class AdditiveBase:
    """An analytic first guess that the boosters correct: a layer's latency as a non-negative
    sum of MAC terms and per-op memory traffic and fixed cost (fitted by NNLS with relative
    weights). It interpolates and extrapolates smoothly in size, where trees on 200 rows are step
    functions; the boosters then learn log(measured / base). Ops with fewer than
    ``MIN_ROWS_PER_OP`` training rows share one memory/fixed-cost term instead of getting their
    own (two rows cannot fit a per-op intercept).

    Two designs (``kind``):

    * ``"dense_dw"``: two MAC terms, dense and depthwise;
    * ``"parts"``: the MACs of a layer's parts, each at its own speed: the 1x1 expand and project
      convolutions of a bottleneck (plain and grouped), other dense MACs (kxk convolutions,
      linear, projection skips), depthwise MACs at stride 1 and at stride > 1, plus a weight-
      traffic term (parameters: a linear layer or a wide 1x1 convolution reads more weights than
      activations). Its parts' shares of the guess are extra booster inputs
      (:meth:`share_features`), telling the trees which regime a layer is in.
    """

    MIN_ROWS_PER_OP = 10
    KINDS = ("dense_dw", "parts")
    #: Number of leading design columns of ``"parts"`` whose shares feed the boosters.
    N_PARTS = 6

    def __init__(self, coef=None, op_codes=(), kind: str = "dense_dw"):
        self.coef = None if coef is None else np.asarray(coef, np.float64)
        self.op_codes = [int(c) for c in op_codes]
        if kind not in self.KINDS:
            raise ValueError(f"unknown additive base '{kind}'")
        self.kind = kind

    def _macs(self, x: np.ndarray) -> list[np.ndarray]:
        dense = np.expm1(x[:, _COL["log_dense_macs"]])
        depthwise = np.expm1(x[:, _COL["log_depthwise_macs"]])
        if self.kind == "dense_dw":
            return [dense, depthwise]
        op = x[:, _COL["op_code"]]
        mb, sep = op == OP_CODES["mbconv"], op == OP_CODES["sepconv"]
        g = np.maximum(x[:, _COL["groups"]], 1)
        mid, cin, cout = x[:, _COL["mid"]], x[:, _COL["cin"]], x[:, _COL["cout"]]
        in_px = x[:, _COL["in_h"]] * x[:, _COL["in_w"]]
        out_px = x[:, _COL["out_h"]] * x[:, _COL["out_w"]]
        expand = np.where(mb, cin * mid * in_px / g, 0.0)
        project = np.where(mb, mid * cout * out_px / g, np.where(sep, mid * cout * out_px, 0.0))
        grouped = g > 1
        strided = x[:, _COL["stride"]] > 1
        return [np.maximum(dense - expand - project, 0.0), expand * ~grouped, project * ~grouped, (expand + project) * grouped,
                depthwise * ~strided, depthwise * strided, x[:, _COL["params"]]]

    def _design(self, x: np.ndarray) -> np.ndarray:
        elements = np.expm1(x[:, _COL["log_elements"]])
        op = x[:, _COL["op_code"]]
        other = ~np.isin(op, self.op_codes)
        cols = self._macs(x) + [elements * other, other.astype(np.float64)]
        for c in self.op_codes:
            cols += [elements * (op == c), (op == c).astype(np.float64)]
        return np.column_stack(cols)

    def fit(self, x: np.ndarray, latency_ms: np.ndarray) -> AdditiveBase:
        codes, counts = np.unique(x[:, _COL["op_code"]].astype(np.int64), return_counts=True)
        self.op_codes = [int(c) for c, n in zip(codes, counts) if n >= self.MIN_ROWS_PER_OP]
        design = self._design(x)
        scale = design.max(axis=0)
        scale[scale <= 0] = 1.0  # column scaling: MACs (1e8) and indicators (1) in one solve
        w = 1.0 / latency_ms
        coef, _ = nnls((design / scale) * w[:, None], latency_ms * w)
        self.coef = coef / scale
        return self

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self._design(x) @ self.coef, TINY_MS))

    def share_features(self, x: np.ndarray) -> np.ndarray:
        """Each part's share of the guess (``"parts"`` only), shape ``(len(x), N_PARTS)``."""
        terms = self._design(x) * self.coef
        return terms[:, : self.N_PARTS] / np.maximum(terms.sum(axis=1, keepdims=True), 1e-12)

    def to_dict(self) -> dict:
        return {"coef": self.coef.tolist(), "op_codes": self.op_codes, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict) -> AdditiveBase:
        return cls(d["coef"], d["op_codes"], d.get("kind", "dense_dw"))


SHARE_FEATURE_COLUMNS = ("share_dense_other", "share_expand", "share_project", "share_grouped_pointwise",
                         "share_depthwise", "share_depthwise_strided")


class _Member:
    """One ensemble member: ``log ms = base(x) + a + b * prior(x) + booster(x)``, each part
    optional (a fresh member: base + booster; an adapted one: affine prior + booster). With
    ``share_features`` the booster also sees the base's part shares (:data:`SHARE_FEATURE_COLUMNS`)."""

    def __init__(self, booster: lgb.Booster | None, prior: _Member | None = None, affine=(0.0, 1.0),
                 base: AdditiveBase | None = None, prior_correction_only: bool = False, share_features: bool = False):
        self.booster, self.prior, self.affine, self.base = booster, prior, (float(affine[0]), float(affine[1])), base
        self.prior_correction_only = prior_correction_only
        self.share_features = share_features

    def booster_input(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([x, self.base.share_features(x)]) if self.share_features else x

    def prior_log(self, x: np.ndarray) -> np.ndarray:
        """The prior's log prediction, or only its correction to its own base."""
        p = self.prior.predict_log(x)
        if self.prior_correction_only and self.prior.base is not None:
            p = p - self.prior.base.predict_log(x)
        return p

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(len(x))
        if self.base is not None:
            out = out + self.base.predict_log(x)
        if self.prior is not None:
            out = out + self.affine[0] + self.affine[1] * self.prior_log(x)
        if self.booster is not None:
            out = out + self.booster.predict(self.booster_input(x), num_threads=1)
        return out

    def to_dict(self) -> dict:
        return {
            "booster": compact_model_string(self.booster) if self.booster is not None else None,
            "prior": self.prior.to_dict() if self.prior is not None else None,
            "affine": list(self.affine),
            "base": self.base.to_dict() if self.base is not None else None,
            "prior_correction_only": self.prior_correction_only,
            "share_features": self.share_features,
        }

    @classmethod
    def from_dict(cls, d: dict) -> _Member:
        booster = lgb.Booster(model_str=d["booster"]) if d.get("booster") else None
        prior = cls.from_dict(d["prior"]) if d.get("prior") else None
        base = AdditiveBase.from_dict(d["base"]) if d.get("base") else None
        if booster is None and prior is None and base is None:
            raise ValueError("an ensemble member needs a booster, a prior or a base")
        share = bool(d.get("share_features", False))
        if share and (base is None or base.kind != "parts"):
            raise ValueError("share features need a 'parts' base")
        return cls(booster, prior, d.get("affine", (0.0, 1.0)), base, bool(d.get("prior_correction_only", False)), share)


class LGBMPredictor(LatencyPredictor):
    """Per-layer LightGBM on log latency + linear end-to-end calibration (design.md §6)."""

    kind = "lgbm"
    calibration_inputs = ("sum", "n_layers")
    supports_init_from = True

    def __init__(self, n_members: int = 6, n_estimators: int = 400, learning_rate: float = 0.05,
                 num_leaves: int = 15, min_data_in_leaf: int = 2, lambda_l2: float = 1.0,
                 subsample: float = 0.8, feature_fraction: float = 1.0, base: str = "additive+parts", linear_tree: bool = False, adapt: str = "rebase",
                 adapt_rounds: int = 30, adapt_prior: float = 5.0, network_denoise: float = 0.5, seed: int = 0):
        self.n_members = n_members
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.lambda_l2 = lambda_l2
        self.subsample = subsample
        self.feature_fraction = feature_fraction
        self.base = base
        self.linear_tree = linear_tree
        self.adapt = adapt
        self.adapt_rounds = adapt_rounds
        self.adapt_prior = adapt_prior
        self.network_denoise = network_denoise
        self.seed = seed

    def fit(self, data, init_from: LatencyPredictor | None = None) -> LGBMPredictor:
        """As :meth:`LatencyPredictor.fit`; a fresh fit first divides part of each training
        network's shared deviation out of its layer labels (``network_denoise``, see
        :mod:`predictors.network_effects`; 0 turns it off)."""
        if init_from is None and self.network_denoise > 0:
            data = denoised_layers(self, data, self.network_denoise)
        return super().fit(data, init_from)

    @property
    def num_members(self) -> int:
        return len(self.members_)

    def _params(self, member: int, n_rows: int, num_leaves: int | None = None) -> dict:
        return {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": num_leaves or self.num_leaves,
            "min_data_in_leaf": max(1, min(self.min_data_in_leaf, n_rows // 2)),
            "min_sum_hessian_in_leaf": 0.0,
            "min_data_in_bin": 1,
            "lambda_l2": self.lambda_l2,
            "linear_tree": self.linear_tree,
            # Members differ by their row subsample; a single model uses every row.
            "bagging_fraction": self.subsample if self.n_members > 1 else 1.0,
            "bagging_freq": 1 if self.n_members > 1 and self.subsample < 1 else 0,
            "feature_fraction": self.feature_fraction if self.n_members > 1 else 1.0,
            "seed": self.seed + member,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def _dataset(self, x, y, init_score=None, names=PREDICTOR_FEATURE_COLUMNS) -> lgb.Dataset:
        return lgb.Dataset(x, label=y, init_score=init_score, feature_name=list(names),
                           params={"min_data_in_bin": 1, "verbose": -1}, free_raw_data=False)

    def _fit_layers(self, table, latency_ms, init_from) -> None:
        x = feature_matrix(table)
        y = np.log(np.maximum(latency_ms, TINY_MS))
        members = []
        if init_from is None:
            if self.base not in BASES:
                raise MnasPredError(f"unknown lgbm base '{self.base}'", f"use base={' or '.join(repr(b) for b in BASES)}")
            kinds = {"additive": ["dense_dw"], "parts": ["parts"], "additive+parts": ["dense_dw", "parts"], "none": [None]}[self.base]
            if len(y) < MIN_ROWS_FOR_PARTS and "parts" in kinds:
                # ~8 speed coefficients fitted on a few dozen rows extrapolate wildly (a weight-
                # traffic coefficient from small layers applied to a 2-million-weight linear).
                kinds = ["dense_dw"]
            bases = [AdditiveBase(kind=k).fit(x, np.exp(y)) if k else None for k in kinds]
            for m in range(self.n_members):
                # Members alternate between the bases: two analytic guesses with different
                # errors, each corrected by its boosters, average better than either alone.
                base = bases[m % len(bases)]
                member = _Member(None, base=base, share_features=base is not None and base.kind == "parts")
                init = base.predict_log(x) if base is not None else None
                names = (*PREDICTOR_FEATURE_COLUMNS, *SHARE_FEATURE_COLUMNS) if member.share_features else PREDICTOR_FEATURE_COLUMNS
                data = self._dataset(member.booster_input(x), y, init_score=init, names=names)
                member.booster = lgb.train(self._params(m, len(y)), data, num_boost_round=self.n_estimators)
                members.append(member)
        else:
            if self.adapt not in ("rebase", "affine"):
                raise MnasPredError(f"unknown lgbm adapt mode '{self.adapt}'", "use adapt='rebase' or 'affine'")
            # rebase: a new analytic base from the new device's samples (it has few
            # coefficients: per-MAC and per-byte speeds), keeping the other device's learned
            # corrections to its base; affine: the other device's whole prediction, corrected.
            base = AdditiveBase().fit(x, np.exp(y)) if self.adapt == "rebase" else None
            offset = base.predict_log(x) if base is not None else 0.0
            for m, prior in enumerate(init_from.members_):
                member = _Member(None, prior, base=base, prior_correction_only=base is not None)
                p = member.prior_log(x)
                a, b = self._affine(p, y - offset)
                member.affine = (a, b)
                if self.adapt_rounds > 0 and len(y) >= 4:
                    # Residual rounds: shallow trees, so a handful of samples cannot memorise.
                    params = self._params(m, len(y), num_leaves=4)
                    member.booster = lgb.train(params, self._dataset(x, y, init_score=offset + a + b * p), num_boost_round=self.adapt_rounds)
                members.append(member)
        self.members_ = members

    def _affine(self, p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Least squares ``y ≈ a + b p`` with ``b`` shrunk toward 1 (``adapt_prior`` pseudo-samples)."""
        pc, yc = p - p.mean(), y - y.mean()
        var = float(np.sum(pc * pc))
        k = self.adapt_prior * (var / len(p) if var > 0 else 1.0)
        b = (float(np.sum(pc * yc)) + k) / (var + k)
        return float(y.mean() - b * p.mean()), b

    def predict_layer_members(self, table: pd.DataFrame) -> np.ndarray:
        self._check_fitted_layers()
        x = feature_matrix(table)
        return np.exp(np.stack([m.predict_log(x) for m in self.members_]))

    def _check_fitted_layers(self) -> None:
        if not hasattr(self, "members_"):
            self._check_fitted()

    def _layer_state(self) -> dict:
        return {"feature_columns": list(PREDICTOR_FEATURE_COLUMNS), "members": [m.to_dict() for m in self.members_]}

    def _set_layer_state(self, state: dict) -> None:
        if list(state["feature_columns"]) != list(PREDICTOR_FEATURE_COLUMNS):
            raise ValueError("the predictor was trained on a different feature schema")
        self.members_ = [_Member.from_dict(d) for d in state["members"]]
