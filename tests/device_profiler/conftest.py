"""Fixtures for the remote devices: a fake phone behind a fake ``adb`` (tests/device_profiler/
fakes/), a real OpenSSH server on 127.0.0.1, and three small exported networks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FAKES = Path(__file__).parent / "fakes"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
RESOLUTION = 64
ARCHS = ("mobilenetv2", "mnasnet-a1", "mnasnet-b1")

# A Pixel-7-like phone: 4 little (1.8 GHz), 2 mid (2.35 GHz), 2 big (2.85 GHz) cores.
DEFAULT_FREQS = (1803000,) * 4 + (2348000,) * 2 + (2850000,) * 2
DEFAULT_PROPS = {
    "ro.product.model": "Pixel 7",
    "ro.product.manufacturer": "Google",
    "ro.soc.manufacturer": "Google",
    "ro.soc.model": "GS201",
    "ro.board.platform": "gs201",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.build.version.sdk": "34",
    "ro.build.version.release": "14",
    "ro.build.fingerprint": "google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys",
}


def _install_script(src: Path, dst: Path) -> Path:
    """Copy a fake tool, pointing its shebang at this interpreter (which has onnxruntime)."""
    lines = src.read_text().splitlines(keepends=True)
    lines[0] = f"#!{sys.executable}\n"
    dst.write_text("".join(lines))
    dst.chmod(0o755)
    return dst


def install_fake_tools(d: Path) -> dict[str, Path]:
    """The fake ``adb`` in ``d/bin``, the phone's toolbox fakes in ``d/device-bin``, and the files
    a run pushes to the phone: the fake ``onnxruntime_perf_test`` with a stand-in
    ``libonnxruntime.so``, LiteRT's fake ``benchmark_model`` with a stand-in GPU accelerator
    ``libLiteRtGpuAccelerator.so`` (the benches build their fake phones with it too)."""
    for sub in ("bin", "device-bin", "gpu"):
        (d / sub).mkdir(parents=True)
    tools = {
        "adb": _install_script(FAKES / "adb", d / "bin" / "adb"),
        "perf_test": _install_script(FAKES / "onnxruntime_perf_test", d / "onnxruntime_perf_test"),
        "getprop": _install_script(FAKES / "getprop", d / "device-bin" / "getprop"),
        "taskset": _install_script(FAKES / "taskset", d / "device-bin" / "taskset"),
        "benchmark_model": _install_script(FAKES / "benchmark_model", d / "benchmark_model"),
        "ort_lib": d / "libonnxruntime.so",
        "gpu_accelerator": d / "gpu" / "libLiteRtGpuAccelerator.so",
        "bin": d / "bin",
    }
    tools["ort_lib"].write_bytes(b"\x7fELF fake libonnxruntime.so for tests\n" * 64)
    tools["gpu_accelerator"].write_bytes(b"\x7fELF fake LiteRT GPU accelerator for tests\n" * 64)
    return tools


@pytest.fixture(scope="session")
def fake_tools(tmp_path_factory) -> dict[str, Path]:
    """The fake tools of :func:`install_fake_tools`, once per session."""
    return install_fake_tools(tmp_path_factory.mktemp("fake-tools"))


@dataclass
class FakeAndroid:
    """The state directory of the fake ``adb`` ($FAKE_ADB_HOME) and its phones."""

    home: Path
    tools: dict
    devices: list = field(default_factory=list)

    @property
    def adb(self) -> str:
        return str(self.tools["adb"])

    def _save(self):
        (self.home / "devices.json").write_text(json.dumps({"devices": self.devices}, indent=1))

    def add_device(self, serial: str, state: str = "device", model: str = "Pixel_7", usb: str | None = "1-1",
                   lose_after_shell: int | None = None, freqs=DEFAULT_FREQS, temp_c: float = 36.5,
                   props: dict | None = None, perf_test_format: str | None = None) -> Path:
        root_name = f"dev{len(self.devices)}"
        root = self.home / "roots" / root_name
        for sub in ("data/local/tmp", "sdcard", "system/bin", ".fake"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(freqs):
            cf = root / f"sys/devices/system/cpu/cpu{i}/cpufreq"
            cf.mkdir(parents=True)
            (cf / "cpuinfo_max_freq").write_text(f"{f}\n")
            (cf / "scaling_cur_freq").write_text(f"{f}\n")
            (cf / "scaling_governor").write_text("schedutil\n")
        for i, (kind, t) in enumerate((("cpu-1-0-usr", temp_c), ("battery", 31.0), ("cpu-1-2-usr", temp_c - 1))):
            z = root / f"sys/class/thermal/thermal_zone{i}"
            z.mkdir(parents=True)
            (z / "type").write_text(kind + "\n")
            (z / "temp").write_text(f"{int(t * 1000)}\n")
        all_props = {**DEFAULT_PROPS, **(props or {})}
        (root / "system/build.prop").write_text("".join(f"{k}={v}\n" for k, v in all_props.items()))
        for tool in ("getprop", "taskset"):
            shutil.copy2(self.tools[tool], root / "system/bin" / tool)
        if perf_test_format:
            (root / ".fake/perf_test_format").write_text(perf_test_format)
        self.devices.append({
            "serial": serial, "state": state, "model": model, "product": "panther", "device": "panther",
            "usb": usb, "transport_id": len(self.devices) + 1, "root": root_name,
            "lose_after_shell": lose_after_shell,
        })
        self._save()
        return root

    def root(self, serial: str) -> Path:
        for d in self.devices:
            if d["serial"] == serial:
                return self.home / "roots" / d["root"]
        raise KeyError(serial)

    def set_temperature(self, serial: str, celsius: float) -> None:
        for z in ("thermal_zone0", "thermal_zone2"):
            (self.root(serial) / f"sys/class/thermal/{z}/temp").write_text(f"{int(celsius * 1000)}\n")

    def update(self, serial: str, **changes) -> None:
        state = json.loads((self.home / "devices.json").read_text())
        self.devices = state["devices"] + [d for d in state.get("lost", []) if d["serial"] == serial]
        for d in self.devices:
            if d["serial"] == serial:
                d.update(changes)
        self._save()

    def log(self, serial: str, name: str) -> list[str]:
        p = self.root(serial) / ".fake" / name
        return p.read_text().splitlines() if p.exists() else []

    def shell_count(self, serial: str) -> int:
        p = self.root(serial) / ".fake" / "shell_count"
        return int(p.read_text()) if p.exists() else 0


@pytest.fixture
def fake_android(tmp_path, fake_tools, monkeypatch) -> FakeAndroid:
    home = tmp_path / "fake-adb-home"
    (home / "roots").mkdir(parents=True)
    monkeypatch.setenv("FAKE_ADB_HOME", str(home))
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    fa = FakeAndroid(home=home, tools=fake_tools)
    fa._save()
    return fa


@dataclass(frozen=True)
class Model:
    arch: str
    path: Path
    layers: list


@pytest.fixture(scope="session")
def onnx_models(tmp_path_factory) -> list[Model]:
    """Three reference networks at 64x64, exported as the profiler would."""
    from mnas_pred.export import export_onnx
    from mnas_pred.layers import arch_layers

    d = tmp_path_factory.mktemp("models")
    out = []
    for arch in ARCHS:
        p = d / f"{arch}.onnx"
        export_onnx(arch, p, resolution=RESOLUTION)
        out.append(Model(arch, p, [lay.name for lay in arch_layers(arch, resolution=RESOLUTION)]))
    return out


@dataclass(frozen=True)
class TfliteModel:
    arch: str
    path: Path
    layers: list  # mnas_pred.layers names, network order


@pytest.fixture
def tflite_model(litert_models) -> TfliteModel:
    """One converted network for the ``benchmark_model`` tests, taken from the session's
    conversions (``litert_models``, tests/device_profiler/litert/conftest.py): those tests
    convert nothing themselves."""
    from mnas_pred.layers import arch_layers

    arch = litert_models.archs[0]
    layers = arch_layers(arch, litert_models.resolution, litert_models.num_classes)
    return TfliteModel(arch, Path(litert_models.files[arch].path), [lay.name for lay in layers])


# ----------------------------------------------------------------------------- a real sshd


@dataclass(frozen=True)
class LocalSshd:
    alias: str  # a Host entry of `config`
    config: Path  # an ssh_config: ssh -F config alias
    port: int
    key: Path

    @property
    def options(self) -> list[str]:
        return ["-F", str(self.config)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SshdProcess:
    """A running sshd (see :func:`start_sshd`); ``stop()`` ends it and the sessions it forked."""

    def __init__(self, proc: subprocess.Popen, info: LocalSshd, log):
        self.proc, self.info, self._log = proc, info, log

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                          text=True).stdout.split()
            except FileNotFoundError:  # no procps: the forked sessions end when their clients do
                children = []
            self.proc.terminate()
            for pid in children:  # per-connection sshd processes this server forked
                try:
                    os.kill(int(pid), 15)
                except (ProcessLookupError, ValueError):
                    pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def start_sshd(d: Path) -> SshdProcess:
    """OpenSSH's sshd on 127.0.0.1 with its own host key, accepting a throwaway key for the
    current user (root included: ``PermitRootLogin prohibit-password``)."""
    os.chmod(d, 0o700)
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = _free_port()
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
        f"AllowUsers {user}\nPrintMotd no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    host_pub = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (d / "ssh_config").write_text(
        f"Host mnas-test-board\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
        f"  IdentityFile {d / 'user_key'}\n  IdentitiesOnly yes\n  UserKnownHostsFile {d / 'known_hosts'}\n"
        "  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    log = open(d / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=subprocess.STDOUT)
    info = LocalSshd("mnas-test-board", d / "ssh_config", port, d / "user_key")
    server = SshdProcess(proc, info, log)
    deadline = time.monotonic() + 20
    while True:
        p = subprocess.run(["ssh", "-F", str(info.config), "-o", "BatchMode=yes", info.alias, "true"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            return server
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"sshd did not start: {(d / 'sshd.log').read_text()} {p.stderr}")
        time.sleep(0.2)


def _need_sshd():
    if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")):
        pytest.skip("OpenSSH server not installed (apt-get install -y openssh-server); the ssh device is untested")


@pytest.fixture(scope="session")
def local_sshd(tmp_path_factory):
    """A real sshd for the whole session. Skips only when sshd is not installed."""
    _need_sshd()
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server.info
    server.stop()


@pytest.fixture
def sshd_factory(tmp_path_factory):
    """Starts real sshd servers for one test (which may stop them: a board that goes away);
    all are stopped at the end."""
    _need_sshd()
    servers: list[SshdProcess] = []

    def start() -> SshdProcess:
        servers.append(start_sshd(tmp_path_factory.mktemp("sshd")))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
