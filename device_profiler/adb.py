"""Android phones over adb, timed with ONNX Runtime's ``onnxruntime_perf_test`` (design.md §4).

Per session, the device is checked, ``onnxruntime_perf_test`` and ``libonnxruntime.so`` are
pushed to ``remote_dir`` (skipped when the file there already has the same sha256, or the same
size where the phone has no ``sha256sum``), and the big cores are chosen from
``cpuinfo_max_freq``. Per model:

1. wait (bounded, with a message) while the device is hotter than ``cool_down_c``;
2. push the model under a name derived from its sha256 (never from the local file name);
3. a warm-up burst (``-r warmup``, results dropped; it brings the clocks up and the file into
   the page cache);
4. the timed runs as several short bursts: ``onnxruntime_perf_test`` prints only aggregates
   (average and percentiles), so ``settings.runs`` is split into bursts of ``burst_runs`` runs
   and each burst gives one end-to-end sample, its median (``P50 Latency``; the average where an
   old build prints no percentiles). Each burst is a new process (new session, one warm-up
   inference of perf_test's own), so the samples are independent and a transient slowdown
   moves one sample, not the statistics of all; every burst's full figures go to
   ``metadata["bursts"]``;
5. a separate profiled run (``-p PREFIX``); ONNX Runtime writes ``PREFIX_<date>_<time>.json``,
   found by listing, pulled and parsed with :mod:`device_profiler.trace` (perf_test's own
   warm-up inference is the first run in the profile and is dropped);
6. the model and profile are removed from the phone.

Every command runs pinned: ``taskset MASK`` with ``LD_LIBRARY_PATH`` pointing at ``remote_dir``.
Every argument of a remote shell command is quoted (``adb shell`` joins its arguments with
spaces, unquoted); the remote exit status travels back in stdout, which tells a failing command
apart from a lost device (both make ``adb`` exit 255).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import shlex
import tempfile
import time
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
from device_profiler.adb_binary import find_adb
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming

log = logging.getLogger(__name__)

DEFAULT_REMOTE_DIR = "/data/local/tmp/mnas-pred"
PERF_TEST_NAME = "onnxruntime_perf_test"
# the fix when the phone lacks the tools (search, which has no --perf-test, replaces it)
TOOLS_FIX = "pass --perf-test PATH (an Android arm64 build of onnxruntime_perf_test) and --ort-lib PATH"
ORT_LIB_NAME = "libonnxruntime.so"
DEVICES_FIX = "run `mnas-pred devices` to list connected phones and pass one with --serial"

# Constant shell text (no user input): CPU max/current frequencies, governors, thermal zones.
_PROBE_SCRIPT = r"""
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  n=${c##*/cpu}
  echo "cpu|$n|$(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null)|$(cat $c/cpufreq/scaling_cur_freq 2>/dev/null)|$(cat $c/cpufreq/scaling_governor 2>/dev/null)"
done
for z in /sys/class/thermal/thermal_zone[0-9]*; do
  echo "tz|${z##*/}|$(cat $z/type 2>/dev/null)|$(cat $z/temp 2>/dev/null)"
done
"""
_THERMAL_CPU = re.compile(r"cpu|soc|cluster|big|little|tsens|mtktscpu|ap|core", re.I)


# ----------------------------------------------------------------------------- parsing


def parse_devices_l(text: str) -> list[dict]:
    """Parse ``adb devices -l``. States may contain spaces (``no permissions (...)``); the
    trailing ``key:value`` tokens (``usb:``, ``product:``, ``model:``, ...) are properties."""
    out = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("*") or line.startswith("List of devices"):
            continue
        parts = line.split()
        serial, rest = parts[0], parts[1:]
        props: dict[str, str] = {}
        while rest and re.fullmatch(r"[a-z_]+:\S*", rest[-1]):
            key, _, value = rest.pop().partition(":")
            props[key] = value
        state = " ".join(rest)
        short = "no permissions" if state.startswith("no permissions") else state
        entry = {
            "serial": serial,
            "state": short,
            "state_detail": state,
            "model": props.get("model", ""),
            "product": props.get("product", ""),
            "device": props.get("device", ""),
            "transport_id": props.get("transport_id", ""),
            "usb": props.get("usb", ""),
            "usable": short == "device",
        }
        entry["fix"] = "" if short == "device" else _state_error(serial, short).fix
        entry["note"] = entry["fix"]
        out.append(entry)
    return out


_LAT_NEW = re.compile(r"^P(\d+) Latency:\s*([0-9.eE+-]+)\s*s\b", re.M)
_LAT_OLD = re.compile(r"^P(\d+) Latency is\s*([0-9.eE+-]+)\s*sec", re.M)
_AVG = re.compile(r"^Average inference time cost(?: total)?:\s*([0-9.eE+-]+)\s*ms", re.M)
_MINMAX = re.compile(r"^(Min|Max) Latency(?::| is)\s*([0-9.eE+-]+)\s*s", re.M)
_REQ = re.compile(r"^Total inference requests:\s*(\d+)", re.M)
_CREATE = re.compile(r"^Session creation time cost:\s*([0-9.eE+-]+)\s*s", re.M)


def parse_perf_test_output(text: str) -> dict:
    """Figures from ``onnxruntime_perf_test`` stdout, in milliseconds: ``avg_ms``, ``p50_ms``,
    ``p90_ms``, ... (percentiles are printed in seconds, ``P50 Latency: 0.0018 s``; older builds
    print ``P50 Latency is 0.0587sec``; newer ones ``Average inference time cost total:``)."""
    result: dict = {}
    m = _AVG.search(text)
    if m:
        result["avg_ms"] = float(m.group(1))
    for rx in (_LAT_NEW, _LAT_OLD):
        for pct, value in rx.findall(text):
            result.setdefault(f"p{pct}_ms", float(value) * 1000.0)
    for which, value in _MINMAX.findall(text):
        result[f"{which.lower()}_ms"] = float(value) * 1000.0
    m = _REQ.search(text)
    if m:
        result["requests"] = int(m.group(1))
    m = _CREATE.search(text)
    if m:
        result["session_create_s"] = float(m.group(1))
    return result


def burst_sample_ms(figures: dict) -> float | None:
    """One end-to-end sample from one burst: its median, else its average."""
    return figures.get("p50_ms", figures.get("avg_ms"))


def parse_getprop(text: str) -> dict[str, str]:
    """``getprop`` without arguments prints ``[key]: [value]`` lines."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, re.M))


def parse_probe(text: str) -> tuple[dict[int, dict], dict[str, tuple[str, float]]]:
    """CPU table ``{cpu: {max_khz, cur_khz, governor}}`` and thermal zones ``{zone: (type, °C)}``."""
    cpus: dict[int, dict] = {}
    zones: dict[str, tuple[str, float]] = {}
    for line in text.splitlines():
        f = line.strip().split("|")
        if f[0] == "cpu" and len(f) == 5 and f[1].isdigit():
            cpus[int(f[1])] = {
                "max_khz": int(f[2]) if f[2].strip().isdigit() else None,
                "cur_khz": int(f[3]) if f[3].strip().isdigit() else None,
                "governor": f[4].strip(),
            }
        elif f[0] == "tz" and len(f) == 4:
            try:
                raw = float(f[3])
            except ValueError:
                continue
            c = raw / 1000.0 if abs(raw) >= 1000 else raw  # millidegrees on almost every kernel
            if -30 < c < 150:
                zones[f[1]] = (f[2].strip(), c)
    return cpus, zones


def cpu_temperature(zones: dict[str, tuple[str, float]]) -> float | None:
    """The hottest CPU/SoC zone (any zone if none is named like one)."""
    cpu = [c for t, c in zones.values() if _THERMAL_CPU.search(t) and "batt" not in t.lower()]
    pool = cpu or [c for _t, c in zones.values()]
    return max(pool) if pool else None


def big_cores(cpus: dict[int, dict], threads: int) -> list[int]:
    """The fastest cores by ``cpuinfo_max_freq``: at least ``threads`` of them, and the whole
    cluster at the slowest frequency taken (the scheduler picks within it)."""
    known = sorted(((v["max_khz"] or 0, n) for n, v in cpus.items()), reverse=True)
    if not known or known[0][0] == 0:
        return sorted(cpus)
    cutoff = known[min(max(threads, 1), len(known)) - 1][0]
    return sorted(n for f, n in known if f >= cutoff)


def affinity_mask(cores: list[int]) -> str:
    """Hexadecimal ``taskset`` mask of a core list."""
    return format(sum(1 << c for c in cores), "x")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- errors


def _strip_daemon_notes(stderr: str) -> str:
    """Drop the ``* daemon not running; starting now`` lines adb prints when it starts its server."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith("* daemon"))


def _state_error(serial: str, state: str, *, lost: bool = False) -> DeviceError:
    who = f"adb device {serial}"
    if state == "unauthorized":
        return DeviceError(f"{who} is unauthorized", "accept the USB-debugging prompt on the phone, then re-run")
    if state == "offline":
        return DeviceError(
            f"{who} is offline", "reconnect the USB cable (or run `adb reconnect`), then re-run", transient=lost
        )
    if state == "no permissions":
        return DeviceError(
            f"{who}: no permissions to open the USB device",
            "add a udev rule for the phone (https://developer.android.com/studio/run/device) and re-plug it",
        )
    if state == "not found":
        if lost:
            return DeviceError(
                f"{who} was lost during the run", "reconnect it and re-run; finished models are kept", transient=True
            )
        return DeviceError(f"{who} not found", DEVICES_FIX)
    return DeviceError(f"{who} is in state '{state}'", f"wait until `adb devices` shows it as 'device'; {DEVICES_FIX}")


def classify_adb_error(serial: str, rc: int, stderr: str, stdout: str = "", *, lost: bool = False) -> DeviceError:
    """One-line :class:`DeviceError` for a failed ``adb`` call. ``lost``: the device worked
    earlier in this session, so its disappearance is transient (the loop may stop or retry)."""
    text = f"{stderr}\n{stdout}"
    low = text.lower()
    if "unauthorized" in low:
        return _state_error(serial, "unauthorized", lost=lost)
    if "more than one device" in low or "more than one emulator" in low:
        return DeviceError("more than one adb device/emulator is connected", f"pass --serial SERIAL; {DEVICES_FIX}")
    if "no permissions" in low or "insufficient permissions" in low:
        return _state_error(serial, "no permissions", lost=lost)
    if "device offline" in low or "device still connecting" in low:
        return _state_error(serial, "offline", lost=lost)
    if "not found" in low and "device" in low or "no devices/emulators found" in low:
        return _state_error(serial, "not found", lost=lost)
    if rc == 255 or "closed" in low or "connection reset" in low:
        return DeviceError(
            f"adb device {serial}: connection lost ({first_line(text) or f'exit {rc}'})",
            "reconnect the phone and re-run; finished models are kept", transient=True,
        )
    return DeviceError(f"adb device {serial}: {first_line(text) or f'adb exited {rc}'}",
                       f"check the phone with `adb -s {shlex.quote(serial)} shell true`", transient=lost)


# ----------------------------------------------------------------------------- device listing


def list_adb_devices(adb: str | None = None, timeout: float = 30.0) -> list[dict]:
    """Devices as ``adb devices -l`` sees them: ``serial``, ``state`` (``device``, ``offline``,
    ``unauthorized``, ``no permissions``, ...), ``model``, ``product``, ``transport_id``,
    ``usable`` and, for an unusable one, the ``fix``."""
    exe = find_adb(adb)
    p = run([exe, "devices", "-l"], timeout=timeout, what="adb devices")
    if p.returncode != 0:
        raise DeviceError(f"`adb devices` failed: {first_line(_strip_daemon_notes(p.stderr) + p.stdout)}", "run `adb kill-server` and retry")
    return parse_devices_l(p.stdout)


# ----------------------------------------------------------------------------- the device


class AdbDevice(Device):
    """An Android phone reached with ``adb -s SERIAL``."""

    def __init__(
        self,
        serial: str,
        adb: str | None = None,
        perf_test: str | None = None,
        ort_lib: str | None = None,
        remote_dir: str = DEFAULT_REMOTE_DIR,
        cool_down_c: float = 45.0,
        cool_down_timeout_s: float = 300.0,
        cool_down_poll_s: float = 5.0,
        burst_runs: int = 10,
        command_timeout_s: float = 600.0,
        runtime_version: str = "",
    ):
        self.serial = check_identifier(serial, "adb serial", DEVICES_FIX)
        self.adb = find_adb(adb)
        self.perf_test = Path(perf_test) if perf_test else None
        self.ort_lib = Path(ort_lib) if ort_lib else None
        for p, flag in ((self.perf_test, "--perf-test"), (self.ort_lib, "--ort-lib")):
            if p is not None and not p.is_file():
                raise DeviceError(f"{flag} {p} does not exist", f"pass the path of the Android (arm64) {p.name} build")
        self.remote_dir = check_remote_path(remote_dir)
        self.cool_down_c = cool_down_c
        self.cool_down_timeout_s = cool_down_timeout_s
        self.cool_down_poll_s = cool_down_poll_s
        self.burst_runs = max(1, int(burst_runs))
        self.command_timeout_s = command_timeout_s
        self.runtime_version = runtime_version
        self._ready = False
        self._seen = False  # the device answered once: its disappearance is transient from then on
        self._props: dict[str, str] = {}
        self._cpus: dict[int, dict] = {}
        self._tool_sha: dict[str, str] = {}
        self._has_lib = False
        self._counter = 0

    # --------------------------------------------------------------- adb plumbing
    def _adb(self, *args: str, timeout: float | None = None) -> tuple[int, str, str]:
        p = run([self.adb, "-s", self.serial, *args], timeout=timeout or self.command_timeout_s,
                what=f"adb -s {self.serial} {args[0]}")
        return p.returncode, p.stdout, _strip_daemon_notes(p.stderr)

    def _error(self, rc: int, err: str, out: str) -> DeviceError:
        e = classify_adb_error(self.serial, rc, err, out, lost=self._seen)
        if "unauthorized" in e.problem or "no permissions" in e.problem:
            # adb reports an unauthorized (or inaccessible) phone for *any* serial it cannot
            # match while such a phone is connected: check that ours is the one listed.
            try:
                listed = {d["serial"] for d in list_adb_devices(self.adb)}
            except DeviceError:
                return e
            if self.serial not in listed:
                return _state_error(self.serial, "not found", lost=self._seen)
        return e

    def _shell(self, command: str, *, timeout: float | None = None) -> tuple[int, str, str]:
        """Run shell text on the phone; returns the *remote* exit status. ``command`` must be
        built with :func:`quote_join` (or be constant text of this module)."""
        rc, out, err = self._adb("shell", with_rc_marker(command), timeout=timeout)
        remote_rc, out = split_rc_marker(out)
        if remote_rc is None:
            raise self._error(rc, err, out)
        self._seen = True
        return remote_rc, out, err

    def _shell_ok(self, command: str, what: str, fix: str, **kw) -> str:
        rc, out, err = self._shell(command, **kw)
        if rc != 0:
            raise DeviceError(f"adb device {self.serial}: {what} failed ({first_line(err + out) or f'exit {rc}'})", fix)
        return out

    def _push(self, local: Path, remote: str) -> None:
        rc, out, err = self._adb("push", str(local), remote)
        if rc != 0:
            text = err + out
            if any(k in text for k in ("couldn't create file", "No space left", "Read-only", "Permission denied",
                                       "cannot stat")):
                raise DeviceError(
                    f"adb device {self.serial}: push of {local.name} failed ({first_line(text)})",
                    "check free space and permissions of the remote directory (--remote-dir)",
                )
            raise self._error(rc, err, out)

    def _pull(self, remote: str, local: Path) -> None:
        rc, out, err = self._adb("pull", remote, str(local))
        if rc != 0:
            text = err + out
            if "does not exist" in text:
                raise DeviceError(f"adb device {self.serial}: {first_line(text)}", "re-run; the profile was not written")
            raise self._error(rc, err, out)

    def _rpath(self, name: str) -> str:
        return f"{self.remote_dir}/{name}"

    # --------------------------------------------------------------- session setup
    def _ensure_ready(self) -> None:
        if self._ready:
            return
        self._shell_ok(quote_join(["mkdir", "-p", self.remote_dir]), f"creating {self.remote_dir}",
                       "pass a writable --remote-dir (default /data/local/tmp/mnas-pred)")
        self._props = parse_getprop(self._shell_ok("getprop", "getprop", DEVICES_FIX))
        self._probe()
        self._install_tool(self.perf_test, PERF_TEST_NAME, executable=True)
        self._install_tool(self.ort_lib, ORT_LIB_NAME, executable=False)
        rc, out, _ = self._shell(quote_join(["test", "-f", self._rpath(ORT_LIB_NAME)]))
        self._has_lib = rc == 0
        self._ready = True

    def _install_tool(self, local: Path | None, name: str, executable: bool) -> None:
        remote = self._rpath(name)
        if local is None:
            rc, _, _ = self._shell(quote_join(["test", "-f", remote]))
            if rc != 0 and executable:
                raise DeviceError(f"adb device {self.serial}: {name} is not in {self.remote_dir}", TOOLS_FIX)
            return
        sha = _sha256_file(local)
        size = local.stat().st_size
        rc, out, _ = self._shell(quote_join(["sha256sum", remote]))
        same = rc == 0 and out.split()[:1] == [sha]
        if rc == 127 or (rc != 0 and "not found" in out):  # no sha256sum on this phone: compare sizes
            rc2, out2, _ = self._shell(quote_join(["stat", "-c", "%s", remote]))
            same = rc2 == 0 and out2.strip() == str(size)
        if not same:
            log.info("pushing %s to %s", local, remote)
            self._push(local, remote)
        if executable:
            self._shell_ok(quote_join(["chmod", "755", remote]), f"chmod {name}", "pass a writable --remote-dir")
        self._tool_sha[name] = sha

    def _probe(self) -> dict[str, tuple[str, float]]:
        out = self._shell_ok(quote_join(["sh", "-c", _PROBE_SCRIPT]), "reading /sys", DEVICES_FIX)
        cpus, zones = parse_probe(out)
        if cpus:
            self._cpus = cpus
        return zones

    def temperature_c(self) -> float | None:
        return cpu_temperature(self._probe())

    def wait_cool(self) -> dict:
        """Wait while the CPU is hotter than ``cool_down_c`` (at most ``cool_down_timeout_s``)."""
        start = time.monotonic()
        temp = self.temperature_c()
        first = temp
        warned = False
        while temp is not None and temp > self.cool_down_c:
            waited = time.monotonic() - start
            if waited >= self.cool_down_timeout_s:
                log.warning("adb device %s is still at %.1f °C after %.0f s; measuring anyway (recorded)",
                            self.serial, temp, waited)
                break
            if not warned:
                log.warning("adb device %s is at %.1f °C (limit %.1f °C): waiting up to %.0f s for it to cool",
                            self.serial, temp, self.cool_down_c, self.cool_down_timeout_s)
                warned = True
            time.sleep(self.cool_down_poll_s)
            temp = self.temperature_c()
        return {"temperature_c": temp, "temperature_c_before_wait": first,
                "cool_down_wait_s": round(time.monotonic() - start, 3),
                "too_hot": temp is not None and temp > self.cool_down_c}

    # --------------------------------------------------------------- Device API
    def info(self) -> DeviceInfo:
        self._ensure_ready()
        p = self._props
        zones = self._probe()
        soc = " ".join(x for x in (p.get("ro.soc.manufacturer", ""), p.get("ro.soc.model", "")) if x) or \
            p.get("ro.board.platform", "") or p.get("ro.hardware", "")
        props = {
            "serial": self.serial,
            "manufacturer": p.get("ro.product.manufacturer", ""),
            "soc": soc,
            "board_platform": p.get("ro.board.platform", ""),
            "abi": p.get("ro.product.cpu.abi", ""),
            "sdk": p.get("ro.build.version.sdk", ""),
            "os": f"Android {p.get('ro.build.version.release', '')}".strip(),
            "build": p.get("ro.build.fingerprint", ""),
            "cpu_max_khz": {str(n): v["max_khz"] for n, v in sorted(self._cpus.items())},
            "cpu_governor": {str(n): v["governor"] for n, v in sorted(self._cpus.items())},
            "temperature_c": cpu_temperature(zones),
            "runner": PERF_TEST_NAME,
            "perf_test_sha256": self._tool_sha.get(PERF_TEST_NAME, ""),
            "ort_lib_sha256": self._tool_sha.get(ORT_LIB_NAME, ""),
        }
        return DeviceInfo(
            key=f"adb:{self.serial}", kind="adb", model=p.get("ro.product.model", "") or self.serial,
            properties=props, runtime="onnxruntime", runtime_version=self.runtime_version,
        )

    def _perf_test_command(self, model: str, runs: int, threads: int, mask: str, profile: str | None) -> str:
        args = ["env"]
        if self._has_lib:
            args.append(f"LD_LIBRARY_PATH={self.remote_dir}")
        args += ["taskset", mask, f"./{PERF_TEST_NAME}", "-m", "times", "-r", str(runs), "-I",
                 "-x", str(threads), "-e", "cpu"]
        if profile:
            args += ["-p", profile]
        args.append(model)
        return self._in_remote_dir(quote_join(args))

    def _in_remote_dir(self, command: str) -> str:
        """``command`` (already quoted) run from the remote working directory."""
        return f"cd {shlex.quote(self.remote_dir)} && {command}"

    def _run_perf_test(self, model: str, runs: int, threads: int, mask: str, profile: str | None = None) -> dict:
        rc, out, err = self._shell(self._perf_test_command(model, runs, threads, mask, profile))
        if rc != 0:
            text = err + "\n" + out
            if "libonnxruntime.so" in text and ("not found" in text or "cannot open" in text.lower()):
                raise DeviceError(f"adb device {self.serial}: {PERF_TEST_NAME} cannot load libonnxruntime.so",
                                  "pass --ort-lib PATH (the arm64 libonnxruntime.so the tool was built with)")
            raise DeviceError(
                f"adb device {self.serial}: {PERF_TEST_NAME} failed with exit {rc} ({first_line(err) or first_line(out)})",
                "check that the model runs with this ONNX Runtime build (opset 17) and the ABI matches the phone",
            )
        figures = parse_perf_test_output(out)
        if burst_sample_ms(figures) is None:
            raise DeviceError(f"adb device {self.serial}: no latency in {PERF_TEST_NAME} output "
                              f"({first_line(out) or 'empty'})", "use an onnxruntime_perf_test build from ONNX Runtime >= 1.8")
        return figures

    def time_model(self, onnx_path: Path, settings: MeasureSettings) -> RawTiming:
        onnx_path = Path(onnx_path)
        self._ensure_ready()
        thermal = self.wait_cool()
        cores = big_cores(self._cpus, settings.threads)
        mask = affinity_mask(cores) if cores else "1"
        sha = _sha256_file(onnx_path)
        self._counter += 1
        model = f"model-{sha[:16]}.onnx"
        prefix = f"prof-{sha[:12]}-{self._counter}"
        remote_model = self._rpath(model)
        self._push(onnx_path, remote_model)
        try:
            if settings.warmup > 0:
                self._run_perf_test(model, settings.warmup, settings.threads, mask)
            n_bursts = max(1, math.ceil(settings.runs / self.burst_runs))  # settings.repeats: the protocol's
            sizes = [settings.runs // n_bursts + (1 if i < settings.runs % n_bursts else 0) for i in range(n_bursts)]
            bursts = [self._run_perf_test(model, max(s, 1), settings.threads, mask) for s in sizes]
            samples = [burst_sample_ms(b) for b in bursts]
            events, kept = [], 0
            profile_name = None
            if settings.profile_runs > 0:
                self._shell(self._in_remote_dir(f"rm -f {shlex.quote(prefix)}_*.json"))
                self._run_perf_test(model, settings.profile_runs, settings.threads, mask, profile=prefix)
                listing = self._shell_ok(self._in_remote_dir(f"ls {shlex.quote(prefix)}_*.json"),
                                         "finding the profile", "re-run; the profile was not written")
                names = sorted(n.strip() for n in listing.split() if n.strip().endswith(".json"))
                if not names:
                    raise DeviceError(f"adb device {self.serial}: {PERF_TEST_NAME} wrote no profile",
                                      "use an onnxruntime_perf_test build that supports -p")
                profile_name = names[-1]
                with tempfile.TemporaryDirectory(prefix="mnas-adb-") as tmp:
                    local = Path(tmp) / "profile.json"
                    self._pull(self._rpath(profile_name), local)
                    events, kept = trace.node_events(trace.load_trace(local), drop_first_runs=1)
        finally:
            try:
                self._shell(self._in_remote_dir(f"rm -f {shlex.quote(model)} {shlex.quote(prefix)}_*.json"))
            except DeviceError:
                pass  # the device is gone; the error that matters is already propagating
        after = self.temperature_c()
        metadata = {
            **thermal,
            "temperature_c_after": after,
            "affinity_mask": mask,
            "cores": cores,
            "cpu_max_khz": [self._cpus[c]["max_khz"] for c in cores if c in self._cpus],
            "governor": sorted({self._cpus[c]["governor"] for c in cores if c in self._cpus}),
            "sample_kind": "burst_p50",
            "burst_runs": sizes,
            "bursts": bursts,
            "profile_file": profile_name,
            "model_sha256": sha,
            "perf_test_sha256": self._tool_sha.get(PERF_TEST_NAME, ""),
            "command": self._perf_test_command(model, sizes[0], settings.threads, mask, None),
        }
        return RawTiming(samples_ms=samples, node_events=events, profiled_runs=kept, metadata=metadata)

    def close(self) -> None:
        """Leave the pushed tools for the next session (re-checked by sha256); models and
        profiles are removed after each model already."""
