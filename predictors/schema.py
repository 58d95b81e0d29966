"""The schema of a predictor file's payload (see :mod:`predictors.io`), checked before any
predictor is built from it (pydantic: see :mod:`mnas_pred.validation` for why).

Everything a predictor computes with is bounded here: calibration coefficients finite and
within ±1e6 (a calibration of 1e308 made every prediction ``inf``), ensemble members with the
analytic base's coefficient count matching its design, LUT tables of consistent lengths, and
every embedded LightGBM model checked structurally (:mod:`predictors.lgbm_text`) against the
feature schema it must use. Metadata is typed too (a ``device`` that is a number, an empty
``search_space``), and the search space must pass :meth:`SearchSpace.from_dict`'s own checks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from mnas_pred.features import OP_CODES
from mnas_pred.validation import Finite, Strict
from predictors.lgbm import BASES, PREDICTOR_FEATURE_COLUMNS, SHARE_FEATURE_COLUMNS
from predictors.lgbm_text import MAX_MODEL_CHARS, ModelTextError, check_model_text

#: Calibration coefficients and per-layer constants: real ones are ~1 (scale) and ~ms; ±1e6
#: keeps sums of thousands of layers far from overflow.
Coefficient = Annotated[Finite, Field(ge=-1e6, le=1e6)]
Text = Annotated[str, StringConstraints(max_length=4096)]
Name = Annotated[str, StringConstraints(max_length=256)]
Count = Annotated[int, Field(ge=0, le=10**9)]
Fraction = Annotated[Finite, Field(gt=0, le=1)]
Scalar = Annotated[str, StringConstraints(max_length=4096)] | Finite | int | bool | None
HexDigest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,64}$")]
#: Most networks a predictor file lists by hash (``training_data.arch_sha256``).
MAX_ARCH_HASHES = 100_000


class Calibration(Strict):
    sum: Coefficient
    n_layers: Coefficient
    intercept: Coefficient


class _State(Strict):
    calibration: Calibration
    model_log_residual_std: Annotated[Finite, Field(ge=0, le=100)]
    n_train_layers: Count
    n_train_models: Count


# ---------------------------------------------------------------------------------------- lgbm
class AdditiveBaseState(Strict):
    coef: Annotated[list[Coefficient], Field(max_length=64)]
    op_codes: Annotated[list[Annotated[int, Field(ge=0, le=len(OP_CODES))]], Field(max_length=len(OP_CODES) + 1)]
    kind: Literal["dense_dw", "parts"] = "dense_dw"

    @model_validator(mode="after")
    def _coefficient_count(self):
        # design columns: the MAC terms (2 or 7), "other" ops' memory+fixed terms, 2 per own op
        expected = (2 if self.kind == "dense_dw" else 7) + 2 + 2 * len(self.op_codes)
        if len(self.coef) != expected or len(set(self.op_codes)) != len(self.op_codes):
            raise ValueError(f"a '{self.kind}' base with {len(self.op_codes)} distinct op codes needs {expected} coefficients")
        return self


class MemberState(Strict):
    booster: Annotated[str, StringConstraints(max_length=MAX_MODEL_CHARS)] | None = None
    prior: MemberState | None = None
    affine: Annotated[list[Coefficient], Field(min_length=2, max_length=2)] = [0.0, 1.0]
    base: AdditiveBaseState | None = None
    prior_correction_only: bool = False
    share_features: bool = False

    @model_validator(mode="after")
    def _consistent(self):
        if self.booster is None and self.prior is None and self.base is None:
            raise ValueError("an ensemble member needs a booster, a prior or a base")
        if self.share_features and (self.base is None or self.base.kind != "parts"):
            raise ValueError("share features need a 'parts' base")
        return self


def _feature_columns(v: list[str]) -> list[str]:
    if list(v) != list(PREDICTOR_FEATURE_COLUMNS):
        raise ValueError("the predictor was trained on a different feature schema")
    return v


class LgbmLayers(Strict):
    feature_columns: list[Name]
    members: Annotated[list[MemberState], Field(min_length=1, max_length=64)]
    _columns = field_validator("feature_columns")(_feature_columns)


class LgbmParams(Strict):
    n_members: Annotated[int, Field(ge=1, le=64)] = 6
    n_estimators: Annotated[int, Field(ge=1, le=100_000)] = 400
    learning_rate: Annotated[Finite, Field(gt=0, le=10)] = 0.05
    num_leaves: Annotated[int, Field(ge=2, le=131_072)] = 15
    min_data_in_leaf: Count = 2
    lambda_l2: Annotated[Finite, Field(ge=0)] = 1.0
    subsample: Fraction = 0.8
    feature_fraction: Fraction = 1.0
    base: Literal[BASES] = "additive+parts"  # type: ignore[valid-type]
    linear_tree: bool = False
    adapt: Literal["rebase", "affine"] = "rebase"
    adapt_rounds: Count = 30
    adapt_prior: Annotated[Finite, Field(ge=0)] = 5.0
    network_denoise: Annotated[Finite, Field(ge=0, le=1)] = 0.5
    seed: int = 0


class LgbmState(_State):
    kind: Literal["lgbm"]
    params: LgbmParams
    layer_model: LgbmLayers


# ---------------------------------------------------------------------------------- baselines
class RfLayers(Strict):
    feature_columns: list[Name]
    booster: Annotated[str, StringConstraints(max_length=MAX_MODEL_CHARS)]
    _columns = field_validator("feature_columns")(_feature_columns)


class RfParams(Strict):
    n_estimators: Annotated[int, Field(ge=1, le=100_000)] = 300
    num_leaves: Annotated[int, Field(ge=2, le=131_072)] = 64
    min_data_in_leaf: Count = 1
    row_fraction: Fraction = 0.632
    feature_fraction: Fraction = 0.6
    seed: int = 0


class RfState(_State):
    kind: Literal["rf"]
    params: RfParams
    layer_model: RfLayers


class NoParams(Strict):
    pass


class FlopsLayers(Strict):
    ms_per_mac: Coefficient
    intercept_ms: Coefficient


class FlopsState(_State):
    kind: Literal["flops"]
    params: NoParams
    layer_model: FlopsLayers


class LutLayers(Strict):
    keys: Annotated[list[Text], Field(min_length=1, max_length=1_000_000)]
    latency_ms: list[Annotated[Finite, Field(ge=0, le=1e7)]]
    ops: list[Name]
    distance_features: list[Annotated[list[Finite], Field(min_length=9, max_length=9)]]

    @model_validator(mode="after")
    def _lengths(self):
        n = len(self.keys)
        if not len(self.latency_ms) == len(self.ops) == len(self.distance_features) == n:
            raise ValueError(f"keys, latency_ms, ops and distance_features must have one entry per configuration ({n})")
        return self


class LutState(_State):
    kind: Literal["lut"]
    params: NoParams
    layer_model: LutLayers


PredictorState = Annotated[LgbmState | RfState | FlopsState | LutState, Field(discriminator="kind")]


# ----------------------------------------------------------------------------------- metadata
class Device(Strict, extra="allow"):
    """``name`` (and ``key``/``model`` for store data) plus scalar facts (runtime, threads)."""

    __pydantic_extra__: dict[str, Scalar]
    name: Name | None = None
    key: Name | None = None
    model: Name | None = None


class SpaceBlock(Strict):
    stride: Annotated[int, Field(ge=1, le=2)]
    op: Annotated[list[Name], Field(min_length=1, max_length=64)]
    kernel: Annotated[list[int], Field(min_length=1, max_length=64)]
    se_ratio: Annotated[list[Finite], Field(min_length=1, max_length=64)]
    skip: Annotated[list[Name], Field(min_length=1, max_length=3)]
    filters: Annotated[list[Annotated[int, Field(ge=8)]], Field(min_length=1, max_length=64)]
    layers: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=64)]


class SpaceDescription(Strict):
    """:meth:`SearchSpace.to_dict` (resolved choices; the ranges are checked by from_dict)."""

    resolution: int
    num_classes: int
    stem_filters: int
    head_filters: int
    blocks: Annotated[list[SpaceBlock], Field(min_length=1, max_length=64)]


class TrainingSummary(Strict, extra="allow"):
    """:meth:`TrainingData.summary`; other keys may be added by newer writers (bounded by depth)."""

    sources: Annotated[list[Text], Field(max_length=10_000)] = []
    devices: Annotated[list[Name], Field(max_length=10_000)] = []
    n_layers: Count = 0
    n_layer_configs: Count = 0
    n_models: Count = 0
    n_distinct_models: Count = 0
    ops: Annotated[list[Name], Field(max_length=1000)] = []
    resolutions: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=10_000)] = []
    model_latency_ms: dict[str, Annotated[Finite, Field(ge=0)]] = {}
    #: sha256 of each training network's string (optional).
    arch_sha256: Annotated[list[HexDigest], Field(max_length=MAX_ARCH_HASHES)] | None = None


class InitFrom(Strict):
    path: Text
    device: Device


class Payload(Strict):
    kind: Name
    predictors: Annotated[dict[Name, PredictorState], Field(min_length=1, max_length=16)]
    feature_schema: dict[Name, Annotated[list[Name], Field(max_length=256)]]
    versions: Annotated[dict[Name, Name], Field(max_length=64)]
    created_at: Name
    device: Device
    search_space: SpaceDescription
    training_data: TrainingSummary
    metrics: dict[Name, Any] = {}
    init_from: InitFrom | None = None
    #: whether the labels were drift-corrected (None: unknown, a file written before the key)
    drift_correction: bool | None = None

    @model_validator(mode="after")
    def _main_present(self):
        if self.kind not in self.predictors:
            raise ValueError(f"the main predictor '{self.kind[:40]}' is not among {', '.join(self.predictors)}")
        for name, state in self.predictors.items():
            if name != state.kind:
                raise ValueError(f"predictors.{name[:40]} holds a '{state.kind}' predictor")
        return self


def check_model_texts(payload: Payload) -> None:
    """Every embedded LightGBM model, checked structurally against the features it must use
    (a separate pass, not a pydantic validator: pydantic may run a nested model's validators
    more than once, and this is the expensive check)."""
    def members(m: MemberState, where: str):
        while m is not None:
            yield m, where
            m, where = m.prior, f"{where}.prior"

    texts = []
    for name, state in payload.predictors.items():
        if isinstance(state, RfState):
            texts.append((f"predictors.{name}.layer_model.booster", state.layer_model.booster, PREDICTOR_FEATURE_COLUMNS))
        elif isinstance(state, LgbmState):
            for i, top in enumerate(state.layer_model.members):
                for m, where in members(top, f"predictors.{name}.layer_model.members.{i}"):
                    names = (*PREDICTOR_FEATURE_COLUMNS, *SHARE_FEATURE_COLUMNS) if m.share_features else PREDICTOR_FEATURE_COLUMNS
                    if m.booster is not None:
                        texts.append((f"{where}.booster", m.booster, names))
    for where, text, names in texts:
        try:
            check_model_text(text, names)
        except ModelTextError as e:
            raise ValueError(f"{where}: LightGBM model {e}") from None
