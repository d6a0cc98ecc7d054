"""Shared helpers for the study tests: a minimal valid config and cheap fake stage functions."""
from __future__ import annotations

import json
from typing import Any

import pytest

from sijscan.study.run import STAGE_FUNCTIONS
from sijscan.study.config import config_from_dict
from sijscan.study.outputs import Record
from sijscan.study.stages import STAGES
from tests.study.study_fakes import fake_output

MINIMAL = {
    "study": {"name": "t", "seed": 1, "device": "cpu"},
    "cohorts": {"proof": {"role": "train", "phantom": {"n": 8, "size": 128}},
                "optiref": {"phantom": {"n": 6, "size": 128}}},
    "segmenter": {"train": {"epochs": 1, "size": 64}},
    "classifiers": {"recipe": "quick", "arch": "tiny-resnet", "init": "random"},
    "predict": {"batch_size": 4, "gradcam_examples": 0},
    "evaluate": {"n_bootstrap": 10},
}


def minimal(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(MINIMAL))
    for dotted, value in changes.items():
        node = data
        *path, last = dotted.split("__")
        for k in path:
            node = node.setdefault(k, {})
        node[last] = value
    return data


@pytest.fixture
def seen_upstream() -> dict[str, list[str]]:
    """stage -> the upstream stages its context held (filled by :func:`fake_stages`)."""
    return {}


@pytest.fixture
def fake_stages(monkeypatch: pytest.MonkeyPatch, seen_upstream: dict[str, list[str]]) -> list[str]:
    """Replace every stage function by a fake that records its call and upstream, writes one file and
    returns a small output of its stage's type."""
    calls: list[str] = []
    for stage in STAGES:

        def fake(ctx: Any, _name: str = stage.name) -> Record:
            calls.append(_name)
            seen_upstream[_name] = sorted(ctx.upstream)
            path = ctx.stage_dir / ("report.html" if _name == "report" else "out.txt")
            path.write_text("<html></html>" if _name == "report" else _name)
            return fake_output(_name, str(path))

        monkeypatch.setitem(STAGE_FUNCTIONS, stage.name, fake)
    return calls


@pytest.fixture
def cfg():
    return config_from_dict(minimal())


@pytest.fixture(name="minimal")
def minimal_fixture():
    """``minimal(a__b=1)``: the minimal config dict with ``a.b`` replaced."""
    return minimal
