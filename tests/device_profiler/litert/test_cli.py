"""--runtime / --accelerator on the command line: what is refused, in one line, before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile import assert_refused, refused_in_process

REPO = Path(__file__).resolve().parents[3]

# A Python start-up hook that makes the [litert] extra look uninstalled: importing (or finding)
# litert_torch / ai_edge_litert fails as it does in an environment without them.
BLOCK_EXTRA = '''
import sys
class _NoLiteRT:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("litert_torch", "ai_edge_litert"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None
sys.meta_path.insert(0, _NoLiteRT())
'''


def test_litert_without_the_extra_is_one_line_naming_the_pip_install(tmp_path):
    res = _run_with_hook(tmp_path, BLOCK_EXTRA, "profile-device", "--runtime", "litert", "--num-models", "1",
                         "--db", str(tmp_path / "m.db"))
    line = assert_refused(res.returncode, res.stderr, "pip install 'mnas-pred[litert]'")
    assert "litert" in line and not (tmp_path / "m.db").exists()


@pytest.mark.parametrize("runtime", ["ort", "litert"])
def test_gpu_accelerator_on_this_cpu_is_refused(runtime, tmp_path, capsys):
    if runtime == "litert":
        pytest.importorskip("ai_edge_litert", reason="needs the [litert] extra")
    line = refused_in_process(capsys, ["profile-device", "--runtime", runtime, "--accelerator", "gpu",
                                       "--num-models", "1", "--db", tmp_path / "m.db"], "--accelerator gpu")
    assert "CPU only" in line and "--serial" in line
    assert not (tmp_path / "m.db").exists()


@pytest.mark.parametrize(("flag", "value", "fragment"), [("--runtime", "tvm", "unknown runtime 'tvm'"),
                                                        ("--accelerator", "npu", "unknown accelerator 'npu'")])
def test_unknown_runtime_or_accelerator(flag, value, fragment, tmp_path, capsys):
    refused_in_process(capsys, ["profile-device", flag, value, "--num-models", "1", "--db", tmp_path / "m.db"],
                       fragment)
    assert not (tmp_path / "m.db").exists()


def _run_with_hook(tmp_path, hook_text, *args):
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(hook_text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(REPO), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "mnas_pred", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)


def test_devices_says_whether_litert_can_measure_here(tmp_path):
    import json
    from importlib.metadata import version

    from mnas_pred.compat import available

    res = _run_with_hook(tmp_path, "", "devices", "--runtime", "litert", "--json")
    local = next(r for r in json.loads(res.stdout) if r["kind"] == "local")
    if all(available(m) for m in ("litert_torch", "ai_edge_litert")):
        assert local["state"] == "ready" and f"litert {version('ai-edge-litert')}" in local["note"]
    res = _run_with_hook(tmp_path, BLOCK_EXTRA, "devices", "--runtime", "litert", "--json")
    local = next(r for r in json.loads(res.stdout) if r["kind"] == "local")
    assert local["state"] == "unavailable" and "pip install 'mnas-pred[litert]'" in local["note"]
