"""The search loop: ask the strategy, evaluate accuracy and latency, reward, tell, re-validate,
checkpoint — and the results folder.

One controller update = one ``ask(batch_size)``/``tell``. After every update the whole state
(strategy, history, latency oracle, random generators) is checkpointed atomically to
``checkpoint.npz`` (no pickle, :mod:`search.checkpoint`) and ``history.csv`` is rewritten, so
``--resume`` continues from the last update. Accuracies and device measurements are also
appended to their caches as soon as they exist, so the candidates of an interrupted update are
not trained or measured again; since both are deterministic per candidate (or cached), the
resumed search reproduces an uninterrupted one exactly.

Results folder (``--out``):

====================  ==============================================================================
history.csv           one row per candidate: step, arch, accuracy, predicted_latency_ms,
                      measured_latency_ms (empty unless measured), reward, update, latency_ms
                      (the value the reward used: measured where there is one)
pareto.csv            the accuracy–latency Pareto front over distinct architectures
best/                 the best architectures by reward: ``rank-N.arch.txt``, ``rank-N.onnx`` (deployment
                      resolution, trained proxy weights), ``rank-N.safetensors`` (the PyTorch state
                      dict: ``safetensors.torch.load_file``, :mod:`search.weights`), ``best.json``
revalidation.csv      every re-measured candidate: predicted vs measured, whether a refit followed
references.jsonl      the reference networks' results and cost (:mod:`search.references`)
reward.png pareto.png plots
summary.json          the final numbers; config.json the settings; checkpoint.npz the state
====================  ==============================================================================
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from mnas_pred.arch import parse_arch
from mnas_pred.errors import MnasPredError
from mnas_pred.files import atomic_write_bytes
from mnas_pred.space import SearchSpace
from search.accuracy import AccuracyCache, ProxyTrainer, TrainSettings, torch_threads
from search.checkpoint import load_state, save_state
from search.data import DataSpec, check_spec
from search.evaluator import AccuracySpec, make_evaluator
from search.killpoint import kill_point
from search.latency import (
    AnalyticDevice,
    AnalyticLatencyModel,
    LatencyOracle,
    MeasurementCache,
    RevalidationPolicy,
)
from search.pareto import hypervolume, pareto_front
from search.references import DEFAULT_REFERENCES, check_references, references_for
from search.resume import changed_settings
from search.reward import DEFAULT_ALPHA, DEFAULT_BETA, RewardFunction
from search.state_schema import check_checkpoint_state, restore_errors
from search.strategies import STRATEGIES, make_strategy
from search.train_device import resolve_train_device
from search.weights import load_weights, save_weights  # noqa: F401 - load_weights: public here too

HISTORY_COLUMNS = ("step", "arch", "accuracy", "predicted_latency_ms", "measured_latency_ms", "reward",
                   "update", "latency_ms")
ANALYTIC = "analytic"  # predictor / device name of the cheap stand-ins (tests, benchmarks)


@dataclass
class SearchConfig:
    out_dir: str
    target_ms: float
    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    strategy: str = "evolution"  # won at 800 samples in bench/search_controller.py (README: "Why evolution is the default")
    strategy_options: dict = field(default_factory=dict)
    samples: int = 64
    batch_size: int = 8
    seed: int = 0
    accuracy: str = "proxy"  # "proxy" | "analytic"
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSettings = field(default_factory=TrainSettings)
    predictor: str | None = None  # predictor file, or "analytic"
    device: str = "local"  # "local" | "adb:SERIAL" | "ssh:HOST" | "analytic"
    db: str | None = "measurements.db"
    resolution: int | None = None  # deployment resolution (latency); default: the space's
    space: str | None = None
    revalidate_every: int = 5
    revalidate_top: int = 2
    refit_threshold: float = 0.1
    revalidate_by: str = "reward"  # "reward" | "optimistic" (search.latency.RevalidationPolicy)
    workers: int = 1
    ray_address: str | None = None  # evaluate candidates as Ray tasks on this cluster ("auto", "local", host:port)
    cpus_per_trial: float | None = None  # Ray resources of one candidate; None: --train-threads CPUs
    gpus_per_trial: float = 0.0
    export_top: int = 3
    allow_other_device: bool = False  # use a predictor fitted on another device model
    # device measurement protocol (device_profiler.MeasureSettings fields); empty = its defaults
    measure: dict = field(default_factory=dict)
    references: list = field(default_factory=lambda: list(DEFAULT_REFERENCES))  # search.references

    # settings that may change between a run and its resume
    # (where candidates are evaluated does not change their results)
    RESUMABLE_CHANGES = ("workers", "samples", "export_top", "db", "ray_address", "cpus_per_trial", "gpus_per_trial",
                         "references")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["data"], d["train"] = self.data.as_dict(), self.train.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SearchConfig:
        d = dict(d)
        d["data"] = DataSpec(**d["data"])
        d["train"] = TrainSettings(**d["train"])
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def validate(self) -> None:
        RewardFunction(self.target_ms, self.alpha, self.beta)
        if self.samples < 1 or self.batch_size < 1:
            raise MnasPredError("--samples and --batch-size must be at least 1", "e.g. --samples 64 --batch-size 8")
        if self.strategy not in STRATEGIES:
            raise MnasPredError(f"unknown strategy '{self.strategy}'", f"use one of {', '.join(STRATEGIES)}")
        if self.accuracy not in ("proxy", ANALYTIC):
            raise MnasPredError(f"unknown accuracy source '{self.accuracy}'", "use proxy or analytic")
        if self.accuracy == "proxy":
            check_spec(self.data)
            self.train = replace(self.train, device=resolve_train_device(  # "auto" → the device it stands for
                self.train.device, on_ray=self.ray_address is not None, gpus_per_trial=self.gpus_per_trial))
        if self.workers < 1:
            raise MnasPredError("--workers must be at least 1", "e.g. --workers 2")
        if self.ray_address is not None:
            if self.workers > 1:
                raise MnasPredError("both --workers and --ray-address were given",
                                    "use --workers N for processes on this machine or --ray-address for a cluster")
            if self.cpus_per_trial is not None and not self.cpus_per_trial > 0 or not self.gpus_per_trial >= 0:
                raise MnasPredError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0",
                                    "e.g. --cpus-per-trial 1 --gpus-per-trial 0")
            from search.ray_evaluator import import_ray

            import_ray()  # a missing Ray fails here, before the results folder is touched
        RevalidationPolicy(self.revalidate_every, self.revalidate_top, self.refit_threshold, self.revalidate_by)
        check_references(self.references)
        if self.db and self.device != ANALYTIC:
            from mnas_pred.deferred_store import check_store_file

            check_store_file(self.db)  # a wrong --db fails now, not at the first device measurement
        if self.predictor not in (None, ANALYTIC) and not Path(self.predictor).is_file():
            raise MnasPredError(f"predictor file '{self.predictor}' does not exist",
                                "fit one with `mnas-pred fit-predictor --out FILE`, or search without --use-predictor")


@dataclass
class SearchProgress:
    """What the progress callback receives after every controller update."""

    update: int
    total_updates: int
    samples_done: int
    samples_total: int
    best_reward: float
    best_arch: str
    best_accuracy: float
    best_latency_ms: float
    device_measurements: int
    refits: int
    last_revalidation: dict | None
    elapsed_s: float


@dataclass
class SearchResult:
    out_dir: Path
    history: list[dict]
    pareto: list[dict]
    best: list[dict]
    device_measurements: int
    refits: int
    elapsed_s: float
    summary: dict


def _nan_to_none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


class Search:
    """One search run (fresh or resumed) writing into ``config.out_dir``."""

    def __init__(self, config: SearchConfig, resume: bool = False,
                 progress: Callable[[SearchProgress], None] | None = None,
                 log: Callable[[str], None] | None = None):
        config.validate()
        self.config = config
        self.out = Path(config.out_dir)
        self.progress = progress
        self.log = log or (lambda msg: None)
        self.phase: Callable[[str], None] | None = None  # what the search is doing now (live display)
        self._running_update = 1
        self.space = SearchSpace.load(config.space)
        self.resolution = config.resolution or self.space.resolution
        self.reward_fn = RewardFunction(config.target_ms, config.alpha, config.beta)
        self.checkpoint_path = self.out / "checkpoint.npz"
        state = self._check_out_dir(resume)
        self.strategy = make_strategy(config.strategy, self.space, seed=config.seed, **config.strategy_options)
        self.accuracy_spec = AccuracySpec(config.accuracy, config.data, config.train, config.seed)
        self.accuracy_eval = self.accuracy_spec.build()
        # everything that can fail on user input (dataset files, predictor file, device) before the
        # folder is touched
        if isinstance(self.accuracy_eval, ProxyTrainer):
            self.accuracy_eval.data  # noqa: B018 - load now: a broken dataset fails here, in one line
            self.accuracy_eval.cpu_if_unavailable = True  # references, export: a Ray driver may lack the workers' GPU
        model, device = self._latency_sources()
        if state is None:
            self._start_out_dir()
        self.accuracy_cache = AccuracyCache(self.out / "accuracy_cache.jsonl", self.accuracy_eval.fingerprint())
        cache = MeasurementCache(self.out / "measurements.jsonl", device.key() if device else "none")
        policy = RevalidationPolicy(config.revalidate_every, config.revalidate_top, config.refit_threshold,
                                    config.revalidate_by)
        self.oracle = LatencyOracle(model, device, cache, policy, refit_dir=self.out / "refits")
        self.history: list[dict] = []
        self.revalidations: list[dict] = []
        self.references: list[dict] = []
        self.update = 0
        self.elapsed_before = 0.0
        if state is not None:
            with restore_errors(self.checkpoint_path):
                self._restore(state)
        else:  # the global generators (untrained weights of best/ with --accuracy analytic) from the seed,
            # so a search does not depend on what the calling process drew before (a resume restores them)
            torch.manual_seed(config.seed)
            np.random.seed(config.seed)

    # ------------------------------------------------------------------ setup
    def _check_out_dir(self, resume: bool) -> dict | None:
        if resume:
            if not self.checkpoint_path.exists():
                if (self.out / "config.json").exists():  # stopped while loading data or opening the device
                    self.log(f"nothing was done in '{self.out}' yet: starting the search from the beginning")
                    return None
                raise MnasPredError(f"no checkpoint in '{self.out}' to resume from",
                                    "run without --resume to start a new search there")
            state = check_checkpoint_state(load_state(self.checkpoint_path), self.checkpoint_path)
            if isinstance(state["config"].get("train"), dict):  # checkpoints from before --train-device trained on the CPU
                state["config"]["train"].setdefault("device", "cpu")
            changed = changed_settings(state["config"], self.config.to_dict(), SearchConfig.RESUMABLE_CHANGES)
            if changed:
                raise MnasPredError(
                    f"--resume with different settings than the checkpoint in '{self.out}': {', '.join(changed)}",
                    "repeat the original command with --resume (only --samples, --workers, --export-top, --db "
                    "and the Ray options may change)")
            return state
        if self.checkpoint_path.exists():
            raise MnasPredError(f"'{self.out}' already holds a search",
                                "add --resume to continue it, or choose another --out")
        return None

    def _start_out_dir(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in ("accuracy_cache.jsonl", "measurements.jsonl", "references.jsonl"):  # from a search killed before its first checkpoint
            (self.out / stale).unlink(missing_ok=True)
        (self.out / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")

    def _latency_sources(self):
        """(predictor, device): either may be None, not both."""
        c = self.config
        model = None
        if c.predictor == ANALYTIC:
            model = AnalyticLatencyModel(self.resolution)
        elif c.predictor is not None:
            from search.predictor_adapter import PredictorFileModel

            model = PredictorFileModel(c.predictor, self.space, self.resolution, db=c.db)
        device = None
        if c.device == ANALYTIC:
            device = AnalyticDevice(self.resolution)
        elif model is None or c.revalidate_top > 0:
            from search.latency import DeviceMeasurer

            serial = c.device[4:] if c.device.startswith("adb:") else None
            ssh = c.device[4:] if c.device.startswith("ssh:") else None
            from device_profiler import MeasureSettings

            device = DeviceMeasurer(serial=serial, ssh=ssh, db=c.db, resolution=self.resolution,
                                    num_classes=self.space.num_classes, settings=MeasureSettings(**c.measure))
        if model is not None and device is not None and hasattr(model, "check_device"):
            try:
                model.check_device(device, allow_other=c.allow_other_device, log=self.log)
            except MnasPredError:
                device.close()
                raise
        return model, device

    def _restore(self, state: dict) -> None:
        self.strategy.set_state(state["strategy"])
        self.history = state["history"]
        self.revalidations = state["revalidations"]
        self.update = int(state["update"])
        self.elapsed_before = float(state["elapsed_s"])
        self.oracle.set_state(state["oracle"])
        torch.set_rng_state(torch.from_numpy(np.asarray(state["torch_rng"], dtype=np.uint8)))
        np_state = state["numpy_rng"]
        np.random.set_state((np_state["name"], np.asarray(np_state["keys"], dtype=np.uint32), np_state["pos"],
                             np_state["has_gauss"], np_state["cached_gaussian"]))

    def _state(self, elapsed: float) -> dict:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        return {
            "config": self.config.to_dict(),
            "update": self.update,
            "strategy": self.strategy.get_state(),
            "history": self.history,
            "revalidations": self.revalidations,
            "oracle": self.oracle.get_state(),
            "elapsed_s": elapsed,
            "torch_rng": torch.get_rng_state().numpy().copy(),
            "numpy_rng": {"name": name, "keys": keys, "pos": int(pos), "has_gauss": int(has_gauss),
                          "cached_gaussian": float(cached)},
        }

    # ------------------------------------------------------------------ the loop
    @property
    def total_updates(self) -> int:
        return math.ceil(self.config.samples / self.config.batch_size)

    @property
    def device_measurements(self) -> int:
        """Distinct architectures measured on the device in this search (resume-stable)."""
        return len(self.oracle.reached)

    def run(self) -> SearchResult:
        c = self.config
        if not self.checkpoint_path.exists():
            # Ctrl-C during the first update can then be continued with --resume, like any later one
            # (the candidates it trained are in the accuracy cache)
            save_state(self.checkpoint_path, self._state(self.elapsed_before))
        self.oracle.on_phase = self._phase
        start = time.perf_counter()
        evaluator = make_evaluator(self.accuracy_spec, c.workers, self.accuracy_eval, ray_address=c.ray_address,
                                   cpus_per_trial=c.cpus_per_trial or float(c.train.threads),
                                   gpus_per_trial=c.gpus_per_trial)
        try:
            if self.phase and c.references:
                self.phase(f"reference networks: training and timing {len(set(c.references))} "
                           "(each one's line follows when it is done)")
            self.references = references_for(self)  # cached in references.jsonl: a resume reuses them
            while len(self.history) < c.samples:
                n = min(c.batch_size, c.samples - len(self.history))
                self._one_update(n, evaluator)
                elapsed = self.elapsed_before + time.perf_counter() - start
                save_state(self.checkpoint_path, self._state(elapsed))
                kill_point("checkpointed")
                self._write_history()
                kill_point("written")
                if self.progress:
                    self.progress(self._progress(elapsed))
        finally:
            evaluator.close()
        result = self.finish(self.elapsed_before + time.perf_counter() - start)
        self.oracle.close()
        return result

    def _one_update(self, n: int, evaluator) -> None:
        self._running_update = self.update + 1
        tokens = self.strategy.ask(n)
        archs = [self.space.decode(t) for t in tokens]
        names = [a.to_string() for a in archs]
        todo = [a for a in dict.fromkeys(names) if self.accuracy_cache.get(a) is None]
        if todo:
            trained = []

            def on_result(arch: str, acc: float) -> None:
                self._store_accuracy(arch, acc)
                trained.append(arch)
                self._phase(f"training candidates ({len(trained)}/{len(todo)} done)")

            self._phase(f"training candidates (0/{len(todo)} done)")
            evaluator.evaluate(todo, on_result=on_result)
        kill_point("trained")
        accuracy = np.array([self.accuracy_cache.get(a) for a in names])
        if not self.oracle.uses_predictor:
            self._phase(f"measuring {len(names)} candidates on the device")
        predicted, measured = self.oracle.latency(archs)
        used = np.where(np.isfinite(measured), measured, predicted)
        rewards = self.reward_fn(accuracy, used)
        self.strategy.tell(tokens, rewards.tolist())
        self.update += 1
        for i, name in enumerate(names):
            self.history.append({
                "step": len(self.history), "arch": name, "accuracy": float(accuracy[i]),
                "predicted_latency_ms": float(predicted[i]), "measured_latency_ms": float(measured[i]),
                "reward": float(rewards[i]), "update": self.update, "latency_ms": float(used[i]),
            })
        kill_point("rewarded")
        policy = self.oracle.policy
        if self.oracle.uses_predictor and self.oracle.device is not None and policy.due(self.update):
            measured = set(self.oracle.reached)
            score = self._optimistic_rewards(measured) if policy.by == "optimistic" else None
            picked = policy.select(self.history, measured, score)
            if picked:
                self._phase(f"re-validation: measuring {len(picked)} candidates on the device")
            report = self.oracle.revalidate(self.update, picked)
            if report is not None:
                by_arch = dict(zip(report.archs, report.measured_ms))
                for row in self.history:
                    if row["arch"] in by_arch:
                        row["measured_latency_ms"] = by_arch[row["arch"]]
                self.revalidations.extend(report.rows())
                msg = (f"update {self.update}: re-measured {len(report.archs)} candidates, predicted vs measured "
                       f"error {100 * report.mean_abs_rel_error:.1f}%")
                if "refit_error" in report.extra:
                    msg += f"; predictor not refitted: {report.extra['refit_error']}"
                if report.refitted:
                    msg += f" > {100 * policy.refit_threshold:g}%: predictor refitted"
                    if report.error_after_refit is not None:
                        msg += f" (error on them now {100 * report.error_after_refit:.1f}%)"
                self.log(msg)

    def _phase(self, what: str) -> None:
        if self.phase:
            self.phase(f"update {self._running_update}/{self.total_updates}: {what}")

    def _store_accuracy(self, arch: str, accuracy: float) -> None:
        self.accuracy_cache.put(arch, accuracy)
        kill_point("accuracy-stored")

    def _optimistic_rewards(self, measured: set[str]) -> dict[str, float]:
        """Reward of each unmeasured candidate at the low end of the current predictor's interval."""
        first: dict[str, float] = {}
        for row in self.history:
            if row["arch"] not in measured:
                first.setdefault(row["arch"], row["accuracy"])
        if not first:
            return {}
        low, _ = self.oracle.model.predict_interval([parse_arch(a) for a in first])
        return {a: float(self.reward_fn(acc, lat)) for (a, acc), lat in zip(first.items(), low)}

    # ------------------------------------------------------------------ results
    def distinct_candidates(self) -> list[dict]:
        """One entry per architecture with the best latency known now: measured where measured,
        else the current (possibly refitted) predictor's value; reward under that latency."""
        first: dict[str, dict] = {}
        for row in self.history:
            first.setdefault(row["arch"], row)
        names = list(first)
        current = {}
        if self.oracle.model is not None and names:
            current = dict(zip(names, self.oracle.model.predict([parse_arch(a) for a in names]).tolist()))
        out = []
        for name, row in first.items():
            measured = self.oracle.measured(name)
            lat = measured if measured is not None else current.get(name, row["predicted_latency_ms"])
            out.append({
                "arch": name, "step": row["step"], "accuracy": row["accuracy"], "latency_ms": float(lat),
                "latency_source": "measured" if measured is not None else "predicted",
                "reward": float(self.reward_fn(row["accuracy"], lat)),
            })
        return out

    def _progress(self, elapsed: float) -> SearchProgress:
        best = max(self.history, key=lambda r: r["reward"])
        last = self.revalidations[-1] if self.revalidations else None
        return SearchProgress(
            update=self.update, total_updates=self.total_updates, samples_done=len(self.history),
            samples_total=self.config.samples, best_reward=best["reward"], best_arch=best["arch"],
            best_accuracy=best["accuracy"], best_latency_ms=best["latency_ms"],
            device_measurements=self.device_measurements, refits=self.oracle.refits, last_revalidation=last,
            elapsed_s=elapsed,
        )

    def _write_history(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        w.writeheader()
        for row in self.history:
            w.writerow({k: ("" if _nan_to_none(row[k]) is None else row[k]) for k in HISTORY_COLUMNS})
        atomic_write_bytes(self.out / "history.csv", buf.getvalue().encode())
        if self.revalidations:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(self.revalidations[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(self.revalidations)
            atomic_write_bytes(self.out / "revalidation.csv", buf.getvalue().encode())

    def finish(self, elapsed: float) -> SearchResult:
        """Pareto front, best architectures (string, ONNX, weights), plots, summary."""
        self._write_history()
        cands = self.distinct_candidates()
        front = pareto_front(cands)
        _write_csv(self.out / "pareto.csv", front, ("arch", "accuracy", "latency_ms", "latency_source", "reward", "step"))
        kill_point("finishing")
        ranked = sorted(cands, key=lambda r: (-r["reward"], r["step"]))
        best = ranked[: self.config.export_top]
        self._export_best(best)
        summary = {
            "samples": len(self.history), "updates": self.update, "distinct_architectures": len(cands),
            "strategy": self.config.strategy, "target_ms": self.config.target_ms,
            "alpha": self.config.alpha, "beta": self.config.beta,
            "latency": "predictor" if self.oracle.uses_predictor else "device",
            "device_measurements": self.device_measurements, "predictor_refits": self.oracle.refits,
            "best": ranked[0] if ranked else None, "pareto_size": len(front),
            "pareto_hypervolume": hypervolume(front, self.config.target_ms),  # search.pareto.HV_REFERENCE
            "under_target": sum(1 for r in cands if r["latency_ms"] <= self.config.target_ms),
            "elapsed_s": round(elapsed, 2), "out_dir": str(self.out),
        }
        from search.plots import plot_pareto, plot_rewards
        from search.report import result_labels

        summary.update(result_labels(self, summary["best"]))
        plot_rewards(self.history, summary, self.out / "reward.png")
        plot_pareto(cands, front, summary, self.out / "pareto.png")
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return SearchResult(self.out, self.history, front, best, self.device_measurements, self.oracle.refits,
                            elapsed, summary)

    def _export_best(self, best: list[dict]) -> None:
        from mnas_pred.builder import build_model
        from mnas_pred.export import export_onnx

        folder = self.out / "best"
        folder.mkdir(exist_ok=True)
        for old in folder.glob("rank-*"):
            old.unlink()
        entries = []
        for rank, cand in enumerate(best, start=1):
            arch = parse_arch(cand["arch"])
            stem = folder / f"rank-{rank}"
            if isinstance(self.accuracy_eval, ProxyTrainer):
                # retrain: deterministic per candidate, so these are the weights that scored its accuracy
                model, _ = self.accuracy_eval.train(arch)
                num_classes = self.accuracy_eval.num_classes()
            else:
                num_classes = self.space.num_classes
                model = build_model(arch, num_classes=num_classes, resolution=self.resolution)
            model = model.to(memory_format=torch.contiguous_format).eval()
            stem.with_suffix(".arch.txt").write_text(cand["arch"] + "\n")
            save_weights(model, stem.with_suffix(".safetensors"))
            with torch_threads(self.config.train.threads):
                export_onnx(arch, stem.with_suffix(".onnx"), resolution=self.resolution, num_classes=num_classes,
                            model=model)
            entries.append({**cand, "rank": rank, "num_classes": num_classes, "resolution": self.resolution,
                            "onnx": stem.with_suffix(".onnx").name, "weights": stem.with_suffix(".safetensors").name})
        (folder / "best.json").write_text(json.dumps(entries, indent=2) + "\n")


def _write_csv(path: Path, rows: list[dict], columns) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def run_search(config: SearchConfig, resume: bool = False, progress=None, log=None) -> SearchResult:
    return Search(config, resume=resume, progress=progress, log=log).run()
