"""Architecture strings: the readable, round-tripping name of one network.

A network is a stem, searched blocks and a head (design.md §2). Only the blocks vary, so an
architecture string lists the blocks, joined by ``-``; each block is seven ``_``-joined tokens
in a fixed order, one per decision plus the block's stride::

    mbconv6_k3_r2_c24_s2_se0_skipid
    │       │  │  │   │  │   └ skip op: skipnone | skipid | skippool
    │       │  │  │   │  └ squeeze-excitation ratio: se0 | se0.25 (any ratio in [0, 1))
    │       │  │  │   └ stride of the block's first layer: s1 | s2
    │       │  │  └ output channels (filters)
    │       │  └ repeats: number of layers in the block
    │       └ kernel size of the spatial convolution
    └ conv op: conv | sepconv | mbconv<E> (inverted bottleneck with expansion E)

The token names follow the MnasNet/timm block notation (``k`` kernel, ``r`` repeats, ``c``
channels, ``s`` stride, ``se`` ratio). Parsing is strict so that ``format(parse(s)) == s``.
Whether an architecture lies inside a particular search space is checked by
:meth:`mnas_pred.space.SearchSpace.validate`, not here: named references such as MnasNet-A1 use
widths (112) that the default space cannot produce but the format can express.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from mnas_pred.errors import ArchitectureError

#: Stem and head widths shared by MobileNetV2, MnasNet and the default search space.
STEM_FILTERS = 32
HEAD_FILTERS = 1280

#: The parser's limits (inclusive ranges), in one place: search-space files are checked against
#: the same numbers (mnas_pred.space), so every architecture a space can sample parses back.
KERNEL_RANGE = (1, 11)  # odd sizes only
REPEATS_RANGE = (1, 32)
CHANNELS_RANGE = (1, 8192)
STRIDE_RANGE = (1, 2)
#: A squeeze-excitation token: ``se0`` or ``se0.25`` (a ratio in [0, 1), written with ``{:g}``).
SE_TOKEN_RE = re.compile(r"se(0|0?\.[0-9]+)")

SKIP_TOKENS = {"none": "skipnone", "identity": "skipid", "pool": "skippool"}
_SKIP_FROM_TOKEN = {v: k for k, v in SKIP_TOKENS.items()}
_OP_RE = re.compile(r"^(conv|sepconv|mbconv([1-9][0-9]?))$")
_TOKEN_ORDER = ("op", "k", "r", "c", "s", "se", "skip")
_FORMAT_HELP = (
    "write each block as OP_kK_rR_cC_sS_seX_SKIP, e.g. mbconv6_k3_r2_c24_s2_se0_skipid "
    "(OP: conv|sepconv|mbconv3|mbconv6, SKIP: skipnone|skipid|skippool)"
)


@dataclass(frozen=True)
class BlockConfig:
    """The six searched decisions of one block, plus the block's stride."""

    op: str  # "conv", "sepconv" or "mbconv"
    kernel: int
    layers: int
    filters: int
    stride: int
    se_ratio: float
    skip: str  # "none", "identity" or "pool"
    expansion: int = 1  # only meaningful for mbconv

    @property
    def op_name(self) -> str:
        """The op as written in strings and search-space files (``mbconv6``, ``sepconv``)."""
        return f"mbconv{self.expansion}" if self.op == "mbconv" else self.op

    def to_string(self) -> str:
        se = _format_ratio(self.se_ratio)
        return (
            f"{self.op_name}_k{self.kernel}_r{self.layers}_c{self.filters}_s{self.stride}"
            f"_se{se}_{SKIP_TOKENS[self.skip]}"
        )


def parse_op(name: str) -> tuple[str, int]:
    """``"mbconv6"`` → ``("mbconv", 6)``; ``"sepconv"`` → ``("sepconv", 1)``."""
    m = _OP_RE.match(name)
    if not m:
        raise ArchitectureError(
            f"unknown conv op '{name}'", "use conv, sepconv or mbconvE with an integer expansion E"
        )
    if m.group(2):
        return "mbconv", int(m.group(2))
    return m.group(1), 1


def _format_ratio(r: float) -> str:
    return "0" if r == 0 else f"{r:g}"


def layer_applies_identity(stride: int, cin: int, cout: int) -> bool:
    """A plain residual needs the input and output tensors to have the same shape."""
    return stride == 1 and cin == cout


@dataclass(frozen=True)
class Architecture:
    """A network of the factorized hierarchical space: stem → blocks → head."""

    blocks: tuple[BlockConfig, ...]
    stem_filters: int = STEM_FILTERS
    head_filters: int = HEAD_FILTERS

    def __post_init__(self):
        if not self.blocks:
            raise ArchitectureError("an architecture needs at least one block", _FORMAT_HELP)
        cin = self.stem_filters
        for i, b in enumerate(self.blocks, start=1):
            if b.skip == "identity" and not any(
                layer_applies_identity(b.stride if j == 0 else 1, cin if j == 0 else b.filters, b.filters)
                for j in range(b.layers)
            ):
                raise ArchitectureError(
                    f"block {i} ({b.to_string()}): skipid cannot apply, its only layer "
                    f"{'has stride ' + str(b.stride) if b.stride != 1 else f'changes width {cin}->{b.filters}'}",
                    "use skipnone or skippool for this block",
                )
            cin = b.filters

    def __str__(self) -> str:
        return self.to_string()

    def to_string(self) -> str:
        return "-".join(b.to_string() for b in self.blocks)

    @classmethod
    def parse(cls, text: str) -> Architecture:
        """Parse an architecture string or a named reference (see :data:`REFERENCES`)."""
        text = text.strip()
        key = text.lower()
        if key in REFERENCES:
            return cls.parse(REFERENCES[key])
        if not text:
            raise ArchitectureError("empty architecture string", _FORMAT_HELP)
        near = _near_reference(key)
        if near is not None:
            raise ArchitectureError(f"unknown architecture '{text}'", f"did you mean the named reference '{near}'? (named references: {', '.join(REFERENCES)})")
        if "_" not in text:
            raise ArchitectureError(
                f"unknown architecture '{text}'",
                f"use a named reference ({', '.join(REFERENCES)}) or {_FORMAT_HELP}",
            )
        blocks = tuple(_parse_block(seg, i) for i, seg in enumerate(text.split("-"), start=1))
        return cls(blocks)

    @property
    def num_layers(self) -> int:
        return sum(b.layers for b in self.blocks)


def _near_reference(key: str) -> str | None:
    """The named reference that ``key`` (lower case) was probably meant to be (``mnasnet_a1``,
    ``MobileNet-V2``), or None for anything shaped like blocks."""
    if len(key.split("-")[0].split("_")) == len(_TOKEN_ORDER):
        return None
    close = difflib.get_close_matches(key.replace("_", "-"), REFERENCES, n=1, cutoff=0.75)
    return close[0] if close else None


def _parse_block(seg: str, index: int) -> BlockConfig:
    where = f"block {index} ('{seg}')"
    tokens = seg.split("_")
    if len(tokens) != len(_TOKEN_ORDER):
        raise ArchitectureError(
            f"{where} has {len(tokens)} tokens, expected {len(_TOKEN_ORDER)}", _FORMAT_HELP
        )
    op_tok, k_tok, r_tok, c_tok, s_tok, se_tok, skip_tok = tokens
    try:
        op, expansion = parse_op(op_tok)
    except ArchitectureError as e:
        raise ArchitectureError(f"{where}: {e.problem}", e.fix) from None

    def integer(tok: str, prefix: str, what: str, lo: int, hi: int) -> int:
        m = re.fullmatch(prefix + r"([0-9]+)", tok)
        if not m or not lo <= int(m.group(1)) <= hi:
            raise ArchitectureError(
                f"{where}: bad {what} token '{tok}'", f"write {prefix}N with {lo} <= N <= {hi}"
            )
        return int(m.group(1))

    kernel = integer(k_tok, "k", "kernel", *KERNEL_RANGE)
    if kernel % 2 == 0:
        raise ArchitectureError(f"{where}: kernel '{k_tok}' is even", "use an odd kernel size (k3, k5, k7)")
    layers = integer(r_tok, "r", "repeats", *REPEATS_RANGE)
    filters = integer(c_tok, "c", "channels", *CHANNELS_RANGE)
    stride = integer(s_tok, "s", "stride", *STRIDE_RANGE)
    m = SE_TOKEN_RE.fullmatch(se_tok)
    if not m:
        raise ArchitectureError(f"{where}: bad squeeze-excitation token '{se_tok}'", "write se0 or se0.25")
    se_ratio = float(m.group(1))
    if se_tok != f"se{_format_ratio(se_ratio)}":
        raise ArchitectureError(
            f"{where}: squeeze-excitation token '{se_tok}' is not canonical",
            f"write se{_format_ratio(se_ratio)}",
        )
    if skip_tok not in _SKIP_FROM_TOKEN:
        raise ArchitectureError(
            f"{where}: bad skip token '{skip_tok}'", "use skipnone, skipid or skippool"
        )
    return BlockConfig(
        op=op,
        kernel=kernel,
        layers=layers,
        filters=filters,
        stride=stride,
        se_ratio=se_ratio,
        skip=_SKIP_FROM_TOKEN[skip_tok],
        expansion=expansion,
    )


#: Named reference networks (design.md §2), written in the architecture-string format.
REFERENCES: dict[str, str] = {
    # MobileNetV2 (Sandler et al. 2018); the t=1 first block is a depthwise-separable layer.
    "mobilenetv2": "-".join(
        [
            "sepconv_k3_r1_c16_s1_se0_skipnone",
            "mbconv6_k3_r2_c24_s2_se0_skipid",
            "mbconv6_k3_r3_c32_s2_se0_skipid",
            "mbconv6_k3_r4_c64_s2_se0_skipid",
            "mbconv6_k3_r3_c96_s1_se0_skipid",
            "mbconv6_k3_r3_c160_s2_se0_skipid",
            "mbconv6_k3_r1_c320_s1_se0_skipnone",
        ]
    ),
    # MnasNet-A1 (Tan et al. 2019, Table 1 / Figure 7).
    "mnasnet-a1": "-".join(
        [
            "sepconv_k3_r1_c16_s1_se0_skipnone",
            "mbconv6_k3_r2_c24_s2_se0_skipid",
            "mbconv3_k5_r3_c40_s2_se0.25_skipid",
            "mbconv6_k3_r4_c80_s2_se0_skipid",
            "mbconv6_k3_r2_c112_s1_se0.25_skipid",
            "mbconv6_k5_r3_c160_s2_se0.25_skipid",
            "mbconv6_k3_r1_c320_s1_se0_skipnone",
        ]
    ),
    # MnasNet-B1: the variant without squeeze-excitation (torchvision's mnasnet1_0).
    "mnasnet-b1": "-".join(
        [
            "sepconv_k3_r1_c16_s1_se0_skipnone",
            "mbconv3_k3_r3_c24_s2_se0_skipid",
            "mbconv3_k5_r3_c40_s2_se0_skipid",
            "mbconv6_k5_r3_c80_s2_se0_skipid",
            "mbconv6_k3_r2_c96_s1_se0_skipid",
            "mbconv6_k5_r4_c192_s2_se0_skipid",
            "mbconv6_k3_r1_c320_s1_se0_skipnone",
        ]
    ),
}


def parse_arch(text: str | Architecture) -> Architecture:
    """Accept an :class:`Architecture`, an architecture string or a reference name."""
    return text if isinstance(text, Architecture) else Architecture.parse(text)
