"""Where proxy training runs: ``--train-device auto|cpu|cuda|mps``.

``auto`` picks CUDA, then Apple's MPS, then the CPU. On a Ray cluster the driver may have no GPU
while its workers do, so there the choice follows ``--gpus-per-trial``: with GPUs reserved
every candidate trains on the GPU Ray gave its task (``cuda``), without them on the CPU.

What each device does (:class:`search.accuracy.ProxyTrainer`):

* ``cpu``: float32, ``channels_last`` (oneDNN's preferred layout), a fixed thread count.
  Bit-identical for the same candidate in any process, order or resume: the numbers of every
  earlier version.
* ``cuda``: the proxy data moved to the GPU once per process, ``channels_last``, automatic mixed
  precision (bfloat16 where the GPU supports it, else float16 with a gradient scaler),
  ``cudnn.deterministic`` with ``cudnn.benchmark`` off, and
  ``torch.use_deterministic_algorithms(True, warn_only=True)`` (``CUBLAS_WORKSPACE_CONFIG`` set
  for deterministic cuBLAS). The initial weights and the order of the training batches come from
  the same per-candidate seed as on the CPU. *Bit-identical* on the same GPU model with the same
  PyTorch/CUDA/cuDNN versions for candidates without squeeze-and-excitation; the backward pass of
  SE's global average pooling (``adaptive_avg_pool2d``) has no deterministic CUDA kernel, so
  candidates with SE can differ in the last bits between runs (PyTorch's warnings about it are
  silenced: they would repeat for every candidate). *Not* bit-identical to the CPU, across GPU
  models, between bfloat16 and float16 GPUs, or across library versions: an accuracy cache is
  only reused by a search with the same settings, device included.
* ``mps``: float32, contiguous layout, data on the device; PyTorch documents no determinism
  controls for MPS, so repeated runs can differ in the last bits.

A proxy candidate is a small network on small images: a GPU is only kept busy with a large enough
``--train-batch-size`` and ``--train-resolution``; the per-step Python overhead is the same on
every device.
"""

from __future__ import annotations

import functools
import os
import warnings
from contextlib import contextmanager, nullcontext

import torch

from mnas_pred.errors import MnasPredError

TRAIN_DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available(kind: str) -> bool:
    """Whether this process can train on ``kind``."""
    return {"cpu": lambda: True, "cuda": torch.cuda.is_available, "mps": _mps_available}[kind]()


def pick_local() -> str:
    """``auto`` in this process: CUDA, then MPS, then the CPU."""
    return next(k for k in ("cuda", "mps", "cpu") if available(k))


def resolve_train_device(requested: str, *, on_ray: bool = False, gpus_per_trial: float = 0.0) -> str:
    """The concrete device (``cpu``, ``cuda`` or ``mps``) candidates train on, or a one-line
    error when it cannot be had."""
    if requested not in TRAIN_DEVICES:
        raise MnasPredError(f"unknown --train-device '{requested}'", f"use one of {', '.join(TRAIN_DEVICES)}")
    if on_ray:  # decided by the resources each task reserves, not by this (driver) machine
        if gpus_per_trial > 0:
            if requested not in ("auto", "cuda"):
                raise MnasPredError(f"--gpus-per-trial reserves GPUs that --train-device {requested} would not use",
                                    "use --train-device cuda (or auto), or drop --gpus-per-trial")
            return "cuda"
        if requested == "cuda":
            raise MnasPredError("--train-device cuda on a Ray cluster needs a GPU reserved for each candidate",
                                "add --gpus-per-trial 1 (a fraction such as 0.5 shares a GPU between candidates)")
        return "cpu" if requested == "auto" else requested
    if requested == "auto":
        return pick_local()
    if not available(requested):
        what = {"cuda": f"PyTorch {torch.__version__} sees no CUDA GPU on this machine",
                "mps": "PyTorch sees no Apple MPS device on this machine"}[requested]
        raise MnasPredError(f"--train-device {requested}: {what}",
                            "use --train-device cpu or auto (or install a PyTorch build for that accelerator)")
    return requested


def torch_device(kind: str) -> torch.device:
    """The device to train on in this process. In a Ray task with a GPU reserved, Ray has set
    ``CUDA_VISIBLE_DEVICES`` to that GPU, so ``cuda`` is the task's own GPU."""
    if kind == "auto":
        kind = pick_local()
    if not available(kind):
        raise MnasPredError(f"--train-device {kind}: not available in this process",
                            "use --train-device cpu or auto")
    return torch.device(kind)


@functools.cache  # asked once per training step: query the GPU once per device
def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Autocast dtype on CUDA (bfloat16 where supported, else float16); None elsewhere."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device):
    dtype = amp_dtype(device)
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


def grad_scaler(device: torch.device):
    """A gradient scaler for float16 autocast (bfloat16 and float32 need none)."""
    return torch.amp.GradScaler(device.type) if amp_dtype(device) is torch.float16 else None


@contextmanager
def deterministic(device: torch.device):
    """Deterministic kernels for the duration (CUDA); the CPU needs nothing: it already is."""
    if device.type != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS workspaces
    cudnn = torch.backends.cudnn
    before = (cudnn.deterministic, cudnn.benchmark, torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    cudnn.deterministic, cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation.*")
            yield
    finally:
        cudnn.deterministic, cudnn.benchmark = before[0], before[1]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])


__all__ = ["TRAIN_DEVICES", "amp_dtype", "autocast", "available", "deterministic", "grad_scaler", "pick_local",
           "resolve_train_device", "torch_device"]
