"""Candidate evaluation as Ray tasks (``search --ray-address ADDR|auto|local``, issue 6).

The controller (strategy, reward, latency oracle, re-validation, checkpoint) stays in the
driver process; only each candidate's accuracy, the proxy training that dominates a search's
cost, runs as a Ray task with the resources asked for (``--cpus-per-trial``,
``--gpus-per-trial``). Results are handed back in the order the candidates were given (the
:class:`~search.evaluator.Evaluator` contract) and a candidate's training is deterministic (its
own seed, a fixed thread count), so the history is the one a local run writes, value for value.

Failures: when the worker process running a candidate dies (killed, OOM-killed, its node lost),
Ray resubmits the task (``max_retries``); an exception raised inside the task is retried too
(``retry_exceptions``), because on a cluster most are transient (a full disk on one node, a
preempted node). A candidate that fails ``max_retries + 1`` times stops the search with one line;
the candidates finished before are already in the accuracy cache, so ``--resume`` does not train
them again.

Every node needs the same mnas-pred (``pip install 'mnas-pred[ray]'``) and, for ``cifar10`` and
``imagefolder``, the proxy data at the same ``--data-dir`` path. Ray is imported only here, and
only when ``--ray-address`` is given.
"""

from __future__ import annotations

import dataclasses
import json
import socket

from mnas_pred.arch import parse_arch
from mnas_pred.errors import MnasPredError
from search.accuracy import AccuracyEvaluator
from search.evaluator import AccuracySpec, Evaluator

MAX_RETRIES = 3
RAY_FIX = "pip install 'mnas-pred[ray]' (or drop --ray-address and use --workers N on this machine)"


def import_ray():
    """The ``ray`` module, or a one-line error naming the fix."""
    try:
        import ray
    except ImportError as e:
        raise MnasPredError(f"--ray-address needs Ray, which is not installed ({e})", RAY_FIX) from None
    return ray


# In each Ray worker process: evaluators by spec, so the proxy data is loaded once per process,
# not once per candidate (Ray reuses worker processes between tasks).
_WORKER_EVALUATORS: dict[str, AccuracyEvaluator] = {}


def evaluate_candidate(spec: AccuracySpec, arch: str) -> float:
    """Body of the Ray task: the accuracy of one candidate."""
    key = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str)
    evaluator = _WORKER_EVALUATORS.get(key)
    if evaluator is None:
        evaluator = _WORKER_EVALUATORS[key] = spec.build()
    return float(evaluator.accuracy(parse_arch(arch)))


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a host:port nobody answers at: ray.init would retry for minutes first."""
    if address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise MnasPredError(f"--ray-address '{address}' is not host:port, 'auto' or 'local'",
                            "pass the head node's address as printed by `ray start --head`, e.g. 10.0.0.5:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise MnasPredError(f"no Ray cluster answers at '{address}' ({e.strerror or e})",
                            "start one with `ray start --head` and pass the address it prints") from None


def _largest_node(ray) -> tuple[float, float]:
    """(CPUs, GPUs) of the largest alive node: a task's resources must fit on one node."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if not nodes:
        return 0.0, 0.0
    return max(r.get("CPU", 0.0) for r in nodes), max(r.get("GPU", 0.0) for r in nodes)


class RayEvaluator(Evaluator):
    """Each candidate of a batch as one Ray task; accuracies in the order given."""

    def __init__(self, spec: AccuracySpec, address: str, cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0,
                 max_retries: int = MAX_RETRIES):
        ray = import_ray()
        self.ray = ray
        self.address = address
        self._connected_here = False
        if not ray.is_initialized():
            _check_reachable(address)
            try:
                # "local" starts a cluster on this machine; anything else connects to one.
                ray.init(address=None if address == "local" else address, logging_level="warning",
                         log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise MnasPredError(f"cannot connect to the Ray cluster at '{address}' ({first})",
                                    "start one with `ray start --head` and pass its address, or 'auto' on a node "
                                    "of the cluster") from None
            self._connected_here = True
        cpus, gpus = _largest_node(ray)
        if cpus_per_trial > cpus or gpus_per_trial > gpus:
            self.close()
            raise MnasPredError(
                f"no node of the Ray cluster at '{address}' has {cpus_per_trial:g} CPUs and {gpus_per_trial:g} GPUs "
                f"for one candidate (the largest has {cpus:g} CPUs, {gpus:g} GPUs)",
                "lower --cpus-per-trial / --gpus-per-trial or add a larger node")
        self._spec_ref = ray.put(spec)
        # A task with a GPU trains on it (spec.train.device is "cuda" then): Ray sets
        # CUDA_VISIBLE_DEVICES to the task's GPU, which PyTorch reads once per process, so each
        # GPU candidate gets a fresh worker process (max_calls=1, Ray's own default for GPU
        # functions) instead of one still bound to another task's GPU.
        remote = ray.remote(num_gpus=gpus_per_trial, max_calls=1) if gpus_per_trial > 0 else ray.remote
        self._task = remote(evaluate_candidate).options(
            num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=max_retries, retry_exceptions=True,
            name="mnas-pred-candidate")
        self.max_retries = max_retries

    def evaluate(self, archs, on_result=None):
        ray = self.ray
        refs = [self._task.remote(self._spec_ref, a) for a in archs]
        position = {ref: i for i, ref in enumerate(refs)}
        out: list[float | None] = [None] * len(archs)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    i = position[ref]
                    try:
                        acc = float(ray.get(ref))
                    except ray.exceptions.RayError as e:
                        text = str(e).strip().splitlines()
                        raise MnasPredError(
                            f"candidate {archs[i]} failed on the Ray cluster after {self.max_retries + 1} attempts "
                            f"({type(e).__name__}: {text[-1] if text else ''})",
                            "see the worker logs (`ray logs` on the head node); finished candidates are kept: "
                            "re-run with --resume") from None
                    out[i] = acc
                    if on_result:
                        on_result(archs[i], acc)
        except BaseException:
            for ref in pending:  # Ctrl-C or a failed candidate: do not leave the cluster training
                ray.cancel(ref)
            raise
        return [float(v) for v in out]

    def close(self):
        if self._connected_here and self.ray.is_initialized():
            self.ray.shutdown()
            self._connected_here = False
