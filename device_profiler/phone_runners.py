"""Which runner files a phone already holds, per runtime (for ``mnas-pred devices``).

A phone is measured with files pushed to one directory (``/data/local/tmp/mnas-pred`` unless
``--remote-dir`` says otherwise): ONNX Runtime needs ``onnxruntime_perf_test`` and
``libonnxruntime.so``; LiteRT needs ``benchmark_model``, plus a GPU accelerator ``.so`` for
``--accelerator gpu``. A profiling run pushes what it is given, so a missing file is not an
error here, only something to know before measuring without ``--perf-test``/``--benchmark-model``.
"""

from __future__ import annotations

from device_profiler._shell import quote_join, run, split_rc_marker, with_rc_marker
from device_profiler.adb_transport import DEFAULT_REMOTE_DIR
from device_profiler.litert.benchmark_model import GPU_ACCELERATOR_NAMES
from mnas_pred.errors import DeviceError

#: runtime -> [(what, file names any of which will do, needed for)]
RUNNER_FILES = {
    "ort": [("onnxruntime_perf_test", ("onnxruntime_perf_test",), "--runtime ort"),
            ("libonnxruntime.so", ("libonnxruntime.so",), "--runtime ort")],
    "litert": [("benchmark_model", ("benchmark_model",), "--runtime litert"),
               ("GPU accelerator", GPU_ACCELERATOR_NAMES, "--runtime litert --accelerator gpu")],
}


def runner_files(names: set[str]) -> dict[str, dict[str, list[str]]]:
    """``{runtime: {"present": [...], "missing": [...]}}`` for the file names of a directory."""
    result = {}
    for runtime, files in RUNNER_FILES.items():
        present = [what for what, options, _ in files if names & set(options)]
        missing = [what for what, options, _ in files if not names & set(options)]
        result[runtime] = {"present": present, "missing": missing}
    return result


def runner_note(files: dict[str, dict[str, list[str]]], remote_dir: str = DEFAULT_REMOTE_DIR) -> str:
    """One line: what each runtime has on the phone and what it lacks."""
    label = {"ort": "ORT", "litert": "LiteRT"}
    parts = []
    for runtime, got in files.items():
        have = ", ".join(got["present"]) or "nothing"
        lack = f"; missing {', '.join(got['missing'])}" if got["missing"] else ""
        parts.append(f"{label[runtime]}: {have}{lack}")
    return f"in {remote_dir}: " + " | ".join(parts)


def phone_runner_files(adb: str, serial: str, remote_dir: str = DEFAULT_REMOTE_DIR,
                       timeout: float = 30.0) -> dict[str, dict[str, list[str]]] | None:
    """The runner files on one phone, or None when the phone did not answer."""
    try:
        p = run([adb, "-s", serial, "shell", with_rc_marker(quote_join(["ls", "-1", remote_dir]) + " 2>/dev/null")],
                timeout=timeout, what=f"adb -s {serial} shell ls")
    except DeviceError:
        return None
    rc, out = split_rc_marker(p.stdout)
    if rc is None:
        return None
    return runner_files({line.strip() for line in out.splitlines() if line.strip()} if rc == 0 else set())
