"""Profiler commands: ``devices``, ``profile-device``, ``measurements``."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

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
    SpaceOption,
    SshOption,
    app,
    console,
    device_options,
    err_console,
    print_json,
)
from mnas_pred.cli._progress import PlainProgress, progress_display
from mnas_pred.errors import MnasPredError
from mnas_pred.limits import check_local_threads, option_callback
from mnas_pred.records import DRIFT_EVERY

DEFAULT_DB = Path("measurements.db")

DbOption = Annotated[Path, typer.Option("--db", help="Measurement database (SQLite).", dir_okay=False)]


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


@app.command()
def devices(
    ssh: Annotated[Optional[list[str]], typer.Option("--ssh", help="An ssh host to list (repeat for several).")] = None,
    adb: AdbOption = None,
    runtime: RuntimeOption = "ort",
    accelerator: AcceleratorOption = "cpu",
    json_out: JsonOption = False,
) -> None:
    """List usable devices: the local CPU, adb devices with their state, the ssh hosts given
    (for measuring with --runtime on --accelerator)."""
    from device_profiler import list_devices

    rows = list_devices(ssh_hosts=ssh or [], adb=_str(adb), runtime=runtime, accelerator=accelerator)
    if json_out:
        print_json(rows)
        return
    table = Table(title="devices", title_justify="left")
    for col in ("kind", "id", "state", "model", "note"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["kind"], r["id"], r["state"], r["model"], r["note"])
    console.print(table)
    adb_used = next((r for r in rows if r.get("adb")), None)
    if adb_used is not None:
        console.print(f"adb: {adb_used['adb']} (found via {adb_used['adb_found_via']})", markup=False, highlight=False)


def _ratio_summary(ratios: list[float]) -> dict:
    if not ratios:
        return {}
    qs = statistics.quantiles(ratios, n=10) if len(ratios) > 1 else [ratios[0]] * 9
    return {
        "n": len(ratios), "min": min(ratios), "p10": qs[0], "median": statistics.median(ratios),
        "p90": qs[-1], "max": max(ratios), "within_15pct": sum(abs(r - 1) <= 0.15 for r in ratios),
    }


SerialsOption = Annotated[Optional[list[str]], typer.Option(
    "--serial", help="Android device serial (see `mnas-pred devices`); repeat it to profile on several phones at once.")]


_PROGRESS_COLUMNS = (
    TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
)


def drift_sentence(worst: dict, every: int, history: list[dict] = ()) -> str:
    """The largest drift of the reference model, what it means and what was done about it."""
    return (f"drift of the reference model (MnasNet-B1, re-timed every {every} models): at most "
            f"{worst['ratio'] - 1:+.1%} (after {worst['after_models']} models), i.e. the device ran that much "
            f"{'slower' if worst['ratio'] >= 1 else 'faster'} than at the start (heat, other load); latencies are "
            "stored as measured with the reference run they follow; exports give latency_corrected_ms beside "
            "them (interpolated between reference runs) and fit-predictor trains on it"
            + ("; reference runs marked slow (1.5x its best even after a pause): "
               + ", ".join(f"after {d['after_models']} models" for d in slow) + " (flagged in drift_flag)"
               if (slow := [d for d in history if d.get("slow")]) else ""))


def campaign_noise_floor(drift: list[dict], repeats: int = 1) -> dict:
    """The noise floor (:mod:`mnas_pred.noise_floor`) from a campaign's reference runs: the same
    network timed in back-to-back fresh processes every N models (their spread inside a
    reference run, for one process and for a measurement pooled from ``repeats``; or, for
    records without per-process times, across reference runs). Empty with too few."""
    from mnas_pred.noise_floor import groups_floor, noise_floor, sentence

    groups = [d["process_ms"] for d in drift if len(d.get("process_ms") or ()) > 1]
    floor = groups_floor(groups, f"{len(groups)} reference runs of this campaign, processes back to back", repeats)
    if floor:
        return floor
    refs = [d["latency_ms"] for d in drift]
    if len(refs) < 3:
        return {}
    floor = noise_floor(refs)
    return {**floor, "summary": sentence(floor, f"{len(refs)} reference runs of this campaign")}


def _print_layer_ratios(r: dict) -> None:
    if r:
        console.print(
            f"per-layer sum / end-to-end: median {r['median']:.3f}, p10 {r['p10']:.3f}, p90 {r['p90']:.3f}, "
            f"range {r['min']:.3f}-{r['max']:.3f}; {r['within_15pct']}/{r['n']} within 15%"
        )


@app.command("profile-device")
def profile_device(
    serial: SerialsOption = None,
    ssh: SshOption = None,
    allow_mixed: Annotated[bool, typer.Option("--allow-mixed", help="With several --serial: accept phones of different models (ro.product.model).")] = False,
    num_models: Annotated[int, typer.Option("--num-models", "-n", help="Architectures to sample and measure.", callback=option_callback("num_models"))] = 100,
    db: DbOption = DEFAULT_DB,
    threads: Annotated[int, typer.Option("--threads", help="Intra-op threads (MnasNet measured one core).", callback=option_callback("threads"))] = 1,
    runs: Annotated[int, typer.Option("--runs", help="Timed end-to-end runs per model.", callback=option_callback("runs"))] = 50,
    warmup: Annotated[int, typer.Option("--warmup", help="Warm-up runs before timing.", callback=option_callback("warmup"))] = 10,
    profile_runs: Annotated[int, typer.Option("--profile-runs", callback=option_callback("profile_runs"), help="Runs of the separate profiled session (per-layer times; 0 = none).")] = 10,
    repeats: Annotated[int, typer.Option("--repeats", callback=option_callback("repeats"), help="Independent run sets per model, each a fresh process, pooled (the profile is taken once). 3 averages out the ~6% process-to-process drift of a shared VM; 1 is ~1.5x faster. Part of the settings a store resumes by: a store measured with another value is measured again.")] = 3,
    drift_every: Annotated[int, typer.Option("--drift-every", min=0, help="Re-measure a reference model (MnasNet-B1) after this many models to record the machine's drift, which fit-predictor corrects (0 = never). The machine's speed moves within seconds: on a 2-core VM the drift correction took a predictor from 89% to 96% of held-out networks within ±10% with a reference every 5 models, and did nothing with one every 25 (README), and cost little: 1,744 models an hour against 1,824.")] = DRIFT_EVERY,
    seed: Annotated[int, typer.Option("--seed", callback=option_callback("seed"), help="Sampling seed: the same seed samples the same architectures, so a re-run resumes.")] = 0,
    resolution: ResolutionOption = None,
    space: SpaceOption = None,
    adb: AdbOption = None,
    perf_test: PerfTestOption = None,
    ort_lib: OrtLibOption = None,
    runtime: RuntimeOption = "ort",
    accelerator: AcceleratorOption = "cpu",
    benchmark_model: BenchmarkModelOption = None,
    gpu_accelerator: GpuAcceleratorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Sample architectures, export them, measure end-to-end and per-layer latency on the device,
    and store every measurement as soon as it is taken (re-run the same command to resume).
    With several --serial the models are shared out among the phones, one at a time per phone."""
    from contextlib import ExitStack

    from device_profiler import DeviceSpec, MeasureSettings, open_device
    from device_profiler.campaign import profile
    from mnas_pred.deferred_store import DeferredStore
    from mnas_pred.space import SearchSpace

    serials = list(dict.fromkeys(serial or []))  # a serial given twice is one phone
    tools = device_options(adb=adb, perf_test=perf_test, ort_lib=ort_lib, runtime=runtime, accelerator=accelerator,
                           benchmark_model=benchmark_model, gpu_accelerator=gpu_accelerator)
    specs = [DeviceSpec.select(s, ssh, **tools) for s in serials] or [DeviceSpec.select(None, ssh, **tools)]
    if specs[0].kind == "local":
        check_local_threads(threads)  # this machine's CPU: at most its cores
    search_space = SearchSpace.load(space)
    res = resolution or search_space.resolution
    archs = search_space.sample(num_models, seed)
    settings = MeasureSettings(threads=threads, warmup=warmup, runs=runs, profile_runs=profile_runs, repeats=repeats)
    ratios: list[float] = []
    several = len(specs) > 1
    with ExitStack() as stack:
        store = stack.enter_context(DeferredStore(db))  # created once the devices have answered
        devices = [stack.enter_context(open_device(spec)) for spec in specs]
        bar = stack.enter_context(progress_display(err_console, console, _PROGRESS_COLUMNS, quiet=json_out))
        task = bar.add_task(f"profiling on {len(devices)} phones" if several else "profiling", total=len(archs),
                            last="")
        on_event = _progress_callback(bar, task, ratios, phones=several)
        report = profile(devices, archs, store, settings, res, on_event, num_classes=search_space.num_classes,
                         allow_mixed=allow_mixed, drift_every=drift_every)
        stored = {d.device.key: store.count(d.device.key) for d in report.devices}
    if several:
        _print_fleet_summary(report, stored, db=db, res=res, settings=settings, ratios=ratios, json_out=json_out)
    else:
        _print_summary(report, stored[report.device.key], db=db, res=res, settings=settings, ratios=ratios,
                       drift_every=drift_every, json_out=json_out)
    _fail_if_incomplete(report.failed, report.total, db)


# Why a campaign stored no per-layer times, per runtime (the measurements are end to end only).
_END_TO_END_ONLY = {"litert": "none, end to end only: LiteRT's Python API (ai-edge-litert) has no per-op profiler; "
                              "give --benchmark-model PATH (LiteRT's benchmark_model) for per-layer times"}


def _print_summary(report, total_stored: int, *, db: Path, res: int, settings, ratios: list[float],
                   drift_every: int, json_out: bool) -> None:
    """The end of a run on one device."""
    summary = {
        "device": report.device.key, **_run_summary(report, db=db, res=res, settings=settings, ratios=ratios),
        "stored_for_device": total_stored, "drift": report.drift,
        "runtime": {"runtime": report.device.runtime, "version": report.device.runtime_version,
                    "accelerator": report.device.accelerator},
        "noise_floor": campaign_noise_floor(report.drift, settings.repeats),
    }
    if report.measured and not ratios and settings.profile_runs > 0:
        summary["per_layer"] = _END_TO_END_ONLY.get(report.device.runtime, "none: the device gave no profile")
    if json_out:
        print_json(summary)
        return
    console.print(_counts_line(report, f"on {report.device.key} ({report.device.runtime} "
                                       f"{report.device.runtime_version}, {report.device.accelerator}) at {res}x{res}; "
                                       f"{total_stored} measurements of this device in {db}"))
    if "per_layer" in summary:
        console.print(f"per-layer times: {summary['per_layer']}", markup=False, highlight=False)
    if len(report.drift) > 1:
        worst = max(report.drift, key=lambda d: abs(d["ratio"] - 1))
        console.print(drift_sentence(worst, drift_every, report.drift), markup=False, highlight=False)
    if summary["noise_floor"]:
        console.print(summary["noise_floor"]["summary"] + " (a dedicated 30 s check: mnas-pred check-device)",
                      markup=False, highlight=False)
    _print_layer_ratios(summary["layer_sum_ratio"])
    if summary["layer_sum_ratio"] and settings.threads > 1 and report.device.kind == "local":
        console.print("  (several threads: matched by construction; profiling's cost per parallel section is measured against "
                      "unprofiled runs and removed; run_metadata.profile.paired_ratio_calibrated keeps what is left without it)",
                      markup=False, highlight=False)


def _run_summary(report, *, db: Path, res: int, settings, ratios: list[float]) -> dict:
    """The JSON summary's keys shared by a run on one device and on several."""
    return {"db": str(db), "resolution": res, "settings": settings.as_dict(), "sampled": report.total,
            "measured": report.measured, "already_measured": report.skipped, "failed": report.failed,
            "seconds": round(report.seconds, 2), "models_per_hour": round(report.models_per_hour),
            "layer_sum_ratio": _ratio_summary(ratios)}


def _counts_line(report, where: str) -> str:
    """What the run did, where, and at what rate."""
    return (f"{report.measured} measured, {report.skipped} already in the store, {len(report.failed)} failed {where}"
            + (f" ({round(report.models_per_hour)} models/hour)" if report.measured else ""))


def _print_fleet_summary(report, stored: dict[str, int], *, db: Path, res: int, settings, ratios: list[float],
                         json_out: bool) -> None:
    """The end of a run on several phones: the totals, then each phone's share."""
    summary = {
        **_run_summary(report, db=db, res=res, settings=settings, ratios=ratios), "devices": [
            {"device": d.device.key, "model": d.device.model, "measured": d.measured, "stored_for_device": stored[d.device.key],
             "dropped": d.dropped, "busy_seconds": round(d.seconds_busy, 2), "drift": d.drift}
            for d in report.devices],
    }
    if json_out:
        print_json(summary)
        return
    console.print(_counts_line(report, f"on {len(report.devices)} phones at {res}x{res} into {db}"))
    for d in summary["devices"]:
        state = f"dropped out ({d['dropped']})" if d["dropped"] else "ok"
        console.print(f"  {d['device']} ({d['model']}): {d['measured']} measured this run, "
                      f"{d['stored_for_device']} stored; {state}", markup=False, highlight=False)
    _print_layer_ratios(summary["layer_sum_ratio"])


def _fail_if_incomplete(failed: list[dict], total: int, db: Path) -> None:
    """A campaign with failed models is not finished: one line and exit code 2, so a script notices."""
    if failed:
        raise MnasPredError(
            f"{len(failed)} of {total} models failed (last: {failed[-1]['error']}); the others are stored in {db}",
            "check the device, then re-run the same command: it measures only the missing models")


@app.command()
def measurements(
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="jsonl (the default), csv, parquet, or table (a summary on screen).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file (default: stdout; parquet needs one).", dir_okay=False)] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="Only this device key (see the 'device' field).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines, one measurement per line (= --format jsonl).")] = False,
) -> None:
    """Every stored measurement: end-to-end statistics and per-layer times (the database is
    only read, never changed).

    To copy a database, copy this export, or use `sqlite3 DB ".backup COPY.db"`: while a
    profiler runs (or after one was killed) recent rows may still sit in DB-wal, so a copy of
    DB alone can miss them (a finished run leaves DB complete).
    """
    from mnas_pred.store import MeasurementStore
    from mnas_pred.store_export import EXPORT_FORMATS

    if json_out and fmt is not None and fmt.lower() != "jsonl":
        raise MnasPredError(f"--json and --format {fmt} ask for two formats", "give one of them")
    fmt = (fmt or "jsonl").lower()
    if fmt not in (*EXPORT_FORMATS, "table"):
        raise MnasPredError(f"unknown format '{fmt}'", f"use one of {', '.join((*EXPORT_FORMATS, 'table'))}")
    with MeasurementStore(db, create=False) as store:
        if device is not None:
            known = [d["key"] for d in store.devices()]
            if device not in known:
                raise MnasPredError(f"no device '{device}' in {db}",
                                    f"use one of: {', '.join(known)}" if known else "it holds no measurements yet")
        if fmt != "table":
            n = store.export(fmt, out, device)
            if out is not None:
                err_console.print(f"wrote {n} measurements to {out}", markup=False, highlight=False)
            return
        frame = store.models_frame(device)
    table = Table(title=f"{len(frame)} measurements in {db}", title_justify="left")
    for col in ("id", "device", "arch", "res", "MACs", "median ms", "p10-p90 ms", "cv", "layers/e2e"):
        table.add_column(col, justify="left" if col in ("device", "arch") else "right")
    for r in frame.itertuples():
        ratio = "" if r.layer_sum_ratio != r.layer_sum_ratio else f"{r.layer_sum_ratio:.3f}"
        table.add_row(
            str(r.measurement_id), r.device, r.arch if len(r.arch) <= 48 else r.arch[:45] + "...", str(r.resolution),
            f"{(r.macs or 0) / 1e6:.0f}M", f"{r.latency_ms:.3f}", f"{r.latency_p10_ms:.3f}-{r.latency_p90_ms:.3f}",
            f"{r.cv:.3f}", ratio,
        )
    console.print(table)


def _progress_callback(bar: Progress | PlainProgress, task, ratios: list[float], phones: bool = False):
    """The progress bar's view of profiling events; collects per-layer-sum ratios for the summary.
    With several phones the last latency names its phone and a phone dropping out is announced."""

    def on_event(e) -> None:
        if e.status == "dropped":
            if phones and bar.console.is_terminal:  # a log or script reads it in the summary at the end
                bar.console.print(f"{e.device} dropped out, the other phones take over its models: {e.error}",
                                  markup=False, highlight=False)
            return
        if e.status == "measured" and e.measurement is not None:
            m = e.measurement
            if m.layers_ms:
                ratios.append(m.layer_sum_ratio)
            last = (f"last {m.latency_ms:.2f} ms on {e.device.split(':', 1)[-1]}" if phones else
                    f"last {m.latency_ms:.2f} ms (p10-p90 {m.latency_p10_ms:.2f}-{m.latency_p90_ms:.2f})")
        elif e.status == "failed":
            last = f"failed: {e.error}"
            where = "on every phone" if phones else ""
            if bar.console.is_terminal:  # a log or script gets the one summary line at the end
                bar.console.print(f"skipped a model that failed{' ' + where if where else ''}: {e.error}",
                                  markup=False, highlight=False)
        else:
            last = "already measured"
        bar.update(task, completed=e.done, last=last)

    return on_event
