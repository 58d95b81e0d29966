"""The campaign loop: measure a list of architectures on one device or on several at once and
store each measurement as soon as it is taken (``profile-device``). One device is a fleet of one.

Every device has a worker that takes the next unmeasured architecture from one
:class:`~device_profiler.work_queue.WorkQueue`, gets its model file from one
:class:`~device_profiler.model_files.ModelFiles` (asked at the start for the whole list, so a
conversion can run ahead of the devices) and measures it with the protocol
(:func:`~device_profiler.protocol.measure_arch`); each device runs one model at a time. The
calling thread is the only one that writes the store (SQLite connections are not shared
between threads, and one writer keeps the commits in the order progress reports them). With one
device its worker runs in the calling thread; with several, one thread each.

Resume and drop-outs:

* An architecture already stored (same settings and resolution) for a device of the run is
  skipped, and for phones also one stored for any phone of the same hardware model (they share
  a predictor): re-running the command continues where it stopped, also without a phone that
  has gone (leave its ``--serial`` out).
* A device whose measurement fails transiently is retried ``retries`` times on that device;
  then the architecture goes back to the front of the queue for the other devices, and the
  failing device takes the next one. An architecture that failed on every device still
  running is recorded as failed.
* A device drops out after ``max_consecutive_failures`` failed architectures in a row, or at
  once on a non-transient error (unauthorized, a tool that cannot run): the others keep going
  and pick up its architectures. A device whose last architectures failed when the work ran
  out is reported as dropped too (its error is the one to act on), and the run ends normally
  with those models failed. Only when every device has left the run early does it stop, with the
  last device's error, the counts and how to continue (everything measured so far is already
  committed; what no device tried is "not tried").

Devices of the same hardware model share a predictor (``DeviceInfo.model``), so a run refuses
devices of different models unless ``allow_mixed``: mixing them would put two latency
distributions under one name.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from device_profiler._base import Device
from device_profiler.drift import DEFAULT_REFERENCE, DriftCheck
from device_profiler.formats import open_model_files
from device_profiler.model_files import ModelFiles
from device_profiler.protocol import measure_arch
from device_profiler.reports import CampaignReport, DeviceReport, ProfileEvent, stopped_error
from device_profiler.work_queue import WorkQueue
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, Measurement, MeasureSettings

MIXED_FIX = "profile one phone model per run (see `mnas-pred devices`), or pass --allow-mixed"
POLL_S = 0.5  # how often the collecting thread wakes up to notice Ctrl-C
SHARED_BY_MODEL = ("adb",)  # device kinds whose devices of one hardware model share measurements


def check_same_model(infos: Sequence[DeviceInfo], allow_mixed: bool = False) -> None:
    """Refuse devices of different hardware models (unless ``allow_mixed``)."""
    models = {i.model for i in infos}
    if len(models) > 1 and not allow_mixed:
        listed = ", ".join(f"{i.key.split(':', 1)[-1]} is '{i.model}'" for i in infos)
        raise DeviceError(f"the devices are different models ({listed})", MIXED_FIX)


def device_infos(devices: Sequence[Device]) -> list[DeviceInfo]:
    """``info()`` of every device, read in parallel (on a phone it checks the connection and
    pushes the tools). The first device that fails raises its own error: a serial mistyped or a
    phone not authorized is the user's to fix before a run starts."""
    if len(devices) == 1:
        return [devices[0].info()]
    with ThreadPoolExecutor(max_workers=len(devices), thread_name_prefix="device-info") as pool:
        futures = [pool.submit(d.info) for d in devices]
        return [f.result() for f in futures]


# Messages from the device workers to the collecting thread.
@dataclass
class _Measured:
    key: str
    arch: str
    measurement: Measurement


@dataclass
class _Reference:
    """A reference run of a device's drift check, for the store's ``reference_runs``."""

    key: str
    run: dict


@dataclass
class _Failed:
    arch: str
    error: str


@dataclass
class _Dropped:
    key: str
    error: DeviceError
    left_run: bool = True  # False: the device failed on its last models when the work ran out


@dataclass
class _Finished:
    key: str


@dataclass
class _Job:
    """What every worker of one campaign shares."""

    work: WorkQueue
    files: ModelFiles
    send: Callable[[object], None]
    settings: MeasureSettings
    resolution: int
    num_classes: int
    retries: int
    max_consecutive_failures: int
    contain_bugs: bool  # several devices: a bug on one drops it and the others go on


def _drop(job: _Job, key: str, report: DeviceReport, error: DeviceError) -> None:
    report.dropped = str(error)
    for _i, orphan in job.work.drop(key):
        job.send(_Failed(orphan, f"no device left to measure it ({error})"))
    job.send(_Dropped(key, error))


def _worker(job: _Job, device: Device, report: DeviceReport, drift: DriftCheck | None) -> None:
    """One device's loop: take an architecture, measure it (with retries), send the result."""
    key = report.device.key
    consecutive = 0
    error: DeviceError | None = None
    item: tuple[int, str] | None = None  # the architecture this device holds, if any
    try:
        device.prestart()
        while (item := job.work.take(key)) is not None:
            _index, arch = item
            error = None
            t0 = time.perf_counter()
            for _ in range(job.retries + 1):
                try:
                    if drift is not None:
                        drift.before_model(report.measured)
                    m = measure_arch(device, arch, job.resolution, job.settings, num_classes=job.num_classes,
                                     device_info=report.device, files=job.files)
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
                job.send(_Measured(key, arch, m))  # before done(): the collector counts it first
                item = None
                job.work.done()
                continue
            consecutive += 1
            report.failed_attempts += 1
            held, item = item, None
            if not job.work.give_back(key, held):
                job.send(_Failed(arch, str(error)))
            if not error.transient or consecutive >= job.max_consecutive_failures:
                _drop(job, key, report, error)
                return
        if drift is not None:
            try:
                drift.finish(report.measured)
            except DeviceError:
                pass  # the measurements are stored; only their last segment's correction is held instead
        if consecutive and error is not None:
            # The work ran out before max_consecutive_failures, but the device failed on its
            # last models (a phone lost near the end of a run): report it, it needs attention.
            report.dropped = str(error)
            job.send(_Dropped(key, error, left_run=False))
    except Exception as e:
        if not job.contain_bugs:
            raise
        # an unexpected bug: drop this device, keep the others going
        error = e if isinstance(e, DeviceError) else DeviceError(f"{key}: {type(e).__name__}: {e}")
        if item is not None and not job.work.give_back(key, item):  # else the others would wait for it forever
            job.send(_Failed(item[1], str(error)))
        _drop(job, key, report, error)
    finally:
        if drift is not None:
            report.drift = drift.history
            drift.close()
        job.send(_Finished(key))


class _Collector:
    """The calling thread's side: writes each measurement to the store, counts, reports progress."""

    def __init__(self, store, report: CampaignReport, resolution: int, settings: MeasureSettings,
                 progress: Callable[[ProfileEvent], None] | None, num_classes: int = 1000):
        self.store, self.report, self.resolution, self.settings = store, report, resolution, settings
        self.num_classes = num_classes
        self.progress = progress
        self.by_key = {d.device.key: d.device for d in report.devices}
        self.done = 0
        self.running = len(report.devices)
        self.last_drop: DeviceError | None = None
        self.left_run = 0  # devices that left the run before the work ran out
        self.start = time.perf_counter()

    def emit(self, arch: str, status: str, **kw) -> None:
        if self.progress:
            self.progress(ProfileEvent(self.done, self.report.total, arch, status, **kw))

    def skipped(self, arch: str) -> None:
        self.report.skipped += 1
        self.done += 1
        self.emit(arch, "skipped")

    def __call__(self, msg) -> None:
        r = self.report
        if isinstance(msg, _Measured):
            _mid, new = self.store.insert(self.by_key[msg.key], msg.arch, self.resolution, self.settings,
                                         msg.measurement)
            if new:
                r.measured += 1
            else:  # another process profiling into the same database stored it meanwhile
                r.skipped += 1
            self.done += 1
            r.seconds = time.perf_counter() - self.start
            self.emit(msg.arch, "measured", measurement=msg.measurement, device=msg.key)
        elif isinstance(msg, _Reference):
            self.store.add_reference_run(self.by_key[msg.key], self.resolution, self.num_classes, self.settings, msg.run)
        elif isinstance(msg, _Failed):
            r.failed.append({"arch": msg.arch, "error": msg.error})
            self.done += 1
            self.emit(msg.arch, "failed", error=msg.error)
        elif isinstance(msg, _Dropped):
            self.last_drop = msg.error
            self.left_run += msg.left_run
            self.emit("", "dropped", error=str(msg.error), device=msg.key)
        elif isinstance(msg, _Finished):
            self.running -= 1


def profile(
    devices: Device | Sequence[Device],
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
    drift_reference: str = DEFAULT_REFERENCE,
    drift_every: int = 0,
) -> CampaignReport:
    """Measure every architecture that ``store`` (a :class:`mnas_pred.store.MeasurementStore`)
    does not hold yet for ``devices`` (one device, or several sharing the work), committing
    each measurement, tagged with its device's key, as soon as it is taken: an interrupted run
    loses at most the models in flight and re-running the same call resumes. ``drift_every``
    > 0 re-times ``drift_reference`` on each device after that many models (see
    :class:`~device_profiler.drift.DriftCheck`). See the module docstring for retries and
    drop-outs. Raises :class:`DeviceError` when the devices are of different models (without
    ``allow_mixed``) or when every device has dropped out."""
    from mnas_pred.arch import parse_arch

    devices = [devices] if isinstance(devices, Device) else list(devices)
    if not devices:
        raise DeviceError("no devices to profile on", "pass at least one --serial")
    formats = {d.model_format for d in devices}
    if len(formats) > 1:
        raise DeviceError(f"the devices take different model files ({', '.join(sorted(formats))})",
                          "profile with one runtime per run")
    settings = settings or MeasureSettings()
    archs = [parse_arch(a).to_string() for a in archs]
    infos = device_infos(devices)
    keys = [i.key for i in infos]
    if len(set(keys)) != len(keys):
        raise DeviceError(f"a device was given twice ({', '.join(keys)})", "pass each --serial once")
    check_same_model(infos, allow_mixed)
    report = CampaignReport(devices=[DeviceReport(device=i) for i in infos], total=len(archs))
    collect = _Collector(store, report, resolution, settings, progress, num_classes)
    done_before = store.measured_archs(
        resolution, settings, num_classes=num_classes, device_keys=keys,
        device_models={(i.kind, i.model) for i in infos if i.kind in SHARED_BY_MODEL}, runtime=infos[0])
    pending: list[tuple[int, str]] = []
    for index, arch in enumerate(archs):
        if arch in done_before:
            collect.skipped(arch)
        else:
            pending.append((index, arch))
    with open_model_files(devices[0].model_format, resolution, num_classes) as files:
        if pending:  # the reference first: it is measured before the first model
            files.prefetch(([drift_reference] if drift_every > 0 else []) + [a for _i, a in pending])
        _run(devices, report, collect, files, pending, settings=settings, resolution=resolution,
             num_classes=num_classes, retries=retries, max_consecutive_failures=max_consecutive_failures,
             drift=(drift_reference, drift_every))
    report.seconds = time.perf_counter() - collect.start
    if collect.left_run == len(report.devices) and collect.last_drop is not None:
        raise stopped_error(collect.last_drop, report.total, report.measured, report.skipped, len(report.failed))
    return report


def _run(devices: list[Device], report: CampaignReport, collect: _Collector, files: ModelFiles,
         pending: list[tuple[int, str]], *, drift: tuple[str, int], **job_options) -> None:
    """The workers, in the calling thread for one device and one thread each for several."""
    work = WorkQueue(pending, [d.device.key for d in report.devices])
    reference, every = drift
    out: queue.Queue = queue.Queue()
    one = len(devices) == 1  # its worker runs here and writes through the collector directly
    job = _Job(work, files, collect if one else out.put, contain_bugs=not one, **job_options)
    checks = [DriftCheck(dev, files, reference, every, job_options["settings"], r.device,
                         on_reference=lambda run, key=r.device.key: job.send(_Reference(key, run)))
              if every > 0 else None for dev, r in zip(devices, report.devices)]
    if one:
        _worker(job, devices[0], report.devices[0], checks[0])
        return
    threads = [threading.Thread(target=_worker, name=f"profile-{r.device.key}", daemon=True, args=(job, dev, r, check))
               for dev, r, check in zip(devices, report.devices, checks)]
    for t in threads:
        t.start()
    try:
        while collect.running:
            try:
                msg = out.get(timeout=POLL_S)  # a timeout, so that Ctrl-C reaches this thread
            except queue.Empty:
                continue
            collect(msg)
    except KeyboardInterrupt:
        # What the workers finished before Ctrl-C may still be on the queue: commit it first.
        work.stop()
        while True:
            try:
                msg = out.get_nowait()
            except queue.Empty:
                break
            if isinstance(msg, (_Measured, _Reference)):
                collect(msg)
        raise
    finally:
        # On Ctrl-C (or a store error) the workers stop after the model in flight; that model
        # is lost, everything committed stays.
        work.stop()
        for t in threads:
            t.join(timeout=0 if collect.running else None)

