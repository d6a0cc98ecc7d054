"""Shared by the predict tests: torch on one thread (the CI machine has 2 cores)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):  # tests/conftest.py
    yield
