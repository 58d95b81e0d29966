"""The campaign's LiteRT model files: converted ahead of the device in worker processes.

A conversion takes 50-100x longer than an ONNX export (35-55 s per 224x224 network on a loaded
2-core machine), so converting in the loop would leave the device idle most of the time. Instead
:meth:`TfliteFiles.prefetch` is told the campaign's order and keeps up to ``lookahead``
conversions queued in ``workers`` processes: the device measures model k while k+1... convert.
:meth:`TfliteFiles.path` blocks only when the model asked for is not converted yet.

Converted files live in a :class:`~device_profiler.litert.convert.TfliteCache` folder, so a re-run
(after Ctrl-C, a crash or kill -9) converts nothing twice; a conversion cut off half-way leaves no
file under the final name. A conversion that fails, times out or kills its worker becomes a
:class:`~device_profiler.DeviceError` for that model (transient: the campaign records it as failed
and goes on), never a hang.

The workers are started with ``spawn`` (torch and the converter do not survive ``fork`` of a threaded
parent), die with their parent (``PR_SET_PDEATHSIG`` on Linux), run at a lower priority and, when
the device is this machine's CPU, on the cores the device does not time on. Only architecture strings
and numbers cross the process boundary.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from device_profiler.litert.convert import Converted, TfliteCache
from device_profiler.model_files import ModelFiles
from mnas_pred.errors import DeviceError

CONVERT_TIMEOUT_S = 900.0  # 224x224 networks take 35-55 s here; a CI machine is ~3x slower


def _die_with_parent(parent: int) -> None:
    """A killed campaign leaves no converter behind: the kernel kills this worker when its parent dies
    (PR_SET_PDEATHSIG, Linux). A parent that died before this ran (a kill -9 while the worker was still
    starting) sends no signal any more: then the worker leaves at once."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _init_worker(parent: int, cpus: list[int] | None, nice: int | None, log_path: str | None) -> None:
    _die_with_parent(parent)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    if nice and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:
            pass
    # The converter prints progress and C++ logs on fds 1 and 2: they would tear the campaign's
    # progress bar. They go to a log file in the cache folder; failures come back as exceptions.
    fd = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import torch

    torch.set_num_threads(1)  # the export is Python-bound; more threads only slow the device down


def _convert(folder: str, versions: dict, arch: str, resolution: int, num_classes: int) -> dict:
    c = TfliteCache(folder, versions).convert(arch, resolution, num_classes)
    return {"path": str(c.path), "sha256": c.sha256, "convert_s": c.convert_s, "converted_now": c.converted_now}


class TfliteFiles(ModelFiles):
    """``.tflite`` files of the campaign's architectures, converted ahead in worker processes.

    ``workers``: conversion processes (default: the CPUs not in ``avoid_cpus``, at least 1, at most 4:
    each holds torch and the converter, 1-2 GB). ``lookahead``: conversions queued at most
    (default ``2 * workers``). ``avoid_cpus``: cores the device times on (the local CPU device) that
    the workers must leave alone. ``timeout_s``: one conversion's limit. ``workdir`` is not used: the
    files stay in the cache folder (``cache_dir``, default :func:`~device_profiler.litert.convert.default_cache_dir`).
    """

    fmt = "tflite"

    def __init__(self, resolution: int, num_classes: int, workdir: str | os.PathLike | None = None, *,
                 cache_dir: str | os.PathLike | None = None, workers: int | None = None, lookahead: int | None = None, avoid_cpus: list[int] | None = None,
                 nice: int | None = 10, timeout_s: float = CONVERT_TIMEOUT_S):
        super().__init__(int(resolution), int(num_classes), workdir)
        self.cache = TfliteCache(cache_dir)
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        free = [c for c in allowed if c not in set(avoid_cpus or ())]
        self.cpus = free or None  # every core is the device's (1-core machine): share, at a lower priority
        self.workers = max(1, workers if workers is not None else min(4, len(free) or 1))
        self.lookahead = max(1, lookahead if lookahead is not None else 2 * self.workers)
        self.nice, self.timeout_s = nice, timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self._order: list[str] = []
        self._pending: dict[str, tuple[Future, int]] = {}  # arch -> (future, pool generation)
        self._generation = 0
        self._lock = threading.RLock()
        self._done: dict[str, Converted] = {}
        self._failed: dict[str, DeviceError] = {}
        self._in_cache: set[str] = set()

    # ------------------------------------------------------------------ the pipeline
    def prefetch(self, archs: list[str]) -> None:
        """The campaign's order: start converting its first models now."""
        order = [self._canonical(a) for a in archs]
        with self._lock:
            self._order = order
            self._fill(0)

    def path(self, arch) -> Path:
        """The converted file of ``arch``, waiting for (or starting) its conversion."""
        return self.converted(arch).path

    def converted(self, arch) -> Converted:
        """The conversion of ``arch``: file, sha256, seconds and whether this campaign converted it.
        Thread-safe (the fleet's device threads share one instance); waiting holds no lock."""
        a = self._canonical(arch)
        with self._lock:
            if a in self._done:
                return self._done[a]
            if a in self._failed:  # a converter failure is deterministic: do not convert again on a retry
                raise self._failed[a]
            hit = self.cache.lookup(a, self.resolution, self.num_classes)
            if hit is None:
                pending = self._pending.get(a) or self._submit(a)
            else:
                self._done[a] = hit
            self._fill(self._position(a) + 1)
        if hit is not None:
            return hit
        result = self._wait(a, *pending)
        with self._lock:
            self._done[a] = result
            self._fill(self._position(a) + 1)
        return result

    def release(self, arch) -> None:
        """The caller is done with the file: the cache keeps it (a re-run must not convert it again)."""

    def _wait(self, arch: str, future: Future, generation: int) -> Converted:
        try:
            r = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            self._restart(arch, generation)
            raise DeviceError(f"converting {arch[:60]} to LiteRT took more than {self.timeout_s:g} s",
                              "the model was skipped; re-run to retry it", transient=True) from None
        except BrokenProcessPool:
            self._restart(arch, generation)
            raise DeviceError(f"the LiteRT converter process died while converting {arch[:60]} (out of memory?)",
                              "the model was skipped; re-run to retry it", transient=True) from None
        except Exception as e:  # the converter's own error: that model fails, the campaign goes on
            msg = " ".join(str(e).split())[:300]
            err = DeviceError(f"litert-torch could not convert {arch[:60]}: {type(e).__name__}: {msg}",
                              f"the model was skipped; the converter's log is {self._log_path()}", transient=True)
            with self._lock:
                self._pending.pop(arch, None)
                self._failed[arch] = err
            raise err from None
        with self._lock:
            self._pending.pop(arch, None)
        return Converted(arch, Path(r["path"]), r["sha256"], float(r["convert_s"]), bool(r["converted_now"]))

    def _position(self, arch: str) -> int:
        try:
            return self._order.index(arch)
        except ValueError:
            return len(self._order)

    def _fill(self, start: int) -> None:
        """Queue conversions of the models after ``start`` until ``lookahead`` are in flight."""
        for a in self._order[start:]:
            if len(self._pending) >= self.lookahead:
                return
            if a in self._pending or a in self._done or a in self._failed or a in self._in_cache:
                continue
            if self.cache.path(a, self.resolution, self.num_classes).is_file():
                self._in_cache.add(a)  # each network is looked up once, not at every model of a long campaign
            else:
                self._submit(a)

    def _submit(self, arch: str) -> tuple[Future, int]:
        if self._pool is None:
            self._generation += 1
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=get_context("spawn"), initializer=_init_worker,
                initargs=(os.getpid(), self.cpus, self.nice, str(self._log_path())))
        self.cache.folder.mkdir(parents=True, exist_ok=True)
        f = self._pool.submit(_convert, str(self.cache.folder), self.cache.versions, arch, self.resolution,
                              self.num_classes)
        self._pending[arch] = (f, self._generation)
        return self._pending[arch]

    def _log_path(self) -> Path:
        return self.cache.folder / "convert.log"

    @staticmethod
    def _canonical(arch) -> str:
        from mnas_pred.arch import parse_arch

        return parse_arch(arch).to_string()

    # ------------------------------------------------------------------ shutdown
    def _kill_workers(self) -> None:
        if self._pool is None:
            return
        # ProcessPoolExecutor cannot stop a running task (Python 3.14 adds kill_workers()):
        # its processes are killed; a half-written file is never renamed into the cache.
        for p in list(getattr(self._pool, "_processes", {}).values()):
            if p.is_alive():
                p.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def _restart(self, arch: str, generation: int) -> None:
        """Replace the pool that failed ``arch`` (once, however many threads saw it fail) and queue again
        what died with it, except ``arch`` itself (its caller reports it)."""
        with self._lock:
            self._pending.pop(arch, None)
            if generation != self._generation:
                return  # another thread restarted it already
            self._kill_workers()
            lost = list(self._pending)
            self._pending.clear()
            for a in lost:
                if a in self._order:
                    self._submit(a)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._pending:  # conversions nobody will wait for: stop them now
            self._pending.clear()
            self._kill_workers()
        elif self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


__all__ = ["CONVERT_TIMEOUT_S", "TfliteFiles"]
