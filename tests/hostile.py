"""Helpers of the hostile-file tests (issue 12): run the real CLI on a crafted file and check
that it refused it the way every user error is refused: exit code 2, exactly one line on
stderr (``error: ...``), no traceback, and nothing written or changed on disk.

Every case runs through :func:`mnas_pred.cli.main` in the test process (a native crash there
would take the test run down with it, so it cannot pass unnoticed), and a few per class also
through ``python -m mnas_pred`` in a subprocess, where a crash shows as its signal number.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mnas_pred.cli import main


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to show nothing was created or changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(code: int, err: str, fragment: str = "") -> str:
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err[-2000:]}"
    assert len(lines) == 1, err[-2000:]
    assert lines[0].startswith("error: ") and "Traceback" not in err, err[-2000:]
    assert fragment in lines[0], lines[0]
    return lines[0]


def refused_in_process(capsys, args, fragment: str = "", folder: Path | None = None) -> str:
    """``main(args)`` refuses with one line; ``folder`` (if given) is left byte for byte as it was."""
    before = snapshot(folder) if folder is not None else None
    code = main([str(a) for a in args])
    line = assert_refused(code, capsys.readouterr().err, fragment)
    if folder is not None:
        assert snapshot(folder) == before, "the command created or changed files"
    return line


def refused_by_subprocess(args, fragment: str = "", folder: Path | None = None) -> str:
    """``python -m mnas_pred ARGS`` refuses with one line (a native crash would show as exit 134/139)."""
    before = snapshot(folder) if folder is not None else None
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-m", "mnas_pred", *map(str, args)], capture_output=True, text=True,
                         env=env, timeout=300)
    line = assert_refused(res.returncode, res.stderr, fragment)
    if folder is not None:
        assert snapshot(folder) == before, "the command created or changed files"
    return line
