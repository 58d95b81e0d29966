"""The one thread-count context manager and the CPUs this process may use."""

from __future__ import annotations

import os

import pytest
import torch

from mnas_pred.threads import allowed_cpus, torch_threads


def test_torch_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_torch_threads_restores_the_count_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_allowed_cpus_is_the_affinity_mask():
    cpus = allowed_cpus()
    assert cpus == sorted(cpus) and len(cpus) >= 1
    if hasattr(os, "sched_getaffinity"):
        assert set(cpus) == os.sched_getaffinity(0)
