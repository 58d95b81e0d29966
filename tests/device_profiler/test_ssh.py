"""The Linux-board device against a real OpenSSH server on 127.0.0.1 (conftest.local_sshd):
the system ssh with an ssh_config Host alias, key login, BatchMode, a runner script sent on
stdin, ONNX Runtime's Python API on the "board" (this machine), the profile brought back."""

from __future__ import annotations

import sys

import pytest

from device_profiler import trace
from device_profiler.ssh import SshDevice, list_ssh_hosts
from mnas_pred.errors import DeviceError
from mnas_pred.records import MeasureSettings

FAST = MeasureSettings(threads=1, warmup=2, runs=8, profile_runs=3, repeats=1)


def board(sshd, tmp_path, **kw):
    kw.setdefault("python", sys.executable)  # the board's Python with onnxruntime
    kw.setdefault("remote_dir", str(tmp_path / "board"))
    return SshDevice(sshd.alias, ssh_options=sshd.options, **kw)


def test_three_models_end_to_end_and_per_layer(local_sshd, tmp_path, onnx_models):
    with board(local_sshd, tmp_path) as dev:
        info = dev.info()
        assert info.key == "ssh:mnas-test-board" and info.kind == "ssh" and info.model
        assert info.runtime == "onnxruntime" and info.runtime_version
        assert info.properties["python"] and info.properties["os"]
        for m in onnx_models:
            raw = dev.time_model(m.path, FAST)
            assert len(raw.samples_ms) == FAST.runs and all(s > 0 for s in raw.samples_ms)
            assert raw.profiled_runs == FAST.profile_runs
            assert raw.metadata["sample_kind"] == "per_run" and raw.metadata["affinity"]
            layers = trace.layer_times_ms(raw.node_events, raw.profiled_runs, m.layers)
            assert set(m.layers) <= set(layers), m.arch
            e2e = sorted(raw.samples_ms)[len(raw.samples_ms) // 2]
            assert 0.1 * e2e < sum(layers.values()) < 20 * e2e  # order only; noisy shared machine
    assert list((tmp_path / "board").iterdir()) == []  # models and profiles removed


def test_unreachable_host_one_line_with_fix(local_sshd, tmp_path):
    dev = SshDevice("root@127.0.0.1", ssh_options=["-p", "1", "-o", "StrictHostKeyChecking=no"],
                    remote_dir=str(tmp_path / "x"), connect_timeout_s=5)
    with pytest.raises(DeviceError) as e:
        dev.info()
    msg = str(e.value)
    assert "\n" not in msg and "root@127.0.0.1 is unreachable" in msg and "ssh root@127.0.0.1 true" in msg
    assert not e.value.transient


def test_unknown_host_name(tmp_path):
    with pytest.raises(DeviceError) as e:
        SshDevice("nobody@no-such-host.invalid", remote_dir=str(tmp_path), connect_timeout_s=5).info()
    assert "cannot resolve the host name" in str(e.value) and "~/.ssh/config" in e.value.fix


def test_login_refused_without_key(local_sshd, tmp_path):
    opts = ["-F", "/dev/null", "-p", str(local_sshd.port), "-o", "StrictHostKeyChecking=no",
            "-o", f"UserKnownHostsFile={tmp_path / 'kh'}", "-o", "IdentitiesOnly=yes", "-i", str(tmp_path / "nokey")]
    dev = SshDevice("root@127.0.0.1", ssh_options=opts, remote_dir=str(tmp_path / "x"), multiplex=False)
    with pytest.raises(DeviceError) as e:
        dev.info()
    assert "refused the login" in str(e.value) and "ssh-copy-id" in e.value.fix


def test_missing_onnxruntime_on_board(local_sshd, tmp_path, onnx_models):
    import shutil
    import subprocess

    py = shutil.which("python3", path="/usr/bin:/bin")
    if not py or subprocess.run([py, "-c", "import onnxruntime"], capture_output=True).returncode == 0:
        pytest.skip("needs a system python3 without onnxruntime")
    dev = board(local_sshd, tmp_path, python=py)
    with pytest.raises(DeviceError) as e:
        dev.time_model(onnx_models[0].path, FAST)
    assert "onnxruntime is not installed" in str(e.value) and "pip install onnxruntime" in e.value.fix
    with pytest.raises(DeviceError) as e:
        board(local_sshd, tmp_path, python="/nonexistent/python3").info()
    assert "not found on the board" in str(e.value)


def test_list_ssh_hosts(local_sshd, tmp_path):
    hosts = list_ssh_hosts([local_sshd.alias, "x;touch y"], ssh_options=local_sshd.options, python=sys.executable)
    assert hosts[0]["state"] == "ready" and hosts[0]["onnxruntime"] and hosts[0]["usable"]
    assert hosts[1]["state"] == "invalid" and not hosts[1]["usable"]


@pytest.mark.parametrize("template", ["x;touch {m}", "$(touch {m})", "`touch {m}`", "-oProxyCommand=touch {m}",
                                      "h' ; touch {m} ; '"])
def test_host_with_metacharacters_is_never_executed(tmp_path, template):
    marker = tmp_path / "pwned"
    with pytest.raises(DeviceError) as e:
        SshDevice(template.format(m=marker), remote_dir=str(tmp_path)).info()
    assert "valid" in str(e.value) and not marker.exists()


@pytest.mark.parametrize("template", ["x;touch {m}", "$(touch {m})", "a b' ; touch {m}; echo '"])
def test_paths_with_metacharacters_are_never_executed(local_sshd, tmp_path, onnx_models, template):
    marker = tmp_path / "pwned"
    evil = template.format(m=marker).replace("/", "_")
    local = tmp_path / evil / f"{evil}.onnx"
    local.parent.mkdir()
    local.write_bytes(onnx_models[0].path.read_bytes())
    remote = tmp_path / f"board {evil}"
    with board(local_sshd, tmp_path, remote_dir=str(remote)) as dev:
        raw = dev.time_model(local, MeasureSettings(warmup=0, runs=2, profile_runs=1))
    assert raw.samples_ms and raw.node_events
    assert remote.is_dir() and not marker.exists()


def test_profile_loop_stops_on_lost_board_and_resumes(sshd_factory, tmp_path):
    """The measure-and-store loop over ssh: the board goes away after one model, the loop
    stops with that model committed; with the board back, a re-run measures only the rest."""
    from device_profiler.campaign import profile
    from mnas_pred.space import SearchSpace
    from mnas_pred.store import MeasurementStore

    archs = SearchSpace.default().sample(3, seed=5)
    settings = MeasureSettings(threads=1, warmup=1, runs=10, profile_runs=2, repeats=1)
    db = tmp_path / "m.db"
    server = sshd_factory()

    def stop_board(event):
        if event.status == "measured" and event.done == 1:
            server.stop()

    with MeasurementStore(db) as store, board(server.info, tmp_path) as dev:
        with pytest.raises(DeviceError) as e:
            profile(dev, archs, store, settings, resolution=64, progress=stop_board, max_consecutive_failures=2)
        assert e.value.transient and "mnas-test-board" in str(e.value) and "\n" not in str(e.value)
        assert store.count("ssh:mnas-test-board") == 1
    back = sshd_factory()  # the board is back (same alias; new port and keys)
    with MeasurementStore(db) as store, board(back.info, tmp_path) as dev:
        report = profile(dev, archs, store, settings, resolution=64)
        assert (report.skipped, report.measured, report.failed) == (1, 2, [])
        records = store.records("ssh:mnas-test-board")
    assert len(records) == 3 and all(r["layers"] and r["latency_ms"] > 0 for r in records)
