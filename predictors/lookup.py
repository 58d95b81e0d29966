"""Fast queries: a network's latency as a numpy table lookup over its tokens.

In a factorized hierarchical space a block's layers depend only on the block's own six
decisions and on the previous block's width (the first layer's input channels); the input size
of every block is fixed by the strides. So per resolution there are few distinct layers
(blocks × ops × kernels × SE × skips × filters × previous filters), which are predicted once.

The table has, per block, one entry per (op, kernel, SE, skip, filters, layers, previous
filters) choice: the block's summed per-layer latency, already multiplied by the predictor's
calibration (which is linear, so a network is exactly the sum of its blocks plus a stem/head/
intercept term). A query is then: token indices → flat table indices (one small matrix product)
→ gather → sum. The same is done for every ensemble member, for intervals.

The result equals the per-layer path (:meth:`LatencyPredictor.predict`) up to float rounding;
tests check that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mnas_pred.arch import layer_applies_identity, parse_op
from mnas_pred.layers import out_size
from mnas_pred.space import DECISIONS, SearchSpace
from predictors._base import LatencyPredictor, _geometric_mean
from predictors.calibration import check_finite

_LAYER_COLUMNS = ("op", "kernel", "stride", "expansion", "se_ratio", "skip", "in_h", "in_w", "cin", "cout", "num_classes")
_FILTERS = DECISIONS.index("filters")
_LAYERS = DECISIONS.index("layers")


class LookupTable:
    """Per-block latency tables of one predictor, one search space and one input resolution."""

    def __init__(self, predictor: LatencyPredictor, space: SearchSpace, resolution: int | None = None,
                 num_classes: int | None = None):
        self.space = space
        self.resolution = int(resolution or space.resolution)
        self.num_classes = int(num_classes or space.num_classes)
        self.predictor = predictor
        self._build()

    def _build(self) -> None:
        sp, p = self.space, self.predictor
        cal = p.calibration_.coef
        rows: list[tuple] = []  # layer configurations to predict, in a fixed order

        def add(*cfg) -> int:
            rows.append(cfg)
            return len(rows) - 1

        stem_row = add("stem", 3, 2, 1, 0.0, "none", self.resolution, self.resolution, 3, sp.stem_filters, 0)
        h = int(out_size(self.resolution, 2))
        prev_filters: tuple[int, ...] = (sp.stem_filters,)
        # Per block: index arrays into `rows` for the first layer and for each repeated layer.
        block_specs = []
        for b in sp.blocks:
            dims = [len(b.choices(d)) for d in DECISIONS] + [len(prev_filters)]
            first = np.empty(dims, dtype=np.int64)
            repeat = np.empty(dims, dtype=np.int64)
            h_out = int(out_size(h, b.stride))
            for idx in np.ndindex(*dims):
                op_name, k, se, skip, f, _n = (b.choices(d)[i] for d, i in zip(DECISIONS, idx[:6]))
                cin = prev_filters[idx[6]]
                op, e = parse_op(op_name)
                skip_first = "none" if skip == "identity" and not layer_applies_identity(b.stride, cin, f) else skip
                first[idx] = add(op, k, b.stride, e, float(se), skip_first, h, h, cin, f, 0)
                repeat[idx] = add(op, k, 1, e, float(se), skip, h_out, h_out, f, f, 0)
            block_specs.append((dims, first, repeat, np.asarray(b.layers, np.float64)))
            h, prev_filters = h_out, tuple(b.filters)
        head_rows = np.array([add("head", 1, 1, 1, 0.0, "none", h, h, f, sp.head_filters, self.num_classes)
                              for f in prev_filters])

        # Many (block, choice) pairs give the same layer: predict each distinct one once.
        table = pd.DataFrame(rows, columns=list(_LAYER_COLUMNS))
        inverse = table.groupby(list(_LAYER_COLUMNS), sort=False).ngroup().to_numpy()
        n_distinct = int(inverse.max()) + 1
        first_of = np.zeros(n_distinct, dtype=np.int64)
        first_of[inverse[::-1]] = np.arange(len(rows))[::-1]
        distinct_members = p.predict_layer_members(table.iloc[first_of].reset_index(drop=True))
        members = distinct_members[:, inverse]  # (M, rows)
        point = _geometric_mean(distinct_members)[inverse]
        per_layer = np.vstack([point[None, :], members])  # row 0: point prediction
        self.n_distinct_layers = n_distinct

        # Block value = calibration scale × (first + (n-1) × repeated) + n × per-layer term.
        blocks, offsets, strides = [], [], []
        offset = 0
        for dims, first, repeat, layer_counts in block_specs:
            n = layer_counts.reshape([1] * _LAYERS + [len(layer_counts)] + [1])
            value = cal["sum"] * (per_layer[:, first] + (n - 1) * per_layer[:, repeat]) + cal["n_layers"] * n
            blocks.append(value.reshape(len(per_layer), -1))
            offsets.append(offset)
            offset += int(np.prod(dims))
            strides.append(np.array([int(np.prod(dims[i + 1:])) for i in range(len(dims))], dtype=np.int64))
        self.block_table = np.concatenate(blocks, axis=1)  # (1 + M, total entries)
        self._point_table = np.ascontiguousarray(self.block_table[0])
        self.head_table = cal["sum"] * per_layer[:, head_rows] + cal["n_layers"]  # (1 + M, last filters)
        self.constant = cal["sum"] * per_layer[:, stem_row] + cal["n_layers"] + cal["intercept"]  # (1 + M,)
        for table in (self.block_table, self.head_table, self.constant):
            check_finite(table)

        # tokens (n, 6·B) @ index_matrix (6·B, B) + offsets = flat table index of every block.
        nb, nd = sp.num_blocks, len(DECISIONS)
        index_matrix = np.zeros((nd * nb, nb), dtype=np.float64)
        for bi, st in enumerate(strides):
            index_matrix[nd * bi: nd * bi + nd, bi] = st[:nd]
            if bi > 0:  # the previous block's filters token picks the first layer's input width
                index_matrix[nd * (bi - 1) + _FILTERS, bi] += st[nd]
        if offset >= 2**24:
            raise ValueError("search space too large for the float32 index product")
        self.index_matrix = index_matrix
        self.index_matrix32 = index_matrix.astype(np.float32)
        self.offsets = np.asarray(offsets, dtype=np.int32)
        self.last_filters_column = nd * (nb - 1) + _FILTERS

    def _indices(self, tokens) -> tuple[np.ndarray, np.ndarray]:
        tokens = np.asarray(tokens)
        if tokens.ndim == 1:
            tokens = tokens[None, :]
        if tokens.shape[1] != self.index_matrix.shape[0]:
            raise ValueError(f"expected token arrays of width {self.index_matrix.shape[0]}, got {tokens.shape[1]}")
        # A float32 matrix product is exact for these small integers (< 2**24) and runs on BLAS.
        flat = (tokens.astype(np.float32) @ self.index_matrix32).astype(np.int32) + self.offsets
        return flat, tokens[:, self.last_filters_column]

    def predict(self, tokens) -> np.ndarray:
        """Point latency (ms) of each token sequence, shape ``(n,)``."""
        flat, last = self._indices(tokens)
        point = self._point_table
        return np.maximum(point.take(flat).sum(axis=1) + self.head_table[0, last] + self.constant[0], 1e-6)

    def predict_members(self, tokens) -> np.ndarray:
        flat, last = self._indices(tokens)
        out = self.block_table[1:, flat].sum(axis=2) + self.head_table[1:, last] + self.constant[1:, None]
        return np.maximum(out, 1e-6)

    def predict_interval(self, tokens, coverage: float = 0.8):
        return self.predictor.interval_from_members(self.predict(tokens), self.predict_members(tokens), coverage)

    def predict_archs(self, archs) -> np.ndarray:
        return self.predict(np.array([self.space.encode(a) for a in archs], dtype=np.int64))
