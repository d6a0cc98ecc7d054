"""run.json: written by segment (and predict, see tests/predict), identity checked on resume."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sijscan.runinfo import RunMismatchError, check_and_write_run


def test_identity_guards_resume_and_overwrite_sets_aside(tmp_path: Path) -> None:
    ident = {"classifier": {"sha256": "a" * 64, "path": "/x"}}
    assert check_and_write_run(tmp_path, command="predict", identity=ident, arguments={"n": 1}, resume=True) is False
    moved = {"classifier": {"sha256": "a" * 64, "path": "/elsewhere"}}  # same weights, folder moved: same model
    assert check_and_write_run(tmp_path, command="predict", identity=moved, arguments={"n": 2}, resume=True) is False
    other = {"classifier": {"sha256": "b" * 64, "path": "/x"}}
    with pytest.raises(RunMismatchError, match="classifier.sha256"):
        check_and_write_run(tmp_path, command="predict", identity=other, arguments={}, resume=True)
    assert check_and_write_run(tmp_path, command="predict", identity=other, arguments={}, resume=False) is True
    assert json.loads((tmp_path / "run.json").read_text())["identity"] == other
    assert len(list(tmp_path.glob("run.previous-*.json"))) == 1


def test_segment_writes_run_json(tmp_path: Path) -> None:
    from sijscan.anatomy.networks import PAPER_INIT
    from sijscan.anatomy.recipes import sijscan_recipe
    from sijscan.anatomy.run import segment_files
    from sijscan.modelfolder import build_network, save_model

    torch.manual_seed(0)
    init = {**PAPER_INIT, "channels": [4, 8], "strides": [2], "num_res_units": 1}
    model = save_model(tmp_path / "seg", network=build_network("unet-paper", init), kind="segmenter",
                       arch="unet-paper", init_args=init, labels={0: "bg", 1: "s", 2: "a", 3: "b"},
                       recipe=sijscan_recipe(size=32))
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50), dtype=np.uint8)).save(tmp_path / "x.png")
    segment_files([tmp_path / "x.png"], model_dir=model, out_dir=tmp_path / "out")
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    card = json.loads((model / "model.json").read_text())
    assert run["command"] == "segment" and run["identity"]["segmenter"]["sha256"] == card["sha256"]
