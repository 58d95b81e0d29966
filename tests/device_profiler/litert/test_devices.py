"""LiteRT's ``benchmark_model`` on a phone over adb (the fake phone of tests/device_profiler/fakes/:
the fake ``adb`` runs shell commands with a real ``sh``, the fake ``benchmark_model`` really runs
the ``.tflite`` with ai-edge-litert), and on a Linux board over ssh (a real sshd)."""

from __future__ import annotations

import json

import pytest

from device_profiler.litert import benchmark_model as bm
from device_profiler.phone_runners import phone_runner_files
from device_profiler.trace import UNMAPPED
from mnas_pred.errors import DeviceError
from mnas_pred.records import MeasureSettings
from tests.device_profiler.test_adb_transport import INJECT

pytest.importorskip("ai_edge_litert")

SERIAL = "R5CT21ABCDE"
FAST = MeasureSettings(threads=1, warmup=1, runs=4, profile_runs=2, repeats=1)


def phone(fa, serial=SERIAL, **kw):
    from device_profiler.litert.adb import LiteRtAdbDevice

    kw.setdefault("benchmark_model", str(fa.tools["benchmark_model"]))
    kw.setdefault("burst_runs", 2)
    return LiteRtAdbDevice(serial, adb=fa.adb, **kw)


def calls(fa, serial=SERIAL) -> list[dict]:
    return [json.loads(line) for line in fa.log(serial, "benchmark_model.log")]


def test_end_to_end_and_per_layer_pinned_to_big_cores(fake_android, tflite_model):
    fa = fake_android
    root = fa.add_device(SERIAL)
    with phone(fa) as dev:
        raw = dev.time_model(tflite_model.path, FAST)
        info = dev.info()
    assert len(raw.samples_ms) == 2 and all(s > 0 for s in raw.samples_ms)  # 4 runs in bursts of 2
    assert list(raw.layer_ms) == tflite_model.layers and raw.layer_ms.get(UNMAPPED, 0.0) == 0.0
    assert info.runtime == "litert" and info.accelerator == "cpu" and info.properties["runner"] == "benchmark_model"
    tool = root / "data/local/tmp/mnas-pred/benchmark_model"
    assert tool.is_file() and tool.stat().st_mode & 0o111  # pushed and made executable
    runs = calls(fa)
    assert len(runs) == 3 and all(c["taskset"] == "c0" for c in runs)  # the two 2.85 GHz cores
    assert all(a.startswith("--") and "=" in a for c in runs for a in c["argv"])
    assert "--use_profiler=true" in runs[-1]["argv"] and "--use_gpu=true" not in runs[0]["argv"]
    assert not list((root / "data/local/tmp/mnas-pred").glob("*.tflite"))  # the model is removed again


def test_later_attempts_reuse_the_pushed_model(fake_android, tflite_model):
    fa = fake_android
    root = fa.add_device(SERIAL)
    settings = MeasureSettings(threads=1, warmup=1, runs=2, profile_runs=0)
    with phone(fa) as dev:
        for _ in range(3):  # what the protocol does with --repeats 3
            assert dev.time_model(tflite_model.path, settings).metadata["model_sha256"]
        assert len(list((root / "data/local/tmp/mnas-pred").glob("model-*.tflite"))) == 1
    pushes = [x for x in (fa.home / "adb.log").read_text().splitlines() if '"push"' in x and ".tflite" in x]
    assert len(pushes) == 1 and len(calls(fa)) == 3
    assert not list((root / "data/local/tmp/mnas-pred").glob("*.tflite"))  # removed on close


def test_gpu_passes_flags_and_accelerator_and_refuses_a_fallback(fake_android, tflite_model, tmp_path):
    fa = fake_android
    root = fa.add_device(SERIAL)
    settings = MeasureSettings(threads=1, warmup=1, runs=2, profile_runs=0, repeats=1)
    with phone(fa, accelerator="gpu", gpu_accelerator=str(fa.tools["gpu_accelerator"])) as dev:
        raw = dev.time_model(tflite_model.path, settings)
        assert dev.info().accelerator == "gpu"
    assert raw.samples_ms and raw.metadata["accelerator"] == "gpu"
    c = calls(fa)[-1]
    assert "--use_gpu=true" in c["argv"] and c["ld_library_path"].endswith("/data/local/tmp/mnas-pred")
    assert (root / "data/local/tmp/mnas-pred/libLiteRtGpuAccelerator.so").is_file()
    # an accelerator under a name the tool does not dlopen: the tool falls back to the CPU, exit 0
    (root / "data/local/tmp/mnas-pred/libLiteRtGpuAccelerator.so").unlink()
    wrong = tmp_path / "libLiteRtGpuAccelerator-old.so"
    wrong.write_bytes(b"\x7fELF")
    with phone(fa, accelerator="gpu", gpu_accelerator=str(wrong)) as dev:
        with pytest.raises(DeviceError, match="fell back to the CPU"):
            dev.time_model(tflite_model.path, settings)
    with phone(fa, accelerator="gpu") as dev, pytest.raises(DeviceError, match="--gpu-accelerator PATH"):
        dev.info()


def test_missing_tool_is_one_line_with_the_download_page(fake_android, monkeypatch):
    monkeypatch.delenv(bm.ENV_VAR, raising=False)
    fake_android.add_device(SERIAL)
    with pytest.raises(DeviceError) as e:
        phone(fake_android, benchmark_model=None)
    assert bm.DOWNLOAD_PAGE in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("template", INJECT)
def test_metacharacters_in_serial_and_paths_are_never_executed(fake_android, tflite_model, tmp_path, template):
    fa = fake_android
    fa.add_device(SERIAL)
    marker = tmp_path / "pwned"
    evil = template.format(m=marker)
    with pytest.raises(DeviceError, match="not found"):
        phone(fa, serial=evil).info()
    local = tmp_path / evil.replace("/", "_") / f"{evil.replace('/', '_')}.tflite"
    local.parent.mkdir(parents=True)
    local.write_bytes(tflite_model.path.read_bytes())
    tool = local.parent / "benchmark_model"
    tool.write_bytes(fa.tools["benchmark_model"].read_bytes())
    tool.chmod(0o755)
    dev = phone(fa, benchmark_model=str(tool), remote_dir="/data/local/tmp/" + evil.replace("/", "_"))
    raw = dev.time_model(local, MeasureSettings(threads=1, warmup=0, runs=1, profile_runs=0))
    assert raw.samples_ms and not marker.exists()


def test_runner_files_per_runtime(fake_android, tflite_model):
    fa = fake_android
    fa.add_device(SERIAL)
    assert phone_runner_files(fa.adb, SERIAL) == {
        "ort": {"present": [], "missing": ["onnxruntime_perf_test", "libonnxruntime.so"]},
        "litert": {"present": [], "missing": ["benchmark_model", "GPU accelerator"]}}
    with phone(fa) as dev:
        dev.info()
    files = phone_runner_files(fa.adb, SERIAL)
    assert files["litert"] == {"present": ["benchmark_model"], "missing": ["GPU accelerator"]}


def test_board_over_ssh_with_the_linux_tool(local_sshd, fake_tools, tflite_model, tmp_path):
    """A Linux board (a real sshd on 127.0.0.1) with the same tool pushed as for phones."""
    from device_profiler.litert.ssh import LiteRtSshDevice

    with LiteRtSshDevice(local_sshd.alias, benchmark_model=str(fake_tools["benchmark_model"]),
                         ssh_options=local_sshd.options, remote_dir=str(tmp_path / "board")) as dev:
        raw = dev.time_model(tflite_model.path, FAST)
        info = dev.info()
    assert info.runtime == "litert" and info.key == f"ssh:{local_sshd.alias}"
    assert len(raw.samples_ms) == 1 and list(raw.layer_ms) == tflite_model.layers
    assert [p.name for p in (tmp_path / "board").iterdir()] == ["benchmark_model"]  # the model is removed



def test_cli_profile_device_litert_on_the_fake_phone(fake_android, litert_models, tmp_path, monkeypatch):
    """``profile-device --serial X --runtime litert --benchmark-model PATH``: end-to-end and
    per-layer latencies stored with runtime litert; a GPU fallback, an unauthorized phone and a
    missing tool are one line, exit 2 (an unknown serial takes the ORT phone's path, test_adb.py).
    The networks come from the session's conversion cache (nothing is converted here)."""
    pytest.importorskip("device_profiler.litert.model_files", reason="the campaign's .tflite files (TfliteFiles)")
    import os
    import subprocess
    import sys

    from mnas_pred.store import MeasurementStore

    fa = fake_android
    fa.add_device(SERIAL)
    fa.add_device("ZY22ABC", state="unauthorized")
    monkeypatch.delenv(bm.ENV_VAR, raising=False)
    env = {**os.environ, "MNAS_PRED_CACHE_DIR": str(litert_models.copy_cache(tmp_path / "cache"))}
    db = tmp_path / "litert.db"
    base = [sys.executable, "-m", "mnas_pred", "profile-device", "--adb", fa.adb, "--runtime", "litert",
            "--space", str(litert_models.space), "-n", str(len(litert_models.archs)), "--runs", "4", "--warmup", "1",
            "--profile-runs", "2", "--repeats", "1", "--drift-every", "0", "--db", str(db), "--json"]
    tool = ["--benchmark-model", str(fa.tools["benchmark_model"])]

    def cli(*args):
        return subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=300)

    p = cli("--serial", SERIAL, *tool)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["measured"] == len(litert_models.archs) and out["layer_sum_ratio"]["n"] == out["measured"]
    with MeasurementStore(db, create=False) as store:
        records = store.records(f"adb:{SERIAL}")
    assert {r["arch"] for r in records} == set(litert_models.archs)
    assert all(r["latency_ms"] > 0 and r["layers"] for r in records)
    # the phone now holds the LiteRT tool, and `devices` says so
    p = subprocess.run([sys.executable, "-m", "mnas_pred", "devices", "--adb", fa.adb, "--json"],
                       capture_output=True, text=True, env=env, timeout=120)
    row = next(r for r in json.loads(p.stdout) if r["id"] == SERIAL)
    assert row["runner_files"]["litert"]["present"] == ["benchmark_model"] and "missing GPU accelerator" in row["note"]
    wrong_so = tmp_path / "libLiteRtGpuAccelerator-old.so"
    wrong_so.write_bytes(b"\x7fELF")
    for args, fragment in (
        (["--serial", SERIAL, *tool, "--accelerator", "gpu", "--gpu-accelerator", str(wrong_so)], "fell back to the CPU"),
        (["--serial", "ZY22ABC", *tool], "accept the USB-debugging prompt on the phone"),
        (["--serial", SERIAL], bm.DOWNLOAD_PAGE),
    ):
        p = cli(*args)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1 and fragment in lines[0], (args, p.stderr)


def test_check_device_with_litert_on_the_fake_phone(fake_android, litert_models, tmp_path, monkeypatch, capsys):
    """check-device opens a LiteRT phone as profile-device does (DeviceSpec + open_device) and times
    the reference in one benchmark_model process per measurement, never profiled. The reference
    here is a network of the session's conversion cache (MnasNet-B1 would be one more conversion)."""
    pytest.importorskip("device_profiler.litert.model_files", reason="the .tflite files (TfliteFiles)")
    from device_profiler import noise, open_device
    from mnas_pred.cli import main
    from mnas_pred.records import DeviceSpec

    fa = fake_android
    fa.add_device(SERIAL)
    monkeypatch.setenv("MNAS_PRED_CACHE_DIR", str(litert_models.copy_cache(tmp_path / "cache")))
    spec = DeviceSpec.select(SERIAL, None, adb=fa.adb, runtime="litert",
                             benchmark_model=str(fa.tools["benchmark_model"]))
    with open_device(spec) as dev:
        report = noise.check_device(dev, seconds=0, min_processes=3, reference=litert_models.archs[0],
                                    resolution=litert_models.resolution, num_classes=litert_models.num_classes,
                                    runs=2, warmup=1, repeats=3)
    assert report.device == f"adb:{SERIAL}" and report.processes == 3 and report.runtime.startswith("litert ")
    assert report.pooled["repeats"] == 3 and report.runtime.endswith(", cpu")
    runs = calls(fa)
    assert len(runs) == 3 and not any("--use_profiler=true" in c["argv"] for c in runs)  # one process each
    assert all("--num_runs=2" in c["argv"] and "--warmup_runs=1" in c["argv"] for c in runs)
    # the flags reach the LiteRT phone: a GPU check without the GPU accelerator on the phone is refused there
    assert main(["check-device", "--serial", SERIAL, "--adb", fa.adb, "--runtime", "litert", "--accelerator", "gpu",
                 "--benchmark-model", str(fa.tools["benchmark_model"]), "--seconds", "0"]) == 2
    assert "--accelerator gpu needs LiteRT's GPU accelerator" in capsys.readouterr().err
