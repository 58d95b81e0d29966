"""Linux boards over ssh, timed with ONNX Runtime's Python API on the board (design.md §4).

The system ``ssh`` runs every step, so the user's ``~/.ssh/config``, keys, agents and jump hosts
apply; ``BatchMode=yes`` makes a missing key an error instead of a password prompt. Per model:

1. the model travels as ``ssh HOST 'mkdir -p DIR && cat > DIR/model-<sha>.onnx'`` (stdin), under
   a name derived from its sha256;
2. :mod:`device_profiler.remote_runner` is sent on stdin to ``python3 -``: it pins itself to the
   fastest cores, runs warm-up and timed runs (each run one end-to-end sample), then a separate
   profiled session, and prints the samples as JSON;
3. the profile comes back with ``cat`` and is parsed with :mod:`device_profiler.trace`; the
   model and profile are removed from the board.

Files move through ``ssh … cat`` rather than ``scp``: ``scp``'s remote paths are shell text in
the legacy protocol but literal (glob-expanded) in the SFTP protocol that OpenSSH ≥ 9.0 uses by
default, so no one quoting is right for both, and boards running dropbear often have no SFTP
server. With ``cat`` there is one rule, :func:`shlex.quote`. Connections are multiplexed
(``ControlMaster``) so the several steps per model share one TCP/SSH handshake.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from device_profiler import trace
from device_profiler._base import Device
from device_profiler._shell import (
    check_identifier,
    check_remote_path,
    first_line,
    quote_join,
    run,
    split_rc_marker,
    with_rc_marker,
)
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("remote_runner.py")
RESULT_MARK = "MNAS_RESULT "
DEFAULT_REMOTE_DIR = "/tmp/mnas-pred"
# user@host, host, host:port-less aliases, IPv6 in brackets; no spaces, quotes or shell syntax.
# OpenSSH < 9.6 passes a host name unchecked to ProxyCommand's shell (%h), so it is checked here.
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9._+-]+@)?(?:[A-Za-z0-9._%-]+|\[[0-9A-Fa-f:.%]+\])$")
HOST_FIX = "give a host as user@host or an alias from ~/.ssh/config (letters, digits, . _ - @ only)"


def check_host(host: str) -> str:
    check_identifier(host, "ssh host", HOST_FIX)
    if not _HOST_RE.match(host):
        raise DeviceError(f"ssh host {host!r} is not a valid host name", HOST_FIX)
    return host


def classify_ssh_error(host: str, rc: int, stderr: str, *, lost: bool = False) -> DeviceError:
    """One-line :class:`DeviceError` for an ``ssh`` connection failure (exit 255)."""
    line = first_line(stderr) or f"ssh exited {rc}"
    low = stderr.lower()
    if lost and any(s in low for s in ("closed", "broken pipe", "reset", "timeout", "not responding", "refused")):
        return DeviceError(f"ssh host {host} was lost during the run ({line})",
                           "check the board and re-run; finished models are kept", transient=True)
    if "could not resolve hostname" in low or "name or service not known" in low:
        return DeviceError(f"ssh host {host}: cannot resolve the host name ({line})",
                           "check the name, or add a Host entry to ~/.ssh/config")
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return DeviceError(f"ssh host {host}: host key verification failed",
                           f"connect once with `ssh {host}` to check and accept its host key")
    if "permission denied" in low or "too many authentication failures" in low:
        return DeviceError(f"ssh host {host} refused the login ({line})",
                           f"set up key login with `ssh-copy-id {host}` (ssh runs with BatchMode=yes: no passwords)")
    if any(s in low for s in ("connection refused", "timed out", "no route to host", "network is unreachable",
                              "connection closed", "connection reset")):
        return DeviceError(f"ssh host {host} is unreachable ({line})",
                           f"check that the board is on and runs sshd; test with `ssh {host} true`", transient=lost)
    return DeviceError(f"ssh host {host}: {line}", f"test the connection with `ssh {host} true`", transient=lost)


class SshDevice(Device):
    """A Linux board reached with the system ``ssh``."""

    def __init__(
        self,
        host: str,
        ssh: str = "ssh",
        python: str = "python3",
        ssh_options: list[str] | None = None,
        remote_dir: str = DEFAULT_REMOTE_DIR,
        connect_timeout_s: int = 10,
        command_timeout_s: float = 600.0,
        multiplex: bool = True,
        pin: bool = True,
    ):
        self.host = check_host(host)
        self.ssh = shutil.which(ssh) or ssh
        self.python = python
        self.ssh_options = list(ssh_options or [])
        self.remote_dir = check_remote_path(remote_dir)
        self.connect_timeout_s = connect_timeout_s
        self.command_timeout_s = command_timeout_s
        self.pin = pin
        self._control_dir = tempfile.mkdtemp(prefix="mnas-ssh-") if multiplex else None
        # Stop the multiplexing master even when close() is never called (it would linger
        # for ControlPersist seconds otherwise).
        self._finalizer = weakref.finalize(self, _stop_master, self._base_argv(), self.host, self._control_dir)
        self._seen = False
        self._ready = False
        self._info: dict | None = None
        self._counter = 0

    # --------------------------------------------------------------- ssh plumbing
    def _base_argv(self) -> list[str]:
        argv = [self.ssh, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout_s}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]
        if self._control_dir:
            argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self._control_dir}/%C",
                     "-o", "ControlPersist=60"]
        return argv + self.ssh_options

    def _ssh(self, command: str, *, stdin_bytes: bytes | None = None, stdin_path: Path | None = None,
             timeout: float | None = None) -> tuple[int, str, str]:
        """Run shell text on the board; returns the remote exit status."""
        argv = [*self._base_argv(), "--", self.host, with_rc_marker(command)]
        p = run(argv, stdin_bytes=stdin_bytes, stdin_path=stdin_path,
                timeout=timeout or self.command_timeout_s, what=f"ssh {self.host}")
        rc, out = split_rc_marker(p.stdout)
        if rc is None:
            raise classify_ssh_error(self.host, p.returncode, p.stderr, lost=self._seen)
        self._seen = True
        return rc, out, p.stderr

    def _runner(self, args: list[str], timeout: float | None = None) -> dict:
        rc, out, err = self._ssh(quote_join([self.python, "-", *args]), stdin_bytes=RUNNER.read_bytes(),
                                 timeout=timeout)
        result = None
        for line in reversed(out.splitlines()):
            if line.startswith(RESULT_MARK):
                result = json.loads(line[len(RESULT_MARK):])
                break
        if rc == 127 or (result is None and "not found" in err):
            raise DeviceError(f"ssh host {self.host}: {self.python} not found on the board",
                              "install Python 3 and onnxruntime there (`python3 -m pip install onnxruntime`)")
        if result is None:
            raise DeviceError(f"ssh host {self.host}: the remote runner failed ({first_line(err) or f'exit {rc}'})",
                              f"check that `{self.python}` on the board is Python >= 3.8")
        if not result.get("ok"):
            if result.get("error") == "onnxruntime_missing":
                raise DeviceError(f"ssh host {self.host}: onnxruntime is not installed for {result.get('python')}",
                                  f"install it on the board: `{self.python} -m pip install onnxruntime`")
            raise DeviceError(f"ssh host {self.host}: the model failed on the board ({result.get('detail')})",
                              "check that the board's onnxruntime supports opset 17")
        return result

    def _rpath(self, name: str) -> str:
        return f"{self.remote_dir}/{name}"

    # --------------------------------------------------------------- Device API
    def _ensure_ready(self) -> None:
        if self._ready:
            return
        rc, out, err = self._ssh(quote_join(["mkdir", "-p", self.remote_dir]))
        if rc != 0:
            raise DeviceError(f"ssh host {self.host}: cannot create {self.remote_dir} ({first_line(err + out)})",
                              "pass a writable remote directory")
        self._ready = True

    def remote_info(self) -> dict:
        return self._runner(["--info"])

    def info(self) -> DeviceInfo:
        self._ensure_ready()
        i = self.remote_info()
        self._info = i
        model = i.get("board_model") or i.get("cpu_model") or self.host
        props = {
            "host": self.host,
            "hostname": i.get("hostname"),
            "board_model": i.get("board_model"),
            "cpu_model": i.get("cpu_model"),
            "os": i.get("os"),
            "abi": i.get("machine"),
            "python": i.get("python"),
            "online_cpus": i.get("online_cpus"),
            "cpu_max_khz": {k: v.get("max_khz") for k, v in i.get("cpus", {}).items()},
            "cpu_governor": {k: v.get("governor") for k, v in i.get("cpus", {}).items()},
            "temperature_c": i.get("temperature_c"),
        }
        return DeviceInfo(key=f"ssh:{self.host}", kind="ssh", model=model, properties=props,
                          runtime="onnxruntime", runtime_version=i.get("ort_version", ""))

    def time_model(self, model_path: Path, settings: MeasureSettings) -> RawTiming:
        onnx_path = self.checked_model_path(model_path)
        self._ensure_ready()
        data = onnx_path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        self._counter += 1
        model = self._rpath(f"model-{sha[:16]}.onnx")
        prefix = self._rpath(f"prof-{sha[:12]}-{self._counter}")
        rc, out, err = self._ssh(f"cat > {quote_join([model])}", stdin_bytes=data)
        if rc != 0:
            raise DeviceError(f"ssh host {self.host}: copying the model failed ({first_line(err + out)})",
                              "check free space in the remote directory")
        profile_path = None
        try:
            args = ["--model", model, "--threads", str(settings.threads), "--warmup", str(settings.warmup),
                    "--runs", str(settings.runs), "--profile-runs", str(settings.profile_runs),
                    "--profile-prefix", prefix]
            if not self.pin:
                args.append("--no-pin")
            t0 = time.monotonic()
            result = self._runner(args)
            wall = time.monotonic() - t0
            events, kept = [], 0
            profile_path = result.get("profile")
            if profile_path:
                rc, text, err = self._ssh(quote_join(["cat", profile_path]))
                if rc != 0:
                    raise DeviceError(f"ssh host {self.host}: reading the profile failed ({first_line(err)})",
                                      "re-run; the profile was not written")
                events, kept = trace.node_events(trace.load_trace(text), drop_first_runs=1)
        finally:
            try:
                self._ssh(quote_join(["rm", "-f", model] + ([profile_path] if profile_path else [])))
            except DeviceError:
                pass
        metadata = {k: result.get(k) for k in ("affinity", "pinned_cores", "cpu_max_khz", "governor",
                                               "temperature_c", "temperature_c_after", "ort_version")}
        metadata.update({"affinity_mask": format(sum(1 << c for c in result.get("affinity") or []), "x"),
                         "sample_kind": "per_run", "model_sha256": sha, "remote_wall_s": round(wall, 3)})
        return RawTiming(samples_ms=[float(x) for x in result["samples_ms"]], node_events=events,
                         profiled_runs=kept, metadata=metadata)

    def close(self) -> None:
        self._finalizer()


def _stop_master(base_argv: list[str], host: str, control_dir: str | None) -> None:
    if not control_dir:
        return
    try:
        subprocess.run([*base_argv, "-O", "exit", "--", host], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass
    shutil.rmtree(control_dir, ignore_errors=True)


def list_ssh_hosts(hosts: list[str], ssh: str = "ssh", ssh_options: list[str] | None = None,
                   python: str = "python3", connect_timeout_s: int = 5) -> list[dict]:
    """For ``mnas-pred devices --ssh H``: each host with ``state`` (``ready``, ``no onnxruntime``,
    ``unreachable``/``invalid``), ``model``, ``onnxruntime`` version, and a ``fix`` when not ready."""
    out = []
    for host in hosts:
        entry = {"host": host, "kind": "ssh", "state": "ready", "model": "", "onnxruntime": "", "usable": True}
        try:
            dev = SshDevice(host, ssh=ssh, python=python, ssh_options=ssh_options,
                            connect_timeout_s=connect_timeout_s, multiplex=False)
            i = dev.remote_info()
            entry["model"] = i.get("board_model") or i.get("cpu_model") or ""
            entry["onnxruntime"] = i.get("ort_version", "")
            if not entry["onnxruntime"]:
                entry.update(state="no onnxruntime", usable=False,
                             fix=f"install it on the board: `{python} -m pip install onnxruntime`")
        except DeviceError as e:
            entry.update(state="unreachable" if "valid" not in e.problem else "invalid", usable=False,
                         problem=e.problem, fix=e.fix)
        out.append(entry)
    return out
