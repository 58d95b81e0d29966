"""The MnasNet factorized hierarchical search space (design.md §2).

A :class:`SearchSpace` holds, per block, the base filters/layers/stride and six choice lists.
It samples architectures uniformly, checks whether an architecture lies inside it, and converts
between architectures and the controller's token view: six decision indices per block, 42 for
the default seven blocks.

A space is configured from a TOML or JSON file; every key is optional and the paper's space is
the default::

    resolution = 224
    num_classes = 1000
    [choices]                       # defaults for every block
    ops = ["conv", "sepconv", "mbconv3", "mbconv6"]
    kernels = [3, 5]
    se_ratios = [0, 0.25]
    skips = ["none", "identity", "pool"]
    filter_multipliers = [0.75, 1.0, 1.25]
    layer_offsets = [-1, 0, 1]
    [[blocks]]                      # one table per block, in order; may override any choice list
    filters = 16
    layers = 1
    stride = 1
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnas_pred.arch import (
    CHANNELS_RANGE,
    HEAD_FILTERS,
    REPEATS_RANGE,
    STEM_FILTERS,
    Architecture,
    BlockConfig,
    layer_applies_identity,
    parse_arch,
    parse_op,
)
from mnas_pred.errors import ArchitectureError, MnasPredError, SearchSpaceError

#: MobileNetV2's base filters, layers and strides, block by block.
MOBILENETV2_BLOCKS = ((16, 1, 1), (24, 2, 2), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 3, 2), (320, 1, 1))

#: Larger space files are refused unread (the paper's space takes under 1 KiB).
MAX_SPACE_FILE_BYTES = 1 << 20
DEFAULT_CHOICES = {
    "ops": ("conv", "sepconv", "mbconv3", "mbconv6"),
    "kernels": (3, 5),
    "se_ratios": (0.0, 0.25),
    "skips": ("none", "identity", "pool"),
    "filter_multipliers": (0.75, 1.0, 1.25),
    "layer_offsets": (-1, 0, 1),
}
#: The six decisions of a block, in token order.
DECISIONS = ("op", "kernel", "se_ratio", "skip", "filters", "layers")


def _check_resolved(c: dict, base_filters: int, base_layers: int, i: int, bad) -> None:
    """Resolved widths and depths within the architecture-string parser's limits."""
    widest = max(round_filters(base_filters * float(m)) for m in c["filter_multipliers"])
    deepest = max(max(1, base_layers + int(o)) for o in c["layer_offsets"])
    if widest > CHANNELS_RANGE[1] or deepest > REPEATS_RANGE[1]:
        raise bad(f"block {i}: filters x multipliers reach {widest} (at most {CHANNELS_RANGE[1]}) and layers + offsets "
                  f"reach {deepest} (at most {REPEATS_RANGE[1]}): architecture strings cannot express more")


def round_filters(value: float, divisor: int = 8) -> int:
    """Nearest multiple of ``divisor`` (halves round up), at least ``divisor``."""
    return max(divisor, int(math.floor(value / divisor + 0.5)) * divisor)


@dataclass(frozen=True)
class BlockSpace:
    """The choices of one block. ``filters`` and ``layers`` are the resolved values (base ×
    multiplier rounded, base + offset clamped to ≥ 1); they may repeat (block 1's 16 × 0.75 rounds
    to 16), which keeps every block at the same number of choices, as in the paper."""

    base_filters: int
    base_layers: int
    stride: int
    ops: tuple[str, ...]
    kernels: tuple[int, ...]
    se_ratios: tuple[float, ...]
    skips: tuple[str, ...]
    filters: tuple[int, ...]
    layers: tuple[int, ...]

    def choices(self, decision: str) -> tuple:
        return {
            "op": self.ops, "kernel": self.kernels, "se_ratio": self.se_ratios,
            "skip": self.skips, "filters": self.filters, "layers": self.layers,
        }[decision]

    @property
    def num_choices(self) -> int:
        return math.prod(len(self.choices(d)) for d in DECISIONS)


@dataclass(frozen=True)
class SearchSpace:
    blocks: tuple[BlockSpace, ...]
    resolution: int = 224
    num_classes: int = 1000
    stem_filters: int = STEM_FILTERS
    head_filters: int = HEAD_FILTERS
    source: str = field(default="default", compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def default(cls) -> SearchSpace:
        return cls.from_dict({})

    @classmethod
    def from_dict(cls, cfg: dict, source: str = "default") -> SearchSpace:
        def bad(msg):
            return SearchSpaceError(f"search space {source}: {msg}", "see `mnas-pred space --help` for the format")

        if not isinstance(cfg, dict):
            kind = {list: "list", str: "string", bool: "boolean"}.get(type(cfg), "number")
            raise bad(f"the file must hold a table of settings, not a {kind}")
        known = {"resolution", "num_classes", "stem_filters", "head_filters", "choices", "blocks"}
        unknown = set(cfg) - known
        if unknown:
            raise bad(f"unknown key(s) {', '.join(sorted(str(k)[:40] for k in unknown))}")
        from mnas_pred.space_schema import SpaceFile  # pydantic: loaded when a space file is read, not by --help
        from mnas_pred.validation import validate

        try:
            validate(SpaceFile, cfg, "", "")
        except MnasPredError as e:  # "blocks.0.kernels.1: ..." -> "block 1: kernels.1: ..."
            raise bad(re.sub(r"^: blocks\.(\d+)\.", lambda m: f"block {int(m.group(1)) + 1}: ", e.problem).removeprefix(": ")) from None
        # The schema has checked types, ranges, odd kernels, strides, skips, SE ratios and that no
        # list is empty; what is left is what needs the parser or the resolved values.
        defaults = {**DEFAULT_CHOICES, **cfg.get("choices", {})}
        block_cfgs = cfg.get("blocks") or [
            {"filters": f, "layers": n, "stride": s} for f, n, s in MOBILENETV2_BLOCKS
        ]
        blocks = []
        for i, b in enumerate(block_cfgs, start=1):
            c = {**defaults, **{k: v for k, v in b.items() if k in DEFAULT_CHOICES}}
            base_f, base_n, stride = int(b["filters"]), int(b["layers"]), int(b.get("stride", 1))
            for op in c["ops"]:
                try:
                    parse_op(op)
                except ArchitectureError as e:
                    raise bad(f"block {i}: {e.problem}") from None
            _check_resolved(c, base_f, base_n, i, bad)
            blocks.append(
                BlockSpace(
                    base_filters=base_f, base_layers=base_n, stride=stride,
                    ops=tuple(c["ops"]), kernels=tuple(int(k) for k in c["kernels"]),
                    se_ratios=tuple(float(r) for r in c["se_ratios"]), skips=tuple(c["skips"]),
                    filters=tuple(round_filters(base_f * float(m)) for m in c["filter_multipliers"]),
                    layers=tuple(max(1, base_n + int(o)) for o in c["layer_offsets"]),
                )
            )
        return cls(
            blocks=tuple(blocks),
            resolution=int(cfg.get("resolution", 224)),
            num_classes=int(cfg.get("num_classes", 1000)),
            stem_filters=int(cfg.get("stem_filters", STEM_FILTERS)),
            head_filters=int(cfg.get("head_filters", HEAD_FILTERS)),
            source=source,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> SearchSpace:
        path = Path(path)
        if not path.is_file():
            raise SearchSpaceError(f"search space file '{path}' does not exist", "give a .toml or .json file")
        if path.stat().st_size > MAX_SPACE_FILE_BYTES:
            raise SearchSpaceError(f"search space file '{path}' is larger than {MAX_SPACE_FILE_BYTES >> 10} KiB", "give a .toml or .json file")
        try:
            text = path.read_text()
            cfg = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SearchSpaceError(f"cannot parse search space file '{path}': {str(e).splitlines()[0]}", "fix its syntax") from None
        except RecursionError:
            raise SearchSpaceError(f"search space file '{path}' is nested too deeply", "see `mnas-pred space --help` for the format") from None
        from mnas_pred.validation import check_depth

        check_depth(cfg, f"search space file '{path}'", "see `mnas-pred space --help` for the format", max_depth=8)
        return cls.from_dict(cfg, source=str(path))

    @classmethod
    def load(cls, path: str | Path | None) -> SearchSpace:
        return cls.default() if path is None else cls.from_file(path)

    def to_dict(self) -> dict:
        """A plain description (stored with predictors so they can refuse another space)."""
        return {
            "resolution": self.resolution, "num_classes": self.num_classes,
            "stem_filters": self.stem_filters, "head_filters": self.head_filters,
            "blocks": [
                {"stride": b.stride, **{d: list(b.choices(d)) for d in DECISIONS}} for b in self.blocks
            ],
        }

    # ------------------------------------------------------------------ size and tokens
    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def num_decisions(self) -> int:
        return len(DECISIONS) * self.num_blocks

    @property
    def size(self) -> int:
        """Number of token sequences (432**7 ≈ 2.8e18 for the paper's space)."""
        return math.prod(b.num_choices for b in self.blocks)

    def vocab_sizes(self) -> list[int]:
        """Number of choices at each of the ``num_decisions`` token positions."""
        return [len(b.choices(d)) for b in self.blocks for d in DECISIONS]

    def decode(self, tokens) -> Architecture:
        """Token indices → architecture. An identity skip on a block where no layer can use it
        (one layer that changes width or stride) is the same network as no skip, so it decodes
        to ``none``: every token sequence is a valid architecture."""
        tokens = [int(t) for t in tokens]
        if len(tokens) != self.num_decisions:
            raise ArchitectureError(f"expected {self.num_decisions} tokens, got {len(tokens)}")
        blocks, cin = [], self.stem_filters
        for i, b in enumerate(self.blocks):
            t = tokens[6 * i: 6 * i + 6]
            vals = {}
            for d, idx in zip(DECISIONS, t):
                ch = b.choices(d)
                if not 0 <= idx < len(ch):
                    raise ArchitectureError(f"block {i + 1}: token {idx} out of range for {d} (0..{len(ch) - 1})")
                vals[d] = ch[idx]
            op, expansion = parse_op(vals["op"])
            skip = vals["skip"]
            if skip == "identity" and vals["layers"] == 1 and not layer_applies_identity(b.stride, cin, vals["filters"]):
                skip = "none"
            blocks.append(BlockConfig(op, vals["kernel"], vals["layers"], vals["filters"], b.stride, vals["se_ratio"], skip, expansion))
            cin = vals["filters"]
        return Architecture(tuple(blocks), self.stem_filters, self.head_filters)

    def encode(self, arch: Architecture | str) -> list[int]:
        """Architecture → token indices (the first matching index where choices repeat)."""
        arch = self.validate(arch)
        tokens = []
        for b, bs in zip(arch.blocks, self.blocks):
            vals = {"op": b.op_name, "kernel": b.kernel, "se_ratio": b.se_ratio, "skip": b.skip,
                    "filters": b.filters, "layers": b.layers}
            if b.skip == "none" and "none" not in bs.skips:
                vals["skip"] = "identity"  # the canonical form of an identity that cannot apply
            tokens.extend(list(bs.choices(d)).index(vals[d]) for d in DECISIONS)
        return tokens

    # ------------------------------------------------------------------ membership and sampling
    def validate(self, arch: Architecture | str) -> Architecture:
        """Return the architecture if it lies in this space, else raise naming the first token
        that does not."""
        arch = parse_arch(arch)
        if len(arch.blocks) != self.num_blocks:
            raise ArchitectureError(
                f"architecture has {len(arch.blocks)} blocks, this search space has {self.num_blocks}"
            )
        if (arch.stem_filters, arch.head_filters) != (self.stem_filters, self.head_filters):
            raise ArchitectureError("stem/head widths differ from this search space's")
        for i, (b, bs) in enumerate(zip(arch.blocks, self.blocks), start=1):
            checks = [
                (b.op_name, bs.ops, b.op_name), (b.kernel, bs.kernels, f"k{b.kernel}"),
                (b.layers, bs.layers, f"r{b.layers}"), (b.filters, bs.filters, f"c{b.filters}"),
                (b.stride, (bs.stride,), f"s{b.stride}"), (b.se_ratio, bs.se_ratios, f"se{b.se_ratio:g}"),
            ]
            for value, allowed, token in checks:
                if value not in allowed:
                    shown = ", ".join(str(a) for a in dict.fromkeys(allowed))
                    raise ArchitectureError(
                        f"block {i}: '{token}' is outside this search space", f"block {i} allows {shown}"
                    )
            if b.skip not in bs.skips and not (b.skip == "none" and "identity" in bs.skips):
                raise ArchitectureError(
                    f"block {i}: skip '{b.skip}' is outside this search space", f"block {i} allows {', '.join(bs.skips)}"
                )
        return arch

    def contains(self, arch: Architecture | str) -> bool:
        try:
            self.validate(arch)
        except ArchitectureError:
            return False
        return True

    def sample_tokens(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` uniform token sequences, shape ``(n, num_decisions)``, drawn one architecture at
        a time so that the first ``k`` are the same for every ``n >= k``: a profiling run with a
        larger ``--num-models`` and the same seed extends the earlier one instead of starting over."""
        from mnas_pred.limits import check

        check(sample=n, seed=seed)
        rng = np.random.default_rng(seed)
        vocab = self.vocab_sizes()
        rows = [[int(rng.integers(0, v)) for v in vocab] for _ in range(n)]
        return np.array(rows, dtype=np.int64).reshape(n, len(vocab))

    def sample(self, n: int = 1, seed: int | None = None) -> list[Architecture]:
        """``n`` architectures drawn uniformly over the token view (seeded, reproducible, and
        prefix-stable: see :meth:`sample_tokens`)."""
        return [self.decode(t) for t in self.sample_tokens(n, seed)]
