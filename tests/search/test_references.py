"""Reference networks in every search result (issue 13): same proxy training, same device,
cached for --resume, and the summary's labels."""

import json

import pytest

from mnas_pred.cli import main
from search.accuracy import ProxyTrainer, TrainSettings
from search.config import SearchConfig
from search.data import DataSpec
from search.runner import run_search


def _config(out, **kw):
    base = dict(out_dir=str(out), target_ms=8.0, accuracy="analytic", predictor="analytic", device="analytic",
                samples=8, batch_size=4, revalidate_every=2, revalidate_top=1, export_top=0)
    return SearchConfig(**{**base, **kw})


class _Stop(Exception):
    pass


def _stop_after_first_update(p):
    raise _Stop


def test_references_are_listed_compared_and_survive_resume(tmp_path):
    with pytest.raises(_Stop):
        run_search(_config(tmp_path / "cut"), progress=_stop_after_first_update)
    cache = (tmp_path / "cut" / "references.jsonl").read_text()
    assert len(cache.splitlines()) == 1 + 3  # fingerprint + the three default references
    resumed = run_search(_config(tmp_path / "cut"), resume=True)
    assert (tmp_path / "cut" / "references.jsonl").read_text() == cache  # nothing evaluated again

    s = json.loads((tmp_path / "cut" / "summary.json").read_text())
    refs = s["references"]
    assert [r["display_name"] for r in refs] == ["MobileNetV2", "MnasNet-A1", "MnasNet-B1"]
    assert all(r["cached"] and r["latency_source"] == "measured" for r in refs)  # the re-validation device
    assert all(r["predicted_latency_ms"] > 0 and r["train_s"] >= 0 and r["measure_s"] >= 0 for r in refs)
    best = s["best"]
    a1 = next(c for c in s["best_vs_references"] if c["reference"] == "MnasNet-A1")
    assert a1["accuracy_points"] == round(100 * (best["accuracy"] - refs[1]["accuracy"]), 2)
    assert a1["latency_ratio"] == round(best["latency_ms"] / refs[1]["latency_ms"], 3)
    assert s["proxy_task"]["kind"] == "analytic" and s["latency_measurement"]["resolution"] == 224
    assert "re-scored with measured latency" in s["reward_note"]

    # the references do not change what the search draws
    plain = run_search(_config(tmp_path / "plain", references=[]))
    assert [r["arch"] for r in plain.history] == [r["arch"] for r in resumed.history]
    assert plain.summary["references"] == [] and plain.summary["best_vs_references"] == []


def test_without_a_device_references_are_predicted(tmp_path):
    r = run_search(_config(tmp_path, revalidate_top=0, device="local", references=["mnasnet-a1"]))
    (ref,) = r.summary["references"]
    assert ref["latency_source"] == "predicted" and ref["latency_ms"] == ref["predicted_latency_ms"]
    assert ref["latency_spread"] is None and ref["measure_s"] == 0


def test_proxy_references_use_the_candidates_training_and_are_not_retrained(tmp_path):
    data = DataSpec(dataset="digits", resolution=16, train_limit=64, val_limit=100)
    train = TrainSettings(epochs=1, batch_size=16)
    cfg = dict(accuracy="proxy", data=data, train=train, samples=2, batch_size=2, references=["mnasnet-b1"])
    r = run_search(_config(tmp_path, **cfg))
    (ref,) = r.summary["references"]
    assert ref["accuracy"] == ProxyTrainer(data, train, seed=0).accuracy("mnasnet-b1")  # same settings, same seed rule
    assert ref["train_s"] > 0 and not ref["cached"]
    proxy = r.summary["proxy_task"]
    assert (proxy["dataset"], proxy["epochs"], proxy["train_resolution"], proxy["train_images"]) == ("digits", 1, 16, 64)
    assert proxy["val_images"] == 100 and "digits, 1 epoch at 16 px, 64 training / 100 validation images" == proxy["label"]
    again = run_search(_config(tmp_path, **cfg), resume=True)
    assert again.summary["references"][0]["cached"]
    assert again.summary["references"][0]["accuracy"] == ref["accuracy"]


def test_bad_reference_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["search", "--out", str(out), "--target-ms", "5", "--reference", "mnasnet_a1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--reference 'mnasnet_a1'" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_closing_text_states_the_labels_and_the_comparison(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["search", "--out", str(out), "--target-ms", "8", "--accuracy", "analytic", "--latency", "analytic",
                 "--use-predictor", "analytic", "--samples", "8", "--batch-size", "4", "--revalidate-every", "1",
                 "--export-top", "0", "--no-references", "--reference", "mnasnet-a1"]) == 0
    text = capsys.readouterr().out
    assert "proxy accuracy: analytic surrogate accuracy (no training); latency: ms at 224 px, predicted" in text
    assert "references (same proxy training):" in text and "MnasNet-B1" not in text
    best = json.loads((out / "summary.json").read_text())["best"]
    where = "on this device" if best["latency_source"] == "measured" else "(latency: best predicted, MnasNet-A1 measured)"
    assert f"the latency of MnasNet-A1 {where}" in text
    assert "re-scored with measured latency" in text


def test_a_damaged_reference_cache_line_is_evaluated_again(tmp_path):
    run_search(_config(tmp_path, references=["mnasnet-a1", "mnasnet-b1"]))
    path = tmp_path / "references.jsonl"
    header, a1, b1 = path.read_text().splitlines()
    path.write_text("\n".join([header, a1.replace('"accuracy": ', '"accuracy": "x", "was": '), b1]) + "\n")
    again = run_search(_config(tmp_path, references=["mnasnet-a1", "mnasnet-b1"]), resume=True)
    assert [r["cached"] for r in again.summary["references"]] == [False, True]
    assert again.summary["references"][0]["accuracy"] == json.loads(a1)["accuracy"]
