"""Architecture → ``torch.nn.Module``.

Every layer of :func:`mnas_pred.layers.arch_layers` becomes one top-level submodule under the
same name (``stem``, ``block3_layer1``, ``head``). The TorchScript ONNX exporter names nodes after
the module path (``/block3_layer1/dw/Conv``), which is how the profiler maps per-node times back
to layers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.layers import LayerConfig, arch_layers, se_width
from mnas_pred.limits import check_buildable


def _conv_bn(cin, cout, k, stride=1, groups=1, act=True) -> nn.Sequential:
    mods = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        mods.append(nn.ReLU(inplace=True))
    return nn.Sequential(*mods)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = self.expand(F.relu(self.reduce(s)))
        return x * torch.sigmoid(s)


class PoolShortcut(nn.Module):
    """Residual path usable on every layer: average-pool to the output size, then zero-pad or
    truncate channels to the output width."""

    def __init__(self, stride: int, cin: int, cout: int):
        super().__init__()
        self.stride, self.cin, self.cout = stride, cin, cout

    def forward(self, x):
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride, ceil_mode=True, count_include_pad=False)
        if self.cout > self.cin:
            x = F.pad(x, (0, 0, 0, 0, 0, self.cout - self.cin))
        elif self.cout < self.cin:
            x = x[:, : self.cout]
        return x


class SearchedLayer(nn.Module):
    """One layer of a searched block: conv, sepconv or mbconv, optional SE, optional skip."""

    def __init__(self, cfg: LayerConfig):
        super().__init__()
        k, s, cin, cout = cfg.kernel, cfg.stride, cfg.cin, cfg.cout
        red = int(se_width(cin, cfg.se_ratio))
        self.expand = self.dw = self.project = self.conv = self.se = None
        if cfg.op == "conv":
            self.conv = _conv_bn(cin, cout, k, s)
            se_channels = cout
        elif cfg.op == "sepconv":
            self.dw = _conv_bn(cin, cin, k, s, groups=cin)
            se_channels = cin
        elif cfg.op == "mbconv":
            mid = cin * cfg.expansion
            self.expand = _conv_bn(cin, mid, 1)
            self.dw = _conv_bn(mid, mid, k, s, groups=mid)
            se_channels = mid
        else:
            raise ValueError(f"not a searched op: {cfg.op}")
        if red:
            self.se = SqueezeExcite(se_channels, red)
        if cfg.op != "conv":
            self.project = _conv_bn(se_channels, cout, 1, act=False)
        self.skip = cfg.skip
        self.shortcut = PoolShortcut(s, cin, cout) if cfg.skip == "pool" else None

    def forward(self, x):
        y = x
        for m in (self.expand, self.dw, self.conv, self.se, self.project):
            if m is not None:
                y = m(y)
        if self.skip == "identity":
            y = y + x
        elif self.shortcut is not None:
            y = y + self.shortcut(x)
        return y


class Head(nn.Module):
    def __init__(self, cin: int, width: int, num_classes: int, dropout: float):
        super().__init__()
        self.conv = _conv_bn(cin, width, 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.conv(x).mean((2, 3))
        return self.classifier(self.dropout(x))


class SearchedNetwork(nn.Module):
    """A network of the search space; submodules are named after :class:`LayerConfig.name`."""

    def __init__(self, arch: Architecture, num_classes: int = 1000, resolution: int = 224, dropout: float = 0.2):
        super().__init__()
        self.arch = arch
        self.layer_configs = arch_layers(arch, resolution, num_classes)
        self.layer_names: list[str] = []
        for cfg in self.layer_configs:
            if cfg.op == "stem":
                mod = _conv_bn(3, cfg.cout, 3, 2)
            elif cfg.op == "head":
                mod = Head(cfg.cin, cfg.cout, num_classes, dropout)
            else:
                mod = SearchedLayer(cfg)
            self.add_module(cfg.name, mod)
            self.layer_names.append(cfg.name)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")  # keeps activations O(1) in eval mode
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        for name in self.layer_names:
            x = getattr(self, name)(x)
        return x


def build_model(arch: Architecture | str, num_classes: int = 1000, resolution: int = 224, dropout: float = 0.2) -> SearchedNetwork:
    """Build the PyTorch module of an architecture (string, reference name or object); one that
    would not fit in memory is refused first (:func:`mnas_pred.limits.check_buildable`)."""
    arch = parse_arch(arch)
    check_buildable(arch, resolution, num_classes)
    return SearchedNetwork(arch, num_classes, resolution, dropout)


def build_layer(cfg: LayerConfig, num_classes: int = 1000) -> nn.Module:
    """Build one layer on its own (for single-layer ONNX export and lookup tables)."""
    if cfg.op == "stem":
        return _conv_bn(3, cfg.cout, 3, 2)
    if cfg.op == "head":
        return Head(cfg.cin, cfg.cout, num_classes, 0.0)
    return SearchedLayer(cfg)
