"""Where the ``adb`` binary comes from: ``--adb``, then ``$ADB``, then ``PATH``, then the copy that
the PyPI package ``adbutils`` ships in ``adbutils/binaries/adb`` (``make install`` puts it in the
virtual environment, so ``mnas-pred devices`` works there without Android platform-tools).

The package is located without importing it: its Python client needs dependencies that the
Makefile does not install (``pip install --no-deps adbutils``), and only the binary is wanted.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from device_profiler._shell import find_tool
from mnas_pred.errors import DeviceError

ADB_FIX = "install Android platform-tools (or `pip install adbutils`), or pass --adb PATH or set $ADB"


def bundled_adb() -> str | None:
    """``adbutils/binaries/adb`` of an installed ``adbutils`` package, if it is executable."""
    spec = importlib.util.find_spec("adbutils")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "binaries" / "adb"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def locate_adb(explicit: str | os.PathLike | None = None) -> tuple[str, str]:
    """``(path, where it was found)``: ``--adb``, ``$ADB``, ``PATH`` or ``the adbutils package``."""
    if explicit or os.environ.get("ADB"):
        return find_tool(explicit, "ADB", "adb", ADB_FIX), "--adb" if explicit else "$ADB"
    try:
        return find_tool(None, "ADB", "adb", ADB_FIX), "PATH"
    except DeviceError:
        bundled = bundled_adb()
        if bundled is None:
            raise DeviceError("adb not found on PATH nor in an installed adbutils package", ADB_FIX) from None
        return bundled, "the adbutils package"


def find_adb(explicit: str | os.PathLike | None = None) -> str:
    return locate_adb(explicit)[0]
