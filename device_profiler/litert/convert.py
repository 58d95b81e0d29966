"""PyTorch → LiteRT: the same :func:`mnas_pred.builder.build_model` network as a ``.tflite`` file.

``litert_torch.convert(model.eval(), (example,)).export(path)``: float32, batch 1, the layout the
converter emits. The file keeps PyTorch's NCHW input and output signature; inside, the convolutions
are NHWC and the converter adds TRANSPOSE ops where the PyTorch graph needs NCHW: after the input,
around the channel padding of ``pool`` shortcuts and before the head's mean (9 of 94 ops in one
224x224 network seen here). Their time is part of every LiteRT latency measured here, as it would
be on a phone. Tensor names keep the module path
(``mnas_pred.builder.SearchedNetwork/mnas_pred.builder.SearchedLayer_block6_layer2/...``), which
is how per-op profiles map back to layers.
A conversion takes 35-55 s per 224x224 network on a loaded 2-core machine (ONNX export: 0.3-0.6 s),
so every converted file is kept in a cache folder and a re-run never converts twice.

The cache (:class:`TfliteCache`) is keyed by the canonical architecture string, resolution,
number of classes and the converter's versions (litert-torch and torch): a converter upgrade
converts again instead of timing a stale file. A file appears under its final name only once it
is complete (written beside it, then renamed), so a conversion killed half-way never counts;
a lock file per entry stops two processes sharing the cache from converting the same network at once.
Weights are random but seeded, so the PyTorch network of a cached file can be rebuilt exactly
(:func:`seeded_model`) to compare outputs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from device_profiler.model_files import sha256_file
from mnas_pred.files import atomic_write_bytes

WEIGHT_SEED = 0  # every converted network's random weights; seeded_model() rebuilds them
CACHE_ENV = "MNAS_PRED_CACHE_DIR"


def converter_versions() -> dict[str, str]:
    """The versions a converted file depends on (read from package metadata, nothing imported)."""
    out = {}
    for dist in ("litert-torch", "torch"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = ""
    return out


def default_cache_dir() -> Path:
    """``$MNAS_PRED_CACHE_DIR/tflite``, else ``$XDG_CACHE_HOME/mnas-pred/tflite``, else ``~/.cache/mnas-pred/tflite``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root) / "tflite"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnas-pred" / "tflite"


def cache_key(arch: str, resolution: int, num_classes: int, versions: dict[str, str]) -> str:
    ident = {"arch": arch, "resolution": int(resolution), "num_classes": int(num_classes),
             "format": "tflite-float32-batch1", "seed": WEIGHT_SEED, "converter": versions}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def seeded_model(arch, resolution: int, num_classes: int):
    """The PyTorch network a cached file was converted from (same seeded random weights), in eval mode."""
    import torch

    from mnas_pred.builder import build_model

    torch.manual_seed(WEIGHT_SEED)
    return build_model(arch, num_classes=num_classes, resolution=resolution).eval()


def convert_model(model, resolution: int, path: str | os.PathLike) -> float:
    """Convert a PyTorch module to ``path`` (written beside it, then renamed); returns the seconds taken."""
    import torch

    from mnas_pred.compat import require

    litert_torch = require("litert_torch")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    example = torch.zeros(1, 3, resolution, resolution)
    start = time.perf_counter()
    try:
        with torch.no_grad():
            litert_torch.convert(model.eval(), (example,)).export(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return time.perf_counter() - start


@dataclass(frozen=True)
class Converted:
    """A converted network in the cache: its file, hash, conversion time and whether this call converted it."""

    arch: str
    path: Path
    sha256: str
    convert_s: float  # seconds the conversion took (when it was done, possibly by an earlier run)
    converted_now: bool


class TfliteCache:
    """A folder of converted networks: ``<key>.tflite`` plus ``<key>.json`` (what it is, how long it took)."""

    def __init__(self, folder: str | os.PathLike | None = None, versions: dict[str, str] | None = None):
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.versions = versions or converter_versions()

    def path(self, arch: str, resolution: int, num_classes: int) -> Path:
        return self.folder / f"{cache_key(arch, resolution, num_classes, self.versions)}.tflite"

    def lookup(self, arch: str, resolution: int, num_classes: int) -> Converted | None:
        """The cached conversion, or None when this network has not been converted (completely) yet."""
        path = self.path(arch, resolution, num_classes)
        if not path.is_file():
            return None
        meta = self._meta(path)
        sha = meta.get("sha256") or sha256_file(path)
        return Converted(arch, path, sha, float(meta.get("convert_s", 0.0)), converted_now=False)

    @staticmethod
    def _meta(path: Path) -> dict:
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            return meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            return {}

    @contextmanager
    def _locked(self, path: Path):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel if this process dies
            yield

    def convert(self, arch, resolution: int, num_classes: int) -> Converted:
        """The cached file of ``arch``, converting it first if no complete one is there."""
        from mnas_pred.arch import parse_arch

        arch_str = parse_arch(arch).to_string()
        path = self.path(arch_str, resolution, num_classes)
        with self._locked(path):
            hit = self.lookup(arch_str, resolution, num_classes)
            if hit is not None:  # converted earlier, or by another process while we waited for the lock
                return hit
            seconds = convert_model(seeded_model(arch_str, resolution, num_classes), resolution, path)
            sha = sha256_file(path)
            meta = {"arch": arch_str, "resolution": resolution, "num_classes": num_classes, "sha256": sha,
                    "convert_s": round(seconds, 3), "versions": self.versions,
                    "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta, indent=1).encode(), durable=False)
            return Converted(arch_str, path, sha, seconds, converted_now=True)


__all__ = ["CACHE_ENV", "Converted", "TfliteCache", "cache_key", "convert_model", "converter_versions",
           "default_cache_dir", "seeded_model"]
