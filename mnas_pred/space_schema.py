"""The schema of a search-space file (see :mod:`mnas_pred.space` for the format), checked before
:meth:`SearchSpace.from_dict` builds anything (pydantic: see :mod:`mnas_pred.validation`).

Its numeric limits are the architecture-string parser's (:data:`mnas_pred.arch.KERNEL_RANGE`
and friends), so a space can only produce architectures whose strings parse back: ``kernels =
[1001]`` or ``filters = 1e8`` would otherwise make ``sample`` print strings that ``arch-info``
refuses. Resolved values (filters × multiplier, layers + offset) are checked against the same
limits by ``from_dict``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from mnas_pred.arch import CHANNELS_RANGE, KERNEL_RANGE, REPEATS_RANGE, SE_TOKEN_RE, STRIDE_RANGE, _format_ratio
from mnas_pred.limits import BOUNDS
from mnas_pred.validation import Finite, Strict

#: The input resolutions and class counts a space may declare are the ones a user may type
#: (:data:`mnas_pred.limits.BOUNDS`, where the reasons are).
RESOLUTION_RANGE = (int(BOUNDS["resolution"].low), int(BOUNDS["resolution"].high))
NUM_CLASSES_RANGE = (int(BOUNDS["num_classes"].low), int(BOUNDS["num_classes"].high))
#: A space has at most this many blocks, and a choice list at most this many entries (the
#: lookup table of a predictor grows with the product of the choice counts).
MAX_BLOCKS = 64
MAX_CHOICES = 16


def _odd(k: int) -> int:
    if k % 2 == 0:
        raise ValueError(f"kernels must be odd ({k} is even)")
    return k


def _se_token(r: float) -> float:
    text = _format_ratio(r)
    if not SE_TOKEN_RE.fullmatch(f"se{text}") or float(text) != r:
        raise ValueError(f"se ratio {r!r} cannot be written as an se token (se0, se0.25: at most 6 significant digits)")
    return r


Kernel = Annotated[int, Field(ge=KERNEL_RANGE[0], le=KERNEL_RANGE[1]), AfterValidator(_odd)]
SeRatio = Annotated[Finite, Field(ge=0, lt=1), AfterValidator(_se_token)]
Channels = Annotated[int, Field(ge=CHANNELS_RANGE[0], le=CHANNELS_RANGE[1])]


def _choices(item):
    return Annotated[list[item], Field(min_length=1, max_length=MAX_CHOICES)]


class ChoiceLists(Strict):
    ops: _choices(Annotated[str, StringConstraints(max_length=32)]) | None = None
    kernels: _choices(Kernel) | None = None
    se_ratios: _choices(SeRatio) | None = None
    skips: _choices(Literal["none", "identity", "pool"]) | None = None
    filter_multipliers: _choices(Annotated[Finite, Field(gt=0, le=CHANNELS_RANGE[1])]) | None = None
    layer_offsets: _choices(Annotated[int, Field(ge=-REPEATS_RANGE[1], le=REPEATS_RANGE[1])]) | None = None


class BlockFile(ChoiceLists):
    filters: Channels
    layers: Annotated[int, Field(ge=REPEATS_RANGE[0], le=REPEATS_RANGE[1])]
    stride: Annotated[int, Field(ge=STRIDE_RANGE[0], le=STRIDE_RANGE[1])] = 1


class SpaceFile(Strict):
    resolution: Annotated[int, Field(ge=RESOLUTION_RANGE[0], le=RESOLUTION_RANGE[1])] = 224
    num_classes: Annotated[int, Field(ge=NUM_CLASSES_RANGE[0], le=NUM_CLASSES_RANGE[1])] = 1000
    stem_filters: Channels | None = None
    head_filters: Channels | None = None
    choices: ChoiceLists | None = None
    #: When given, at least one block (an empty list is an error, not the default space).
    blocks: Annotated[list[BlockFile], Field(min_length=1, max_length=MAX_BLOCKS)] | None = None
