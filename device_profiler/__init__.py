"""Device profiler: real per-layer and end-to-end latency of ONNX models on a device.

* :class:`~device_profiler._base.Device` is the extension point (``info()``, ``time_model()``);
  devices: :class:`~device_profiler.local.LocalDevice` (ONNX Runtime CPU here, the default),
  ``device_profiler.adb.AdbDevice`` (Android over adb), ``device_profiler.ssh.SshDevice``
  (Linux boards over ssh).
* :mod:`device_profiler.model_files`: the model file a device takes (``Device.model_format``),
  exported or converted ahead of the device (:class:`~device_profiler.model_files.ModelFiles`).
* :mod:`device_profiler.protocol` is the measurement protocol every device shares:
  ``measure_arch(device, arch, resolution, settings) -> Measurement`` (statistics in
  :mod:`device_profiler.stats`).
* :mod:`device_profiler.campaign` measures a list of architectures on one device or several
  phones at once (one device is a fleet of one): ``profile(devices, archs, store, ...)``, one
  worker per device, one writer to the store, a device that drops out hands its models to the
  others; :mod:`device_profiler.drift` re-times a reference model to record the device's drift.
* :func:`open_device` opens the device a :class:`~mnas_pred.records.DeviceSpec` names.

This module imports nothing heavy (no torch, no onnxruntime): the worker processes and the CLI's
start-up stay fast, and the adb/ssh devices are imported only when asked for.
"""

from __future__ import annotations

from device_profiler._base import Device
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, DeviceSpec, Measurement, MeasureSettings, RawTiming


def open_device(spec: DeviceSpec | None = None) -> Device:
    """The device ``spec`` selects (default: the local CPU): a phone over adb, a Linux board over
    ssh, or the local CPU; command-line flags become a spec with :meth:`DeviceSpec.select`. Only
    the chosen device's module is imported."""
    spec = spec or DeviceSpec()
    if spec.runtime == "litert":
        from device_profiler.litert import check_extra

        check_extra()  # one line naming pip install 'mnas-pred[litert]', before anything starts
    if spec.kind == "local" and spec.accelerator != "cpu":
        raise DeviceError(f"--accelerator {spec.accelerator}: this machine's "
                          f"{'LiteRT' if spec.runtime == 'litert' else 'ONNX Runtime'} measures on its CPU only",
                          "drop --accelerator here, or measure a phone's GPU with --serial X --runtime litert "
                          "--accelerator gpu")
    if spec.kind == "local" and spec.runtime == "litert":
        from device_profiler.litert.local import open_local

        return open_local(spec)
    if spec.kind == "adb" and spec.runtime == "litert":
        from device_profiler.litert.adb import LiteRtAdbDevice

        return LiteRtAdbDevice(spec.address, adb=spec.adb, benchmark_model=spec.benchmark_model,
                               accelerator=spec.accelerator, gpu_accelerator=spec.gpu_accelerator)
    if spec.kind == "adb":
        from device_profiler.adb import AdbDevice

        return AdbDevice(spec.address, adb=spec.adb, perf_test=spec.perf_test, ort_lib=spec.ort_lib)
    if spec.kind == "ssh" and spec.runtime == "litert":
        from device_profiler.litert.ssh import LiteRtSshDevice

        if spec.accelerator != "cpu":
            raise DeviceError("--accelerator gpu is not supported on ssh boards yet", "use --accelerator cpu")
        return LiteRtSshDevice(spec.address, benchmark_model=spec.benchmark_model)
    if spec.kind == "ssh":
        from device_profiler.ssh import SshDevice

        return SshDevice(spec.address)
    from device_profiler.local import LocalDevice

    return LocalDevice(cpus=list(spec.cpus) if spec.cpus else None)


def list_devices(ssh_hosts: list[str] | tuple[str, ...] = (), adb: str | None = None, *, runtime: str = "ort",
                 accelerator: str = "cpu") -> list[dict]:
    """Usable devices: the local CPU, every adb device with its state, and the ssh hosts given,
    for measuring with ``runtime`` on ``accelerator``. A missing adb binary (or LiteRT extra) is
    a note in the list, not an error: the other devices still work."""
    from device_profiler.local import LocalDevice, cpu_model

    DeviceSpec(runtime=runtime, accelerator=accelerator)  # unknown names: one line, exit 2
    info = LocalDevice().info()  # identity only: starts no worker
    rows = [{"kind": "local", "id": "local", "state": "ready", "model": cpu_model(),
             "key": info.key, "note": f"onnxruntime {info.runtime_version}, {info.properties['cpu_count']} cores"}]
    if runtime == "litert":
        from device_profiler.litert.local import local_row

        rows[0].update(local_row(accelerator, info.properties["cpu_count"]))
    elif accelerator != "cpu":
        rows[0].update(state="unavailable", note="ONNX Runtime here measures on the CPU only")
    from device_profiler.adb_binary import locate_adb
    from device_profiler.adb_transport import list_adb_devices
    from device_profiler.phone_runners import phone_runner_files, runner_note
    from device_profiler.ssh import list_ssh_hosts

    try:
        exe, found_via = locate_adb(adb)
        where = {"adb": exe, "adb_found_via": found_via}
        phones = list_adb_devices(adb=exe)
        for d in phones:
            serial = d.get("serial", "")
            row = {"kind": "adb", "id": serial, "state": d.get("state", ""), "model": d.get("model", ""),
                   "key": f"adb:{serial}", "note": d.get("note", ""), **where}
            files = phone_runner_files(exe, serial) if d.get("usable") else None
            if files is not None:  # which runtime's tools the phone already holds
                row["runner_files"], row["note"] = files, runner_note(files)
            rows.append(row)
        if not phones:
            rows.append({"kind": "adb", "id": "", "state": "no phones attached", "model": "", "key": "",
                         "note": "connect a phone by USB with USB debugging on (Settings > Developer options) "
                                 "and accept its prompt; then `adb devices` lists it", **where})
    except DeviceError as e:
        rows.append({"kind": "adb", "id": "", "state": "unavailable", "model": "", "key": "", "note": str(e)})
    for h in list_ssh_hosts(list(ssh_hosts)):  # connects to each host to check it is usable
        note = h.get("fix") or (f"onnxruntime {h['onnxruntime']}" if h.get("onnxruntime") else "")
        rows.append({"kind": "ssh", "id": h["host"], "state": h.get("state", ""), "model": h.get("model", ""),
                     "key": f"ssh:{h['host']}", "note": note})
    return rows


__all__ = ["Device", "DeviceError", "DeviceInfo", "DeviceSpec", "MeasureSettings", "Measurement", "RawTiming",
           "list_devices", "open_device"]
