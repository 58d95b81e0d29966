"""--train-device: the choice, its one-line errors, and (where there is a GPU) training on it."""

import pytest
import torch

from mnas_pred.arch import parse_arch
from mnas_pred.errors import MnasPredError
from search.accuracy import ProxyTrainer, TrainSettings
from search.data import DataSpec
from search.train_device import available, resolve_train_device

NO_CUDA = "needs a CUDA GPU: PyTorch sees none on this machine"
DATA = DataSpec("digits", resolution=32)  # the full digits set: on a GPU one candidate takes seconds
# a candidate without squeeze-and-excitation: every kernel of its training step is deterministic on CUDA
NO_SE = parse_arch("-".join(["mbconv6_k3_r1_c16_s1_se0_skipnone", "mbconv6_k3_r2_c24_s2_se0_skipid",
                             "mbconv3_k5_r2_c40_s2_se0_skipid", "mbconv6_k3_r2_c80_s2_se0_skipid",
                             "mbconv6_k3_r1_c96_s1_se0_skipnone", "mbconv6_k5_r2_c192_s2_se0_skipid",
                             "mbconv6_k3_r1_c320_s1_se0_skipnone"]))


def test_auto_picks_cuda_then_mps_then_cpu():
    expected = "cuda" if torch.cuda.is_available() else "mps" if available("mps") else "cpu"
    assert resolve_train_device("auto") == expected
    assert resolve_train_device("cpu") == "cpu"


def test_on_ray_the_device_follows_the_gpus_reserved_per_task():
    assert resolve_train_device("auto", on_ray=True, gpus_per_trial=1) == "cuda"  # whatever the driver has
    assert resolve_train_device("cuda", on_ray=True, gpus_per_trial=0.5) == "cuda"
    assert resolve_train_device("auto", on_ray=True) == "cpu"
    with pytest.raises(MnasPredError, match="--gpus-per-trial"):
        resolve_train_device("cuda", on_ray=True)
    with pytest.raises(MnasPredError, match="would not use"):
        resolve_train_device("cpu", on_ray=True, gpus_per_trial=1)
    with pytest.raises(MnasPredError, match="unknown --train-device"):
        resolve_train_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the missing-GPU error cannot happen")
def test_cuda_without_cuda_is_one_line_exit_2(tmp_path, capsys):
    from mnas_pred.cli import main

    code = main(["search", "--target-ms", "5", "--train-device", "cuda", "--accuracy", "proxy", "--latency", "analytic",
                 "--use-predictor", "x", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--train-device cuda" in err and "no CUDA GPU" in err
    assert not (tmp_path / "o").exists()


def test_the_search_stores_the_device_auto_stood_for(tmp_path):
    from search.runner import SearchConfig

    config = SearchConfig(out_dir=str(tmp_path), target_ms=5, train=TrainSettings(device="auto"))
    config.validate()
    assert config.train.device == resolve_train_device("auto") != "auto"  # in the cache fingerprint and checkpoint


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_cuda_training_learns_is_repeatable_and_returns_a_cpu_model():
    trainer = ProxyTrainer(DATA, TrainSettings(device="cuda", batch_size=32))
    model, acc = trainer.train(NO_SE)
    assert acc > 0.25 and next(model.parameters()).device.type == "cpu"
    assert trainer._on(torch.device("cuda")).train_x.is_cuda  # the data stays on the GPU
    assert ProxyTrainer(DATA, TrainSettings(device="cuda", batch_size=32)).train(NO_SE)[1] == acc  # bit-identical
    _, with_se = trainer.train("mnasnet-a1")  # SE: repeatable only up to last-bit noise, still learns
    assert with_se > 0.25


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_ray_gpus_per_trial_trains_each_candidate_on_its_gpu(tmp_path):
    pytest.importorskip("ray")
    from search.evaluator import AccuracySpec
    from search.ray_evaluator import RayEvaluator

    spec = AccuracySpec("proxy", DATA, TrainSettings(device="cuda", batch_size=32))
    with RayEvaluator(spec, "local", cpus_per_trial=1, gpus_per_trial=0.5) as ev:
        on_ray = ev.evaluate([NO_SE.to_string()])[0]
    assert on_ray == spec.build().accuracy(NO_SE)  # the GPU training of this process, bit for bit


@pytest.mark.skipif(not available("mps"), reason="needs Apple's MPS backend: PyTorch sees none on this machine")
def test_mps_training_learns():
    _, acc = ProxyTrainer(DATA, TrainSettings(device="mps", batch_size=32)).train(NO_SE)
    assert acc > 0.25


def test_cpu_training_keeps_the_cache_fingerprint_of_earlier_versions():
    cpu = ProxyTrainer(DATA, TrainSettings(device="cpu")).fingerprint()
    assert "device" not in cpu["train"]  # accuracy caches written before --train-device stay valid
    assert ProxyTrainer(DATA, TrainSettings(device="cuda")).fingerprint()["train"]["device"] == "cuda"


def test_a_checkpoint_from_before_train_device_resumes(tmp_path):
    from search.checkpoint import load_state, save_state
    from search.runner import Search, SearchConfig, run_search

    config = dict(out_dir=str(tmp_path), target_ms=8.0, accuracy="analytic", predictor="analytic", device="analytic",
                  samples=8, batch_size=4, revalidate_top=0, export_top=0)
    run_search(SearchConfig(**config))
    state = load_state(tmp_path / "checkpoint.npz")
    del state["config"]["train"]["device"]  # as written by earlier versions (which trained on the CPU)
    save_state(tmp_path / "checkpoint.npz", state)
    assert len(Search(SearchConfig(**{**config, "samples": 12}), resume=True).run().history) == 12
