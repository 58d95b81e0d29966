import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # the development machine has 2 cores shared with other jobs; one thread keeps tests fast and stable
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
