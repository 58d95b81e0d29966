"""Trained weights of the best models as safetensors: a PyTorch ``state_dict`` that
``safetensors.torch.load_file`` reads (no pickle, unlike ``torch.save``) and that loads with
``strict=True`` into ``mnas_pred.builder.build_model(arch, num_classes=...)``."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from mnas_pred.errors import MnasPredError
from mnas_pred.files import atomic_write_bytes

SUFFIX = ".safetensors"


def save_weights(model: torch.nn.Module, path: str | Path) -> Path:
    """The model's state dict (on the CPU, contiguous) as one safetensors file, written atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return atomic_write_bytes(path, save(state, metadata={"format": "pt"}))


def load_weights(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """Load weights written by :func:`save_weights` into a model built with
    ``build_model(arch, num_classes)`` (every key must match); a damaged or mismatched file is
    one :class:`MnasPredError`. safetensors reads a bounded JSON header and raw tensor bytes: a
    hostile file cannot run code."""
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise MnasPredError(f"weights file '{path}' cannot be read ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                            "export the weights again (search ... --resume rewrites best/)") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise MnasPredError(f"weights file '{path}' does not fit this model ({str(e).splitlines()[0]})",
                            "build the model with the arch and num_classes listed in best.json") from None
    return model
