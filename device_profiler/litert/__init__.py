"""LiteRT (formerly TensorFlow Lite), the optional second runtime (``--runtime litert``).

* :mod:`device_profiler.litert.convert`: the ``build_model`` network → ``.tflite`` with
  litert-torch, in a cache folder keyed by architecture, resolution, classes and converter version.
* :mod:`device_profiler.litert.model_files`: :class:`TfliteFiles`, the campaign's model files,
  converted ahead of the device in worker processes.
* :mod:`device_profiler.litert.local`: :class:`LocalLiteRtDevice`, LiteRT on this CPU through
  ``ai-edge-litert`` (end to end only: its Python API has no per-op profiler).

Nothing here is imported by the default (ONNX Runtime) path, and this package imports neither
litert-torch nor ai-edge-litert at import time: both come in through
:func:`mnas_pred.compat.require` where they are used, so a missing extra is one line naming
``pip install 'mnas-pred[litert]'``.
"""

from __future__ import annotations

EXTRA_MODULES = ("litert_torch", "ai_edge_litert")


def check_extra() -> None:
    """Raise the one-line error naming ``pip install 'mnas-pred[litert]'`` when a module of the extra is
    missing. Checks without importing (litert-torch takes seconds to import)."""
    from mnas_pred.compat import available, require

    for module in EXTRA_MODULES:
        if not available(module):
            require(module)  # raises MnasPredError naming the extra


__all__ = ["EXTRA_MODULES", "check_extra"]
