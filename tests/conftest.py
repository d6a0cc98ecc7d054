"""Shared by every test folder: ``one_thread`` runs torch on one thread (the CI machine has 2 cores)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
