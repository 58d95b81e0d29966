"""Analytic parameter/MAC counts against published sizes and against the built PyTorch modules."""

import pytest
import torch
from torch import nn

from mnas_pred.builder import build_layer, build_model
from mnas_pred.layers import arch_layers, count
from mnas_pred.space import SearchSpace


def module_macs(model: nn.Module, resolution: int) -> int:
    """MACs of convolutions and linear layers, counted from the module's real output shapes."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total += out.numel() * (mod.in_channels // mod.groups) * kh * kw
        elif isinstance(mod, nn.Linear):
            total += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, resolution, resolution))
    for h in handles:
        h.remove()
    return total


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, params, macs",
    [("mnasnet-a1", 3.9e6, 312e6), ("mobilenetv2", 3.5e6, 300e6), ("mnasnet-b1", 4.4e6, 315e6)],
)
def test_references_match_published_sizes(name, params, macs):
    p, m = count(name)
    assert abs(p - params) / params < 0.02
    assert abs(m - macs) / macs < 0.02


def test_references_equal_torchvision_exactly():
    # torchvision's mobilenet_v2 and mnasnet1_0 (MnasNet-B1) parameter counts
    assert count("mobilenetv2")[0] == 3_504_872
    assert count("mnasnet-b1")[0] == 4_383_312


@pytest.mark.parametrize("name", ["mnasnet-a1", "mobilenetv2", "mnasnet-b1"])
def test_analytic_count_equals_built_module(name):
    model = build_model(name)
    assert count(name)[0] == n_params(model)
    assert count(name)[1] == module_macs(model, 224)


def test_random_architectures_count_exactly():
    torch.set_num_threads(1)
    space = SearchSpace.default()
    for res in (224, 97):  # an odd resolution exercises ceil-mode shapes
        for arch in space.sample(25, seed=res):
            model = build_model(arch, num_classes=10, resolution=res)
            params, macs = count(arch, res, num_classes=10)
            assert params == n_params(model), arch
            assert macs == module_macs(model, res), arch


def test_per_layer_counts_equal_each_module():
    arch = SearchSpace.default().sample(1, seed=3)[0]
    model = build_model(arch)
    for cfg in arch_layers(arch):
        assert cfg.params == n_params(getattr(model, cfg.name)), cfg.name
        assert cfg.params == n_params(build_layer(cfg)), cfg.name


def test_layers_are_named_and_shaped():
    layers = arch_layers("mnasnet-a1")
    assert [lay.name for lay in layers[:3]] == ["stem", "block1_layer0", "block2_layer0"]
    assert layers[-1].name == "head"
    assert len(layers) == 2 + 16
    # block 2's first layer halves the resolution; its second keeps it and adds the residual
    assert (layers[2].in_h, layers[2].stride, layers[2].skip) == (112, 2, "none")
    assert (layers[3].in_h, layers[3].stride, layers[3].skip) == (56, 1, "identity")
    assert layers[-1].in_h == 7


def test_pool_skip_handles_every_shape():
    # widths shrink (80 -> 72) and grow, strides 2, odd sizes: the pool residual must fit all
    arch = "mbconv3_k3_r1_c24_s1_se0_skippool-conv_k5_r1_c80_s2_se0.25_skippool-sepconv_k3_r2_c72_s2_se0_skippool"
    model = build_model(arch, num_classes=5, resolution=50)
    out = model.eval()(torch.randn(2, 3, 50, 50))
    assert out.shape == (2, 5)
    assert count(arch, 50, 5)[0] == n_params(model)
