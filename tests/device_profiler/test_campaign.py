"""Profiling on several phones at once (device_profiler.campaign): two fake phones behind the fake
``adb`` (fakes/), one store, a phone that disappears mid-run, phones of different models."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from device_profiler._base import Device
from device_profiler.adb import AdbDevice
from device_profiler.campaign import profile
from device_profiler.work_queue import WorkQueue
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming
from mnas_pred.space import SearchSpace
from mnas_pred.store import MeasurementStore

A, B = "R5CT21AAAAA", "R5CT21BBBBB"
FAST = MeasureSettings(threads=1, warmup=1, runs=3, profile_runs=1, repeats=1)
# Shell commands the adb device sends: about 8 to set up a session, 8 per model (see test output
# of fake_android.shell_count); losing the phone after 20 drops it during its second model.
LOSE_DURING_SECOND_MODEL = 20


def phone(fa, serial: str) -> AdbDevice:
    return AdbDevice(serial, adb=fa.adb, perf_test=str(fa.tools["perf_test"]), ort_lib=str(fa.tools["ort_lib"]),
                     burst_runs=3)


def archs(n: int, seed: int = 11) -> list[str]:
    return [a.to_string() for a in SearchSpace.default().sample(n, seed=seed)]


def stored(db) -> list[dict]:
    with MeasurementStore(db, create=False) as store:
        return store.records()


def test_two_phones_share_the_models_into_one_store(fake_android, tmp_path):
    fa = fake_android
    fa.add_device(A)
    fa.add_device(B)
    wanted = archs(5)
    db = tmp_path / "m.db"
    events = []
    with MeasurementStore(db) as store, phone(fa, A) as a, phone(fa, B) as b:
        report = profile([a, b], wanted, store, FAST, resolution=64, progress=events.append)
    records = stored(db)
    assert report.measured == 5 and report.failed == [] and not any(d.dropped for d in report.devices)
    assert sorted(r["arch"] for r in records) == sorted(wanted)  # each model once: no duplicates, none lost
    by_device = {r["device"] for r in records}
    assert by_device == {f"adb:{A}", f"adb:{B}"}  # both phones were used, each measurement tagged
    assert all(r["device_model"] == "Pixel 7" and r["layers"] and r["latency_ms"] > 0 for r in records)
    assert [e.done for e in events] == [1, 2, 3, 4, 5] and {e.device for e in events} == by_device
    # both phones really ran models (the fake perf_test logs every call on its own phone)
    assert fa.log(A, "perf_test.log") and fa.log(B, "perf_test.log")


def test_phone_lost_mid_run_the_other_finishes_and_a_rerun_resumes(fake_android, tmp_path):
    fa = fake_android
    fa.add_device(A, lose_after_shell=LOSE_DURING_SECOND_MODEL)
    fa.add_device(B)
    wanted = archs(5, seed=12)
    db = tmp_path / "m.db"
    events = []
    with MeasurementStore(db) as store, phone(fa, A) as a, phone(fa, B) as b:
        report = profile([a, b], wanted, store, FAST, resolution=64, progress=events.append)
    lost, kept = report.devices
    assert lost.dropped and A in lost.dropped and kept.dropped is None
    assert [e.device for e in events if e.status == "dropped"] == [f"adb:{A}"]
    records = stored(db)
    assert sorted(r["arch"] for r in records) == sorted(wanted)  # nothing lost, nothing twice
    assert report.failed == [] and report.measured == 5
    from_a = [r for r in records if r["device"] == f"adb:{A}"]
    assert len(from_a) == lost.measured >= 1  # what A finished before it went is kept
    # The same command again resumes: everything is in the store, nothing is measured twice.
    with MeasurementStore(db) as store, phone(fa, B) as b2:
        again = profile([b2], wanted, store, FAST, resolution=64)
    assert (again.measured, again.skipped) == (0, 5) and len(stored(db)) == 5


def test_mixed_models_rejected_in_one_line_unless_allowed(fake_android, tmp_path):
    fa = fake_android
    fa.add_device(A)
    fa.add_device(B, props={"ro.product.model": "Pixel 8"})
    args = [sys.executable, "-m", "mnas_pred", "profile-device", "--serial", A, "--serial", B, "--adb", fa.adb,
            "--perf-test", str(fa.tools["perf_test"]), "--ort-lib", str(fa.tools["ort_lib"]), "-n", "2",
            "--resolution", "64", "--runs", "3", "--warmup", "1", "--profile-runs", "1", "--repeats", "1", "--drift-every", "0",
            "--db", str(tmp_path / "cli.db"), "--json"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "Pixel 7" in lines[0] and "Pixel 8" in lines[0] and "--allow-mixed" in lines[0]
    assert not (tmp_path / "cli.db").exists() or stored(tmp_path / "cli.db") == []

    p = subprocess.run([*args, "--allow-mixed"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["measured"] == 2 and {d["model"] for d in out["devices"]} == {"Pixel 7", "Pixel 8"}
    records = stored(tmp_path / "cli.db")
    assert len(records) == 2 and len({r["arch"] for r in records}) == 2


# ------------------------------------------------------------------ drop-outs, in-process devices


class ScriptedDevice(Device):
    """A device that answers at once with synthetic timings, or fails from its ``fail_from``-th
    call on (transiently like a lost phone, or not, like an unusable tool). It stands in for
    the phone so that the queue's hand-over rules are tested in a second; the unit under test,
    profile, runs for real (threads, export, protocol, SQLite). ``signal_after`` sets
    ``signal`` after that many calls; ``wait_for`` holds the first call until an event is set
    (so a test can fix which device acts first)."""

    def __init__(self, key: str, model: str = "Phone", fail_from: int | None = None, transient: bool = True,
                 signal: threading.Event | None = None, signal_after: int = 0,
                 wait_for: threading.Event | None = None):
        self.key, self.model, self.fail_from, self.transient = key, model, fail_from, transient
        self.signal, self.signal_after, self.wait_for = signal, signal_after, wait_for
        self.calls = 0

    def info(self) -> DeviceInfo:
        return DeviceInfo(key=self.key, kind="test", model=self.model)

    def time_model(self, onnx_path, settings) -> RawTiming:
        if self.wait_for is not None:
            assert self.wait_for.wait(30), "the other device never got there"
        self.calls += 1
        if self.signal is not None and self.calls >= self.signal_after:
            self.signal.set()
        if self.fail_from is not None and self.calls >= self.fail_from:
            raise DeviceError(f"{self.key} is gone", "reconnect it", transient=self.transient)
        return RawTiming(samples_ms=[1.0, 1.01, 0.99], node_events=[], profiled_runs=0)


@pytest.mark.parametrize("transient", [True, False])
def test_device_dropping_out_hands_its_models_to_the_others(tmp_path, transient):
    # A non-transient error drops the device at once (1 call); a transient one after its
    # retry (2 calls per model) on max_consecutive_failures = 3 models in a row.
    calls_to_drop = 6 if transient else 1
    flaky_gone = threading.Event()
    flaky = ScriptedDevice("test:flaky", fail_from=1, transient=transient, signal=flaky_gone,
                           signal_after=calls_to_drop)
    steady = ScriptedDevice("test:steady", wait_for=flaky_gone)
    wanted = archs(6, seed=13)
    with MeasurementStore(tmp_path / "m.db") as store:
        report = profile([flaky, steady], wanted, store, FAST, resolution=32, num_classes=10,
                              retries=1, max_consecutive_failures=3)
        assert report.measured == 6 and report.failed == []
        assert "test:flaky is gone" in report.devices[0].dropped and report.devices[1].dropped is None
        assert report.devices[0].failed_attempts == (3 if transient else 1) and flaky.calls == calls_to_drop
        records = store.records()
    assert sorted(r["arch"] for r in records) == sorted(wanted) and {r["device"] for r in records} == {"test:steady"}


class BrokenDevice(ScriptedDevice):
    """Fails with an unexpected exception (a bug, not a DeviceError) in the middle of a model."""

    def time_model(self, onnx_path, settings) -> RawTiming:
        raise RuntimeError("unexpected failure inside the device code")


def test_unexpected_exception_on_one_device_neither_hangs_nor_loses_its_model(tmp_path):
    wanted = archs(3, seed=15)
    with MeasurementStore(tmp_path / "m.db") as store:
        report = profile([BrokenDevice("test:broken"), ScriptedDevice("test:steady")], wanted, store, FAST,
                              resolution=32, num_classes=10)
        assert "RuntimeError" in report.devices[0].dropped and report.measured == 3
        assert sorted(r["arch"] for r in store.records()) == sorted(wanted)


def test_every_device_lost_stops_with_the_error_and_keeps_what_was_measured(tmp_path):
    wanted = archs(8, seed=14)
    devices = [ScriptedDevice("test:a", fail_from=2), ScriptedDevice("test:b", fail_from=3)]
    with MeasurementStore(tmp_path / "m.db") as store:
        with pytest.raises(DeviceError, match="is gone"):
            profile(devices, wanted, store, FAST, resolution=32, num_classes=10)
        kept = store.records()
    assert len(kept) == 3 and len({r["arch"] for r in kept}) == 3  # 1 on a, 2 on b, all committed
    with MeasurementStore(tmp_path / "m.db") as store:  # the phones are back: the re-run does the rest
        report = profile([ScriptedDevice("test:a"), ScriptedDevice("test:b")], wanted, store, FAST,
                              resolution=32, num_classes=10)
        assert (report.skipped, report.measured) == (3, 5)
        assert sorted(r["arch"] for r in store.records()) == sorted(wanted)


def test_same_serial_twice_and_mixed_models_are_refused(tmp_path):
    with MeasurementStore(tmp_path / "m.db") as store:
        with pytest.raises(DeviceError, match="given twice"):
            profile([ScriptedDevice("test:a"), ScriptedDevice("test:a")], archs(1), store, FAST, resolution=32)
        with pytest.raises(DeviceError, match="--allow-mixed"):
            profile([ScriptedDevice("test:a"), ScriptedDevice("test:b", model="Other")], archs(1), store, FAST,
                         resolution=32)


def test_work_queue_hand_over_rules():
    q = WorkQueue([(0, "x"), (1, "y")], ["a", "b"])
    assert q.take("a") == (0, "x")
    assert q.give_back("a", (0, "x"))  # b has not tried it: back to the front
    assert q.take("a") == (1, "y")  # a skips what it failed
    assert q.take("b") == (0, "x")
    assert not q.give_back("b", (0, "x"))  # failed on every device still running: recorded as failed
    q.done()
    assert q.take("b") is None and q.take("a") is None
    q = WorkQueue([(0, "x"), (1, "y")], ["a", "b"])
    assert q.take("a") == (0, "x") and q.give_back("a", (0, "x"))
    assert q.drop("b") == [(0, "x")]  # only a is left, and a failed it
    assert q.take("a") == (1, "y")


def test_ctrl_c_commits_what_the_other_devices_had_already_finished(tmp_path):
    # Ctrl-C arrives while the collector handles a's first model; b's first model is already
    # measured and waiting on the queue by then (both devices are into their second model).
    second_a, second_b = threading.Event(), threading.Event()
    devices = [ScriptedDevice("test:a", signal=second_a, signal_after=2),
               ScriptedDevice("test:b", signal=second_b, signal_after=2)]

    def ctrl_c_once(event):
        if event.status == "measured" and not ctrl_c_once.fired:
            ctrl_c_once.fired = True
            assert second_a.wait(30) and second_b.wait(30)
            raise KeyboardInterrupt

    ctrl_c_once.fired = False
    with MeasurementStore(tmp_path / "m.db") as store:
        with pytest.raises(KeyboardInterrupt):
            profile(devices, archs(8, seed=16), store, FAST, resolution=32, num_classes=10,
                         progress=ctrl_c_once)
        kept = store.records()
    for t in threading.enumerate():  # the workers end after their model in flight
        if t.name.startswith("profile-test:"):
            t.join(30)
    assert {r["device"] for r in kept} == {"test:a", "test:b"}  # both devices' first models are kept
