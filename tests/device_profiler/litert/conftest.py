"""Real LiteRT conversions, shared by every LiteRT test (this folder's and the benchmark_model tool's).

A conversion costs 3-10 s for these tiny networks here (35-55 s per 224x224 network, and a CI
machine is ~3x slower), so the whole suite converts at most three networks: the two of the
session-scoped :func:`litert_models` fixture, converted once in worker processes (the campaign's own
pipeline) into a session cache folder, plus one in the kill -9 test. Tests that write to a cache
take a private copy (:meth:`LitertModels.copy_cache`).

Everything here needs the ``[litert]`` extra: without it the tests skip (``pytest.importorskip``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

TINY_SPACE = Path(__file__).with_name("tiny_space.json")  # 32x32, 10 classes, two one-layer blocks


@dataclass
class LitertModels:
    """Converted networks of the tiny space: ``files[arch]`` is the ``Converted`` entry (path, sha256, seconds)."""

    space: Path
    resolution: int
    num_classes: int
    cache_dir: Path  # a TfliteCache folder holding exactly these conversions
    archs: list[str]  # what `profile-device --space TINY_SPACE --num-models 2` samples (seed 0), in order
    files: dict

    def copy_cache(self, dst: Path) -> Path:
        """A private copy of the cache folder (for tests that convert into it or break it)."""
        shutil.copytree(self.cache_dir, dst)
        return dst


def tiny_archs(n: int, seed: int = 0) -> list[str]:
    from mnas_pred.space import SearchSpace

    return [a.to_string() for a in SearchSpace.from_file(TINY_SPACE).sample(n, seed)]


@pytest.fixture(scope="session")
def litert_models(tmp_path_factory) -> LitertModels:
    """The first two architectures of the tiny space, really converted with litert-torch."""
    pytest.importorskip("litert_torch", reason="needs the [litert] extra: pip install 'mnas-pred[litert]'")
    pytest.importorskip("ai_edge_litert", reason="needs the [litert] extra: pip install 'mnas-pred[litert]'")
    from device_profiler.litert.model_files import TfliteFiles
    from mnas_pred.space import SearchSpace

    space = SearchSpace.from_file(TINY_SPACE)
    archs = tiny_archs(2)
    cache = tmp_path_factory.mktemp("litert-cache") / "tflite"
    with TfliteFiles(space.resolution, space.num_classes, cache_dir=cache, workers=2) as files:
        files.prefetch(archs)
        converted = {a: files.converted(a) for a in archs}
    return LitertModels(TINY_SPACE, space.resolution, space.num_classes, cache, archs, converted)
