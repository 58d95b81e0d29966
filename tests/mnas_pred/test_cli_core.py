"""The core commands through the real console script: output, JSON, and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from mnas_pred.arch import REFERENCES
from mnas_pred.space import SearchSpace

CLI = [sys.executable, "-m", "mnas_pred"]


def run(*args, cwd=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def assert_one_line_error(res, fragment):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in res.stderr


def test_help_lists_the_commands():
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("arch-info", "sample", "export", "space"):
        assert cmd in res.stdout


@pytest.mark.parametrize("name, params, macs", [("mnasnet-a1", 3.9e6, 312e6), ("mobilenetv2", 3.5e6, 300e6)])
def test_arch_info_json(name, params, macs):
    res = run("arch-info", name, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert abs(info["params"] - params) / params < 0.02
    assert abs(info["macs"] - macs) / macs < 0.02
    assert info["layers"][0]["name"] == "stem" and info["layers"][-1]["name"] == "head"
    assert info["arch"] == REFERENCES[name]


def test_arch_info_table():
    res = run("arch-info", "mobilenetv2")
    assert res.returncode == 0
    assert "3,504,872" in res.stdout
    assert "inside the default search space" in res.stdout


def test_arch_info_says_when_a_string_is_outside_the_default_space():
    text = REFERENCES["mobilenetv2"].replace("mbconv6_k3_r2_c24", "mbconv7_k3_r2_c24", 1)
    res = run("arch-info", text)
    assert res.returncode == 0, res.stderr
    assert "outside the default search space (block 2: 'mbconv7' is outside this search space)" in res.stdout


def test_sample_is_seeded_and_parseable():
    a = run("sample", "-n", "5", "--seed", "3").stdout.split()
    assert a == run("sample", "-n", "5", "--seed", "3").stdout.split()
    assert a == [x.to_string() for x in SearchSpace.default().sample(5, seed=3)]
    assert json.loads(run("sample", "-n", "5", "--seed", "3", "--json").stdout) == a


def test_export_writes_a_model_onnxruntime_loads(tmp_path):
    out = tmp_path / "m.onnx"
    res = run("export", "mnasnet-b1", "--onnx", str(out), "--resolution", "96", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["max_abs_diff"] <= 5e-4 * max(1.0, info["output_max_abs"])
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [1, 3, 96, 96]


def test_space_summary():
    res = run("space", "--json")
    assert json.loads(res.stdout)["size"] == 432**7


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("arch-info", "resnet50"), "unknown architecture 'resnet50'"),
        (("arch-info", "mbconv6_k3_r2_c24_s2_se0_skipid-conv_k9x_r1_c16_s1_se0_skipnone"), "block 2"),
        (("arch-info", "mbconv6_k3_r2_c24_s2_se0_skipmaybe"), "bad skip token 'skipmaybe'"),
        (("arch-info", "sepconv_k3_r1_c16_s1_se0_skipid"), "skipid cannot apply"),
        (("arch-info", "mnasnet-a1", "--space", "/nonexistent.toml"), "does not exist"),
        (("arch-info", "mnasnet-a1", "--resolution", "2"), "--resolution"),
        (("arch-info",), "Missing argument"),
        (("arch-info", "mnasnet-a1", "--bogus"), "No such option"),
        (("sample", "-n", "0"), "--num"),
        (("frobnicate",), "No such command"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, fragment):
    assert_one_line_error(run(*args), fragment)


def test_value_outside_the_space_is_reported_by_arch_info():
    res = run("arch-info", "mnasnet-a1", "--json")
    info = json.loads(res.stdout)
    assert info["in_space"] is False and "c112" in info["space_note"]


def test_export_to_a_directory_is_rejected(tmp_path):
    assert_one_line_error(run("export", "mobilenetv2", "--onnx", str(tmp_path)), "is a directory")


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "mnas-pred"
    assert exe.exists()
    assert subprocess.run([str(exe), "--help"], capture_output=True).returncode == 0
