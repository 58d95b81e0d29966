"""Optional dependencies, in one place (LightGBM's ``compat.py`` idea).

Each extra is imported lazily, the first time a feature needs it, through :func:`require`: the
default install (and every command that does not use the extra) never pays for importing Ray or
a 2 GB converter, and a missing extra is one line naming the ``pip install`` that fixes it, not
an ``ImportError`` traceback. :func:`available` answers "is it installed?" without importing.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType

from mnas_pred.errors import MnasPredError


@dataclass(frozen=True)
class Extra:
    """An optional module: which pip extra installs it and what it is for."""

    module: str
    extra: str
    purpose: str

    @property
    def install(self) -> str:
        return f"pip install 'mnas-pred[{self.extra}]'"


EXTRAS: dict[str, Extra] = {
    e.module: e
    for e in (
        Extra("ray", "ray", "a Ray cluster (--ray-address)"),
        Extra("pyarrow", "parquet", "Parquet files"),
        Extra("litert_torch", "litert", "converting networks to LiteRT (--runtime litert)"),
        Extra("ai_edge_litert", "litert", "running LiteRT models on this CPU (--runtime litert)"),
    )
}


def available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, *, fix: str | None = None) -> ModuleType:
    """Import an optional module, or raise one user error naming the extra that installs it.

    ``fix`` replaces the default advice (e.g. "or drop --ray-address") when a feature has another
    way out; the pip line is always part of the message."""
    extra = EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        advice = extra.install if fix is None else f"{extra.install} ({fix})"
        raise MnasPredError(f"{extra.purpose} needs the '{extra.extra}' extra, which is not installed ({e})",
                            advice) from None


__all__ = ["EXTRAS", "Extra", "available", "require"]
