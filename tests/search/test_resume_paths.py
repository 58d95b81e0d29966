"""Resume does not depend on how paths are spelled: the results folder given relative or
absolute, or moved elsewhere, resumes; a predictor given by another path to the same file is the
same setting; a refitted predictor inside a moved folder is found again (issue 12, item 7)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from mnas_pred.cli import main
from search.analytic import AnalyticLatencyModel
from search.caches import MeasurementCache
from search.oracle import LatencyOracle
from search.resume import changed_settings

ARGS = ["--target-ms", "8", "--accuracy", "analytic", "--latency", "analytic", "--use-predictor", "analytic",
        "--batch-size", "2", "--revalidate-every", "1", "--export-top", "0", "--resolution", "32", "--seed", "4", "--no-references",
        "--json"]


def test_relative_absolute_and_moved_results_folder_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--out", "full", *ARGS, "--samples", "6"]) == 0
    assert main(["search", "--out", "run", *ARGS, "--samples", "2"]) == 0  # relative
    assert main(["search", "--out", str(tmp_path / "run"), *ARGS, "--samples", "4", "--resume"]) == 0  # absolute
    shutil.move(tmp_path / "run", tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["search", "--out", ".", *ARGS, "--samples", "6", "--resume"]) == 0  # moved, spelled "."
    capsys.readouterr()
    for name in ("history.csv", "pareto.csv", "revalidation.csv"):
        assert (tmp_path / "elsewhere" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


def test_a_file_setting_is_compared_by_what_it_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("p.pred").write_text("predictor bytes")
    (tmp_path / "copy").mkdir()
    shutil.copy("p.pred", "copy/p.pred")
    Path("other.pred").write_text("another predictor")
    saved = {"predictor": str(tmp_path / "p.pred"), "out_dir": "/old/place", "data": {"data_dir": str(tmp_path)}}
    assert changed_settings(saved, {"predictor": "p.pred", "out_dir": "o", "data": {"data_dir": "."}}) == []
    assert changed_settings(saved, {"predictor": "copy/p.pred", "out_dir": "o", "data": {"data_dir": "."}}) == []
    assert changed_settings(saved, {"predictor": "other.pred", "out_dir": "o", "data": {"data_dir": "copy"}}) == [
        "predictor", "data.data_dir"]


class _FileModel(AnalyticLatencyModel):
    """A model whose state names its (refitted) file, like search.predictor_adapter's."""

    def __init__(self, path: str = "original.pred"):
        super().__init__(32)
        self.path = path

    def refit(self, archs, measured_ms, out_dir):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        path = Path(out_dir) / "predictor-1.json"
        path.write_text("{}")
        return _FileModel(str(path))

    def get_state(self):
        return {"path": self.path}

    def set_state(self, state):
        self.path = state["path"]


def test_a_refitted_predictor_in_a_moved_folder_is_found(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    oracle = LatencyOracle(_FileModel(), None, MeasurementCache(None, "none"), refit_dir=old / "refits")
    oracle.model = oracle.model.refit([], np.array([]), oracle.refit_dir)
    state = oracle.get_state()
    assert state["model"]["path"] == "predictor-1.json"  # relative to the refit folder
    shutil.move(old, new)
    moved = LatencyOracle(_FileModel(), None, MeasurementCache(None, "none"), refit_dir=new / "refits")
    moved.set_state(state)
    assert moved.model.path == str(new / "refits" / "predictor-1.json")


def test_a_folder_naming_its_device_the_old_way_resumes(tmp_path):
    """Results folders written before device specs name the device 'local' / 'adb:SERIAL'."""
    import json

    from mnas_pred.records import DeviceSpec
    from search.checkpoint import load_state, save_state
    from search.config import SearchConfig
    from search.runner import run_search

    def config(samples):
        return SearchConfig(out_dir=str(tmp_path), target_ms=8.0, accuracy="analytic", predictor="analytic",
                            device=DeviceSpec(), revalidate_top=0, samples=samples, batch_size=4, export_top=0,
                            references=[])

    run_search(config(4))
    assert json.loads((tmp_path / "config.json").read_text())["device"]["kind"] == "local"
    state = load_state(tmp_path / "checkpoint.npz")
    state["config"]["device"] = "local"
    save_state(tmp_path / "checkpoint.npz", state)
    assert len(run_search(config(8), resume=True).history) == 8


def test_a_damaged_device_in_the_checkpoint_is_named_as_a_changed_setting(tmp_path):
    import pytest

    from mnas_pred.errors import MnasPredError
    from mnas_pred.records import DeviceSpec
    from search.checkpoint import load_state, save_state
    from search.config import SearchConfig
    from search.runner import run_search

    config = SearchConfig(out_dir=str(tmp_path), target_ms=8.0, accuracy="analytic", predictor="analytic",
                          device=DeviceSpec(), revalidate_top=0, samples=4, batch_size=4, export_top=0, references=[])
    run_search(config)
    for damaged in ("phone:X", {"kind": "adb"}):
        state = load_state(tmp_path / "checkpoint.npz")
        state["config"]["device"] = damaged
        save_state(tmp_path / "checkpoint.npz", state)
        with pytest.raises(MnasPredError, match=r"different settings than the checkpoint.*: device"):
            run_search(config, resume=True)
