"""The per-layer view of a network: the unit that is profiled, predicted and counted.

:func:`arch_layers` flattens an architecture into its layers (stem, every repetition of every
block's layer, head) with the shapes each one sees. :func:`layer_cost` is the one analytic
formula for parameters and MACs; it works element-wise on numpy arrays as well as on scalars,
so the per-layer features of thousands of rows (mnas_pred.features) use exactly the numbers that
``arch-info`` prints and that the PyTorch builder's modules have.

Conventions (the usual ones, matching torchvision's published counts): MACs count the
multiply-accumulates of convolutions and fully connected layers; BatchNorm is folded at export
and costs no MACs but its two affine vectors count as parameters; convolutions have no bias
except the two 1x1 convolutions of squeeze-excitation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mnas_pred.arch import Architecture, layer_applies_identity, parse_arch


def out_size(size, stride):
    """Spatial size after a 'same'-padded convolution: ceil(size / stride)."""
    return -(-np.asarray(size) // np.asarray(stride))


def se_width(cin, se_ratio):
    """Squeeze width: ratio × the layer's *input* channels (MnasNet reference), at least 1."""
    w = np.floor(np.asarray(cin) * np.asarray(se_ratio) + 1e-9).astype(np.int64)
    return np.where(np.asarray(se_ratio) > 0, np.maximum(w, 1), 0)


def layer_cost(op, kernel, stride, expansion, se_ratio, in_h, in_w, cin, cout, num_classes=0, groups=1):
    """Parameters and MACs of one layer (or of arrays of layers, element-wise).

    ``op`` is ``stem``/``conv`` (kxk conv+BN+ReLU), ``sepconv``, ``mbconv``, ``head`` (1x1 conv to
    ``cout`` + pool + linear to ``num_classes``), ``linear``, ``avgpool`` or ``skip``. ``groups``
    divides the 1x1 convolutions of a bottleneck (FBNet's grouped variants).
    Returns ``(params, macs)`` as int64 arrays (0-d for scalar input).
    """
    op = np.asarray(op)
    k = np.asarray(kernel, dtype=np.int64)
    e = np.asarray(expansion, dtype=np.int64)
    g = np.maximum(np.asarray(groups, dtype=np.int64), 1)
    cin = np.asarray(cin, dtype=np.int64)
    cout = np.asarray(cout, dtype=np.int64)
    ih = np.asarray(in_h, dtype=np.int64)
    iw = np.asarray(in_w, dtype=np.int64)
    oh, ow = out_size(ih, stride), out_size(iw, stride)
    in_px, out_px = ih * iw, oh * ow

    is_conv = (op == "conv") | (op == "stem")
    is_sep = op == "sepconv"
    is_mb = op == "mbconv"
    is_head = op == "head"
    is_linear = op == "linear"

    mid = np.where(is_mb, cin * e, cin)  # channels the depthwise conv and SE work on
    se_on = np.where(is_conv, cout, mid)  # conv op: SE after the conv, on its output
    red = se_width(cin, se_ratio)

    expand_w = np.where(is_mb, cin * mid // g, 0)
    dw_w = np.where(is_sep | is_mb, k * k * mid, 0)
    project_w = np.where(is_sep, mid * cout, np.where(is_mb, mid * cout // g, 0))
    conv_w = np.where(is_conv, k * k * cin * cout, np.where(is_head, cin * cout, 0))
    se_params = np.where(red > 0, 2 * se_on * red + red + se_on, 0)
    bn = 2 * np.where(is_mb, 2 * mid + cout, np.where(is_sep, mid + cout, cout))
    params = expand_w + dw_w + project_w + conv_w + se_params + bn
    params = np.where(is_head, params + cout * num_classes + num_classes, params)
    params = np.where(is_linear, cin * cout + cout, params)
    params = np.where((op == "avgpool") | (op == "skip"), 0, params)

    macs = (
        expand_w * in_px
        + dw_w * out_px
        + project_w * out_px
        + np.where(is_head, conv_w * in_px, conv_w * out_px)
        + 2 * se_on * red
    )
    macs = np.where(is_head, macs + cout * num_classes, macs)
    macs = np.where(is_linear, cin * cout, macs)
    macs = np.where((op == "avgpool") | (op == "skip"), 0, macs)
    return params.astype(np.int64), macs.astype(np.int64)


@dataclass(frozen=True)
class LayerConfig:
    """One layer as it runs: configuration, input shape, and its analytic cost."""

    name: str  # module name in the PyTorch model and prefix of its ONNX node names
    block: int  # 0 = stem, 1..7 = searched blocks, len(blocks)+1 = head
    index: int  # repetition within the block, 0-based
    op: str  # stem | conv | sepconv | mbconv | head
    kernel: int
    stride: int
    expansion: int
    se_ratio: float
    skip: str  # the skip that this layer actually applies: none | identity | pool
    in_h: int
    in_w: int
    cin: int
    cout: int
    params: int
    macs: int

    @property
    def out_h(self) -> int:
        return int(out_size(self.in_h, self.stride))

    @property
    def out_w(self) -> int:
        return int(out_size(self.in_w, self.stride))

    def as_dict(self) -> dict:
        return asdict(self)


def layer_name(block: int, index: int) -> str:
    """Module name of a block layer; the builder and the profiler's node mapping both use it."""
    return f"block{block}_layer{index}"


def _make(name, block, index, op, kernel, stride, expansion, se_ratio, skip, h, w, cin, cout, num_classes=0):
    params, macs = layer_cost(op, kernel, stride, expansion, se_ratio, h, w, cin, cout, num_classes)
    return LayerConfig(
        name, block, index, op, kernel, stride, expansion, se_ratio, skip, h, w, cin, cout, int(params), int(macs)
    )


def arch_layers(arch: Architecture | str, resolution: int = 224, num_classes: int = 1000) -> list[LayerConfig]:
    """Flatten an architecture into its layers with their input shapes and costs."""
    arch = parse_arch(arch)
    layers = [_make("stem", 0, 0, "stem", 3, 2, 1, 0.0, "none", resolution, resolution, 3, arch.stem_filters)]
    h = w = int(out_size(resolution, 2))
    cin = arch.stem_filters
    for bi, b in enumerate(arch.blocks, start=1):
        for j in range(b.layers):
            stride = b.stride if j == 0 else 1
            skip = b.skip
            if skip == "identity" and not layer_applies_identity(stride, cin, b.filters):
                skip = "none"
            layers.append(
                _make(layer_name(bi, j), bi, j, b.op, b.kernel, stride, b.expansion, b.se_ratio, skip, h, w, cin, b.filters)
            )
            h, w, cin = int(out_size(h, stride)), int(out_size(w, stride)), b.filters
    layers.append(
        _make("head", len(arch.blocks) + 1, 0, "head", 1, 1, 1, 0.0, "none", h, w, cin, arch.head_filters, num_classes)
    )
    return layers


def count(arch: Architecture | str, resolution: int = 224, num_classes: int = 1000) -> tuple[int, int]:
    """Total ``(params, macs)`` of an architecture."""
    layers = arch_layers(arch, resolution, num_classes)
    return sum(lay.params for lay in layers), sum(lay.macs for lay in layers)
