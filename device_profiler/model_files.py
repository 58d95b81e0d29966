"""Model files for the device: where the campaign loop gets the file it hands to
``Device.time_model`` for an architecture.

:class:`ModelFiles` is the extension point. :class:`OnnxFiles` exports ONNX models in this
process, one when asked (0.2-0.6 s against seconds of measuring). A runtime that needs a slower
conversion (LiteRT: ``device_profiler.litert.model_files.TfliteFiles``) converts ahead of the
device in worker processes, starting at :meth:`ModelFiles.prefetch`.
:func:`device_profiler.formats.open_model_files` chooses by ``Device.model_format``.
"""

from __future__ import annotations

import abc
import hashlib
import tempfile
import threading
from pathlib import Path

from mnas_pred.threads import torch_threads

# torch.onnx.export keeps exporter state in module globals (opset, export mode), so two threads
# of one process (several phones profiling at once) must not export at the same time. An export
# takes 0.2-0.6 s against seconds of measuring, so serializing costs little.
_EXPORT_LOCK = threading.Lock()


class ModelFiles(abc.ABC):
    """Model files of one format for one resolution and class count. Thread-safe: the workers
    of a campaign on several devices share one.

    :meth:`path` blocks until the file of an architecture exists and returns it; the caller
    hands it back with :meth:`release` when the device is done with it (a provider that keeps a
    cache keeps the file; one that writes temporary files deletes it). :meth:`close` ends
    whatever the provider started and removes its temporary files."""

    fmt: str  # the format of the files, as Device.model_format names it

    def __init__(self, resolution: int, num_classes: int, workdir: str | Path | None = None):
        self.resolution, self.num_classes = resolution, num_classes
        self.workdir = workdir

    def prefetch(self, archs: list[str]) -> None:  # noqa: B027 - optional hook
        """The architectures the caller will ask for, in order: a provider may start making
        their files now. The default makes each one when asked."""

    @abc.abstractmethod
    def path(self, arch: str) -> Path:
        """The file of ``arch`` (an architecture string), made if need be; blocks until it exists."""

    def sha256(self, path: Path) -> str:
        """The sha256 of a file :meth:`path` gave (the model's identity in the store); a provider
        that has the bytes at hand overrides this to spare reading the file again."""
        return sha256_file(path)

    def release(self, arch: str) -> None:  # noqa: B027 - optional hook
        """The caller is done with the file :meth:`path` gave for ``arch``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop the provider's workers and remove its temporary files. Safe to call twice."""

    def __enter__(self) -> ModelFiles:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OnnxFiles(ModelFiles):
    """ONNX models exported in this process (random weights), one temporary file per
    architecture while a caller holds it."""

    fmt = "onnx"

    def __init__(self, resolution: int, num_classes: int, workdir: str | Path | None = None):
        super().__init__(resolution, num_classes, workdir)
        self._tmp = tempfile.TemporaryDirectory(prefix="mnas-pred-model-", dir=workdir)
        self._lock = threading.Lock()
        self._held: dict[str, tuple[Path, int]] = {}  # arch -> (file, callers holding it)
        self._sha: dict[Path, str] = {}  # file -> sha256 of the bytes exported to it
        self._count = 0

    def path(self, arch: str) -> Path:
        with self._lock:
            if arch in self._held:
                file, users = self._held[arch]
                self._held[arch] = (file, users + 1)
                return file
            self._count += 1
            file = Path(self._tmp.name) / f"model-{self._count}.onnx"
        sha = hashlib.sha256(export_one_thread(arch, file, self.resolution, self.num_classes)).hexdigest()
        with self._lock:
            if arch in self._held:  # another thread exported it meanwhile: use that one
                other, users = self._held[arch]
                self._held[arch] = (other, users + 1)
                file.unlink(missing_ok=True)
                return other
            self._held[arch] = (file, 1)
            self._sha[file] = sha
        return file

    def sha256(self, path: Path) -> str:
        with self._lock:
            sha = self._sha.get(Path(path))
        return sha if sha is not None else super().sha256(path)

    def release(self, arch: str) -> None:
        with self._lock:
            if arch not in self._held:
                return
            file, users = self._held[arch]
            if users > 1:
                self._held[arch] = (file, users - 1)
                return
            del self._held[arch]
            self._sha.pop(file, None)
        file.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._held.clear()
            self._sha.clear()
        self._tmp.cleanup()


def export_one_thread(arch, path: Path, resolution: int, num_classes: int) -> bytes:
    """Export with one torch thread: the TorchScript export is mostly Python, and with the
    default thread pool it took up to 2 s instead of 0.2 s whenever the other core was busy.
    The caller's thread count is restored (the search stage trains in the same process)."""
    from mnas_pred.export import export_onnx

    with _EXPORT_LOCK, torch_threads(1):
        return export_onnx(arch, path, resolution=resolution, num_classes=num_classes)


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file, read in blocks (a model's identity in the store and on the device)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
