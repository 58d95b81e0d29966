"""Subprocess and quoting helpers shared by the remote devices (adb, ssh).

Two rules hold for every remote command:

* Local tools (``adb``, ``ssh``) run as argument vectors, never through a local shell, so a
  serial, host or path is only ever an argument, never shell text.
* The remote side *does* run a shell: ``adb shell`` joins its arguments with spaces without
  quoting and ``ssh`` hands its command line to the login shell. So every argument of a remote
  command is quoted with :func:`shlex.quote` (:func:`quote_join`); the only unquoted shell text
  sent is constant text written in this package (``&&``, ``;``, fixed scripts).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mnas_pred.errors import DeviceError

#: Marker appended to remote commands to carry the remote exit status in stdout. It tells a
#: command that failed (e.g. ``onnxruntime_perf_test`` exits 255) apart from a dropped connection
#: (``adb`` and ``ssh`` also exit 255), and works on devices without adb's shell protocol v2,
#: where ``adb shell`` always exits 0.
RC_MARKER = "__mnas_pred_rc="


def quote_join(args: Sequence[str | os.PathLike]) -> str:
    """One shell command line from arguments, each quoted."""
    return " ".join(shlex.quote(os.fspath(a)) for a in args)


def with_rc_marker(command: str) -> str:
    """``command`` followed by an ``echo`` of its exit status (see :data:`RC_MARKER`)."""
    return f"{command}; echo {RC_MARKER}$?"


def split_rc_marker(stdout: str) -> tuple[int | None, str]:
    """Remote exit status from a marked command's stdout (None when the marker never came,
    i.e. the connection dropped) and the stdout without the marker line."""
    idx = stdout.rfind(RC_MARKER)
    if idx < 0:
        return None, stdout
    tail = stdout[idx + len(RC_MARKER):].strip().splitlines()
    try:
        rc = int(tail[0]) if tail else None
    except ValueError:
        rc = None
    return rc, stdout[:idx]


@dataclass
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(argv: Sequence[str | os.PathLike], *, timeout: float | None = None, stdin_bytes: bytes | None = None,
        stdin_path: Path | None = None, what: str = "command") -> Completed:
    """Run a local tool (no shell). A missing tool or a timeout becomes a :class:`DeviceError`
    (a timeout is transient: the device may come back)."""
    argv = [os.fspath(a) for a in argv]
    try:
        if stdin_path is not None:
            with open(stdin_path, "rb") as fh:
                p = subprocess.run(argv, stdin=fh, capture_output=True, timeout=timeout)
        else:
            p = subprocess.run(
                argv, input=stdin_bytes, stdin=None if stdin_bytes is not None else subprocess.DEVNULL,
                capture_output=True, timeout=timeout,
            )
    except FileNotFoundError:
        raise DeviceError(f"{argv[0]} not found", f"install it or pass its path ({what})") from None
    except PermissionError:
        raise DeviceError(f"{argv[0]} is not executable", f"fix its permissions or pass another path ({what})") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(
            f"{what} did not finish within {timeout:.0f} s", "check the device and re-run; finished models are kept",
            transient=True,
        ) from None
    return Completed(argv, p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def find_tool(explicit: str | os.PathLike | None, env_var: str, name: str, fix: str) -> str:
    """A tool from an explicit path, else ``$ENV_VAR``, else ``PATH``."""
    for candidate in (explicit, os.environ.get(env_var) or None):
        if candidate:
            candidate = os.fspath(candidate)
            found = shutil.which(candidate) if os.sep not in candidate else candidate
            if not found or not os.access(found, os.X_OK):
                raise DeviceError(f"{name} '{candidate}' is not an executable file", fix)
            return found
    found = shutil.which(name)
    if not found:
        raise DeviceError(f"{name} not found on PATH", fix)
    return found


def first_line(text: str) -> str:
    """The first non-empty line of a tool's message, for one-line errors."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_identifier(value: str, what: str, fix: str) -> str:
    """Reject values that a tool would read as an option (leading ``-``) or that hold control
    characters (newlines would split a shell command). Shell metacharacters are harmless here:
    values are passed as arguments or quoted."""
    if not value or value.startswith("-") or _CONTROL.search(value):
        raise DeviceError(f"{what} {value!r} is not valid", fix)
    return value


def check_remote_path(path: str, what: str = "remote directory") -> str:
    """Remote paths must be absolute and free of control characters (they are always quoted)."""
    if not path.startswith("/") or _CONTROL.search(path):
        raise DeviceError(f"{what} {path!r} is not valid", "give an absolute path without control characters")
    return path.rstrip("/") or "/"
