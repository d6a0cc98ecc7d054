"""Shared helpers for the study tests: a minimal valid config and cheap fake stage functions."""
from __future__ import annotations

import json
from typing import Any

import pytest

from sijscan.study.run import STAGE_FUNCTIONS
from sijscan.study.config import config_from_dict
from sijscan.study.stages import STAGES

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
def fake_stages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every stage function by a fake that records its call and writes one file."""
    calls: list[str] = []
    for stage in STAGES:
        if stage.name == "report":
            continue

        def fake(ctx: Any, _name: str = stage.name) -> dict[str, Any]:
            calls.append(_name)
            (ctx.stage_dir / "out.txt").write_text(_name)
            return {"file": str(ctx.stage_dir / "out.txt"), "upstream": sorted(ctx.upstream)}

        monkeypatch.setitem(STAGE_FUNCTIONS, stage.name, fake)

    def fake_report(ctx: Any) -> dict[str, Any]:
        calls.append("report")
        page = ctx.stage_dir / "report.html"
        page.write_text("<html></html>")
        return {"html": str(page), "findings": ["a finding"]}

    monkeypatch.setitem(STAGE_FUNCTIONS, "report", fake_report)
    return calls


@pytest.fixture
def cfg():
    return config_from_dict(minimal())


@pytest.fixture(name="minimal")
def minimal_fixture():
    """``minimal(a__b=1)``: the minimal config dict with ``a.b`` replaced."""
    return minimal
