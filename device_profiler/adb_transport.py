"""Talking to one phone over adb: shell commands with their remote exit status, push and pull,
tools installed once in a remote folder, and every failure as a one-line error with its fix.

Runners of any runtime on the phone build on :class:`AdbTransport` (the ONNX Runtime one is
:class:`device_profiler.adb.AdbDevice`). Every argument of a remote shell command is quoted by
the caller with :func:`~device_profiler._shell.quote_join` (``adb shell`` joins its arguments
with spaces, unquoted); the remote exit status travels back in stdout, which tells a failing
command apart from a lost device (both make ``adb`` exit 255).
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

from device_profiler._shell import (
    check_identifier,
    check_remote_path,
    first_line,
    quote_join,
    run,
    split_rc_marker,
    with_rc_marker,
)
from device_profiler.adb_binary import find_adb
from device_profiler.adb_errors import DEVICES_FIX, classify_adb_error, state_error, strip_daemon_notes
from device_profiler.adb_parsing import parse_devices_l
from device_profiler.model_files import sha256_file
from mnas_pred.errors import DeviceError

log = logging.getLogger(__name__)

DEFAULT_REMOTE_DIR = "/data/local/tmp/mnas-pred"


def list_adb_devices(adb: str | None = None, timeout: float = 30.0) -> list[dict]:
    """Devices as ``adb devices -l`` sees them: ``serial``, ``state`` (``device``, ``offline``,
    ``unauthorized``, ``no permissions``, ...), ``model``, ``product``, ``transport_id``,
    ``usable`` and, for an unusable one, the ``fix``."""
    exe = find_adb(adb)
    p = run([exe, "devices", "-l"], timeout=timeout, what="adb devices")
    if p.returncode != 0:
        raise DeviceError(f"`adb devices` failed: {first_line(strip_daemon_notes(p.stderr) + p.stdout)}",
                          "run `adb kill-server` and retry")
    return parse_devices_l(p.stdout)


class AdbTransport:
    """``adb -s SERIAL`` with a remote working folder ``remote_dir``."""

    def __init__(self, serial: str, adb: str | None = None, remote_dir: str = DEFAULT_REMOTE_DIR,
                 command_timeout_s: float = 600.0):
        self.serial = check_identifier(serial, "adb serial", DEVICES_FIX)
        self.adb = find_adb(adb)
        self.remote_dir = check_remote_path(remote_dir)
        self.command_timeout_s = command_timeout_s
        self.seen = False  # the device answered once: its disappearance is transient from then on

    def call(self, *args: str, timeout: float | None = None) -> tuple[int, str, str]:
        """``adb -s SERIAL ARGS...``: exit status, stdout, stderr (without adb's daemon notes)."""
        p = run([self.adb, "-s", self.serial, *args], timeout=timeout or self.command_timeout_s,
                what=f"adb -s {self.serial} {args[0]}")
        return p.returncode, p.stdout, strip_daemon_notes(p.stderr)

    def error(self, rc: int, err: str, out: str) -> DeviceError:
        """The error of a failed adb call."""
        e = classify_adb_error(self.serial, rc, err, out, lost=self.seen)
        if "unauthorized" in e.problem or "no permissions" in e.problem:
            # adb reports an unauthorized (or inaccessible) phone for *any* serial it cannot
            # match while such a phone is connected: check that ours is the one listed.
            try:
                listed = {d["serial"] for d in list_adb_devices(self.adb)}
            except DeviceError:
                return e
            if self.serial not in listed:
                return state_error(self.serial, "not found", lost=self.seen)
        return e

    def shell(self, command: str, *, timeout: float | None = None) -> tuple[int, str, str]:
        """Run shell text on the phone; returns the *remote* exit status. ``command`` must be
        built with :func:`quote_join` (or be constant text)."""
        rc, out, err = self.call("shell", with_rc_marker(command), timeout=timeout)
        remote_rc, out = split_rc_marker(out)
        if remote_rc is None:
            raise self.error(rc, err, out)
        self.seen = True
        return remote_rc, out, err

    def shell_ok(self, command: str, what: str, fix: str, **kw) -> str:
        """:meth:`shell`, raising ``what`` failed with ``fix`` on a non-zero remote status."""
        rc, out, err = self.shell(command, **kw)
        if rc != 0:
            raise DeviceError(f"adb device {self.serial}: {what} failed ({first_line(err + out) or f'exit {rc}'})", fix)
        return out

    def push(self, local: Path, remote: str) -> None:
        rc, out, err = self.call("push", str(local), remote)
        if rc != 0:
            text = err + out
            if any(k in text for k in ("couldn't create file", "No space left", "Read-only", "Permission denied",
                                       "cannot stat")):
                raise DeviceError(
                    f"adb device {self.serial}: push of {local.name} failed ({first_line(text)})",
                    "check free space and permissions of the remote directory (--remote-dir)",
                )
            raise self.error(rc, err, out)

    def pull(self, remote: str, local: Path) -> None:
        rc, out, err = self.call("pull", remote, str(local))
        if rc != 0:
            text = err + out
            if "does not exist" in text:
                raise DeviceError(f"adb device {self.serial}: {first_line(text)}", "re-run; the profile was not written")
            raise self.error(rc, err, out)

    def rpath(self, name: str) -> str:
        """The remote path of a file in the working folder."""
        return f"{self.remote_dir}/{name}"

    def in_remote_dir(self, command: str) -> str:
        """``command`` (already quoted) run from the remote working folder."""
        return f"cd {shlex.quote(self.remote_dir)} && {command}"

    def make_remote_dir(self) -> None:
        self.shell_ok(quote_join(["mkdir", "-p", self.remote_dir]), f"creating {self.remote_dir}",
                      "pass a writable --remote-dir (default /data/local/tmp/mnas-pred)")

    def has_file(self, name: str) -> bool:
        rc, _, _ = self.shell(quote_join(["test", "-f", self.rpath(name)]))
        return rc == 0

    def install_tool(self, local: Path | None, name: str, executable: bool, missing_fix: str) -> str:
        """Put ``local`` into the working folder as ``name`` unless the file there is the same
        (by sha256, or by size where the phone has no ``sha256sum``); returns its sha256 ("" when
        no ``local`` was given and the phone's copy is used). A missing executable raises with
        ``missing_fix``."""
        remote = self.rpath(name)
        if local is None:
            if not self.has_file(name) and executable:
                raise DeviceError(f"adb device {self.serial}: {name} is not in {self.remote_dir}", missing_fix)
            return ""
        sha = sha256_file(local)
        size = local.stat().st_size
        rc, out, _ = self.shell(quote_join(["sha256sum", remote]))
        same = rc == 0 and out.split()[:1] == [sha]
        if rc == 127 or (rc != 0 and "not found" in out):  # no sha256sum on this phone: compare sizes
            rc2, out2, _ = self.shell(quote_join(["stat", "-c", "%s", remote]))
            same = rc2 == 0 and out2.strip() == str(size)
        if not same:
            log.info("pushing %s to %s", local, remote)
            self.push(local, remote)
        if executable:
            self.shell_ok(quote_join(["chmod", "755", remote]), f"chmod {name}", "pass a writable --remote-dir")
        return sha
