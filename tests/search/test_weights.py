"""Best models' weights: safetensors that load strictly into build_model, and the README's
rebuild-and-fine-tune example run against a tiny search's results."""

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mnas_pred.builder import build_model
from search.accuracy import TrainSettings
from search.data import DataSpec, load_proxy_data
from search.runner import SearchConfig, run_search

README = Path(__file__).resolve().parents[2] / "README.md"
DATA = DataSpec("digits", resolution=16, train_limit=96)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A tiny real search: proxy training on digits, analytic latency."""
    out = tmp_path_factory.mktemp("search") / "results"
    run_search(SearchConfig(out_dir=str(out), target_ms=8.0, predictor="analytic", device="analytic", samples=2,
                            batch_size=2, revalidate_top=0, export_top=1, data=DATA,
                            train=TrainSettings(batch_size=16, bn_recalibration_batches=2)))
    return out


def test_weights_are_the_ones_that_scored_the_accuracy(results):
    best = json.loads((results / "best" / "best.json").read_text())[0]
    assert best["weights"] == "rank-1.safetensors"
    assert not list((results / "best").glob("*.npz"))
    model = build_model(best["arch"], num_classes=best["num_classes"])
    model.load_state_dict(load_file(str(results / "best" / best["weights"])), strict=True)
    model.eval()
    data = load_proxy_data(DATA)
    with torch.no_grad():
        correct = int((model(data.val_x).argmax(1) == data.val_y).sum())
    assert correct / len(data.val_y) == pytest.approx(best["accuracy"], abs=1.5 / len(data.val_y))


def test_readme_example_rebuilds_and_fine_tunes_the_best_model(results, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = [b for b in blocks if b.startswith("# rebuild and fine-tune the best model")]
    assert len(example) == 1, "the README's rebuild-and-fine-tune example is missing"
    monkeypatch.chdir(results.parent)  # the example reads results/
    exec(compile(example[0], "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert "validation accuracy" in out and json.loads((results / "best" / "best.json").read_text())[0]["arch"] in out


def test_damaged_or_mismatched_weights_are_one_line_errors(results, tmp_path):
    from mnas_pred.errors import MnasPredError
    from search.weights import load_weights

    best = json.loads((results / "best" / "best.json").read_text())[0]
    good = results / "best" / best["weights"]
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(good.read_bytes()[:100])
    with pytest.raises(MnasPredError, match="cannot be read"):
        load_weights(build_model(best["arch"], num_classes=best["num_classes"]), bad)
    with pytest.raises(MnasPredError, match="does not fit"):
        load_weights(build_model("mobilenetv2", num_classes=best["num_classes"]), good)
