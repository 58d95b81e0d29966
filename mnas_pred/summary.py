"""What ``arch-info`` and ``export`` report, as library functions returning plain dicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.errors import ArchitectureError, MnasPredError
from mnas_pred.layers import arch_layers
from mnas_pred.limits import check
from mnas_pred.space import SearchSpace


def describe(arch: Architecture | str, space: SearchSpace, resolution: int | None = None,
             num_classes: int | None = None) -> dict:
    """Per-layer configuration and cost, totals, and whether the space contains the network."""
    a = parse_arch(arch)
    resolution = resolution or space.resolution
    num_classes = num_classes or space.num_classes
    check(resolution=resolution, num_classes=num_classes)  # beyond them the int64 MAC count overflows
    layers = [lay.as_dict() for lay in arch_layers(a, resolution, num_classes)]
    try:
        space.validate(a)
        in_space, note = True, ""
    except ArchitectureError as e:
        in_space, note = False, e.problem
    return {
        "arch": a.to_string(),
        "resolution": resolution,
        "num_classes": num_classes,
        "params": sum(lay["params"] for lay in layers),
        "macs": sum(lay["macs"] for lay in layers),
        "num_layers": len(layers),
        "in_space": in_space,
        "space": space.source,  # "default" (the MnasNet paper's) or the space file
        "space_note": note,
        "layers": layers,
    }


def export_checked(arch: Architecture | str, path: Path, space: SearchSpace, resolution: int | None = None,
                   num_classes: int | None = None, check: bool = True, seed: int = 0) -> dict:
    """Export to ONNX and (optionally) compare ONNX Runtime's output with PyTorch's."""
    import torch

    from mnas_pred.builder import build_model
    from mnas_pred.export import export_onnx, sha256

    a = parse_arch(arch)
    resolution = resolution or space.resolution
    num_classes = num_classes or space.num_classes
    if path.exists() and path.is_dir():
        raise MnasPredError(f"'{path}' is a directory", "give a file name such as model.onnx")
    torch.manual_seed(seed)
    model = build_model(a, num_classes=num_classes, resolution=resolution).eval()
    try:
        data = export_onnx(a, path, resolution, num_classes, model=model)
    except OSError as e:
        raise MnasPredError(f"cannot write '{path}': {e.strerror}", "choose a writable location") from None
    info = {"arch": a.to_string(), "onnx": str(path), "bytes": len(data), "sha256": sha256(data),
            "resolution": resolution, "num_classes": num_classes}
    if check:
        info["max_abs_diff"], info["output_max_abs"] = compare_with_onnxruntime(model, data, resolution, seed)
    return info


def max_abs_diff_vs_onnxruntime(model, onnx_bytes: bytes, resolution: int, seed: int = 0) -> float:
    """Largest absolute difference between PyTorch's and ONNX Runtime's outputs on one input."""
    return compare_with_onnxruntime(model, onnx_bytes, resolution, seed)[0]


def compare_with_onnxruntime(model, onnx_bytes: bytes, resolution: int, seed: int = 0) -> tuple[float, float]:
    """``(max |ORT - PyTorch|, max |PyTorch|)`` on one random input: float32 rounding differs
    between the runtimes (BatchNorm is folded into the convolutions), so the difference is
    judged against the size of the outputs."""
    import onnxruntime as ort
    import torch

    x = np.random.default_rng(seed).standard_normal((1, 3, resolution, resolution)).astype(np.float32)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return float(np.abs(out - ref).max()), float(np.abs(ref).max())
