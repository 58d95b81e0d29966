"""The results folder of a search: refusing to start over an existing search, ``--resume``
checks, the fresh start, and the checkpoint's contents (the whole state of the loop: strategy,
history, latency oracle, random generators; written by :mod:`search.checkpoint`, no pickle)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from mnas_pred.errors import MnasPredError
from search.checkpoint import load_state
from search.config import ANALYTIC, SearchConfig, as_device
from search.resume import changed_settings
from search.state_schema import check_checkpoint_state

CHECKPOINT = "checkpoint.npz"
#: the logs a search appends to as it goes (search.caches), stale in a folder with no checkpoint
LOGS = ("accuracy_cache.jsonl", "measurements.jsonl", "references.jsonl")


def _upgrade(config: dict) -> dict:
    """Settings of checkpoints written by older versions, in today's form."""
    if isinstance(config.get("train"), dict):  # checkpoints from before --train-device trained on the CPU
        config["train"].setdefault("device", "cpu")
    if "device" in config and config["device"] != ANALYTIC:  # "adb:SERIAL" before device specs
        try:
            config["device"] = asdict(as_device(config["device"]))
        except (TypeError, MnasPredError):
            pass  # not a device (a damaged file): the comparison below names it
    return config


def check_out_dir(out: Path, config: SearchConfig, resume: bool, log: Callable[[str], None]) -> dict | None:
    """The checkpoint's state to resume from, or ``None`` to start afresh; refuses what cannot go on."""
    path = out / CHECKPOINT
    if resume:
        if not path.exists():
            if (out / "config.json").exists():  # stopped while loading data or opening the device
                log(f"nothing was done in '{out}' yet: starting the search from the beginning")
                return None
            raise MnasPredError(f"no checkpoint in '{out}' to resume from",
                                "run without --resume to start a new search there")
        state = check_checkpoint_state(load_state(path), path)
        _upgrade(state["config"])
        changed = changed_settings(state["config"], config.to_dict(), SearchConfig.RESUMABLE_CHANGES)
        if changed:
            raise MnasPredError(
                f"--resume with different settings than the checkpoint in '{out}': {', '.join(changed)}",
                "repeat the original command with --resume (only --samples, --workers, --export-top, --db "
                "and the Ray options may change)")
        return state
    if path.exists():
        raise MnasPredError(f"'{out}' already holds a search", "add --resume to continue it, or choose another --out")
    return None


def start_out_dir(out: Path, config: SearchConfig) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for stale in LOGS:  # from a search killed before its first checkpoint
        (out / stale).unlink(missing_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")


def loop_state(search, elapsed: float) -> dict:
    """What :func:`search.checkpoint.save_state` writes after every update."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "config": search.config.to_dict(),
        "update": search.update,
        "strategy": search.strategy.get_state(),
        "history": search.history,
        "revalidations": search.revalidations,
        "oracle": search.oracle.get_state(),
        "elapsed_s": elapsed,
        "torch_rng": torch.get_rng_state().numpy().copy(),
        "numpy_rng": {"name": name, "keys": keys, "pos": int(pos), "has_gauss": int(has_gauss),
                      "cached_gaussian": float(cached)},
    }


def restore_loop(search, state: dict) -> None:
    """The inverse of :func:`loop_state` (inside :func:`search.state_schema.restore_errors`)."""
    search.strategy.set_state(state["strategy"])
    search.history = state["history"]
    search.revalidations = state["revalidations"]
    search.update = int(state["update"])
    search.elapsed_before = float(state["elapsed_s"])
    search.oracle.set_state(state["oracle"])
    torch.set_rng_state(torch.from_numpy(np.asarray(state["torch_rng"], dtype=np.uint8)))
    np_state = state["numpy_rng"]
    np.random.set_state((np_state["name"], np.asarray(np_state["keys"], dtype=np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
