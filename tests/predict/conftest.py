"""Shared by the predict tests: torch on one thread (the CI machine has 2 cores), and ``models``: a tiny
pipeline folder (``test_standins.make_models``) built once per test module (tests may alter their copy)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_standins import make_models


@pytest.fixture(autouse=True)
def _one_thread(one_thread):  # tests/conftest.py
    yield


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return make_models(tmp_path_factory.mktemp("models"))
