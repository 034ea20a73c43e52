"""Reference-model tests: one torch thread (the machine is shared; tiny tensors gain nothing from more)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
