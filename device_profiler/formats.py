"""Which :class:`~device_profiler.model_files.ModelFiles` makes the files a device takes
(``Device.model_format``). The providers of optional runtimes are imported only when asked for;
this factory sits apart from the base class so that they can import it without a cycle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from device_profiler.model_files import ModelFiles, OnnxFiles
from mnas_pred.errors import DeviceError


def model_files_class(fmt: str) -> type[ModelFiles]:
    """The provider of files in ``fmt`` (a ``Device.model_format``); LiteRT's is imported only
    when asked for."""
    if fmt == "onnx":
        return OnnxFiles
    if fmt == "tflite":
        from device_profiler.litert.model_files import TfliteFiles

        return TfliteFiles
    raise DeviceError(f"no model files of format '{fmt}'", "use a device whose model_format is onnx or tflite")


@contextmanager
def open_model_files(fmt: str, resolution: int, num_classes: int,
                     workdir: str | Path | None = None) -> Iterator[ModelFiles]:
    """Model files in ``fmt`` for one resolution and class count, closed on exit."""
    files = model_files_class(fmt)(resolution, num_classes, workdir)
    try:
        yield files
    finally:
        files.close()
