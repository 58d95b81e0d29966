"""``mnas-pred search``: the MnasNet search (options → :class:`search.runner.SearchConfig`)."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.live import Live
from rich.table import Table

from mnas_pred.cli._app import (
    AcceleratorOption,
    BenchmarkModelOption,
    CommandInterrupted,
    JsonOption,
    RuntimeOption,
    SpaceOption,
    app,
    console,
    print_json,
)
from mnas_pred.cli._progress import duration
from mnas_pred.limits import check_local_threads, option_callback

_TRAIN = "Proxy training"
_LAT = "Latency"
_STRAT = "Strategy"
_SCALE = "Scaling out"


def _local_cpus(option: str):
    """Processes or threads on this machine: at most its CPUs (mnas_pred.limits)."""

    def callback(value: int) -> int:
        check_local_threads(value, option)
        return value

    return callback


class _Display:
    """A live table: what the search is doing now, samples done and ETA, best reward, best
    accuracy/latency, device measurements. A log file or pipe gets plain lines instead."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.status = "starting (loading data, opening the device)"
        self.last = None  # the SearchProgress of the last finished update
        self.start = time.monotonic()
        # a terminal gets a live table; a log file or pipe gets one line per trained candidate and update
        self.live = (Live(console=console, get_renderable=self._table, refresh_per_second=4, transient=False)
                     if enabled and console.is_terminal else None)

    def _table(self) -> Table:
        t = Table(title="mnas-pred search", title_justify="left", show_header=False)
        t.add_column("what")
        t.add_column("value")
        t.add_row("status", self.status)
        p = self.last
        if p is None:
            t.add_row("elapsed", f"{time.monotonic() - self.start:.0f} s")
            return t
        t.add_row("samples", f"{p.samples_done}/{p.samples_total} (update {p.update}/{p.total_updates}), "
                             f"{_eta(p)}")
        t.add_row("best reward", f"{p.best_reward:.4f}")
        t.add_row("best accuracy / latency", f"{p.best_accuracy:.4f} / {p.best_latency_ms:.2f} ms")
        t.add_row("device measurements", f"{p.device_measurements} (predictor refits: {p.refits})")
        if p.last_revalidation:
            r = p.last_revalidation
            t.add_row("last re-validation", f"update {r['update']}: predicted {r['predicted_ms']:.2f} ms, "
                                            f"measured {r['measured_ms']:.2f} ms ({100 * r['rel_error']:+.1f}%)")
        t.add_row("elapsed", f"{p.elapsed_s:.0f} s")
        return t

    def phase(self, what: str) -> None:
        self.status = what  # a live table shows it at its next refresh
        if self.live is None and self.enabled:
            self._line(f"{what}; {time.monotonic() - self.start:.0f} s elapsed")

    def update(self, p) -> None:
        self.last = p
        self.status = "next update" if p.update < p.total_updates else "writing results (best models, plots)"
        if self.live is None and self.enabled:
            self._line(
                f"update {p.update}/{p.total_updates} done: {p.samples_done}/{p.samples_total} samples, best reward "
                f"{p.best_reward:.4f} (accuracy {p.best_accuracy:.4f}, {p.best_latency_ms:.2f} ms), "
                f"{p.device_measurements} device measurements; {p.elapsed_s:.0f} s elapsed, {_eta(p)}")

    @staticmethod
    def _line(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
        console.file.flush()  # a log file sees each line as it happens

    def log(self, msg: str) -> None:
        console.print(msg, markup=False, highlight=False)

    def __enter__(self):
        self.start = time.monotonic()
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            if exc[0] is None:
                self.status = "done"
            self.live.__exit__(*exc)


def _eta(p) -> str:
    """Remaining time at the average pace of the samples done so far."""
    left = p.samples_total - p.samples_done
    if left <= 0 or p.samples_done == 0:
        return "eta 0 s" if left <= 0 else "eta unknown"
    return f"eta {duration(p.elapsed_s / p.samples_done * left)}"  # the profiler's format


@app.command()
def search(
    target_ms: Annotated[float, typer.Option("--target-ms", help="Target latency T on the device (ms).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Results folder (history, Pareto front, best models, checkpoint).", file_okay=False)] = Path("search-out"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search in --out from its last checkpoint (same options).")] = False,
    alpha: Annotated[float, typer.Option("--alpha", help="Reward exponent when LAT <= T (0 with --beta -1: hard constraint).")] = -0.07,
    beta: Annotated[float, typer.Option("--beta", help="Reward exponent when LAT > T.")] = -0.07,
    samples: Annotated[int, typer.Option("--samples", callback=option_callback("samples"), help="Candidates in total.")] = 64,
    batch_size: Annotated[int, typer.Option("--batch-size", callback=option_callback("batch_size"), help="Candidates per controller update.")] = 8,
    seed: Annotated[int, typer.Option("--seed", callback=option_callback("seed"), help="Seed: the same seed and options give the same search.")] = 0,
    strategy: Annotated[str, typer.Option("--strategy", help="evolution (regularized; found the best architectures at 800 samples), ppo (MnasNet's LSTM controller; better at 200 samples or fewer), or random.", rich_help_panel=_STRAT)] = "evolution",
    hidden_size: Annotated[int, typer.Option("--hidden-size", callback=option_callback("hidden_size"), help="PPO: LSTM units.", rich_help_panel=_STRAT)] = 100,
    ppo_lr: Annotated[float, typer.Option("--ppo-lr", callback=option_callback("ppo_lr"), help="PPO: Adam learning rate.", rich_help_panel=_STRAT)] = 0.005,
    ppo_epochs: Annotated[int, typer.Option("--ppo-epochs", callback=option_callback("ppo_epochs"), help="PPO: passes over each batch.", rich_help_panel=_STRAT)] = 8,
    clip: Annotated[float, typer.Option("--clip", callback=option_callback("clip"), help="PPO: ratio clip epsilon.", rich_help_panel=_STRAT)] = 0.2,
    entropy_coef: Annotated[float, typer.Option("--entropy-coef", callback=option_callback("entropy_coef"), help="PPO: entropy bonus weight.", rich_help_panel=_STRAT)] = 0.001,
    baseline_decay: Annotated[float, typer.Option("--baseline-decay", min=0.0, max=1.0, help="PPO: EMA decay of the reward baseline (0: the batch mean).", rich_help_panel=_STRAT)] = 0.0,
    population_size: Annotated[int, typer.Option("--population-size", callback=option_callback("population_size"), help="Evolution: population (aging queue) size.", rich_help_panel=_STRAT)] = 32,
    tournament_size: Annotated[int, typer.Option("--tournament-size", callback=option_callback("tournament_size"), help="Evolution: tournament size.", rich_help_panel=_STRAT)] = 8,
    dataset: Annotated[str, typer.Option("--dataset", help="Proxy task: digits (bundled, no download), cifar10 or imagefolder (need --data-dir).", rich_help_panel=_TRAIN)] = "digits",
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="cifar-10-batches-py folder, or an ImageFolder tree DIR/<class>/<image>.", rich_help_panel=_TRAIN)] = None,
    train_resolution: Annotated[int, typer.Option("--train-resolution", callback=option_callback("train_resolution"), help="Proxy-training input size (latency uses the deployment --resolution).", rich_help_panel=_TRAIN)] = 32,
    epochs: Annotated[int, typer.Option("--epochs", callback=option_callback("epochs"), help="Proxy-training epochs per candidate.", rich_help_panel=_TRAIN)] = 1,
    train_batch_size: Annotated[int, typer.Option("--train-batch-size", callback=option_callback("train_batch_size"), help="Proxy-training batch size.", rich_help_panel=_TRAIN)] = 32,
    lr: Annotated[float, typer.Option("--lr", help="SGD learning rate (warm-up then cosine).", rich_help_panel=_TRAIN)] = 0.05,
    momentum: Annotated[float, typer.Option("--momentum", help="SGD (Nesterov) momentum.", rich_help_panel=_TRAIN)] = 0.9,
    weight_decay: Annotated[float, typer.Option("--weight-decay", help="SGD weight decay.", rich_help_panel=_TRAIN)] = 4e-5,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Share of the training images held out for validation.", rich_help_panel=_TRAIN)] = 0.2,
    train_limit: Annotated[Optional[int], typer.Option("--train-limit", callback=option_callback("train_limit"), help="Train on at most this many images (cheaper proxy).", rich_help_panel=_TRAIN)] = None,
    train_threads: Annotated[int, typer.Option("--train-threads", callback=option_callback("threads", "--train-threads"), help="Threads per candidate's training (fixed, so results do not depend on the machine).", rich_help_panel=_TRAIN)] = 1,
    train_device: Annotated[str, typer.Option("--train-device", help="Where candidates train: auto (CUDA, then MPS, then CPU), cpu, cuda (mixed precision) or mps. On Ray: cuda when --gpus-per-trial > 0.", rich_help_panel=_TRAIN)] = "auto",
    workers: Annotated[int, typer.Option("--workers", callback=_local_cpus("--workers"), help="Candidates trained in parallel local processes (same results as 1).", rich_help_panel=_TRAIN)] = 1,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Train candidates as Ray tasks on this cluster: host:port of its head, 'auto' (the cluster this node belongs to) or 'local' (start one here). Needs `pip install 'mnas-pred\\[ray]'`.", rich_help_panel=_SCALE)] = None,
    cpus_per_trial: Annotated[Optional[float], typer.Option("--cpus-per-trial", min=0.01, help="Ray: CPUs reserved per candidate (default: --train-threads).", rich_help_panel=_SCALE)] = None,
    gpus_per_trial: Annotated[float, typer.Option("--gpus-per-trial", min=0.0, help="Ray: GPUs reserved per candidate (fractions share a GPU).", rich_help_panel=_SCALE)] = 0.0,
    use_predictor: Annotated[Optional[Path], typer.Option("--use-predictor", help="Predictor file (fit-predictor): predicted latency, the device only re-validates. Without it every candidate is measured.", dir_okay=False, rich_help_panel=_LAT)] = None,
    serial: Annotated[Optional[str], typer.Option("--serial", help="Android device serial (default device: this machine's CPU).", rich_help_panel=_LAT)] = None,
    ssh: Annotated[Optional[str], typer.Option("--ssh", help="Linux board as \\[user@]host.", rich_help_panel=_LAT)] = None,
    runtime: RuntimeOption = "ort",
    accelerator: AcceleratorOption = "cpu",
    benchmark_model: BenchmarkModelOption = None,
    db: Annotated[Path, typer.Option("--db", help="Measurement database the device measurements are added to.", dir_okay=False, rich_help_panel=_LAT)] = Path("measurements.db"),
    resolution: Annotated[Optional[int], typer.Option("--resolution", callback=option_callback("resolution"), help="Deployment input size for latency (default: the space's, 224).", rich_help_panel=_LAT)] = None,
    revalidate_every: Annotated[int, typer.Option("--revalidate-every", callback=option_callback("revalidate_every"), help="Re-measure every K controller updates.", rich_help_panel=_LAT)] = 5,
    revalidate_top: Annotated[int, typer.Option("--revalidate-top", callback=option_callback("revalidate_top"), help="Re-measure the M best not-yet-measured candidates (0: never).", rich_help_panel=_LAT)] = 2,
    refit_threshold: Annotated[float, typer.Option("--refit-threshold", min=0.0, help="Refit the predictor when the mean relative error of a re-validation exceeds this.", rich_help_panel=_LAT)] = 0.1,
    threads: Annotated[int, typer.Option("--threads", callback=option_callback("threads"), help="Device measurement: intra-op threads (MnasNet measured one core).", rich_help_panel=_LAT)] = 1,
    runs: Annotated[int, typer.Option("--runs", callback=option_callback("runs"), help="Device measurement: timed end-to-end runs per model.", rich_help_panel=_LAT)] = 50,
    warmup: Annotated[int, typer.Option("--warmup", callback=option_callback("warmup"), help="Device measurement: warm-up runs.", rich_help_panel=_LAT)] = 10,
    profile_runs: Annotated[int, typer.Option("--profile-runs", callback=option_callback("profile_runs"), help="Device measurement: profiled runs for per-layer times (refits learn from them).", rich_help_panel=_LAT)] = 10,
    revalidate_by: Annotated[str, typer.Option("--revalidate-by", help="Pick candidates to re-measure by predicted reward, or 'optimistic': by the reward at the low end of the predictor's latency interval (its uncertainty).", rich_help_panel=_LAT)] = "reward",
    allow_other_device: Annotated[bool, typer.Option("--allow-other-device", help="Use a predictor fitted on another device model.", rich_help_panel=_LAT)] = False,
    reference: Annotated[Optional[list[str]], typer.Option("--reference", metavar="ARCH", help="Another reference network (named or an architecture string) to train and time beside mobilenetv2, mnasnet-a1 and mnasnet-b1; repeatable.")] = None,
    no_references: Annotated[bool, typer.Option("--no-references", help="Skip the default references mobilenetv2, mnasnet-a1 and mnasnet-b1 (faster); --reference still adds its own.")] = False,
    export_top: Annotated[int, typer.Option("--export-top", callback=option_callback("export_top"), help="Best architectures to export to best/ (string, ONNX, weights).")] = 3,
    space: SpaceOption = None,
    accuracy: Annotated[str, typer.Option("--accuracy", hidden=True, help="proxy | analytic (a cheap surrogate, for tests).")] = "proxy",
    latency: Annotated[str, typer.Option("--latency", hidden=True, help="real | analytic (a stand-in device; --use-predictor analytic).")] = "real",
    json_out: JsonOption = False,
) -> None:
    """Search for accurate and fast architectures (MnasNet reward ACC*(LAT/T)^w; regularized evolution or the PPO controller).

    Writes history.csv, pareto.csv, best/ (string, ONNX, weights), plots and a checkpoint to --out.
    """
    from mnas_pred.errors import MnasPredError
    from mnas_pred.records import DeviceSpec
    from search.accuracy import TrainSettings
    from search.config import ANALYTIC, SearchConfig
    from search.data import DataSpec
    from search.references import DEFAULT_REFERENCES
    from search.report import closing_lines
    from search.runner import Search

    if latency not in ("real", ANALYTIC):
        raise MnasPredError(f"unknown --latency '{latency}'", "use real or analytic")
    if serial and ssh:
        raise MnasPredError("both --serial and --ssh were given", "choose one device per search")
    if ray_address is None and (cpus_per_trial is not None or gpus_per_trial):
        raise MnasPredError("--cpus-per-trial and --gpus-per-trial apply to Ray tasks",
                            "add --ray-address ADDR (or leave them out)")
    predictor = None
    if use_predictor is not None:
        predictor = ANALYTIC if latency == ANALYTIC else str(use_predictor.resolve())  # resume compares files
    device = ANALYTIC if latency == ANALYTIC else DeviceSpec.select(
        serial, ssh, runtime=runtime, accelerator=accelerator,
        benchmark_model=str(benchmark_model) if benchmark_model else None)
    if device != ANALYTIC and device.kind == "local":
        check_local_threads(threads)  # this machine's CPU: at most its cores
    if ray_address is None:  # candidates train here (a Ray node's cores are its own)
        check_local_threads(train_threads, "--train-threads")
    strategy_options = {
        "ppo": {"hidden_size": hidden_size, "learning_rate": ppo_lr, "ppo_epochs": ppo_epochs, "clip": clip,
                "entropy_coef": entropy_coef, "baseline_decay": baseline_decay},
        "evolution": {"population_size": population_size, "tournament_size": min(tournament_size, population_size)},
    }.get(strategy, {})
    config = SearchConfig(
        out_dir=str(out), target_ms=target_ms, alpha=alpha, beta=beta, strategy=strategy,
        strategy_options=strategy_options, samples=samples, batch_size=batch_size, seed=seed, accuracy=accuracy,
        data=DataSpec(dataset=dataset, data_dir=str(data_dir.resolve()) if data_dir else None, resolution=train_resolution,
                      val_fraction=val_fraction, train_limit=train_limit, seed=seed),
        train=TrainSettings(epochs=epochs, batch_size=train_batch_size, learning_rate=lr, momentum=momentum,
                            weight_decay=weight_decay, threads=train_threads, device=train_device),
        predictor=predictor, device=device, db=str(db), resolution=resolution, space=str(space.resolve()) if space else None,
        revalidate_every=revalidate_every, revalidate_top=revalidate_top, refit_threshold=refit_threshold,
        revalidate_by=revalidate_by,
        workers=workers, ray_address=ray_address, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
        export_top=export_top, allow_other_device=allow_other_device,
        measure={"threads": threads, "runs": runs, "warmup": warmup, "profile_runs": profile_runs},
        references=[*([] if no_references else DEFAULT_REFERENCES), *(reference or [])],
    )
    display = _Display(enabled=not json_out)
    # validates every option and opens the device before the live display starts
    runner = Search(config, resume=resume, log=display.log if not json_out else None)
    runner.progress = display.update
    runner.phase = display.phase
    # With --json, stdout carries the JSON only: anything a library prints meanwhile (Ray reports
    # a lost worker on stdout from a background thread) goes to stderr.
    stdout_guard = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    try:
        with display, stdout_guard:
            result = runner.run()
    except KeyboardInterrupt:
        raise CommandInterrupted(f"interrupted; the search is checkpointed in {out} (finished updates, and the "
                                 "candidates already trained): repeat the command with --resume to continue") from None
    s = result.summary
    if json_out:
        print_json(s)
        return
    for line in closing_lines(s):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"results in {result.out_dir}/ (history.csv, pareto.csv, best/, reward.png, pareto.png)")
