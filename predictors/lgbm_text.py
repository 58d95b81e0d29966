"""LightGBM models as compact text for predictor files.

``Booster.model_to_string()`` writes, beside what prediction reads (tree structure, thresholds,
leaf values), per-node training statistics (split gains, node weights and counts, internal
values), feature importances and the training parameters: about half of a predictor file. The
predictor only predicts with a loaded booster (adaptation trains new boosters on top of its
predictions), so the file keeps what prediction reads, digit for digit, and nothing else:
predictions of a loaded model are bit-identical, the file about half the size.
"""

from __future__ import annotations

import lightgbm as lgb

# Per-tree lines that prediction does not read (LightGBM fills them with zeros when absent), and
# the header's byte offsets of the trees (they would no longer match; without them LightGBM
# parses the trees one after another).
_UNUSED_LINES = ("split_gain=", "leaf_weight=", "leaf_count=", "internal_value=", "internal_weight=",
                 "internal_count=", "tree_sizes=")
_END_OF_TREES = "end of trees"


def compact_model_string(booster: lgb.Booster) -> str:
    text = booster.model_to_string()
    trees, end, _importances_and_parameters = text.partition(_END_OF_TREES)
    kept = [line for line in trees.split("\n") if not line.startswith(_UNUSED_LINES)]
    return "\n".join(kept) + end + "\n"
