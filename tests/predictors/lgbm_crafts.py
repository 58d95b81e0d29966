"""Crafted LightGBM model texts: one edit each to a real model text, the edits that make
LightGBM's own loader or predictor abort, crash or read out of bounds (issue 12)."""

from __future__ import annotations

import re


def _edit_tree_field(text: str, field: str, edit, tree: int = 0) -> str:
    """Apply ``edit(list_of_tokens) -> list_of_tokens`` to ``field=`` of tree ``tree``."""
    start = text.index(f"Tree={tree}\n")
    m = re.compile(rf"^{field}=(.*)$", re.M).search(text, start)
    tokens = edit(m.group(1).split(" "))
    return with_tree_sizes(text[: m.start(1)] + " ".join(tokens) + text[m.end(1):])


def with_tree_sizes(text: str) -> str:
    """Recompute ``tree_sizes`` as an attacker would, so that LightGBM finds each edited tree."""
    starts = [m.start() for m in re.finditer(r"^Tree=\d+$", text, re.M)]
    end = text.find("end of trees")
    if not starts or end < 0:
        return text
    sizes = [b - a for a, b in zip(starts, [*starts[1:], end])]
    return re.sub(r"^tree_sizes=.*$", "tree_sizes=" + " ".join(map(str, sizes)), text, count=1, flags=re.M)


def _edit_header(text: str, field: str, value: str) -> str:
    return re.sub(rf"^{field}=.*$", f"{field}={value}", text, count=1, flags=re.M)


def _set(i, v):
    def edit(tokens):
        tokens = list(tokens)
        tokens[i] = v
        return tokens
    return edit


CRAFTS = {
    "split_feature_out_of_range": lambda t: _edit_tree_field(t, "split_feature", _set(0, "999")),
    "split_feature_negative": lambda t: _edit_tree_field(t, "split_feature", _set(0, "-5")),
    "num_leaves_plus_one": lambda t: _edit_tree_field(t, "num_leaves", lambda v: [str(int(v[0]) + 1)]),
    "num_leaves_huge": lambda t: _edit_tree_field(t, "num_leaves", lambda v: ["100000"]),
    "num_leaves_zero": lambda t: _edit_tree_field(t, "num_leaves", lambda v: ["0"]),
    "left_child_out_of_range": lambda t: _edit_tree_field(t, "left_child", _set(0, "77")),
    "right_child_leaf_out_of_range": lambda t: _edit_tree_field(t, "right_child", _set(0, "-99")),
    "child_cycle": lambda t: _edit_tree_field(t, "left_child", _set(1, "0")),
    "leaf_value_short": lambda t: _edit_tree_field(t, "leaf_value", lambda v: v[:-3]),
    "threshold_short": lambda t: _edit_tree_field(t, "threshold", lambda v: v[:-1]),
    "threshold_text": lambda t: _edit_tree_field(t, "threshold", _set(0, "abc")),
    "leaf_value_nan": lambda t: _edit_tree_field(t, "leaf_value", _set(0, "nan")),
    "categorical_decision": lambda t: _edit_tree_field(t, "decision_type", _set(0, "1")),
    "num_cat_without_tables": lambda t: _edit_tree_field(t, "num_cat", lambda v: ["3"]),
    "is_linear_without_coefficients": lambda t: _edit_tree_field(t, "is_linear", lambda v: ["1"]),
    "max_feature_idx_small": lambda t: _edit_header(t, "max_feature_idx", "2"),
    "max_feature_idx_huge": lambda t: _edit_header(t, "max_feature_idx", "2000000000"),
    "num_class_zero": lambda t: _edit_header(t, "num_tree_per_iteration", "0"),
    "tree_sizes_wrong": lambda t: _edit_header(t, "tree_sizes", "5 " + " ".join(re.search(r"^tree_sizes=(.*)$", t, re.M).group(1).split()[1:])),
    "no_end_of_trees": lambda t: t.replace("end of trees", "end of forest"),
    "truncated_tree": lambda t: t[: t.index("Tree=1\n") + 40],
    # found by fuzzing: arrays that prediction ignores are still parsed by LightGBM, and abort it
    "leaf_weight_short": lambda t: _edit_tree_field(t, "leaf_weight", lambda v: v[:-1]),
    "internal_count_text": lambda t: _edit_tree_field(t, "internal_count", _set(0, "many")),
    "split_gain_text": lambda t: _edit_tree_field(t, "split_gain", _set(0, "x")),
    "feature_names_short": lambda t: _edit_header(t, "feature_names", "a b c"),
}


def huge_leaves(text: str) -> str:
    """Well-formed, but every leaf is 1e300: a prediction would overflow to inf."""
    return with_tree_sizes(re.sub(r"^leaf_value=(.*)$", lambda m: "leaf_value=" + " ".join("1e300" for _ in m.group(1).split(" ")),
                                  text, flags=re.M))
