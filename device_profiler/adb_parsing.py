"""Parsers of what adb and the phone print: ``adb devices -l``, ``getprop``, the /sys probe of
CPU frequencies and thermal zones, and ``onnxruntime_perf_test``'s figures; and the choices made
from them (the big cores, their ``taskset`` mask). Pure functions of text."""

from __future__ import annotations

import re

from device_profiler.adb_errors import state_error

_THERMAL_CPU = re.compile(r"cpu|soc|cluster|big|little|tsens|mtktscpu|ap|core", re.I)


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
        entry["fix"] = "" if short == "device" else state_error(serial, short).fix
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
