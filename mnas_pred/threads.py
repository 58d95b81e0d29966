"""How much parallelism this process has, and torch's share of it, in one place."""

from __future__ import annotations

import os
from contextlib import contextmanager


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))  # not Linux: every CPU


@contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count is ``n`` inside the block; the caller's count comes back
    after it (the search trains and exports in the same process, with different needs)."""
    import torch  # here: importing this module must not cost torch's import

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
