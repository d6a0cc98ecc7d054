"""Shared by the reliability tests (issue 14): the stand-in models and pipeline, torch on one thread."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))

from test_standins import make_models  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread(one_thread):  # tests/conftest.py
    yield


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return make_models(tmp_path_factory.mktemp("rel-models"))


@pytest.fixture(scope="session")
def pipeline(models: Path) -> Any:
    from sijscan.predict.pipeline import Pipeline

    return Pipeline.from_folder(models, device="cpu")
