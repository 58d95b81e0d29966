"""Proxy-task datasets: what each candidate is trained on to estimate its accuracy.

``digits``      scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), upsampled
                to the training resolution and repeated over 3 channels. Needs no download: the
                demo and the tests use it.
``cifar10``     the standard "CIFAR-10 python version" folder (``data_batch_1`` … ``data_batch_5``)
                from https://www.cs.toronto.edu/~kriz/cifar.html. Those files are Python pickles;
                they are read with :class:`_ArrayOnlyUnpickler`, which refuses every global except
                the three that rebuild a numpy array, so a tampered file cannot run code.
                ``test_batch`` is left alone: the validation split comes from the training batches,
                as in MnasNet, so the test set stays untouched by the search.
``imagefolder`` a tree ``DIR/<class>/<image>`` (or ``DIR/train/<class>/…`` and ``DIR/val/<class>/…``),
                read with Pillow; every image is converted to RGB and resized to the training
                resolution.

Everything is loaded into memory once as normalized float32 NCHW tensors; the split into training
and validation images is a seeded permutation, the same in every process.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from mnas_pred.errors import MnasPredError
from mnas_pred.limits import check

DATASETS = ("digits", "cifar10", "imagefolder")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


@dataclass(frozen=True)
class DataSpec:
    """Which proxy data to load and how; plain values, so it can cross to worker processes."""

    dataset: str = "digits"
    data_dir: str | None = None
    resolution: int = 32
    val_fraction: float = 0.2
    train_limit: int | None = None  # at most this many training images (cheaper proxy)
    val_limit: int | None = None
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ProxyData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    name: str

    def describe(self) -> str:
        r = self.train_x.shape[-1]
        return (f"{self.name}: {len(self.train_y)} training / {len(self.val_y)} validation images, "
                f"{self.num_classes} classes, {r}x{r}")


def check_spec(spec: DataSpec) -> None:
    """Raise a one-line error for a dataset that cannot be loaded, before any work starts."""
    if spec.dataset not in DATASETS:
        raise MnasPredError(f"unknown dataset '{spec.dataset}'", f"use one of {', '.join(DATASETS)}")
    if spec.dataset != "digits":
        if not spec.data_dir:
            raise MnasPredError(f"--dataset {spec.dataset} needs --data-dir", "point --data-dir at the dataset folder")
        if not Path(spec.data_dir).is_dir():
            raise MnasPredError(f"data directory '{spec.data_dir}' does not exist",
                                "point --data-dir at an existing folder")
    if not 0 < spec.val_fraction < 1:
        raise MnasPredError("--val-fraction must lie strictly between 0 and 1", "e.g. --val-fraction 0.2")
    check(train_resolution=spec.resolution, train_limit=spec.train_limit)


def load_proxy_data(spec: DataSpec) -> ProxyData:
    check_spec(spec)
    if spec.dataset == "digits":
        images, labels, num_classes = _digits()
        split = None
    elif spec.dataset == "cifar10":
        images, labels, num_classes = _cifar10(Path(spec.data_dir))
        split = None
    else:
        images, labels, num_classes, split = _imagefolder(Path(spec.data_dir), spec.resolution)
    if split is None:
        perm = np.random.default_rng(spec.seed).permutation(len(labels))
        n_val = max(1, int(round(spec.val_fraction * len(labels))))
        val_idx, train_idx = perm[:n_val], perm[n_val:]
    else:
        train_idx, val_idx = split
        rng = np.random.default_rng(spec.seed)
        train_idx, val_idx = rng.permutation(train_idx), rng.permutation(val_idx)
    if spec.train_limit:
        train_idx = train_idx[: spec.train_limit]
    if spec.val_limit:
        val_idx = val_idx[: spec.val_limit]
    if len(train_idx) < 2 or len(val_idx) == 0:  # BatchNorm needs two images per batch
        raise MnasPredError(f"dataset {spec.dataset} has too few images for a training/validation split",
                            "add images or lower --val-fraction")
    x = torch.from_numpy(np.ascontiguousarray(images)).float()  # N, 3, H, W in [0, 1]
    if x.shape[-1] != spec.resolution or x.shape[-2] != spec.resolution:
        x = F.interpolate(x, size=(spec.resolution, spec.resolution), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > spec.resolution)
    train_x, val_x = x[train_idx], x[val_idx]
    # per-channel normalization with training statistics only
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return ProxyData(
        train_x=((train_x - mean) / std).contiguous(), train_y=y[train_idx],
        val_x=((val_x - mean) / std).contiguous(), val_y=y[val_idx],
        num_classes=num_classes, name=spec.dataset,
    )


# ---------------------------------------------------------------------------------- digits
def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    img = (d.images.astype(np.float32) / 16.0)[:, None]  # N, 1, 8, 8
    return np.repeat(img, 3, axis=1), d.target, 10


# ---------------------------------------------------------------------------------- CIFAR-10
class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and numpy arrays; refuses every other global
    (the way ``torch.load(weights_only=True)`` does), so no code from the file runs."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a CIFAR-10 batch")
        if name == "_reconstruct":  # numpy 2 moved numpy.core to numpy._core; files name either
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy 1.x
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch → (uint8 images N×3×32×32, int labels)."""
    try:
        doc = _ArrayOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise MnasPredError(f"'{path}' is not a CIFAR-10 python batch ({e})",
                            "download 'CIFAR-10 python version' from https://www.cs.toronto.edu/~kriz/cifar.html") from None
    if not isinstance(doc, dict):
        raise MnasPredError(f"'{path}' is not a CIFAR-10 python batch", "use the files of cifar-10-batches-py")
    doc = {(k.decode() if isinstance(k, bytes) else k): v for k, v in doc.items()}
    data, labels = doc.get("data"), doc.get("labels")
    if not isinstance(data, np.ndarray) or labels is None or data.ndim != 2 or data.shape[1] != 3072 \
            or len(labels) != len(data):
        raise MnasPredError(f"'{path}' lacks CIFAR-10 'data' (N×3072) and 'labels'",
                            "use the files of cifar-10-batches-py")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _cifar10(root: Path):
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    files = sorted(root.glob("data_batch_*"))
    if not files:
        raise MnasPredError(f"no CIFAR-10 training batches (data_batch_1 …) in '{root}'",
                            "point --data-dir at the extracted cifar-10-batches-py folder")
    parts = [read_cifar_batch(f) for f in files]
    images = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    return images, np.concatenate([p[1] for p in parts]), 10


# ---------------------------------------------------------------------------------- ImageFolder
def _class_files(root: Path) -> dict[str, list[Path]]:
    classes = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            classes[d.name] = files
    return classes


def _imagefolder(root: Path, resolution: int):
    from PIL import Image, UnidentifiedImageError

    if (root / "train").is_dir() and (root / "val").is_dir():
        parts = {"train": _class_files(root / "train"), "val": _class_files(root / "val")}
    else:
        parts = {"all": _class_files(root)}
    names = sorted(set().union(*(p.keys() for p in parts.values())))
    if len(names) < 2:
        raise MnasPredError(f"'{root}' needs at least two class folders with images",
                            "lay it out as DIR/<class>/<image> (or DIR/train/<class>/…, DIR/val/<class>/…)")
    index = {n: i for i, n in enumerate(names)}
    images, labels, owner = [], [], []
    for part, classes in parts.items():
        for cls, files in classes.items():
            for f in files:
                try:
                    with Image.open(f) as im:
                        im = im.convert("RGB").resize((resolution, resolution), Image.BILINEAR)
                        images.append(np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0)
                except (UnidentifiedImageError, OSError) as e:
                    raise MnasPredError(f"cannot read image '{f}': {e}", "remove or replace the file") from None
                labels.append(index[cls])
                owner.append(part)
    owner = np.array(owner)
    split = None
    if "train" in parts:
        split = (np.flatnonzero(owner == "train"), np.flatnonzero(owner == "val"))
    return np.stack(images), np.array(labels), len(names), split
