"""TEMPORARY (litert-bm): replaced by litert-conv's session conversion fixture."""

import pytest


@pytest.fixture(scope="session")
def tflite_model(tmp_path_factory):
    import torch
    from types import SimpleNamespace

    import litert_torch
    from mnas_pred.builder import build_model
    from mnas_pred.layers import arch_layers

    arch = "mnasnet-a1"
    path = tmp_path_factory.mktemp("tflite") / "a1.tflite"
    litert_torch.convert(build_model(arch, resolution=64).eval(), (torch.randn(1, 3, 64, 64),)).export(str(path))
    return SimpleNamespace(arch=arch, path=path, layers=[lay.name for lay in arch_layers(arch, resolution=64)])
