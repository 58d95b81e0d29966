"""ONNX export of whole networks and single layers.

Uses the TorchScript exporter (``dynamo=False``, opset 17, batch 1): 0.3–0.6 s a network on the
development machine, no extra package, BatchNorm folded, and node names that carry the module
path (design.md §4). The dynamo exporter names nodes ``node_Conv_714``, which would break the
mapping of per-node profiles back to layers.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings

import torch

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.builder import build_layer, build_model
from mnas_pred.files import atomic_write_bytes
from mnas_pred.layers import LayerConfig

OPSET = 17


def _export(module: torch.nn.Module, shape: tuple[int, ...], path: str | os.PathLike | None) -> bytes:
    module.eval()
    dummy = torch.zeros(shape)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module, (dummy,), buf, dynamo=False, opset_version=OPSET,
            input_names=["input"], output_names=["output"], do_constant_folding=True,
        )
    data = buf.getvalue()
    if path is not None:
        # never leave a half-written model where a reader may find it; no fsync: exports are
        # rebuilt from the architecture string, and profiling exports one per measurement
        atomic_write_bytes(path, data, durable=False)
    return data


def export_onnx(
    arch: Architecture | str,
    path: str | os.PathLike | None = None,
    resolution: int = 224,
    num_classes: int = 1000,
    model: torch.nn.Module | None = None,
) -> bytes:
    """Export a whole network (random weights unless ``model`` is given); returns the bytes and
    writes them atomically to ``path`` when one is given."""
    if model is None:
        model = build_model(parse_arch(arch), num_classes=num_classes, resolution=resolution)
    return _export(model, (1, 3, resolution, resolution), path)


def export_layer_onnx(cfg: LayerConfig, path: str | os.PathLike | None = None, num_classes: int = 1000) -> bytes:
    """Export one layer on its own, at the input shape it sees inside the network."""
    cin = 3 if cfg.op == "stem" else cfg.cin
    return _export(build_layer(cfg, num_classes), (1, cin, cfg.in_h, cfg.in_w), path)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
