import os
import pickle

import numpy as np
import pytest

from mnas_pred.errors import MnasPredError
from search.data import DataSpec, load_proxy_data, read_cifar_batch


def test_digits_upsampled_to_three_channels_and_split():
    d = load_proxy_data(DataSpec("digits", resolution=24, val_fraction=0.25))
    assert d.train_x.shape[1:] == (3, 24, 24) and d.num_classes == 10
    assert len(d.train_y) + len(d.val_y) == 1797
    assert len(d.val_y) == round(0.25 * 1797)
    assert abs(float(d.train_x.mean())) < 1e-3  # normalized with training statistics


def _write_cifar(folder, batches=2, n=20, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(1, batches + 1):
        doc = {b"batch_label": b"training batch", b"labels": rng.integers(0, 10, n).tolist(),
               b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(doc, protocol=2))
    (folder / "test_batch").write_bytes(b"never read")


def test_cifar10_python_batches(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py")
    d = load_proxy_data(DataSpec("cifar10", data_dir=str(tmp_path), resolution=16, val_fraction=0.25))
    assert d.train_x.shape[1:] == (3, 16, 16)
    assert len(d.train_y) == 30 and len(d.val_y) == 10


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_reader_refuses_code_in_the_pickle(tmp_path):
    evil = tmp_path / "data_batch_1"
    evil.write_bytes(pickle.dumps({b"data": _RunsCode(), b"labels": []}, protocol=2))
    with pytest.raises(MnasPredError, match="not allowed"):
        read_cifar_batch(evil)


def test_imagefolder_with_and_without_train_val(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for root, parts in ((tmp_path / "flat", [""]), (tmp_path / "split", ["train", "val"])):
        for part in parts:
            for cls in ("cat", "dog"):
                d = root / part / cls
                d.mkdir(parents=True)
                for i in range(4):
                    Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(d / f"{i}.png")
    flat = load_proxy_data(DataSpec("imagefolder", data_dir=str(tmp_path / "flat"), resolution=8, val_fraction=0.25))
    assert flat.num_classes == 2 and len(flat.val_y) == 2 and flat.train_x.shape[1:] == (3, 8, 8)
    split = load_proxy_data(DataSpec("imagefolder", data_dir=str(tmp_path / "split"), resolution=8))
    assert len(split.train_y) == 8 and len(split.val_y) == 8


@pytest.mark.parametrize("spec, match", [
    (DataSpec("mnist"), "unknown dataset"),
    (DataSpec("cifar10"), "needs --data-dir"),
    (DataSpec("imagefolder", data_dir="{tmp}/missing/dir"), "does not exist"),
])
def test_bad_dataset_settings(tmp_path, spec, match):
    if spec.data_dir:  # a path under tmp_path surely does not exist
        spec = DataSpec(spec.dataset, data_dir=spec.data_dir.replace("{tmp}", str(tmp_path)))
    with pytest.raises(MnasPredError, match=match):
        load_proxy_data(spec)


def test_empty_cifar_folder(tmp_path):
    with pytest.raises(MnasPredError, match="data_batch"):
        load_proxy_data(DataSpec("cifar10", data_dir=str(tmp_path)))
