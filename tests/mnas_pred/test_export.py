"""ONNX export: 200 random architectures build, run, export and agree with ONNX Runtime."""

import onnx
import pytest
import torch

from mnas_pred.arch import parse_arch
from mnas_pred.builder import build_model
from mnas_pred.export import export_layer_onnx, export_onnx
from mnas_pred.layers import arch_layers
from mnas_pred.space import SearchSpace
from mnas_pred.summary import max_abs_diff_vs_onnxruntime

RESOLUTION = 64  # small input keeps 200 networks affordable on 2 cores; the graph is the same


@pytest.mark.slow
def test_200_random_architectures_build_export_and_match_onnxruntime():
    torch.set_num_threads(1)
    worst_rel, within_abs = 0.0, 0
    for i, arch in enumerate(SearchSpace.default().sample(200, seed=2024)):
        assert parse_arch(arch.to_string()) == arch
        torch.manual_seed(i)
        model = build_model(arch, num_classes=10, resolution=RESOLUTION).eval()
        with torch.no_grad():
            scale = float(model(torch.randn(1, 3, RESOLUTION, RESOLUTION)).abs().max())
        data = export_onnx(arch, resolution=RESOLUTION, model=model)
        diff = max_abs_diff_vs_onnxruntime(model, data, RESOLUTION, seed=i)
        # float32 rounding differs between the two runtimes (ONNX Runtime folds BatchNorm into
        # the convolution); the difference is relative to the size of the logits.
        # Seen on 200 networks: median 4e-7 absolute, worst 1.2e-4 relative with logits of ~18.
        rel = diff / max(1.0, scale)
        worst_rel = max(worst_rel, rel)
        within_abs += diff <= 1e-4
        assert rel <= 5e-4, (arch.to_string(), diff, scale)
    assert within_abs >= 190
    print(f"{within_abs}/200 within 1e-4 absolute; worst relative difference {worst_rel:.2e}")


def test_node_names_carry_the_layer(tmp_path):
    path = tmp_path / "a1.onnx"
    export_onnx("mnasnet-a1", path, resolution=96)
    model = onnx.load(path)
    graph = model.graph
    assert model.opset_import[0].version == 17
    assert tuple(d.dim_value for d in graph.input[0].type.tensor_type.shape.dim) == (1, 3, 96, 96)
    prefixes = {n.name.lstrip("/").split("/")[0] for n in graph.node if n.op_type == "Conv"}
    assert prefixes == {lay.name for lay in arch_layers("mnasnet-a1")}
    assert not any(n.op_type == "BatchNormalization" for n in graph.node)  # folded


def test_single_layer_export_runs(tmp_path):
    import numpy as np
    import onnxruntime as ort

    for cfg in arch_layers("mnasnet-a1", resolution=96)[:4]:
        data = export_layer_onnx(cfg, tmp_path / f"{cfg.name}.onnx")
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        cin = 3 if cfg.op == "stem" else cfg.cin
        out = sess.run(None, {"input": np.zeros((1, cin, cfg.in_h, cfg.in_w), np.float32)})[0]
        assert out.shape == (1, cfg.cout, cfg.out_h, cfg.out_w)


def test_export_is_atomic_and_creates_folders(tmp_path):
    path = tmp_path / "deep" / "m.onnx"
    data = export_onnx("mobilenetv2", path, resolution=64)
    assert path.read_bytes() == data
    assert not list(path.parent.glob("*.tmp"))
