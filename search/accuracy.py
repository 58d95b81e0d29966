"""Accuracy of a candidate: proxy training (MnasNet §4: a few epochs on a proxy task).

:class:`ProxyTrainer` builds the candidate with :func:`mnas_pred.builder.build_model` at the
training resolution (the same architecture that is exported at the deployment resolution),
trains it with SGD on the proxy data (``channels_last``, which oneDNN's and cuDNN's convolutions
prefer), re-estimates BatchNorm statistics on training batches, and returns top-1 accuracy on
the validation split. ``TrainSettings.device`` says where (:mod:`search.train_device`: the CPU,
a CUDA GPU with mixed precision, or Apple's MPS, and what is bit-identical on each).

Re-estimating BatchNorm matters for one-epoch proxies: after a few dozen steps the running
averages (momentum 0.1) still mix in the initial statistics, and eval-mode accuracy of a
well-trained-on-batch-statistics network can sit at chance (measured on digits: 30% eval-mode vs
71% with the batch statistics). Recomputing exact averages over a few training batches (as in
Once-for-All) fixes it at a cost of a few forward passes.

Training is deterministic: each candidate gets its own seed derived from the search seed and its
architecture string, and runs on a fixed number of threads, so the same candidate gets the same
accuracy in any process, in any order, on resume (on the CPU bit for bit; on a GPU as far as the
backend allows, see :mod:`search.train_device`) — which lets results be cached per
architecture and evaluated in parallel workers (issue 6) without changing the search.
"""

from __future__ import annotations

import abc
import hashlib
import math
import warnings
from dataclasses import asdict, dataclass, replace

import torch
from torch.nn import functional as F

from mnas_pred.arch import Architecture, parse_arch
from mnas_pred.builder import build_model
from mnas_pred.errors import MnasPredError
from mnas_pred.limits import check
from mnas_pred.threads import torch_threads
from search.analytic import analytic_accuracy
from search.data import DataSpec, ProxyData, load_proxy_data
from search.train_device import TRAIN_DEVICES, autocast, available, deterministic, grad_scaler, torch_device


@dataclass(frozen=True)
class TrainSettings:
    """Proxy-training hyperparameters (the ``search`` command's training options)."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 4e-5
    label_smoothing: float = 0.0
    bn_recalibration_batches: int = 8
    threads: int = 1  # fixed so results do not depend on the machine's core count
    channels_last: bool = True
    device: str = "cpu"  # cpu | cuda | mps, or auto (search.train_device); the search stores the resolved one

    def __post_init__(self):
        check(epochs=self.epochs, train_batch_size=self.batch_size)
        if (not 0 < self.learning_rate < math.inf or not 0 <= self.weight_decay < math.inf
                or not 0 <= self.momentum < 1):
            raise MnasPredError("--lr must be a finite number > 0, --weight-decay finite and >= 0, --momentum in [0, 1)",
                                "e.g. --lr 0.05 --momentum 0.9 --weight-decay 4e-5")
        if self.device not in TRAIN_DEVICES:
            raise MnasPredError(f"unknown --train-device '{self.device}'", f"use one of {', '.join(TRAIN_DEVICES)}")

    def as_dict(self) -> dict:
        return asdict(self)


def candidate_seed(search_seed: int, arch: Architecture | str) -> int:
    """A per-candidate seed: stable across processes and runs (unlike ``hash()``)."""
    digest = hashlib.sha256(f"{search_seed}:{parse_arch(arch).to_string()}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class AccuracyEvaluator(abc.ABC):
    """Maps one architecture to a validation accuracy in [0, 1]."""

    @abc.abstractmethod
    def fingerprint(self) -> dict:
        """Everything that determines the result besides the architecture (cache key)."""

    @abc.abstractmethod
    def accuracy(self, arch: Architecture) -> float:
        """Accuracy of one candidate."""

    def num_classes(self) -> int:
        return 10


class AnalyticAccuracy(AccuracyEvaluator):
    """The deterministic surrogate of :mod:`search.analytic` (tests, benchmarks)."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fingerprint(self) -> dict:
        return {"kind": "analytic", "seed": self.seed}

    def accuracy(self, arch: Architecture) -> float:
        return analytic_accuracy(arch, self.seed)


class ProxyTrainer(AccuracyEvaluator):
    """Train each candidate on proxy data and return its validation accuracy."""

    def __init__(self, data_spec: DataSpec, settings: TrainSettings, seed: int = 0):
        self.data_spec = data_spec
        self.settings = settings
        self.seed = seed
        self._data: ProxyData | None = None
        self._device_data: ProxyData | None = None
        # Where this process lacks the settings' device (the driver of a Ray cluster whose GPUs are
        # on the workers, training the references and the best models for export): train on the
        # CPU with a warning instead of failing.
        self.cpu_if_unavailable = False

    @property
    def data(self) -> ProxyData:
        """The proxy data on the CPU."""
        if self._data is None:  # loaded lazily: worker processes load their own copy once
            self._data = load_proxy_data(self.data_spec)
        return self._data

    def _on(self, device: torch.device) -> ProxyData:
        """The proxy data resident on ``device`` (moved once per process)."""
        if device.type == "cpu":
            return self.data
        if self._device_data is None or self._device_data.train_x.device.type != device.type:
            d = self.data
            self._device_data = replace(d, train_x=d.train_x.to(device), train_y=d.train_y.to(device),
                                        val_x=d.val_x.to(device), val_y=d.val_y.to(device))
        return self._device_data

    def num_classes(self) -> int:
        return self.data.num_classes

    def fingerprint(self) -> dict:
        train = self.settings.as_dict()
        if train["device"] == "cpu":  # the CPU gives the numbers of caches written before --train-device existed
            del train["device"]
        return {"kind": "proxy", "data": self.data_spec.as_dict(), "train": train, "seed": self.seed}

    def accuracy(self, arch: Architecture) -> float:
        return self.train(arch)[1]

    def train(self, arch: Architecture | str) -> tuple[torch.nn.Module, float]:
        """Train one candidate; returns the trained model (eval mode, on the CPU) and its validation
        accuracy."""
        arch = parse_arch(arch)
        s = self.settings
        if self.cpu_if_unavailable and s.device not in ("auto", "cpu") and not available(s.device):
            warnings.warn(f"this process has no {s.device} device: {arch.to_string()} is trained on the CPU here, "
                          "so its weights and accuracy differ slightly from a GPU training", stacklevel=2)
            s = replace(s, device="cpu")
        device = torch_device(s.device)
        data = self._on(device)
        # MPS's channels_last support is partial: plain NCHW there
        fmt = torch.channels_last if s.channels_last and device.type != "mps" else torch.contiguous_format
        # the CUDA generator is seeded by manual_seed too: restore it afterwards like the CPU one
        rng_devices = [torch.cuda.current_device()] if device.type == "cuda" else []
        scaler = grad_scaler(device)
        with torch_threads(s.threads), torch.random.fork_rng(devices=rng_devices), deterministic(device):
            seed = candidate_seed(self.seed, arch)
            torch.manual_seed(seed)
            # built on the CPU from the seed, then moved: the same initial weights on every device
            model = build_model(arch, num_classes=data.num_classes, resolution=data.train_x.shape[-1])
            model = model.to(device=device, memory_format=fmt)
            opt = torch.optim.SGD(model.parameters(), lr=s.learning_rate, momentum=s.momentum,
                                  nesterov=s.nesterov and s.momentum > 0, weight_decay=s.weight_decay)
            n = len(data.train_y)
            bs = min(s.batch_size, n)
            steps_per_epoch = max(1, n // bs)  # drop the last partial batch: BatchNorm dislikes tiny batches
            total = s.epochs * steps_per_epoch
            # linear warm-up over the first 10% of steps, then cosine decay: stable in one epoch
            warm = max(1, total // 10)
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda i: (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total - warm))))
            gen = torch.Generator().manual_seed(seed)  # batch order from the CPU generator on every device
            model.train()
            for _ in range(s.epochs):
                perm = torch.randperm(n, generator=gen).to(device)
                for i in range(steps_per_epoch):
                    idx = perm[i * bs:(i + 1) * bs]
                    x = data.train_x[idx].contiguous(memory_format=fmt)
                    with autocast(device):
                        loss = F.cross_entropy(model(x), data.train_y[idx], label_smoothing=s.label_smoothing)
                    opt.zero_grad(set_to_none=True)
                    if scaler is None:
                        loss.backward()
                        opt.step()
                    else:  # float16: scale the loss so that small gradients do not underflow
                        scaler.scale(loss).backward()
                        scaler.step(opt)
                        scaler.update()
                    sched.step()
            self._recalibrate_bn(model, data, gen, fmt, device)
            model.eval()
            correct = 0
            with torch.no_grad(), autocast(device):
                for i in range(0, len(data.val_y), 256):
                    x = data.val_x[i:i + 256].contiguous(memory_format=fmt)
                    correct += int((model(x).argmax(1) == data.val_y[i:i + 256]).sum())
        return model.cpu(), correct / len(data.val_y)

    def _recalibrate_bn(self, model, data, gen, fmt, device):
        batches = self.settings.bn_recalibration_batches
        if batches <= 0:
            return
        bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the recalibration batches
        bs = min(self.settings.batch_size * 2, len(data.train_y))
        perm = torch.randperm(len(data.train_y), generator=gen).to(device)
        model.train()
        with torch.no_grad(), autocast(device):
            for i in range(batches):
                idx = perm[i * bs:(i + 1) * bs]
                if len(idx) < 2:
                    break
                model(data.train_x[idx].contiguous(memory_format=fmt))
        for m in bns:
            m.momentum = 0.1


__all__ = ["AccuracyEvaluator", "AnalyticAccuracy", "ProxyTrainer", "TrainSettings",
           "candidate_seed"]
