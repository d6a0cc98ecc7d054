"""``fast=True`` / ``sijscan predict --fast`` reach the segmenter: one pass instead of the recipe's windows."""
from __future__ import annotations

from pathlib import Path

import torch

from sijscan.cli.main import main
from test_standins import draw_pelvis, make_models


class _Spy(torch.nn.Module):
    """Wraps the stand-in segmenter network and records the input sizes it is called with."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net, self.shapes = net, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape[-2:]))
        return self.net(x)


def _windowed(root: Path) -> Path:
    """make_models, with the segmenter's recipe switched to 32 x 32 sliding windows."""
    import json

    make_models(root)
    card = root / "segmenter" / "model.json"
    data = json.loads(card.read_text())
    data["recipe"]["inference"] = {"mode": "sliding_window", "window": [32, 32], "overlap": 0.5,
                                   "sw_batch_size": 4, "blend": "constant"}
    card.write_text(json.dumps(data))
    return root


def test_pipeline_fast_runs_one_pass(tmp_path: Path) -> None:
    from sijscan.predict.pipeline import Pipeline
    from sijscan.predict.qc import QCConfig

    root = _windowed(tmp_path / "m")
    img, _ = draw_pelvis()
    shapes = {}
    no_turns = QCConfig(check_orientation=False)  # the segmentation's passes only (the QC's are below)
    for fast in (False, True):
        pipe = Pipeline.from_folder(root, device="cpu", fast=fast, qc_config=no_turns)
        spy = pipe.segmenter.network = _Spy(pipe.segmenter.network)
        pipe.predict(img, name="x")
        shapes[fast] = spy.shapes
    work = tuple(pipe.segmenter.recipe["working_size"])
    assert shapes[True] == [work]
    assert len(shapes[False]) > 1 and all(s == (32, 32) for s in shapes[False])
    # with the orientation check (the default): one more call, the four turned views in one batch
    pipe = Pipeline.from_folder(root, device="cpu", fast=True)
    spy = pipe.segmenter.network = _Spy(pipe.segmenter.network)
    batches: list[int] = []
    real = spy.forward
    spy.forward = lambda x: (batches.append(int(x.shape[0])), real(x))[1]
    pipe.predict(img, name="x")
    assert spy.shapes == [work, work] and batches == [1, 4]


def test_predict_cli_fast(tmp_path: Path, monkeypatch) -> None:
    import cv2
    import numpy as np

    from sijscan.predict.pipeline import Pipeline

    seen: dict = {}
    real = Pipeline.from_folder.__func__

    def spy(cls, folder, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs)
        return real(cls, folder, **kwargs)

    monkeypatch.setattr(Pipeline, "from_folder", classmethod(spy))
    root = _windowed(tmp_path / "m")
    img, _ = draw_pelvis()
    cv2.imwrite(str(tmp_path / "a.png"), (img * 255).astype(np.uint8))
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(root), "--out", str(tmp_path / "o"), "--fast"]) == 0
    assert (tmp_path / "o" / "predictions.csv").is_file() and seen["fast"] is True
    seen.clear()  # the DataLoader reader (the several-process path's) takes --fast too (it was refused there)
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(root), "--out", str(tmp_path / "o2"), "--fast",
                 "--loader-workers", "0"]) == 0
    assert seen["fast"] is True and (tmp_path / "o2" / "ranks" / "predictions.rank0.csv").is_file()
