"""Android phones over adb, timed with ONNX Runtime's ``onnxruntime_perf_test`` (design.md §4).

Per session, the device is checked, ``onnxruntime_perf_test`` and ``libonnxruntime.so`` are
pushed to ``remote_dir`` (skipped when the file there already has the same sha256, or the same
size where the phone has no ``sha256sum``), and the big cores are chosen from
``cpuinfo_max_freq``. Per model:

1. wait (bounded, with a message) while the device is hotter than ``cool_down_c``;
2. push the model under a name derived from its sha256 (never from the local file name; kept on
   the phone while the protocol times the same model again: :meth:`AdbPhone.model_on_phone`);
3. a warm-up burst (``-r warmup``, results dropped; it brings the clocks up and the file into
   the page cache);
4. the timed runs as several short bursts: ``onnxruntime_perf_test`` prints only aggregates
   (average and percentiles), so ``settings.runs`` is split into bursts of ``burst_runs`` runs
   and each burst gives one end-to-end sample, its median (``P50 Latency``; the average where an
   old build prints no percentiles). Each burst is a new process (new session, one warm-up
   inference of perf_test's own), so the samples are independent and a transient slowdown
   moves one sample, not the statistics of all; every burst's full figures go to
   ``metadata["bursts"]``;
5. a separate profiled run (``-p PREFIX``); ONNX Runtime writes ``PREFIX_<date>_<time>.json``,
   found by listing, pulled and parsed with :mod:`device_profiler.trace` (perf_test's own
   warm-up inference is the first run in the profile and is dropped);
6. the profile is removed from the phone; the model when another comes, or on close.

Every command runs pinned: ``taskset MASK`` with ``LD_LIBRARY_PATH`` pointing at ``remote_dir``.
The session, the cores and the cooling down are the phone's (:mod:`device_profiler.adb_phone`);
commands, files and errors go through :mod:`device_profiler.adb_transport`.
"""

from __future__ import annotations

import math
import shlex
import tempfile
from pathlib import Path

from device_profiler import trace
from device_profiler._shell import first_line, quote_join
from device_profiler.adb_parsing import burst_sample_ms, parse_perf_test_output
from device_profiler.adb_phone import AdbPhone, PhoneModel
from device_profiler.adb_transport import DEFAULT_REMOTE_DIR
from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, MeasureSettings, RawTiming

PERF_TEST_NAME = "onnxruntime_perf_test"
# the fix when the phone lacks the tools (search, which has no --perf-test, replaces it)
TOOLS_FIX = "pass --perf-test PATH (an Android arm64 build of onnxruntime_perf_test) and --ort-lib PATH"
ORT_LIB_NAME = "libonnxruntime.so"


class AdbDevice(AdbPhone):
    """An Android phone timed with ``onnxruntime_perf_test`` (``burst_runs`` runs per sample)."""

    def __init__(
        self,
        serial: str,
        adb: str | None = None,
        perf_test: str | None = None,
        ort_lib: str | None = None,
        remote_dir: str = DEFAULT_REMOTE_DIR,
        burst_runs: int = 10,
        runtime_version: str = "",
        **phone_options,  # AdbPhone's: cool_down_c, cool_down_timeout_s, cool_down_poll_s, command_timeout_s
    ):
        super().__init__(serial, adb, remote_dir, **phone_options)
        self.perf_test = Path(perf_test) if perf_test else None
        self.ort_lib = Path(ort_lib) if ort_lib else None
        for p, flag in ((self.perf_test, "--perf-test"), (self.ort_lib, "--ort-lib")):
            if p is not None and not p.is_file():
                raise DeviceError(f"{flag} {p} does not exist", f"pass the path of the Android (arm64) {p.name} build")
        self.burst_runs = max(1, int(burst_runs))
        self.runtime_version = runtime_version
        self._tool_sha: dict[str, str] = {}
        self._has_lib = False
        self._counter = 0

    def install_tools(self) -> None:
        for local, name, executable in ((self.perf_test, PERF_TEST_NAME, True), (self.ort_lib, ORT_LIB_NAME, False)):
            sha = self.transport.install_tool(local, name, executable, TOOLS_FIX)
            if sha:
                self._tool_sha[name] = sha
        self._has_lib = self.transport.has_file(ORT_LIB_NAME)

    def info(self) -> DeviceInfo:
        self._ensure_ready()
        return self.phone_info({
            "runner": PERF_TEST_NAME,
            "perf_test_sha256": self._tool_sha.get(PERF_TEST_NAME, ""),
            "ort_lib_sha256": self._tool_sha.get(ORT_LIB_NAME, ""),
        }, runtime="onnxruntime", runtime_version=self.runtime_version)

    def _perf_test_command(self, model: str, runs: int, threads: int, mask: str, profile: str | None) -> str:
        args = ["env"]
        if self._has_lib:
            args.append(f"LD_LIBRARY_PATH={self.remote_dir}")
        args += ["taskset", mask, f"./{PERF_TEST_NAME}", "-m", "times", "-r", str(runs), "-I",
                 "-x", str(threads), "-e", "cpu"]
        if profile:
            args += ["-p", profile]
        args.append(model)
        return self.transport.in_remote_dir(quote_join(args))

    def _run_perf_test(self, model: str, runs: int, threads: int, mask: str, profile: str | None = None) -> dict:
        rc, out, err = self.transport.shell(self._perf_test_command(model, runs, threads, mask, profile))
        if rc != 0:
            text = err + "\n" + out
            if "libonnxruntime.so" in text and ("not found" in text or "cannot open" in text.lower()):
                raise DeviceError(f"adb device {self.serial}: {PERF_TEST_NAME} cannot load libonnxruntime.so",
                                  "pass --ort-lib PATH (the arm64 libonnxruntime.so the tool was built with)")
            raise DeviceError(
                f"adb device {self.serial}: {PERF_TEST_NAME} failed with exit {rc} ({first_line(err) or first_line(out)})",
                "check that the model runs with this ONNX Runtime build (opset 17) and the ABI matches the phone",
            )
        figures = parse_perf_test_output(out)
        if burst_sample_ms(figures) is None:
            raise DeviceError(f"adb device {self.serial}: no latency in {PERF_TEST_NAME} output "
                              f"({first_line(out) or 'empty'})", "use an onnxruntime_perf_test build from ONNX Runtime >= 1.8")
        return figures

    def time_model(self, model_path: Path, settings: MeasureSettings) -> RawTiming:
        with self.model_on_phone(model_path, settings.threads, ".onnx") as model:
            mask = model.cpu_mask
            n_bursts = max(1, math.ceil(settings.runs / self.burst_runs))  # settings.repeats: the protocol's
            sizes = [settings.runs // n_bursts + (1 if i < settings.runs % n_bursts else 0) for i in range(n_bursts)]
            if settings.warmup > 0:
                self._run_perf_test(model.name, settings.warmup, settings.threads, mask)
            bursts = [self._run_perf_test(model.name, max(s, 1), settings.threads, mask) for s in sizes]
            events, kept, profile_name = [], 0, None
            if settings.profile_runs > 0:
                self._counter += 1
                events, kept, profile_name = self._profile(model, settings, f"prof-{model.sha256[:12]}-{self._counter}")
        metadata = {
            **self.model_metadata(model),
            "sample_kind": "burst_p50",
            "burst_runs": sizes,
            "bursts": bursts,
            "profile_file": profile_name,
            "perf_test_sha256": self._tool_sha.get(PERF_TEST_NAME, ""),
            "command": self._perf_test_command(model.name, sizes[0], settings.threads, mask, None),
        }
        return RawTiming(samples_ms=[burst_sample_ms(b) for b in bursts], node_events=events, profiled_runs=kept,
                         metadata=metadata, runs_per_sample=max(sizes))

    def _profile(self, model: PhoneModel, settings: MeasureSettings, prefix: str) -> tuple[list, int, str]:
        """The separate profiled run: ORT writes ``PREFIX_<date>_<time>.json``, found by listing,
        pulled and parsed, then removed from the phone."""
        in_dir = self.transport.in_remote_dir
        pattern = f"{shlex.quote(prefix)}_*.json"
        try:
            self.transport.shell(in_dir(f"rm -f {pattern}"))
            self._run_perf_test(model.name, settings.profile_runs, settings.threads, model.cpu_mask, profile=prefix)
            listing = self.transport.shell_ok(in_dir(f"ls {pattern}"), "finding the profile",
                                              "re-run; the profile was not written")
            names = sorted(n.strip() for n in listing.split() if n.strip().endswith(".json"))
            if not names:
                raise DeviceError(f"adb device {self.serial}: {PERF_TEST_NAME} wrote no profile",
                                  "use an onnxruntime_perf_test build that supports -p")
            with tempfile.TemporaryDirectory(prefix="mnas-adb-") as tmp:
                local = Path(tmp) / "profile.json"
                self.transport.pull(self.transport.rpath(names[-1]), local)
                events, kept = trace.node_events(trace.load_trace(local), drop_first_runs=1)
            return events, kept, names[-1]
        finally:
            self.remove_quietly(f"rm -f {pattern}")


__all__ = ["AdbDevice", "TOOLS_FIX"]
