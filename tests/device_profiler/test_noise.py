"""Steal-time parsing, the machine readings, and check-device locally and on the fake phone."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from device_profiler import noise
from device_profiler.adb import AdbDevice
from mnas_pred.cli import main
from tests.device_profiler.test_adb import SERIAL

STAT_1 = """cpu  1000 10 500 8000 20 0 5 100 0 0
cpu0 500 5 250 4000 10 0 3 50 0 0
cpu1 500 5 250 4000 10 0 2 50 0 0
intr 12345
ctxt 678
"""
STAT_2 = """cpu  1100 10 550 8200 20 0 5 300 0 0
cpu0 550 5 275 4100 10 0 3 150 0 0
cpu1 550 5 275 4100 10 0 2 150 0 0
"""
OLD_KERNEL = "cpu  1 2 3 4\ncpu0 1 2 3 4\n"  # before 2.6.11: no iowait/irq/softirq/steal columns


def test_proc_stat_parsing_and_steal_share():
    s1, s2 = noise.parse_proc_stat(STAT_1), noise.parse_proc_stat(STAT_2)
    assert set(s1) == {-1, 0, 1} and s1[0].steal == 50 and s1[-1].idle == 8000
    r = noise.busy_readings(s1, s2)
    # total ticks 150 + 200 idle + 200 steal = 550: steal 200/550, busy 150/550
    assert r == {"steal": pytest.approx(200 / 550, abs=1e-4), "busy": pytest.approx(150 / 550, abs=1e-4)}
    assert noise.busy_readings(s1, s2, [1])["steal"] == pytest.approx(100 / 275, abs=1e-4)
    assert noise.busy_readings(s1, s2, [7]) == {}  # a CPU the snapshots do not have
    assert noise.parse_proc_stat(OLD_KERNEL)[0].steal == 0 and noise.busy_readings(s1, s1) == {}


def test_machine_readings_name_what_was_noisy(monkeypatch, tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(STAT_2)
    monkeypatch.setattr(noise, "read_proc_stat", lambda path=stat: noise.parse_proc_stat(stat.read_text()))
    monkeypatch.setattr(noise.os, "getloadavg", lambda: (9.5, 5.0, 2.0))
    monkeypatch.setattr(noise.os, "cpu_count", lambda: 2)
    r = noise.machine_readings(noise.parse_proc_stat(STAT_1))
    assert "stolen by the hypervisor" in r["noisy"] and "load average 9.5 on 2 CPUs" in r["noisy"]


def test_noise_report_from_known_spreads():
    quiet = noise.summarize("d", "mnasnet-b1", 224, 1, [10.0, 10.1, 9.9, 10.05, 9.95] * 4, [0.01], 30)
    noisy = noise.summarize("d", "mnasnet-b1", 224, 1, [10, 11, 9, 12, 8.5, 10, 10.5, 9.5, 13, 10] * 2, [0.05], 30)
    assert quiet.ceiling_within_10pct == 1.0 and quiet.spread < 0.01
    assert noisy.ceiling_within_10pct < 0.9 and noisy.mape_floor > quiet.mape_floor
    assert noisy.sentence().startswith("run-to-run spread ") and "expect ±10% accuracy <= " in noisy.sentence()
    assert noisy.pooled == {"repeats": 1, "ceiling_within_10pct": noisy.ceiling_within_10pct,
                            "ceiling_within_5pct": noisy.ceiling_within_5pct, "mape_floor": noisy.mape_floor}
    assert noisy.pooled_sentence() == "" and "summary" not in noisy.as_dict()["pooled"]
    pooled = noise.summarize("d", "mnasnet-b1", 224, 1, [10, 11, 9, 12, 8.5, 10, 10.5, 9.5, 13, 10] * 2, [0.05], 30,
                             repeats=3)
    assert pooled.ceiling_within_10pct == noisy.ceiling_within_10pct  # the single figure is unchanged
    assert pooled.pooled["ceiling_within_10pct"] > noisy.ceiling_within_10pct
    assert pooled.pooled_sentence(3).startswith("with --repeats 3 (the default), the median of 3 processes "
                                                "(independent): expect ±10% accuracy <= ")  # 18 windows: too few
    assert pooled.pooled_sentence(1).startswith("with --repeats 3, the median")
    # a check long enough to see consecutive processes: a slow stretch pools less well back to back
    series = [10.0] * 20 + [12.0] * 10 + [10.0] * 10
    drifting = noise.summarize("d", "mnasnet-b1", 224, 1, series, [0.05], 30, repeats=3)
    assert "back to back, as profile-device runs them" in drifting.pooled_sentence()
    assert drifting.pooled["back_to_back"]["ceiling_within_10pct"] < drifting.pooled["ceiling_within_10pct"]


def test_check_device_locally(capsys):
    assert main(["check-device", "--seconds", "0", "--min-processes", "3", "--resolution", "64", "--runs", "5",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["processes"] == 3 and len(out["process_medians_ms"]) == 3 and out["device"].startswith("local:")
    assert 0 <= out["ceiling_within_10pct"] <= 1 and out["summary"].startswith("run-to-run spread")
    assert "load1" in out["machine"]
    assert out["drift_corrected"] == {}  # 3 processes: too few to replay a campaign


def test_check_device_on_the_fake_phone(fake_android, capsys):
    fa = fake_android
    fa.add_device(SERIAL)
    with AdbDevice(SERIAL, adb=fa.adb, perf_test=str(fa.tools["perf_test"]), ort_lib=str(fa.tools["ort_lib"])) as dev:
        report = noise.check_device(dev, seconds=0, min_processes=3, resolution=64, runs=4, warmup=1)
    assert report.device == f"adb:{SERIAL}" and report.processes == 3 and report.machine == {}
    calls = [json.loads(x) for x in fa.log(SERIAL, "perf_test.log")]
    assert calls and all("-p" not in c["argv"] for c in calls)  # no profiling in a noise check
    assert main(["check-device", "--serial", SERIAL, "--adb", fa.adb, "--perf-test", str(fa.tools["perf_test"]),
                 "--ort-lib", str(fa.tools["ort_lib"]), "--seconds", "0", "--min-processes", "2",
                 "--resolution", "64", "--runs", "4"]) == 0
    text = capsys.readouterr().out
    assert f"adb:{SERIAL}" in text and "run-to-run spread" in text and "expect ±10% accuracy <=" in text
    assert main(["check-device", "--serial", SERIAL, "--adb", fa.adb, "--perf-test", str(fa.tools["perf_test"]),
                 "--ort-lib", str(fa.tools["ort_lib"]), "--seconds", "0", "--min-processes", "3",
                 "--resolution", "64", "--runs", "4", "--repeats", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pooled"]["repeats"] == 3 and out["pooled"]["summary"].startswith("with --repeats 3")
    assert out["pooled"]["ceiling_within_10pct"] >= out["ceiling_within_10pct"]


def test_check_device_rejects_bad_input(capsys):
    assert main(["check-device", "--serial", "X", "--ssh", "h"]) == 2
    assert main(["check-device", "--min-processes", "1"]) == 2


def test_local_device_remeasures_a_run_set_with_heavy_steal(onnx_models, monkeypatch):
    from device_profiler import local
    from mnas_pred.records import MeasureSettings

    readings = iter([{"steal": 0.4, "noisy": "40% of the CPU time stolen by the hypervisor"}, {"steal": 0.0}])
    monkeypatch.setattr(local.noise, "machine_readings", lambda before, cpus=None: next(readings))
    with local.LocalDevice() as dev:
        raw = dev.time_model(onnx_models[0].path, MeasureSettings(warmup=1, runs=3, profile_runs=2))
        assert raw.metadata["machine"] == {"steal": 0.0, "remeasured_for_steal": 1}
        assert not list(Path(dev.workdir).glob("profile_*.json"))  # nothing left behind


def test_drift_corrected_ceiling_replays_the_check_as_a_campaign():
    """A machine whose speed steps slowly is corrected by the references (the ceiling rises above
    the back-to-back one); references that carry noise of their own add it (a flat noisy machine
    corrects to no better than uncorrected)."""
    # slow steps, no process noise (the levels are running medians of 5 reference runs: a step is
    # followed once 3 of them see it, so it must outlast about 3 x 18 processes)
    steps = [10.0] * 150 + [11.5] * 150 + [10.0] * 150
    slow = noise.summarize("d", "mnasnet-b1", 224, 1, steps, [0.01], 30, repeats=3, drift_every=5)
    corrected, b2b = slow.drift_corrected, slow.pooled["back_to_back"]
    assert corrected["every"] == 5 and corrected["repeats"] == 3 and corrected["measurements"] >= 100
    assert corrected["mape_floor"] < b2b["mape_floor"] / 2 and corrected["ceiling_within_5pct"] > b2b["ceiling_within_5pct"]
    line = slow.corrected_sentence(5)
    assert line.startswith("drift-corrected as fit-predictor trains, --drift-every 5 (the default) and 3 process(es)")
    assert "expect ±10% accuracy <= " in line and slow.as_dict()["drift_corrected"]["summary"] == slow.corrected_sentence()
    rng = random.Random(0)
    flat = [10 * math.exp(rng.gauss(0, 0.05)) for _ in range(160)]  # independent process noise only
    noisy = noise.summarize("d", "mnasnet-b1", 224, 1, flat, [0.05], 30, repeats=3, drift_every=5)
    assert noisy.drift_corrected["mape_floor"] >= 0.9 * noisy.pooled["back_to_back"]["mape_floor"]
    # too short a check, or no references: no figure and no line
    short = noise.summarize("d", "mnasnet-b1", 224, 1, steps[:35], [0.01], 30, repeats=3, drift_every=5)
    assert short.drift_corrected == {} and short.corrected_sentence() == ""
    assert noise.summarize("d", "mnasnet-b1", 224, 1, steps, [0.01], 30, repeats=3).drift_corrected == {}
