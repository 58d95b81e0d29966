"""A structural check of LightGBM model text, run before ``lgb.Booster(model_str=...)`` sees it.

LightGBM's text loader trusts its input: a tree whose arrays disagree with ``num_leaves`` ends in
``[Fatal]`` and ``terminate`` (exit 134), ``num_leaves=0`` or a truncated tree in a segmentation
fault, ``num_tree_per_iteration=0`` in a division by zero; a split feature or a child index out
of range loads fine and then reads memory outside the model or the input row at predict time.
A predictor file's checksum cannot stop this (anyone can recompute it), so every model text is
checked here, line by line, against what mnas-pred writes:

* the header: one output (``num_class=1``, ``num_tree_per_iteration=1``), exactly the expected
  feature names, ``tree_sizes`` equal to the real size of each tree (LightGBM jumps by them);
* every tree: the array lengths implied by ``num_leaves``, split features within the feature
  schema, numerical splits only (mnas-pred never trains categorical ones), child indices that
  form a tree (every node but the root has exactly one parent),
  finite leaf values and coefficients; linear trees: their per-leaf feature lists and coefficients;
* the trailer: ``end of trees``, then only well-formed feature-importance and parameter lines.

Why a check and not a disposable subprocess: a subprocess only proves that *loading* survives
(out-of-range indices crash or misread only at predict time), and it costs a Python start and
a LightGBM import (about a second on a 2-core machine) on every load, where the search loads
predictors on start and on resume. Parsing the text with ``str.split`` and numpy costs a few
tens of milliseconds for a full predictor (bench figure in the module's tests/report).
"""

from __future__ import annotations

import re
import warnings

import numpy as np

#: Larger texts are refused unread: a full predictor's largest booster is well under 2 MB.
MAX_MODEL_CHARS = 64 * 2**20
MAX_TREES = 100_000
MAX_LEAVES = 131_072

_HEADER_KEYS = {"version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx", "objective",
                "feature_names", "feature_infos", "tree_sizes", "monotone_constraints", "feature_importance_type"}
_HEADER_FLAGS = {"average_output", "linear_tree"}
_LINEAR = ("leaf_const", "num_features", "leaf_features", "leaf_coeff")
#: A tree block as LightGBM 4 writes it (Tree::ToString): these lines in this order, the linear
#: ones only in linear trees, then two blank lines.
_TREE_ORDER = ("num_leaves", "num_cat", "split_feature", "split_gain", "threshold", "decision_type", "left_child",
               "right_child", "leaf_value", "leaf_weight", "leaf_count", "internal_value", "internal_weight",
               "internal_count", "is_linear", *_LINEAR, "shrinkage")
_TREE_RE = re.compile(
    "Tree=([0-9]+)\n" + "".join(f"{k}=([^\n]*)\n" for k in _TREE_ORDER[:15])
    + "(?:" + "".join(f"{k}=([^\n]*)\n" for k in _LINEAR) + ")?" + "shrinkage=([^\n]*)\n\n\n"
)
_NUMBER = r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_FEATURE_INFO = re.compile(rf"none|\[{_NUMBER}:{_NUMBER}\]")
_IMPORTANCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}=[0-9]{1,19}")
_PARAMETER = re.compile(r"\[[a-z_0-9]{1,64}: [^\[\]\n]{0,4096}\]")


class ModelTextError(ValueError):
    """The model text is not one mnas-pred could have written; the message says where."""


def _numbers(value: str, where: str, dtype=np.float64) -> np.ndarray:
    """Space-separated numbers (numpy's C text parser: a tenth of the time of ``float()`` per token)."""
    if not value.strip():
        return np.zeros(0, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy warns, then stops early, on a bad token
        try:
            return np.fromstring(value, dtype=dtype, sep=" ")
        except (ValueError, DeprecationWarning, OverflowError):
            raise ModelTextError(f"{where}: not a list of numbers") from None


def check_model_text(text: object, feature_names: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`ModelTextError` unless ``text`` is a well-formed single-output LightGBM
    regression model over exactly ``feature_names``."""
    if not isinstance(text, str):
        raise ModelTextError("the model is not text")
    if len(text) > MAX_MODEL_CHARS:
        raise ModelTextError(f"the model text has {len(text)} characters, more than {MAX_MODEL_CHARS}")
    if not text.startswith("tree\n"):
        raise ModelTextError("the model text does not start with LightGBM's 'tree' line")
    end = text.find("\nend of trees\n")
    if end < 0:
        raise ModelTextError("the model text has no 'end of trees' line (truncated?)")
    first_tree = text.find("\nTree=")
    if first_tree < 0 or first_tree > end:
        raise ModelTextError("the model text holds no tree")
    header = _check_header(text[5:first_tree + 1].split("\n"), list(feature_names))
    starts, at = [], first_tree
    while 0 <= at < end:
        starts.append(at + 1)
        at = text.find("\nTree=", at + 1)
    if len(starts) > MAX_TREES:
        raise ModelTextError(f"the model has {len(starts)} trees, more than {MAX_TREES}")
    declared = _numbers(header["tree_sizes"], "tree_sizes", np.int64)
    actual = np.diff(np.array([*starts, end + 1], dtype=np.int64))
    if declared.shape != actual.shape or not np.array_equal(declared, actual):
        raise ModelTextError("tree_sizes do not match the trees (edited or truncated model)")
    _check_trees(_tree_fields(text, list(zip(starts, [*starts[1:], end + 1]))), len(feature_names))
    _check_trailer(text[end + len("\nend of trees\n"):])


def _check_header(lines: list[str], names: list[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for line in lines:
        if not line or line in _HEADER_FLAGS:
            continue
        key, sep, value = line.partition("=")
        if not sep or key not in _HEADER_KEYS or key in seen:
            raise ModelTextError(f"unexpected model header line '{line[:60]}'")
        seen[key] = value
    expected = {"version": "v4", "num_class": "1", "num_tree_per_iteration": "1", "label_index": "0",
                "max_feature_idx": str(len(names) - 1), "feature_names": " ".join(names)}
    for key, value in expected.items():
        if seen.get(key) != value:
            shown = value if len(value) < 40 else f"the {len(names)} predictor features"
            raise ModelTextError(f"model header '{key}' is '{str(seen.get(key))[:60]}', expected {shown}")
    if seen.get("objective") != "regression":  # the only objective mnas-pred trains
        raise ModelTextError(f"model header 'objective' is '{str(seen.get('objective'))[:40]}', expected regression")
    infos = seen.get("feature_infos", "").split(" ")
    if len(infos) != len(names) or not all(_FEATURE_INFO.fullmatch(i) for i in infos):
        raise ModelTextError("model header 'feature_infos' does not list one [min:max] or none per feature")
    if "tree_sizes" not in seen:
        raise ModelTextError("the model header lacks 'tree_sizes'")
    return seen


def _tree_fields(text: str, bounds: list[tuple[int, int]]) -> list[dict[str, str]]:
    """Each tree's fields: its block must be laid out exactly as LightGBM writes a tree (one
    compiled pattern per block: far cheaper than splitting thousands of lines in Python)."""
    trees = []
    for i, (a, b) in enumerate(bounds):
        m = _TREE_RE.fullmatch(text, a, b)
        if m is None or m.group(1) != str(i):
            line = text[a: text.find("\n", a, b) if text.find("\n", a, b) > 0 else b]
            raise ModelTextError(f"tree {i} ('{line[:40]}') is not laid out as LightGBM writes a tree (edited?)")
        trees.append({k: v for k, v in zip(_TREE_ORDER, m.groups()[1:]) if v is not None})
    return trees


def _field(trees: list[dict], key: str, counts: np.ndarray, dtype=np.float64) -> np.ndarray:
    """``key`` of every tree, concatenated; each tree must hold ``counts[t]`` numbers (single
    spaces, as LightGBM writes them), or is not checked where ``counts[t] < 0`` (a field
    LightGBM does not read there). Floats must be finite, integers fit in 32 bits."""
    values = [t.get(key) for t in trees]
    missing = [i for i, v in enumerate(values) if v is None and counts[i] > 0]
    if missing:
        raise ModelTextError(f"tree {missing[0]}: lacks '{key}'")
    lengths = np.array([v.count(" ") + 1 if v else 0 for v in values])
    bad = np.flatnonzero((lengths != counts) & (counts >= 0))
    if bad.size:
        t = int(bad[0])
        raise ModelTextError(f"tree {t}: {key} has {lengths[t]} entries where {int(counts[t])} are needed")
    numbers = _numbers(" ".join(v for v, c in zip(values, counts) if v and c > 0), key, dtype)
    if numbers.size != counts[counts > 0].sum():
        raise ModelTextError(f"{key}: not a list of numbers")
    if dtype == np.float64 and not np.isfinite(numbers).all():
        raise ModelTextError(f"{key} holds a value that is not a finite number")
    if dtype == np.int64 and numbers.size and (np.abs(numbers) >= 2**31).any():
        raise ModelTextError(f"{key} holds an integer beyond 32 bits")
    return numbers


def _first_tree(mask: np.ndarray, owner: np.ndarray) -> int:
    return int(owner[np.flatnonzero(mask)[0]])


def _check_trees(trees: list[dict[str, str]], n_features: int) -> None:
    n_trees = len(trees)
    for i, t in enumerate(trees):
        if t["num_cat"] != "0":
            raise ModelTextError(f"tree {i}: categorical splits (num_cat={t['num_cat'][:20]}) are not used by mnas-pred")
        if t.get("is_linear", "0") not in ("0", "1"):
            raise ModelTextError(f"tree {i}: is_linear must be 0 or 1")
    n = _numbers(" ".join(t["num_leaves"] or "x" for t in trees), "num_leaves", np.int64)
    if n.shape != (n_trees,) or ((n < 1) | (n > MAX_LEAVES)).any():
        raise ModelTextError(f"num_leaves must be one integer in 1..{MAX_LEAVES} per tree")
    _field(trees, "shrinkage", np.ones(n_trees, np.int64))
    _field(trees, "leaf_value", n)
    split = n > 1
    inner = np.where(split, n - 1, 0)
    # LightGBM reads every other array of a split tree (and aborts on a bad one), none of a leaf
    for key in ("split_gain", "internal_value", "internal_weight", "leaf_weight"):
        if any(key in t for t in trees):
            _field(trees, key, np.where(split, inner if key.startswith(("split", "internal")) else n, -1))
    for key in ("internal_count", "leaf_count"):
        if any(key in t for t in trees):
            _field(trees, key, np.where(split, inner if key.startswith("internal") else n, -1), np.int64)
    owner = np.repeat(np.arange(n_trees), inner)  # tree of each internal node
    _field(trees, "threshold", inner)
    feature = _field(trees, "split_feature", inner, np.int64)
    bad = (feature < 0) | (feature >= n_features)
    if bad.any():
        raise ModelTextError(f"tree {_first_tree(bad, owner)}: a split feature lies outside the {n_features} predictor features")
    dt = _field(trees, "decision_type", inner, np.int64)
    bad = (dt < 0) | (dt > 15) | ((dt & 1) != 0) | (((dt >> 2) & 3) > 2)
    if bad.any():
        raise ModelTextError(f"tree {_first_tree(bad, owner)}: a decision_type is not a numerical split")
    _check_children(_field(trees, "left_child", inner, np.int64), _field(trees, "right_child", inner, np.int64), n, inner, owner)
    for i, t in enumerate(trees):
        if t.get("is_linear") == "1":
            _check_linear(t, f"tree {i}", int(n[i]), n_features)


def _check_children(left: np.ndarray, right: np.ndarray, n: np.ndarray, inner: np.ndarray, owner: np.ndarray) -> None:
    """Internal nodes 1..n-2 and leaves ~0..~(n-1) of each tree referenced exactly once, the root
    never. Then a walk from the root cannot meet a node twice (it would have two parents, or be
    the root) and ends at a leaf: prediction stays inside the tree and terminates. (Nodes cut off
    from the root are never visited, so they need no check.)"""
    n_of = n[owner]
    for children in (left, right):
        bad = (children == 0) | (children > n_of - 2) | (children < -n_of)
        if bad.any():
            raise ModelTextError(f"tree {_first_tree(bad, owner)}: a child index lies outside the tree")
    # one id per node over all trees: tree t's internal node i -> base[t] + i, leaf ~j -> base[t] + n[t]-1 + j
    base = np.concatenate([[0], np.cumsum(2 * n - 1)[:-1]])
    ids = np.concatenate([np.where(c >= 0, c, n_of - 2 - c) + base[owner] for c in (left, right)])
    refs = np.bincount(ids, minlength=int((2 * n - 1).sum()))
    is_root = np.zeros(refs.size, bool)
    is_root[base] = True
    bad = np.flatnonzero(np.where(is_root, refs != 0, refs != 1) & np.repeat(n > 1, 2 * n - 1))
    if bad.size:
        tree = int(np.searchsorted(base, bad[0], side="right") - 1)
        raise ModelTextError(f"tree {tree}: the child indices do not form a tree")


def _check_linear(fields: dict, where: str, n: int, n_features: int) -> None:
    for key in _LINEAR:
        if key not in fields:
            raise ModelTextError(f"{where}: a linear tree lacks '{key}'")
    const = _numbers(fields["leaf_const"], f"{where} leaf_const")
    coeff = _numbers(fields["leaf_coeff"], f"{where} leaf_coeff")
    counts = _numbers(fields["num_features"], f"{where} num_features", np.int64)
    feats = _numbers(fields["leaf_features"], f"{where} leaf_features", np.int64)
    if const.shape != (n,) or counts.shape != (n,) or (counts < 0).any():
        raise ModelTextError(f"{where}: leaf_const/num_features need one entry per leaf")
    if feats.size != counts.sum() or coeff.size != counts.sum():
        raise ModelTextError(f"{where}: leaf_features/leaf_coeff disagree with num_features")
    if not (np.isfinite(const).all() and np.isfinite(coeff).all()):
        raise ModelTextError(f"{where}: a linear leaf coefficient is not a finite number")
    if feats.size and (feats.min() < 0 or feats.max() >= n_features):
        raise ModelTextError(f"{where}: a linear leaf feature lies outside the {n_features} predictor features")


def _check_trailer(trailer: str) -> None:
    section = "importances"
    for line in trailer.split("\n"):
        if not line or line == "feature_importances:":
            continue
        if line == "parameters:":
            section = "parameters"
        elif line == "end of parameters":
            section = "end"
        elif section == "importances" and _IMPORTANCE.fullmatch(line):
            continue
        elif section == "parameters" and _PARAMETER.fullmatch(line):
            continue
        elif section == "end" and line == "pandas_categorical:null":
            continue
        else:
            raise ModelTextError(f"unexpected line after the trees: '{line[:60]}'")
