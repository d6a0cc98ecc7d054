"""``PredictOptions``: every ``sijscan predict`` flag is one frozen field; the checks name what cannot work."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sijscan.cli.main import build_parser
from sijscan.predict.options import PredictOptions, PredictUsageError

NOT_OPTIONS = {"help", "inputs", "out", "model", "classifier", "segmenter", "handler"}  # what, not how


def _predict_parser():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["predict"]


def test_every_flag_of_predict_is_an_option_and_reaches_it(tmp_path: Path) -> None:
    parser = _predict_parser()
    dests = {a.dest for a in parser._actions} - NOT_OPTIONS
    fields = {f.name for f in dataclasses.fields(PredictOptions)}
    assert dests and dests <= fields, dests - fields
    args = parser.parse_args(["x.png", "--out", str(tmp_path), "--fast", "--backend", "onnx", "--batch-size", "3",
                              "--workers", "2", "--loader-workers", "1", "--devices", "2", "--num-nodes", "3",
                              "--accelerator", "cpu", "--masks", str(tmp_path), "--report", "--overwrite",
                              "--no-progress", "--hash-names", "--device", "cpu"])
    got = PredictOptions.from_namespace(args)
    assert got == PredictOptions(device="cpu", backend="onnx", fast=True, masks=str(tmp_path), batch_size=3,
                                 workers=2, loader_workers=1, devices=2, num_nodes=3, accelerator="cpu",
                                 report=True, overwrite=True, progress=False, hash_names=True)
    assert got.world == 6 and got.rank_files


def test_options_are_frozen_and_checked(tmp_path: Path) -> None:
    opts = PredictOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.batch_size = 2  # type: ignore[misc]
    opts.check()
    assert not opts.rank_files and PredictOptions(loader_workers=0).rank_files
    bad = {"batch_size": 0, "devices": 0, "loader_workers": -1, "threads": 0, "backend": "tf",
           "masks": str(tmp_path / "none")}
    for field, value in bad.items():
        with pytest.raises(PredictUsageError):
            PredictOptions(**{field: value}).check()
    with pytest.raises(PredictUsageError, match="--gradcam needs gradients"):
        PredictOptions(gradcam=True, backend="onnx").check()
    with pytest.raises(PredictUsageError, match="CUDA_VISIBLE_DEVICES"):
        PredictOptions(devices=2, device="cuda:1").check()
    PredictOptions(device="cuda:1", loader_workers=0).check()  # one process may name its GPU
