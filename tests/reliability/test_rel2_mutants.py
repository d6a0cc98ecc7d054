"""Issue 26, the test audit's surviving mutants: each test here pins what no test pinned before.

* which grade-head output and which training target is the PATIENT's left (``SIDE_ORDER`` in
  classify/grades.py, ``grade_targets`` in classify/data.py);
* the full-size resize-back of sijscan's own segmenter is nearest-neighbour (bilinear invents labels);
* the decision at probability == cut-off is positive (``>=``, pipeline and ``classify_views``);
* atomic writes: a failure in the middle of a write leaves the old file as it was.
"""
from __future__ import annotations

import contextlib
import errno
import resource
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rel_helpers import draw_pelvis


# --- sides -----------------------------------------------------------------------------------------
def test_mutant_the_training_target_of_the_patients_left_is_grade_left() -> None:
    """A manifest row with grade_left 3, grade_right 0: the target at the grade head's 'left' output is 3."""
    from sijscan.classify.data import grade_targets
    from sijscan.classify.grades import SIDE_ORDER

    t = grade_targets(pd.DataFrame({"grade_left": [3, 1], "grade_right": [0, 4]}))
    left, right = SIDE_ORDER.index("left"), SIDE_ORDER.index("right")
    assert t[:, left].tolist() == [3, 1] and t[:, right].tolist() == [0, 4]
    assert SIDE_ORDER == ("left", "right")  # output 0 is the patient's left (model cards record it)


def _classifier_with_fixed_grades(folder: Path, *, out0: float, out1: float) -> Path:
    """A tiny-resnet whose grade head says grade 4 (logits +10) or 0 (-10) on output 0 and 1, any input."""
    from sijscan.classify.card import classifier_recipe
    from sijscan.classify.preprocess import PreprocessSpec
    from sijscan.modelfolder import build_network, save_model

    init = {"grade_head": True, "dropout": 0.0}
    net = build_network("tiny-resnet", init).eval()
    with torch.no_grad():
        net.grade_head.proj.weight.zero_()
        net.grade_head.thresholds[0].fill_(out0)
        net.grade_head.thresholds[1].fill_(out1)
    save_model(folder, network=net, kind="classifier", arch="tiny-resnet", init_args=init,
               labels={0: "negative", 1: "positive"},
               recipe=classifier_recipe(view="sij", spec=PreprocessSpec(height=48, width=72, clahe_impl="opencv")),
               provenance={"test": True}, cutoff=0.5)
    return folder


def test_mutant_grade_head_output_0_is_named_the_patients_left(models: Path, tmp_path: Path) -> None:
    from sijscan.classify.predict import classify_views
    from sijscan.predict.pipeline import Pipeline

    clf = _classifier_with_fixed_grades(tmp_path / "clf", out0=10.0, out1=-10.0)
    pipe = Pipeline.from_dirs(classifier=clf, segmenter=models / "segmenter", device="cpu")
    pred = pipe.predict(draw_pelvis()[0], name="x")
    assert pred.grades == {"left": 4, "right": 0}
    assert classify_views(clf, [draw_pelvis()[0]])[0].grades == {"left": 4, "right": 0}


# --- resize-back --------------------------------------------------------------------------------------
def test_mutant_own_segmenter_resizes_labels_back_nearest(models: Path) -> None:
    """Bilinear between sacrum (1) and the image-right hip bone (3) invents a band of 2s (the other hip)."""
    from sijscan.anatomy.segment import Segmenter

    seg = Segmenter.load(models / "segmenter")
    assert seg.spec.resize_back == "nearest"
    work = np.zeros((16, 16), np.uint8)
    work[4:12, 3:8] = 1
    work[4:12, 8:13] = 3
    full = seg.resize_back(work, (64, 80))
    assert set(np.unique(full)) == {0, 1, 3}
    ys, xs = np.mgrid[0:64, 0:80]
    src = work[np.minimum(ys * 16 // 64, 15), np.minimum(xs * 16 // 80, 15)]
    # every pixel carries a label of its own source pixel or a neighbour of it (nearest, not blended)
    assert (full == src).mean() > 0.9


# --- decision at the cut-off ------------------------------------------------------------------------
def test_mutant_probability_equal_to_the_cutoff_is_positive(pipeline, tmp_path: Path) -> None:
    from sijscan.classify.predict import classify_views

    img = draw_pelvis()[0]
    p = pipeline.predict(img, name="x").probability
    card = pipeline.classifier.card
    old = card.cutoff
    try:
        card.cutoff = float(p)
        pred = pipeline.predict(img, name="x")
        assert pred.probability == card.cutoff and pred.decision == 1
        crop = pred.images.crop
        q = classify_views(pipeline.classifier, [crop])[0]
        card.cutoff = q.probability
        assert classify_views(pipeline.classifier, [crop])[0].decision == 1
        card.cutoff = float(np.nextafter(q.probability, 1.0))
        assert classify_views(pipeline.classifier, [crop])[0].decision == 0
    finally:
        card.cutoff = old


# --- atomic writes ----------------------------------------------------------------------------------
@contextlib.contextmanager
def file_size_limit(nbytes: int):
    """Writes past ``nbytes`` in any file fail (EFBIG), as a disk filling up mid-write would (ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


def _via_path(atomic_path, target: Path, big: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(big)


def _writers(tmp_path: Path, models: Path):
    """(name, target file, write(big)) for every atomic writer the outputs go through."""
    import shutil

    from sijscan.files import atomic_path, atomic_write
    from sijscan.modelfolder import update_card
    from sijscan.runinfo import check_and_write_run

    folder = tmp_path / "m"
    shutil.copytree(models / "classifier", folder)
    run_dir = tmp_path / "run"
    return [
        ("files.atomic_write (predict outputs, tables)", tmp_path / "a.bin",
         lambda big: atomic_write(tmp_path / "a.bin", big)),
        ("files.atomic_path (safetensors, ONNX)", tmp_path / "b.bin", lambda big: _via_path(atomic_path, tmp_path / "b.bin", big)),
        ("model card (update_card)", folder / "model.json",
         lambda big: update_card(folder, provenance={"note": big.decode("latin-1")})),
        ("run.json", run_dir / "run.json",
         lambda big: check_and_write_run(run_dir, command="t", identity={"x": 1},
                                         arguments={"big": big.decode("latin-1")}, resume=False)),
    ]


@pytest.mark.parametrize("index", range(4))
def test_mutant_a_failure_mid_write_leaves_the_old_file_intact(models: Path, tmp_path: Path, index: int) -> None:
    name, target, write = _writers(tmp_path, models)[index]
    target.parent.mkdir(parents=True, exist_ok=True)
    if name == "run.json":
        from sijscan.runinfo import check_and_write_run

        check_and_write_run(target.parent, command="t", identity={"x": 1}, arguments={}, resume=False)
    elif not target.exists():
        target.write_bytes(b"old content\n" * 10)
    before = target.read_bytes()
    big = b"x" * 200_000
    with pytest.raises(OSError) as info, file_size_limit(50_000):
        write(big)
    assert info.value.errno == errno.EFBIG, name
    assert target.read_bytes() == before, f"{name}: the old file was damaged"
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")], name
