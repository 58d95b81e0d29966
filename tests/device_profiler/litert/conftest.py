"""TEMPORARY (litert-bm): stands in for litert-conv's session fixture ``litert_models`` until it
lands on main (same attribute names: archs, resolution, num_classes, files[arch].path)."""

from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def litert_models(tmp_path_factory):
    import litert_torch
    import torch

    from mnas_pred.builder import build_model

    arch, resolution, classes = "mnasnet-a1", 32, 10
    path = tmp_path_factory.mktemp("tflite") / "a1.tflite"
    net = build_model(arch, num_classes=classes, resolution=resolution).eval()
    litert_torch.convert(net, (torch.randn(1, 3, resolution, resolution),)).export(str(path))
    return SimpleNamespace(archs=[arch], resolution=resolution, num_classes=classes,
                           files={arch: SimpleNamespace(path=path)})
