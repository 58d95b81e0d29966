"""LiteRT's ``benchmark_model``: the command line we build, the parsers, the loud checks, the
profile → layer mapping, and the fake tool (tests/device_profiler/fakes/benchmark_model)."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from device_profiler.litert import benchmark_model as bm
from device_profiler.litert import op_profile
from device_profiler.trace import UNMAPPED
from mnas_pred.errors import DeviceError

pytest.importorskip("ai_edge_litert")

# stdout/stderr as the real tool lays them out (see the module docstring of benchmark_model.py)
STDOUT = """INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [model.tflite]
INFO: The input model file size (MB): 17.0571
INFO: Initialized session in 61.62ms.
INFO: Running benchmark for at least 2 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=2 first=30611 curr=21144 min=21144 max=30611 avg=25877 std=4733 p5=21144 median=30611 p95=30611

INFO: Running benchmark for at least 5 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=5 first=20873 curr=20644 min=20513 max=21071 avg=20766 std=206 p5=20513 median=20873 p95=21071

"""
STDERR = """INFO: [benchmark_litert_model.cc:305] Loading model from: model.tflite
INFO: [benchmark_litert_model.h:88] \n========== BENCHMARK RESULTS ==========
INFO: [benchmark_litert_model.h:93] Model initialization: 61.62 ms
INFO: [benchmark_litert_model.h:99] Inference (avg):      20.77 ms (5 runs)
"""


def test_command_is_name_value_flags_all_quoted():
    args = bm.tool_arguments("model x.tflite", threads=2, runs=7, warmup=3, use_gpu=True, profile=True)
    assert all(a.startswith("--") and "=" in a for a in args)
    assert {"--num_threads=2", "--num_runs=7", "--warmup_runs=3", "--min_secs=0", "--warmup_min_secs=0",
            "--use_gpu=true", "--use_profiler=true"} <= set(args)
    line = bm.shell_command("./benchmark_model", args, library_dir="/data/local/tmp/a b", cpu_mask="c0",
                            workdir="/data/local/tmp/a b")
    assert line.startswith("cd '/data/local/tmp/a b' && env 'LD_LIBRARY_PATH=/data/local/tmp/a b' taskset c0 ")
    assert shlex.split(line.split(" && ", 1)[1])[4:] == ["./benchmark_model", *args]


def test_parse_output_and_loud_checks():
    out = bm.parse_output(STDOUT, STDERR)
    assert (out.warmup.count, out.timed.count) == (2, 5)
    assert out.timed.sample_ms == pytest.approx(20.873) and out.timed.values_ms["std"] == pytest.approx(0.206)
    assert out.init_ms == pytest.approx(61.62) and not out.unconsumed and not out.gpu_fallback
    bm.check_run("phone", 0, out, use_gpu=False, runs=5)
    same = bm.parse_output("INFO: count=3 curr=900(all same) p5=900 median=900 p95=900\n", "")
    assert same.timed.sample_ms == pytest.approx(0.9)

    def refused(stdout, stderr, rc=0, **kw):
        with pytest.raises(DeviceError) as e:
            bm.check_run("adb device X", rc, bm.parse_output(stdout, stderr), **{"use_gpu": False, **kw})
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "ignored the flags --use_gpu" in refused("WARN: Unconsumed cmdline flags: --use_gpu\n" + STDOUT, STDERR)
    gpu = STDERR + "WARNING: [gpu_registry.cc:152] GPU accelerator could not be loaded and registered.\n"
    assert "fell back to the CPU" in refused(STDOUT, gpu, use_gpu=True) and "--gpu-accelerator" in refused(STDOUT, gpu, use_gpu=True)
    bm.check_run("x", 0, bm.parse_output(STDOUT, gpu), use_gpu=False)  # a CPU run does not care
    failed = "ERROR: [benchmark_litert_model.cc:306] Failed to load model.\nERROR: Benchmarking failed.\n"
    assert "failed with exit 1 (" in refused("INFO: STARTING!\n", failed, rc=1)
    assert "Failed to set" in refused(STDOUT, STDERR + "ERROR: [benchmark_litert_model.cc:224] Failed to set x\n")
    assert "ran 5 times, not the 50" in refused(STDOUT, STDERR, runs=50)


def test_missing_tool_names_download_page_and_steps(monkeypatch, tmp_path):
    monkeypatch.delenv(bm.ENV_VAR, raising=False)
    with pytest.raises(DeviceError) as e:
        bm.locate_tool(None)
    text = str(e.value)
    assert bm.DOWNLOAD_PAGE in text and "--benchmark-model PATH" in text and "chmod +x" in text and "\n" not in text
    monkeypatch.setenv(bm.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(DeviceError, match="does not exist"):
        bm.locate_tool(None)
    (tmp_path / "benchmark_model").write_text("x")
    assert bm.locate_tool(tmp_path / "benchmark_model") == str(tmp_path / "benchmark_model")


def run_fake(fake_tools, *args, env=None):
    return subprocess.run([str(fake_tools["benchmark_model"]), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_fake_tool_errors_and_exit_codes(fake_tools, tflite_model, tmp_path):
    p = run_fake(fake_tools, f"--graph={tmp_path / 'missing.tflite'}")
    assert p.returncode == 1 and p.stderr.rstrip().endswith("ERROR: Benchmarking failed.")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    p = run_fake(fake_tools, f"--graph={junk}")
    assert p.returncode == 1 and "Failed to load model." in p.stderr
    p = run_fake(fake_tools, "--num_runs=x", f"--graph={tflite_model.path}")
    assert p.returncode == 1 and "Benchmarking failed." in p.stderr
    # a bare flag is left over and the run goes on; the GPU without its .so falls back to the CPU, exit 0
    p = run_fake(fake_tools, f"--graph={tflite_model.path}", "--use_gpu=true", "--use_profiler", "--num_runs=2",
                 "--warmup_runs=1", "--min_secs=0", "--warmup_min_secs=0", env={"LD_LIBRARY_PATH": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    out = bm.parse_output(p.stdout, p.stderr)
    assert out.unconsumed == "--use_profiler" and out.gpu_fallback and out.timed.count == 2
    lib_dir = fake_tools["gpu_accelerator"].parent
    p = run_fake(fake_tools, f"--graph={tflite_model.path}", "--use_gpu=true", "--num_runs=1", "--min_secs=0",
                 "--warmup_min_secs=0", env={"LD_LIBRARY_PATH": str(lib_dir)})
    assert p.returncode == 0 and not bm.parse_output(p.stdout, p.stderr).gpu_fallback


def test_profile_maps_to_every_layer(fake_tools, tflite_model):
    p = run_fake(fake_tools, *bm.tool_arguments(str(tflite_model.path), threads=1, runs=4, warmup=1, profile=True))
    assert p.returncode == 0, p.stderr
    rows = op_profile.parse_run_order(p.stderr)
    assert rows[0].node_type == "TfLiteXNNPackDelegate" and rows[1].delegated and rows[1].times_called == 5
    ops = op_profile.graph_ops(tflite_model.path)
    assert [op.layer for op in ops][0] == "stem" and ops[-1].layer == "head"
    layers = op_profile.layer_times_ms(rows, ops, tflite_model.layers)
    assert list(layers) == tflite_model.layers  # every layer, in order, nothing unattributed here
    delegate_ms = op_profile.row_ms(rows[0])
    # the delegate row is not added twice (that would be ~2x); not tighter: the tiny model's per-op
    # times are a few microseconds, printed rounded, and their sum moved 6% from the row at load 5
    assert sum(layers.values()) == pytest.approx(delegate_ms, rel=0.25)
    # a row XNNPACK makes that the model has no operator for: inside a layer it is that layer's
    # (here between the head's convolution and its fully connected layer), else the bucket's
    extra = op_profile.ProfileRow("Delegate/Copy (NC, X32)", "[Delegate]:999", 0.5, 0.5, 5)
    inside = op_profile.layer_times_ms([*rows[:-1], extra, rows[-1]], ops, tflite_model.layers)
    assert inside["head"] == pytest.approx(layers["head"] + 0.5) and UNMAPPED not in inside
    assert op_profile.layer_times_ms([*rows, extra], ops, tflite_model.layers)[UNMAPPED] == pytest.approx(0.5)
    with pytest.raises(op_profile.LayerMapError):
        op_profile.layer_times_ms([r for r in rows if "GEMM" not in r.node_type], ops, tflite_model.layers)

