"""``check-device``: how noisy a device is, and what accuracy that allows a predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mnas_pred.cli._app import JsonOption, ResolutionOption, app, console, print_json
from mnas_pred.limits import check_local_threads, option_callback


@app.command("check-device")
def check_device(
    serial: Annotated[Optional[str], typer.Option("--serial", help="Android phone (adb serial).")] = None,
    ssh: Annotated[Optional[str], typer.Option("--ssh", help="Linux board as user@host or host.")] = None,
    seconds: Annotated[float, typer.Option("--seconds", min=0.0, help="How long to keep timing the reference network.")] = 30.0,
    min_processes: Annotated[int, typer.Option("--min-processes", min=2, help="At least this many processes, however long they take.")] = 5,
    threads: Annotated[int, typer.Option("--threads", help="Intra-op threads.", callback=option_callback("threads"))] = 1,
    runs: Annotated[int, typer.Option("--runs", help="Timed runs in each process.", callback=option_callback("runs"))] = 20,
    repeats: Annotated[Optional[int], typer.Option(
        "--repeats", callback=option_callback("repeats"),
        help="Also give the ceiling for a measurement pooled from this many processes, as profile-device "
             "--repeats takes it (default: profile-device's default).")] = None,
    resolution: ResolutionOption = None,
    adb: Annotated[Optional[Path], typer.Option("--adb", help="adb binary (default: $ADB, then PATH).", dir_okay=False)] = None,
    perf_test: Annotated[Optional[Path], typer.Option("--perf-test", help="onnxruntime_perf_test built for the phone.", dir_okay=False)] = None,
    ort_lib: Annotated[Optional[Path], typer.Option("--ort-lib", help="libonnxruntime.so built for the phone.", dir_okay=False)] = None,
    json_out: JsonOption = False,
) -> None:
    """Time the reference network (MnasNet-B1) in one fresh process after another for --seconds
    and print the device's run-to-run spread and the precision a latency predictor can reach there.

    Each process's median latency is one measurement as profile-device takes it. A predictor that
    knew every network's true latency would still be scored against one such measurement per
    network, so the share of networks within ±10% can be no higher than the share of single
    measurements within ±10% of their median. That share is estimated empirically (from 10
    processes) and with a normal model of the spread (sigma = 1.4826 x the median absolute
    deviation of the log latencies: P(|Z| <= ln 1.1 / sigma)); the lower is printed. Example:
    spread 2% allows ±10% accuracy up to 100%, spread 6% up to 89% (±5%: 98% and 58%).

    profile-device can take each measurement from several processes (--repeats K: the median of
    K). Each process is one more draw from the same spread, so the second line gives the ceiling
    for such a label: the distribution of the median of K draws from the measured process
    medians (exact; resampled with a fixed seed where enumerating is too dear). Example: a spread
    of 6.3% in two clusters allowed ±10% up to 87% for one process and 97% for the median of 3.
    """
    from device_profiler import open_device
    from device_profiler.noise import check_device as run_check
    from mnas_pred.records import MeasureSettings

    if serial is None and not ssh:
        check_local_threads(threads)
    res = resolution or 224
    default_repeats = MeasureSettings().repeats
    pooled_from = repeats or default_repeats
    with open_device(serial, ssh, adb=None if adb is None else str(adb), perf_test=None if perf_test is None else str(perf_test),
                     ort_lib=None if ort_lib is None else str(ort_lib)) as device:
        report = run_check(device, seconds=seconds, min_processes=min_processes, resolution=res, threads=threads,
                           runs=runs, repeats=pooled_from)
    if json_out:
        print_json(report.as_dict())
        return
    console.print(f"{report.device}, {res}x{res}, {threads} thread(s), {report.seconds:.0f} s:", markup=False,
                  highlight=False)
    console.print(f"one process per network: {report.sentence()}", markup=False, highlight=False)
    if report.pooled_sentence():
        console.print(report.pooled_sentence(default_repeats), markup=False, highlight=False)
    console.print(f"median CV inside one process {100 * report.within_process_cv:.1f}%"
                  + (f"; during the check: {_machine(report.machine)}" if report.machine else ""),
                  markup=False, highlight=False)


def _machine(m: dict) -> str:
    parts = []
    if "steal" in m:
        parts.append(f"CPU steal {100 * m['steal']:.1f}%")
    if "load1" in m:
        parts.append(f"load average {m['load1']} on {m.get('cpu_count')} CPUs")
    return ", ".join(parts)
