"""LightGBM models as compact text for predictor files.

``Booster.model_to_string()`` writes, beside what prediction reads (tree structure, thresholds,
leaf values), per-node training statistics (split gains, node weights and counts, internal
values) at 17 significant digits, then feature importances and the training parameters: about
half of a predictor file. A loaded booster only predicts (adaptation trains new boosters on top
of its predictions), so the statistics are written as zeros and the trailer is left out; the
layout stays the one :mod:`predictors.lgbm_text` checks (every array present with its length,
``tree_sizes`` equal to the real size of each tree). What prediction reads is kept digit for
digit: a loaded model predicts bit-identically.
"""

from __future__ import annotations

import re

import lightgbm as lgb

_STATISTICS = re.compile(r"(?m)^(split_gain|leaf_weight|leaf_count|internal_value|internal_weight|internal_count)="
                         r"([^\n]*)$")
_TREE_START = re.compile(r"(?m)^(?=Tree=)")
_END_OF_TREES = "\nend of trees\n"


def _zeros(m: re.Match) -> str:
    values = m.group(2).split()
    return f"{m.group(1)}={' '.join('0' * len(values))}"


def compact_model_string(booster: lgb.Booster) -> str:
    text = booster.model_to_string()
    first, end = text.index("\nTree=") + 1, text.index(_END_OF_TREES) + 1
    trees = [_STATISTICS.sub(_zeros, block) for block in _TREE_START.split(text[first:end]) if block]
    sizes = " ".join(str(len(block.encode())) for block in trees)  # LightGBM seeks by these byte counts
    header = re.sub(r"(?m)^tree_sizes=[^\n]*$", f"tree_sizes={sizes}", text[:first])
    return header + "".join(trees) + _END_OF_TREES[1:]
