"""Profiling on several devices at once (``profile-device --serial A --serial B ...``).

:func:`profile_many` shares the architectures out among the devices through one work queue:
one worker thread per device takes the next unmeasured architecture, measures it on its own
device (so each device only ever runs one model at a time, as the protocol requires) and hands
the measurement to the calling thread, which is the only one that writes the store. SQLite
connections cannot be shared between threads, and one writer also keeps every commit in the
order the progress bar reports it.

Resume and drop-outs:

* An architecture already stored (same settings and resolution) for a device of the run, or
  for any device of the same kind and hardware model, is skipped: re-running the command
  continues where it stopped, also without a phone that has gone (leave its ``--serial`` out).
* A device whose measurement fails transiently is retried ``retries`` times on that device;
  then the architecture goes back to the front of the queue for the other devices, and the
  failing device takes the next one. An architecture that failed on every device still
  running is recorded as failed.
* A device drops out after ``max_consecutive_failures`` failed architectures in a row, or at
  once on a non-transient error (unauthorized, a tool that cannot run): the others keep going
  and pick up its architectures. A device whose last architectures failed when the work ran
  out is reported as dropped too (its error is the one to act on). Only when every device has dropped out does the run stop,
  with the last device's error (everything measured so far is already committed).

Devices of the same hardware model share a predictor (``DeviceInfo.model``, ``getprop
ro.product.model`` on a phone), so a run refuses devices of different models unless
``allow_mixed``: mixing them would put two latency distributions under one name.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from device_profiler._base import Device
from device_profiler.protocol import ProfileEvent, _DriftCheck, measure_arch, stopped_error
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, Measurement, MeasureSettings

MIXED_FIX = "profile one phone model per run (see `mnas-pred devices`), or pass --allow-mixed"
POLL_S = 0.5  # how often the collecting thread wakes up to notice Ctrl-C


@dataclass
class DeviceReport:
    """One device's share of a :func:`profile_many` run."""

    device: DeviceInfo
    measured: int = 0
    failed_attempts: int = 0  # architectures this device gave back after its retries
    dropped: str | None = None  # the error that made it drop out; None if it lasted the run
    drift: list[dict] = field(default_factory=list)
    seconds_busy: float = 0.0

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["key"] = self.device.key
        d["model"] = self.device.model
        return d


@dataclass
class FleetReport:
    devices: list[DeviceReport]
    total: int = 0
    measured: int = 0
    skipped: int = 0
    failed: list[dict] = field(default_factory=list)  # {"arch", "error"}: failed on every device left
    measurement_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def models_per_hour(self) -> float:
        return 3600.0 * self.measured / self.seconds if self.seconds > 0 and self.measured else 0.0

    def as_dict(self) -> dict:
        return {
            "devices": [d.as_dict() for d in self.devices], "total": self.total, "measured": self.measured,
            "skipped": self.skipped, "failed": self.failed, "measurement_ids": self.measurement_ids,
            "seconds": self.seconds, "models_per_hour": self.models_per_hour,
        }


def check_same_model(infos: Sequence[DeviceInfo], allow_mixed: bool = False) -> None:
    """Refuse devices of different hardware models (unless ``allow_mixed``)."""
    models = {i.model for i in infos}
    if len(models) > 1 and not allow_mixed:
        listed = ", ".join(f"{i.key.split(':', 1)[-1]} is '{i.model}'" for i in infos)
        raise DeviceError(f"the devices are different models ({listed})", MIXED_FIX)


class _WorkQueue:
    """The architectures still to measure, shared by the device workers.

    A worker :meth:`take` s the first pending architecture it has not failed on yet; while
    nothing is eligible but other workers still hold architectures (which may come back), it
    waits. :meth:`give_back` returns an architecture a device could not measure to the front of
    the queue for the others. Everything happens under one condition variable."""

    def __init__(self, items: list[tuple[int, str]], device_keys: Iterable[str]):
        self.pending = list(items)
        self.failed_on: dict[str, set[str]] = {}
        self.in_flight = 0
        self.live = set(device_keys)
        self.stopped = False
        self.cond = threading.Condition()

    def take(self, key: str) -> tuple[int, str] | None:
        with self.cond:
            while True:
                if self.stopped:
                    return None
                for pos, (index, arch) in enumerate(self.pending):
                    if key not in self.failed_on.get(arch, ()):
                        del self.pending[pos]
                        self.in_flight += 1
                        return index, arch
                if self.in_flight == 0:
                    return None
                self.cond.wait()

    def done(self) -> None:
        with self.cond:
            self.in_flight -= 1
            self.cond.notify_all()

    def give_back(self, key: str, item: tuple[int, str]) -> bool:
        """Back to the front of the queue; False when every device still running has failed it
        (the caller records it as failed)."""
        with self.cond:
            self.in_flight -= 1
            tried = self.failed_on.setdefault(item[1], set())
            tried.add(key)
            self.cond.notify_all()
            if self.live <= tried:
                return False
            self.pending.insert(0, item)
            return True

    def drop(self, key: str) -> list[tuple[int, str]]:
        """The device is gone; returns the pending architectures that no device left can take."""
        with self.cond:
            self.live.discard(key)
            orphans = [it for it in self.pending if self.live <= self.failed_on.get(it[1], set())]
            self.pending = [it for it in self.pending if it not in orphans]
            if not self.live:
                orphans, self.pending = orphans + self.pending, []
            self.cond.notify_all()
            return orphans

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()


# Messages from the device workers to the collecting thread.
@dataclass
class _Measured:
    key: str
    index: int
    arch: str
    measurement: Measurement


@dataclass
class _Failed:
    arch: str
    error: str


@dataclass
class _Dropped:
    key: str
    error: DeviceError


@dataclass
class _Finished:
    key: str


def _worker(device: Device, info: DeviceInfo, work: _WorkQueue, out: queue.Queue, report: DeviceReport, *,
            settings: MeasureSettings, resolution: int, num_classes: int, retries: int,
            max_consecutive_failures: int, drift: _DriftCheck | None) -> None:
    key = info.key
    consecutive = 0
    error: DeviceError | None = None
    item: tuple[int, str] | None = None  # the architecture this device holds, if any
    try:
        device.prestart()
        while (item := work.take(key)) is not None:
            index, arch = item
            error = None
            t0 = time.perf_counter()
            for _ in range(retries + 1):
                try:
                    if drift is not None:
                        drift.before_model(report.measured)
                    m = measure_arch(device, arch, resolution, settings, num_classes=num_classes, device_info=info)
                    error = None
                    break
                except DeviceError as e:
                    error = e
                    if not e.transient:
                        break
            report.seconds_busy += time.perf_counter() - t0
            if error is None:
                consecutive = 0
                if drift is not None:
                    drift.after_model(m)
                report.measured += 1
                out.put(_Measured(key, index, arch, m))  # before done(): the collector counts it first
                item = None
                work.done()
                continue
            consecutive += 1
            report.failed_attempts += 1
            held, item = item, None
            if not work.give_back(key, held):
                out.put(_Failed(arch, str(error)))
            if not error.transient or consecutive >= max_consecutive_failures:
                report.dropped = str(error)
                for _i, orphan in work.drop(key):
                    out.put(_Failed(orphan, f"no device left to measure it ({error})"))
                out.put(_Dropped(key, error))
                return
        if consecutive and error is not None:
            # The work ran out before max_consecutive_failures, but the device failed on its
            # last models (a phone lost near the end of a run): report it, it needs attention.
            report.dropped = str(error)
            out.put(_Dropped(key, error))
    except BaseException as e:  # an unexpected bug: drop this device, keep the others going
        error = e if isinstance(e, DeviceError) else DeviceError(f"{key}: {type(e).__name__}: {e}")
        if item is not None and not work.give_back(key, item):  # else the others would wait for it forever
            out.put(_Failed(item[1], str(error)))
        report.dropped = str(error)
        for _i, orphan in work.drop(key):
            out.put(_Failed(orphan, f"no device left to measure it ({error})"))
        out.put(_Dropped(key, error))
    finally:
        if drift is not None:
            report.drift = drift.history
            drift.close()
        out.put(_Finished(key))


def device_infos(devices: Sequence[Device]) -> list[DeviceInfo]:
    """``info()`` of every device, read in parallel (on a phone it checks the connection and
    pushes the tools). The first device that fails raises its own error: a serial mistyped or a
    phone not authorized is the user's to fix before a run starts."""
    with ThreadPoolExecutor(max_workers=max(1, len(devices)), thread_name_prefix="device-info") as pool:
        futures = [pool.submit(d.info) for d in devices]
        return [f.result() for f in futures]


def profile_many(
    devices: Sequence[Device],
    archs: Iterable,
    store,
    settings: MeasureSettings | None = None,
    resolution: int = 224,
    progress: Callable[[ProfileEvent], None] | None = None,
    *,
    num_classes: int = 1000,
    allow_mixed: bool = False,
    retries: int = 1,
    max_consecutive_failures: int = 3,
    drift_reference: str = "mnasnet-b1",
    drift_every: int = 0,
) -> FleetReport:
    """Measure every architecture that ``store`` does not hold yet for any of ``devices`` (or
    any device of their hardware models),
    sharing them out among the devices (one worker thread each) and committing each
    measurement, tagged with its device's key, from the calling thread as soon as it arrives.
    See the module docstring for resume, retries and drop-outs. Raises :class:`DeviceError`
    when the devices are of different models (without ``allow_mixed``) or when every device
    has dropped out."""
    from mnas_pred.arch import parse_arch

    if not devices:
        raise DeviceError("no devices to profile on", "pass at least one --serial")
    settings = settings or MeasureSettings()
    archs = [parse_arch(a).to_string() for a in archs]
    infos = device_infos(devices)
    keys = [i.key for i in infos]
    if len(set(keys)) != len(keys):
        raise DeviceError(f"a device was given twice ({', '.join(keys)})", "pass each --serial once")
    check_same_model(infos, allow_mixed)
    reports = [DeviceReport(device=i) for i in infos]
    fleet = FleetReport(devices=reports, total=len(archs))
    done = 0

    def emit(arch: str, status: str, **kw) -> None:
        if progress:
            progress(ProfileEvent(done, len(archs), arch, status, **kw))

    # Phones of one model share a predictor: what any of them measured (in this run's earlier
    # attempts, or before, with other serials) is not measured again.
    done_before = store.measured_archs(resolution, settings, num_classes=num_classes, device_keys=keys,
                                       device_models={(i.kind, i.model) for i in infos})
    pending: list[tuple[int, str]] = []
    for index, arch in enumerate(archs):
        if arch in done_before:
            fleet.skipped += 1
            done += 1
            emit(arch, "skipped")
        else:
            pending.append((index, arch))
    work = _WorkQueue(pending, keys)
    out: queue.Queue = queue.Queue()
    by_key = {i.key: i for i in infos}
    threads = []
    for device, info, report in zip(devices, infos, reports):
        drift = (_DriftCheck(device, drift_reference, drift_every, settings, resolution, num_classes, info)
                 if drift_every > 0 else None)
        t = threading.Thread(
            target=_worker, name=f"profile-{info.key}", daemon=True,
            args=(device, info, work, out, report),
            kwargs=dict(settings=settings, resolution=resolution, num_classes=num_classes, retries=retries,
                        max_consecutive_failures=max_consecutive_failures, drift=drift),
        )
        threads.append(t)
    start = time.perf_counter()
    for t in threads:
        t.start()
    running = len(threads)
    last_drop: DeviceError | None = None
    try:
        while running:
            try:
                msg = out.get(timeout=POLL_S)  # a timeout, so that Ctrl-C reaches this thread
            except queue.Empty:
                continue
            if isinstance(msg, _Measured):
                mid, new = store.insert(by_key[msg.key], msg.arch, resolution, settings, msg.measurement)
                fleet.measurement_ids.append(mid)
                if new:
                    fleet.measured += 1
                else:  # another process profiling into the same database stored it meanwhile
                    fleet.skipped += 1
                done += 1
                fleet.seconds = time.perf_counter() - start
                emit(msg.arch, "measured", measurement=msg.measurement, device=msg.key)
            elif isinstance(msg, _Failed):
                fleet.failed.append({"arch": msg.arch, "error": msg.error})
                done += 1
                emit(msg.arch, "failed", error=msg.error)
            elif isinstance(msg, _Dropped):
                last_drop = msg.error
                emit("", "dropped", error=str(msg.error), device=msg.key)
            elif isinstance(msg, _Finished):
                running -= 1
    finally:
        # On Ctrl-C (or a store error) the workers stop after the model in flight; that model
        # is lost, everything committed stays.
        work.stop()
        for t in threads:
            t.join(timeout=0 if running else None)
    fleet.seconds = time.perf_counter() - start
    if all(r.dropped for r in reports) and last_drop is not None:
        raise stopped_error(last_drop, fleet.total, fleet.measured, fleet.skipped, len(fleet.failed))
    return fleet
