"""A search's settings (:class:`SearchConfig`): plain values, written to ``config.json`` and into
every checkpoint, compared on ``--resume`` (:mod:`search.resume`), and validated in one place
before the results folder is touched."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from mnas_pred.errors import MnasPredError
from mnas_pred.records import DeviceSpec
from search.accuracy import TrainSettings
from search.data import DataSpec, check_spec
from search.references import DEFAULT_REFERENCES, check_references
from search.revalidation import RevalidationPolicy
from search.reward import DEFAULT_ALPHA, DEFAULT_BETA, RewardFunction
from search.strategies import STRATEGIES
from search.train_device import resolve_train_device

ANALYTIC = "analytic"  # predictor / device name of the cheap stand-ins (tests, benchmarks)


def as_device(value) -> DeviceSpec | str:
    """The ``device`` setting as a value: a :class:`~mnas_pred.records.DeviceSpec`, or
    ``"analytic"`` (the stand-in). Accepts the dict ``config.json`` holds and the ``local`` /
    ``adb:SERIAL`` / ``ssh:HOST`` names of results folders written before device specs."""
    if isinstance(value, DeviceSpec) or value == ANALYTIC:
        return value
    if isinstance(value, dict):
        return DeviceSpec(**value)
    return DeviceSpec.parse(str(value))


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
    device: DeviceSpec | str = field(default_factory=DeviceSpec)  # or "analytic"
    db: str | None = "measurements.db"
    resolution: int | None = None  # deployment resolution (latency); default: the space's
    space: str | None = None
    revalidate_every: int = 5
    revalidate_top: int = 2
    refit_threshold: float = 0.1
    revalidate_by: str = "reward"  # "reward" | "optimistic" (search.revalidation.RevalidationPolicy)
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
                         "references",
                         # where the device's tools are found, not which device measures
                         "device.adb", "device.perf_test", "device.ort_lib", "device.benchmark_model", "device.cpus")

    def __post_init__(self):
        self.device = as_device(self.device)

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

    @property
    def policy(self) -> RevalidationPolicy:
        return RevalidationPolicy(self.revalidate_every, self.revalidate_top, self.refit_threshold, self.revalidate_by)

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
        self.policy  # noqa: B018 - validates the re-validation options
        check_references(self.references)
        if self.db and self.device != ANALYTIC:
            from mnas_pred.deferred_store import check_store_file

            check_store_file(self.db)  # a wrong --db fails now, not at the first device measurement
        if self.predictor not in (None, ANALYTIC) and not Path(self.predictor).is_file():
            raise MnasPredError(f"predictor file '{self.predictor}' does not exist",
                                "fit one with `mnas-pred fit-predictor --out FILE`, or search without --use-predictor")
