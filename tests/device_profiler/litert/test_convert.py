"""Conversion: real litert-torch, the cache, the pipeline's failure handling."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.device_profiler.litert.conftest import tiny_archs


def test_converted_file_computes_what_the_pytorch_network_computes(litert_models):
    """The seeded PyTorch network and its .tflite agree on a random input (float32, NCHW input)."""
    import torch

    from device_profiler.litert.convert import seeded_model
    from device_profiler.litert.local import run_once

    arch = litert_models.archs[0]
    x = np.random.default_rng(1).standard_normal((1, 3, litert_models.resolution, litert_models.resolution),
                                                  dtype=np.float32)
    with torch.no_grad():
        ref = seeded_model(arch, litert_models.resolution, litert_models.num_classes)(torch.from_numpy(x)).numpy()
    got = run_once(litert_models.files[arch].path, x)
    assert got.shape == ref.shape == (1, litert_models.num_classes)
    assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_cache_hit_converts_nothing(litert_models, tmp_path):
    """A second conversion of the same network returns the cached file, untouched."""
    from device_profiler.litert.convert import TfliteCache

    cache = TfliteCache(litert_models.copy_cache(tmp_path / "c"))
    before = {a: cache.path(a, litert_models.resolution, litert_models.num_classes).stat() for a in litert_models.archs}
    for a in litert_models.archs:
        c = cache.convert(a, litert_models.resolution, litert_models.num_classes)
        assert not c.converted_now
        assert c.sha256 == litert_models.files[a].sha256
        st = c.path.stat()
        assert (st.st_ino, st.st_mtime_ns) == (before[a].st_ino, before[a].st_mtime_ns)


def test_cache_key_separates_resolution_classes_and_converter_version(tmp_path):
    from device_profiler.litert.convert import TfliteCache

    arch = tiny_archs(1)[0]
    a = TfliteCache(tmp_path, {"litert-torch": "0.10.0", "torch": "2.13.0"})
    b = TfliteCache(tmp_path, {"litert-torch": "0.11.0", "torch": "2.13.0"})
    paths = {a.path(arch, 32, 10), a.path(arch, 64, 10), a.path(arch, 32, 100), b.path(arch, 32, 10)}
    assert len(paths) == 4


def test_half_written_file_never_counts(litert_models, tmp_path):
    """A conversion killed before its rename leaves a temporary file only: the cache does not see it."""
    from device_profiler.litert.convert import TfliteCache

    cache = TfliteCache(tmp_path / "c")
    arch = litert_models.archs[0]
    final = cache.path(arch, litert_models.resolution, litert_models.num_classes)
    final.parent.mkdir(parents=True)
    final.with_name(f".{final.name}.12345.tmp").write_bytes(b"TFL3" + b"\0" * 100)
    assert cache.lookup(arch, litert_models.resolution, litert_models.num_classes) is None


def test_conversion_failure_is_one_model_failure_not_a_hang(tmp_path, monkeypatch):
    """A network the builder refuses (2x2 input) fails in the worker: a DeviceError for that model, re-raised
    on a retry without converting again."""
    pytest.importorskip("litert_torch", reason="needs the [litert] extra")
    from device_profiler import DeviceError
    from device_profiler.litert.model_files import TfliteFiles

    arch = tiny_archs(1)[0]
    with TfliteFiles(2, 10, cache_dir=tmp_path / "c", workers=1, timeout_s=120) as files:  # 2x2: the builder refuses it
        files.prefetch([arch])
        with pytest.raises(DeviceError) as e:
            files.path(arch)
        assert e.value.transient and "could not convert" in e.value.problem
        with pytest.raises(DeviceError):
            files.path(arch)
    assert not list((tmp_path / "c").glob("*.tflite"))


def test_prefetch_of_converted_networks_starts_no_converter(litert_models, tmp_path):
    """A re-run whose networks are all in the cache never starts a conversion worker."""
    from device_profiler.litert.model_files import TfliteFiles

    cache = litert_models.copy_cache(tmp_path / "c")
    with TfliteFiles(litert_models.resolution, litert_models.num_classes, cache_dir=cache) as files:
        files.prefetch(litert_models.archs)
        paths = [files.path(a) for a in litert_models.archs]
        assert files._pool is None  # nothing to convert: no worker process was started
    assert paths == [cache / litert_models.files[a].path.name for a in litert_models.archs]


def test_a_conversion_past_its_time_limit_fails_that_model_and_stops_its_worker(tmp_path):
    pytest.importorskip("litert_torch", reason="needs the [litert] extra")
    from device_profiler import DeviceError
    from device_profiler.litert.model_files import TfliteFiles

    arch = tiny_archs(3)[2]
    with TfliteFiles(32, 10, cache_dir=tmp_path / "c", workers=1, timeout_s=0.5) as files:
        files.prefetch([arch])
        workers = list(files._pool._processes.values())
        start = time.monotonic()
        with pytest.raises(DeviceError) as e:
            files.path(arch)
        assert e.value.transient and "took more than 0.5 s" in e.value.problem
        assert time.monotonic() - start < 30
        assert files._pool is None and all(not w.is_alive() for w in workers)
    assert not list((tmp_path / "c").glob("*.tflite"))
