"""``check-device``: how noisy a device is, and what accuracy that allows a predictor."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mnas_pred.cli._app import (
    AcceleratorOption,
    AdbOption,
    BenchmarkModelOption,
    GpuAcceleratorOption,
    JsonOption,
    OrtLibOption,
    PerfTestOption,
    ResolutionOption,
    RuntimeOption,
    SshOption,
    app,
    console,
    device_options,
    print_json,
)
from mnas_pred.limits import check_local_threads, option_callback
from mnas_pred.records import DRIFT_EVERY


@app.command("check-device")
def check_device(
    serial: Annotated[Optional[str], typer.Option("--serial", help="Android phone (adb serial).")] = None,
    ssh: SshOption = None,
    seconds: Annotated[float, typer.Option("--seconds", min=0.0, help="How long to keep timing the reference network.")] = 30.0,
    min_processes: Annotated[int, typer.Option("--min-processes", min=2, help="At least this many processes, however long they take.")] = 5,
    threads: Annotated[int, typer.Option("--threads", help="Intra-op threads.", callback=option_callback("threads"))] = 1,
    runs: Annotated[int, typer.Option("--runs", help="Timed runs in each process.", callback=option_callback("runs"))] = 20,
    repeats: Annotated[Optional[int], typer.Option(
        "--repeats", callback=option_callback("repeats"),
        help="Also give the ceiling for a measurement pooled from this many processes, as profile-device "
             "--repeats takes it (default: profile-device's default).")] = None,
    drift_every: Annotated[int, typer.Option(
        "--drift-every", min=0,
        help="Also give the ceiling for drift-corrected labels, the processes replayed as a profile-device "
             "campaign with a reference every this many measurements (0 = not).")] = DRIFT_EVERY,
    resolution: ResolutionOption = None,
    runtime: RuntimeOption = "ort",
    accelerator: AcceleratorOption = "cpu",
    benchmark_model: BenchmarkModelOption = None,
    gpu_accelerator: GpuAcceleratorOption = None,
    adb: AdbOption = None,
    perf_test: PerfTestOption = None,
    ort_lib: OrtLibOption = None,
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
    medians (exact; resampled with a fixed seed where enumerating is too dear). Example (normal
    model): spread 6.3% allows ±10% up to 87% for one process and 98% for the median of 3 (±5%: 56%
    and 75%). That is for independent processes; profile-device runs a network's processes back
    to back, and where consecutive processes share the machine's slow moments they pool less
    well: from 30 windows of K consecutive processes on, the line gives their figure first.

    The device is chosen as profile-device chooses it (--serial, --ssh, --runtime litert with
    --benchmark-model, --accelerator gpu); with LiteRT the reference is converted to .tflite once
    (cached).

    fit-predictor trains on drift-corrected labels (profile-device re-times the reference every
    --drift-every models and divides each measurement by the level interpolated between the
    reference runs around it). The third line replays the check's processes as such a campaign
    of one network: measurements of --repeats processes, a reference run of 3 processes every
    --drift-every measurements, each measurement corrected as fit-predictor corrects it. Where the
    machine's speed moves more slowly than the references come, this ceiling is higher than the
    back-to-back one; where the references' own noise dominates, lower. It needs a check of about
    100 processes or more (--seconds 60 on a slow device).
    """
    from device_profiler import open_device
    from device_profiler.noise import check_device as run_check
    from mnas_pred.records import DeviceSpec, MeasureSettings

    spec = DeviceSpec.select(serial, ssh, **device_options(
        adb=adb, perf_test=perf_test, ort_lib=ort_lib, runtime=runtime, accelerator=accelerator,
        benchmark_model=benchmark_model, gpu_accelerator=gpu_accelerator))
    if spec.kind == "local":
        check_local_threads(threads)  # this machine's CPU: at most its cores
    res = resolution or 224
    default_repeats = MeasureSettings().repeats
    pooled_from = repeats or default_repeats
    with open_device(spec) as device:
        report = run_check(device, seconds=seconds, min_processes=min_processes, resolution=res, threads=threads,
                           runs=runs, repeats=pooled_from, drift_every=drift_every)
    if json_out:
        print_json(report.as_dict())
        return
    lines = [f"{report.device} ({report.runtime}), {res}x{res}, {threads} thread(s), {report.seconds:.0f} s:",
             f"one process per network: {report.sentence()}", report.pooled_sentence(default_repeats),
             report.corrected_sentence(DRIFT_EVERY),
             f"median CV inside one process {100 * report.within_process_cv:.1f}%"
             + (f"; during the check: {_machine(report.machine)}" if report.machine else "")]
    for line in filter(None, lines):  # whole lines, never wrapped: they are read and grepped
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _machine(m: dict) -> str:
    parts = []
    if "steal" in m:
        parts.append(f"CPU steal {100 * m['steal']:.1f}%")
    if "load1" in m:
        parts.append(f"load average {m['load1']} on {m.get('cpu_count')} CPUs")
    return ", ".join(parts)
