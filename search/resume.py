"""Which settings of a resumed search differ from its checkpoint's.

Paths are compared by what they name, not by how they are spelled: a file by its content (a
predictor or space file given by another relative path, or copied elsewhere, is the same
setting), a folder by its resolved path. The results folder itself is not compared: the
checkpoint lives in the folder that was given, so a moved results folder resumes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PATH_SETTINGS = ("predictor", "space", "data.data_dir")
NOT_COMPARED = ("out_dir",)


def _identity(value):
    if not isinstance(value, str) or value == "analytic":
        return value
    p = Path(value).expanduser()
    try:
        if p.is_file():
            return ("file", hashlib.sha256(p.read_bytes()).hexdigest())
        return ("path", str(p.resolve()))
    except (OSError, ValueError):  # ValueError: a NUL byte in an edited checkpoint
        return ("path", value)


def _same(key: str, saved, now) -> bool:
    if saved == now:
        return True
    return key in PATH_SETTINGS and _identity(saved) == _identity(now)


def changed_settings(saved: dict, now: dict, resumable: tuple[str, ...] = ()) -> list[str]:
    """Names of the settings (``data.data_dir`` for nested ones) that differ; ``resumable`` names
    those that may (nested ones by their dotted name)."""
    changed = []
    for k in now:
        if k in resumable or k in NOT_COMPARED:
            continue
        if isinstance(now[k], dict) and isinstance(saved.get(k), dict):  # data/train/measure settings
            changed += [f"{k}.{sub}" for sub in now[k] if f"{k}.{sub}" not in resumable
                        and not _same(f"{k}.{sub}", saved[k].get(sub), now[k][sub])]
        elif not _same(k, saved.get(k), now[k]):
            changed.append(k)
    return changed
