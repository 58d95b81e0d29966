from mnas_pred.arch import parse_arch
from search.accuracy import ProxyTrainer, TrainSettings
from search.caches import AccuracyCache
from search.data import DataSpec

ARCH = parse_arch("mnasnet-a1")


def test_proxy_training_learns_and_is_deterministic():
    trainer = ProxyTrainer(DataSpec("digits", resolution=16), TrainSettings(epochs=1))
    a = trainer.accuracy(ARCH)
    assert a > 0.3  # well above the 10% of chance after one epoch on digits
    again = ProxyTrainer(DataSpec("digits", resolution=16), TrainSettings(epochs=1)).accuracy(ARCH)
    assert again == a


def test_cache_survives_reopen_and_ignores_other_settings(tmp_path):
    path = tmp_path / "acc.jsonl"
    c = AccuracyCache(path, {"k": 1})
    c.put("a", 0.5)
    assert AccuracyCache(path, {"k": 1}).get("a") == 0.5
    with open(path, "a") as f:
        f.write('{"arch": "torn')  # a line cut by kill -9
    assert AccuracyCache(path, {"k": 1}).get("a") == 0.5
    assert AccuracyCache(path, {"k": 2}).get("a") is None
