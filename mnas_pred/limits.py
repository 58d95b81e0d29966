"""Bounds on every number a user can type, in one place, each with the reason for its cap.

The CLI attaches :func:`option_callback` to its numeric options, so an out-of-range value ends as
one line before any work starts; the library entry points call :func:`check` with the same
:data:`BOUNDS`, so a caller from Python gets the same message. :func:`check_buildable` refuses a
network whose weights and activations (estimated from the analytic counts of
:mod:`mnas_pred.layers`) would not fit in this machine's memory, before anything is allocated.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from mnas_pred.errors import MnasPredError
from mnas_pred.threads import allowed_cpus


@dataclass(frozen=True)
class Bound:
    option: str
    low: float
    high: float | None  # None: no upper bound
    why: str  # why the cap is where it is (printed with the error)

    def check(self, value, option: str | None = None) -> None:
        if value is None:
            return
        name = option or self.option
        # written as "not inside" so that NaN (every comparison False) is refused too; inf has no place
        # in any of these settings either
        inside = value >= self.low and (self.high is None or value <= self.high)
        if not inside or (isinstance(value, float) and not math.isfinite(value)):
            span = f"from {self.low:,} to {self.high:,}" if self.high is not None else f"of at least {self.low:,}"
            raise MnasPredError(f"{name} {value:,} is out of range ({self.why})", f"give a value {span}")


MAX_RESOLUTION = 4096
MAX_THREADS = 64

BOUNDS: dict[str, Bound] = {
    # numpy's SeedSequence takes non-negative integers only; 32 bits keep numpy and torch in step
    "seed": Bound("--seed", 0, 2**32 - 1, "seeds are unsigned 32-bit integers"),
    "resolution": Bound("--resolution", 8, MAX_RESOLUTION,
                        "below 8 the strided layers leave no pixels; above 4096 the activations of one image "
                        "take gigabytes and are no latency target"),
    "train_resolution": Bound("--train-resolution", 8, 512, "proxy training at more than 512 pixels is not a proxy"),
    "num_classes": Bound("--num-classes", 1, 100_000, "the classifier head grows with the classes"),
    "sample": Bound("--num", 1, 1_000_000, "a million architectures is already ~300 MB of tokens"),
    "num_models": Bound("--num-models", 1, 100_000,
                        "a device measures about a thousand models an hour; run further campaigns with "
                        "a larger --num-models later, the same seed extends this one"),
    # a phone has at most 12 cores and a board rarely more than 64: more threads only oversubscribe
    "threads": Bound("--threads", 1, MAX_THREADS, f"intra-op threads beyond {MAX_THREADS} only oversubscribe the CPU"),
    "runs": Bound("--runs", 1, 10_000, "more timed runs do not tighten the median further"),
    "warmup": Bound("--warmup", 0, 10_000, "warm-up beyond thousands of runs only costs time"),
    "profile_runs": Bound("--profile-runs", 0, 1_000, "each profiled run writes a trace event per node"),
    "repeats": Bound("--repeats", 1, 100, "each repeat is a new process on the device"),
    "samples": Bound("--samples", 1, 1_000_000, "MnasNet's own search used 8,000 samples"),
    "batch_size": Bound("--batch-size", 1, 10_000, "one controller update holds this many candidates"),
    # BatchNorm needs more than one value per channel, and the last layers are 1x1 pixels
    "train_limit": Bound("--train-limit", 2, None, "BatchNorm needs at least two training images per batch"),
    "train_batch_size": Bound("--train-batch-size", 2, 4_096,
                              "BatchNorm needs at least two images per batch; more than 4096 does not fit a proxy"),
    "epochs": Bound("--epochs", 1, 1_000, "a proxy task trains for a few epochs"),
    "hidden_size": Bound("--hidden-size", 1, 4_096, "the controller's LSTM grows with its square"),
    "export_top": Bound("--export-top", 0, 1_000, "each exported model is trained again"),
    "ppo_lr": Bound("--ppo-lr", 0.0, 10.0, "an Adam step above 10 only diverges the controller"),
    "clip": Bound("--clip", 0.0, 10.0, "PPO's ratio clip is a fraction (0.1-0.3); beyond 10 nothing is clipped"),
    "entropy_coef": Bound("--entropy-coef", 0.0, 100.0, "a larger entropy bonus drowns the reward"),
    "ppo_epochs": Bound("--ppo-epochs", 1, 1_000, "passes over one batch; more only overfit it"),
    "population_size": Bound("--population-size", 2, 100_000, "the population is filled with random samples first"),
    "tournament_size": Bound("--tournament-size", 1, 100_000, "at most the population"),
    "revalidate_every": Bound("--revalidate-every", 1, 1_000_000, "controller updates between re-validations"),
    "revalidate_top": Bound("--revalidate-top", 0, 1_000, "each re-validated candidate is measured on the device"),
}


def check(**values) -> None:
    """Check named values (keys of :data:`BOUNDS`); None means "not given"."""
    for name, value in values.items():
        BOUNDS[name].check(value)


def check_local_threads(threads: int, option: str = "--threads") -> None:
    """Threads of work on this machine: at most the CPUs this process may use."""
    BOUNDS["threads"].check(threads, option)
    cpus = len(allowed_cpus())
    if threads > cpus:
        raise MnasPredError(f"{option} {threads} is more than the {cpus} CPUs this process may use here "
                            "(more threads than cores slows every one of them down)",
                            f"give a value from 1 to {cpus}")


def option_callback(name: str, option: str | None = None):
    """A typer callback that applies ``BOUNDS[name]`` to the option it is attached to (named
    ``option`` in the message when several options share one bound)."""

    def callback(value):
        BOUNDS[name].check(value, option)  # None ("not given") passes
        return value

    return callback


# ------------------------------------------------------------------------------------ memory
BYTES_PER_VALUE = 4  # float32
# Building and exporting holds the weights several times over: the PyTorch parameters, their
# gradients or the serialized ONNX copy, and ONNX Runtime's own session copy.
WEIGHT_COPIES = 3
# Refuse when the estimate exceeds this share of the machine's memory: others use it too.
MEMORY_SHARE = 0.5


def machine_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def estimated_bytes(arch, resolution: int, num_classes: int = 1000) -> int:
    """Bytes to build, run (batch 1) and export ``arch``: the weights ``WEIGHT_COPIES`` times
    plus the largest layer's input, expanded middle and output activations."""
    from mnas_pred.layers import arch_layers

    layers = arch_layers(arch, resolution, num_classes)
    params = sum(int(lay.params) for lay in layers)
    peak = 0
    for lay in layers:
        mid = lay.cin * max(lay.expansion, 1)
        values = lay.in_h * lay.in_w * (lay.cin + mid) + lay.out_h * lay.out_w * (mid + lay.cout)
        peak = max(peak, values)
    return BYTES_PER_VALUE * (WEIGHT_COPIES * params + peak)


def check_buildable(arch, resolution: int, num_classes: int = 1000) -> None:
    """Refuse a network that would not fit in memory, before any tensor is allocated."""
    BOUNDS["resolution"].check(resolution)
    BOUNDS["num_classes"].check(num_classes)
    need = estimated_bytes(arch, resolution, num_classes)
    have = machine_memory_bytes()
    if need > MEMORY_SHARE * have:
        name = arch if isinstance(arch, str) else arch.to_string()
        raise MnasPredError(
            f"'{name[:60]}' at {resolution}x{resolution} needs about {need / 2**30:,.1f} GiB of memory to build and "
            f"run (weights and largest activations); this machine has {have / 2**30:,.1f} GiB",
            "choose fewer filters or layers, a smaller kernel or a lower --resolution")
