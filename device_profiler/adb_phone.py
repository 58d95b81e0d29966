"""An Android phone as a :class:`~device_profiler._base.Device`, whatever runs the models on it.

:class:`AdbPhone` holds what every runner on a phone needs: the session (a remote working
folder, ``getprop``, the CPU table from ``/sys``), the big cores to pin to, the CPU temperature
and the bounded wait for the phone to cool down, and the identity of the phone. A runner
(:class:`device_profiler.adb.AdbDevice` for ``onnxruntime_perf_test``; a LiteRT one for
``benchmark_model``) installs its tools in :meth:`AdbPhone.install_tools` and implements
``time_model`` around :meth:`AdbPhone.model_on_phone` (the file checked, the phone cooled down,
the cores picked, the model pushed); it talks to the phone through ``self.transport``
(:class:`~device_profiler.adb_transport.AdbTransport`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from device_profiler._base import Device
from device_profiler._shell import quote_join
from device_profiler.adb_errors import DEVICES_FIX
from device_profiler.adb_parsing import affinity_mask, big_cores, cpu_temperature, parse_getprop, parse_probe
from device_profiler.adb_transport import DEFAULT_REMOTE_DIR, AdbTransport
from device_profiler.model_files import sha256_file
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo


@dataclass(frozen=True)
class PhoneModel:
    """A model file on the phone, ready to be timed (:meth:`AdbPhone.model_on_phone`)."""

    name: str  # its file name in the remote working folder (commands run from there)
    sha256: str  # of the local file
    cores: list[int]  # the big cores the runs are pinned to
    cpu_mask: str  # their taskset mask
    thermal: dict  # the cool-down wait before the runs (AdbPhone.wait_cool)

log = logging.getLogger(__name__)

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


class AdbPhone(Device):
    """An Android phone reached with ``adb -s SERIAL``; subclasses run the models."""

    def __init__(
        self,
        serial: str,
        adb: str | None = None,
        remote_dir: str = DEFAULT_REMOTE_DIR,
        cool_down_c: float = 45.0,
        cool_down_timeout_s: float = 300.0,
        cool_down_poll_s: float = 5.0,
        command_timeout_s: float = 600.0,
    ):
        self.transport = AdbTransport(serial, adb, remote_dir, command_timeout_s)
        self.serial, self.adb, self.remote_dir = self.transport.serial, self.transport.adb, self.transport.remote_dir
        self.cool_down_c = cool_down_c
        self.cool_down_timeout_s = cool_down_timeout_s
        self.cool_down_poll_s = cool_down_poll_s
        self._ready = False
        self._props: dict[str, str] = {}
        self._cpus: dict[int, dict] = {}
        # the model left on the phone for the next attempt: (local path, size, mtime_ns) -> its name and sha256
        self._kept: tuple[tuple, str, str] | None = None

    # --------------------------------------------------------------- session
    def _ensure_ready(self) -> None:
        if self._ready:
            return
        self.transport.make_remote_dir()
        self._props = parse_getprop(self.transport.shell_ok("getprop", "getprop", DEVICES_FIX))
        self._probe()
        self.install_tools()
        self._ready = True

    def install_tools(self) -> None:  # noqa: B027 - optional hook
        """Put the runner's tools on the phone (once per session)."""

    def _probe(self) -> dict[str, tuple[str, float]]:
        out = self.transport.shell_ok(quote_join(["sh", "-c", _PROBE_SCRIPT]), "reading /sys", DEVICES_FIX)
        cpus, zones = parse_probe(out)
        if cpus:
            self._cpus = cpus
        return zones

    def pinned_cores(self, threads: int) -> list[int]:
        """The big cores a run of ``threads`` threads is pinned to."""
        return big_cores(self._cpus, threads)

    def core_properties(self, cores: list[int]) -> dict:
        """Maximum frequencies and governors of ``cores`` (for a measurement's metadata)."""
        return {"cpu_max_khz": [self._cpus[c]["max_khz"] for c in cores if c in self._cpus],
                "governor": sorted({self._cpus[c]["governor"] for c in cores if c in self._cpus})}

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

    # --------------------------------------------------------------- models
    @contextmanager
    def model_on_phone(self, model_path: Path, threads: int, suffix: str) -> Iterator[PhoneModel]:
        """Get ready to time ``model_path`` with ``threads`` threads: check the file, ready the
        session, wait for the phone to cool down, pick the big cores and their mask, and put the
        model into the remote folder under a name from its sha256 (never the local name).

        The protocol times a model again in later attempts (an outlier burst, ``--repeats``): the
        file stays on the phone while the same local file (path, size, mtime) comes back, so it
        is hashed and pushed once; it is removed when another model comes, when the runs fail,
        and on :meth:`close`."""
        path = self.checked_model_path(model_path)
        self._ensure_ready()
        thermal = self.wait_cool()
        cores = self.pinned_cores(threads)
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if self._kept is not None and self._kept[0] == key:
            name, sha = self._kept[1], self._kept[2]
        else:
            self.remove_kept_model()
            sha = sha256_file(path)
            name = f"model-{sha[:16]}{suffix}"
            self.transport.push(path, self.transport.rpath(name))
            self._kept = (key, name, sha)
        try:
            yield PhoneModel(name, sha, cores, affinity_mask(cores) if cores else "1", thermal)
        except BaseException:
            self.remove_kept_model()
            raise

    def model_metadata(self, model: PhoneModel) -> dict:
        """What a measurement records of the phone around the runs of ``model``."""
        return {**model.thermal, "temperature_c_after": self.temperature_c(), "affinity_mask": model.cpu_mask,
                "cores": model.cores, **self.core_properties(model.cores), "model_sha256": model.sha256}

    def remove_kept_model(self) -> None:
        """Remove the model left on the phone, if any (a lost phone: nothing to do)."""
        if self._kept is None:
            return
        name, self._kept = self._kept[1], None
        self.remove_quietly(quote_join(["rm", "-f", name]))

    def remove_quietly(self, rm_command: str) -> None:
        """Run ``rm_command`` (quoted) in the remote folder; a lost phone is no error here: the
        error that matters, if any, is already propagating."""
        try:
            self.transport.shell(self.transport.in_remote_dir(rm_command))
        except DeviceError:
            pass

    def close(self) -> None:
        """Remove the model left for another attempt; the tools stay for the next session
        (re-checked by sha256)."""
        self.remove_kept_model()

    # --------------------------------------------------------------- identity
    def phone_properties(self) -> dict:
        """What the phone is (SoC, ABI, OS, CPU table, temperature now)."""
        self._ensure_ready()
        p = self._props
        zones = self._probe()
        soc = " ".join(x for x in (p.get("ro.soc.manufacturer", ""), p.get("ro.soc.model", "")) if x) or \
            p.get("ro.board.platform", "") or p.get("ro.hardware", "")
        return {
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
        }

    def phone_info(self, properties: dict, runtime: str, runtime_version: str, accelerator: str = "cpu") -> DeviceInfo:
        """The :class:`DeviceInfo` of this phone with a runner's own properties added."""
        props = {**self.phone_properties(), **properties}
        return DeviceInfo(
            key=f"adb:{self.serial}", kind="adb", model=self._props.get("ro.product.model", "") or self.serial,
            properties=props, runtime=runtime, runtime_version=runtime_version, accelerator=accelerator,
        )
