"""Values, not shapes: a small U-Net trained for a few CPU seconds on phantom radiographs learns the
bones (Dice above a floor on held-out images), and the prediction pipeline with THAT network (not the
threshold stand-in) finds the phantom's true sacroiliac joints.

Data: phantom cohort ``proof``, n = 24, seed 5, 256 px (18 train / 6 held out by the renderer's own
split plus index), trained at 64 px for 90 epochs (about 15 s on one idle core). The floor sits
below what this run reaches (measured 2026-12-02: held-out Dice 0.83 / 0.82 / 0.81 for sacrum / hip
image-left / image-right) and far above a network that did not learn (1 epoch at lr 1e-8: 0.00 /
0.09 / 0.04).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import sijscan.classify.networks  # noqa: F401  (registers 'tiny-resnet', which these tests build by name)

torch.set_num_threads(1)

N, SEED, SIZE = 24, 5, 256
WORK_SIZE = 64
WORK_PX = SIZE / WORK_SIZE
"""One pixel of the segmenter's working grid in the radiograph's pixels: the finest a located box can move."""
DICE_FLOOR = 0.75
N_HELD_OUT = 6


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from sijscan.anatomy.train import TrainConfig, train_segmenter
    from sijscan.io.manifest import read_manifest, write_manifest
    from sijscan.phantom import simulate_cohort

    root = tmp_path_factory.mktemp("learning")
    manifest = simulate_cohort("proof", n=N, seed=SEED, out_dir=root / "proof", size=SIZE, workers=1)
    df = read_manifest(manifest)
    split = np.array(["train"] * len(df), dtype=object)
    split[-N_HELD_OUT - 3:-N_HELD_OUT] = "val"  # checkpoint selection
    split[-N_HELD_OUT:] = "test"  # never seen by training
    df["split"] = split
    manifest = write_manifest(df, root / "split.csv")
    cfg = TrainConfig(epochs=90, batch_size=4, size=WORK_SIZE, lr=3e-3, accelerator="cpu", seed=0, progress=False)
    model = train_segmenter(manifest=manifest, out_dir=root / "seg", config=cfg)
    return {"model": model, "test": df[df["split"] == "test"].reset_index(drop=True), "root": root}


def _held_out_dice(model: Path, test: pd.DataFrame) -> dict[str, float]:
    from sijscan.anatomy.metrics import dice_per_structure
    from sijscan.anatomy.segment import Segmenter
    from sijscan.classify.data import read_image
    from sijscan.io.labelmap import read_label_map

    seg = Segmenter.load(model)
    per = [dice_per_structure(seg.segment(read_image(r["image"]))[0], read_label_map(r["mask"]))
           for _, r in test.iterrows()]
    return {k: float(np.mean([d[k] for d in per])) for k in per[0]}


@pytest.mark.slow
def test_segmenter_learns_the_bones_in_cpu_seconds(trained: dict) -> None:
    dice = _held_out_dice(trained["model"], trained["test"])
    assert set(dice) >= {"sacrum"}
    for structure, value in dice.items():  # measured 0.85-0.89 per structure (60 epochs; 0.81-0.83 at 30)
        assert value >= DICE_FLOOR, f"{structure}: held-out Dice {value:.3f} < {DICE_FLOOR}"


@pytest.mark.slow
def test_predict_with_a_trained_unet_finds_the_true_joints(trained: dict) -> None:
    """``Pipeline.predict_many`` with the trained U-Net: on every held-out image the crop box holds both of
    the renderer's exact joint boxes (the SIJ-box hit of docs/performance.md) and each side's located
    joint is centred inside the true joint box, both to within one pixel of the segmenter's working grid
    (WORK_PX: the U-Net sees the 256 px image at 64 px). Trained 30 epochs, on one CPU kind a crop edge
    sat 5 image pixels outside a true box, so it trained 60; with the phantom's shared lesion model
    (issue 22: other images, other draws) 60 epochs left one crop edge 5 px outside on PH-proof-0023, so
    it trains 90. A joint found on the wrong structure lands tens of pixels away."""
    from sijscan.anatomy.metrics import sij_hit
    from sijscan.classify.card import classifier_recipe
    from sijscan.classify.preprocess import PreprocessSpec
    from sijscan.modelfolder import build_network, save_model
    from sijscan.predict.pipeline import Pipeline

    torch.manual_seed(0)
    init = {"grade_head": False, "dropout": 0.0}
    clf = trained["root"] / "classifier"
    save_model(clf, network=build_network("tiny-resnet", init).eval(), kind="classifier", arch="tiny-resnet",
               init_args=init, labels={0: "negative", 1: "positive"},
               recipe=classifier_recipe(view="sij", spec=PreprocessSpec(height=48, width=72)),
               provenance={"test": True}, cutoff=0.5)
    pipe = Pipeline.from_dirs(classifier=clf, segmenter=trained["model"], device="cpu")
    test = trained["test"]
    preds = pipe.predict_many(list(test["image"]), batch_size=4, on_error="record")
    for pred, (_, row) in zip(preds, test.iterrows()):
        name = Path(pred.image).name
        assert pred.error is None and pred.probability is not None
        true = {side: [int(v) for v in str(row[f"sij_box_{side}"]).split()] for side in ("image_left", "image_right")}
        assert sij_hit(pred.sij_box, list(true.values()), tol=WORK_PX), f"{name}: crop {pred.sij_box} misses {true}"
        for side, box in true.items():
            found = pred.sij_boxes.get(side)
            assert found is not None, f"{name}: no {side} joint found"
            cx, cy = (found[0] + found[2]) / 2, (found[1] + found[3]) / 2
            assert box[0] - WORK_PX <= cx <= box[2] + WORK_PX and box[1] - WORK_PX <= cy <= box[3] + WORK_PX, \
                f"{name} {side}: {found} vs true {box}"


RIGID = {"rot90": lambda a: np.rot90(a, 1), "rot180": lambda a: np.rot90(a, 2), "rot270": lambda a: np.rot90(a, 3),
         "vflip": lambda a: a[::-1], "transpose": lambda a: a.T, "antitranspose": lambda a: np.rot90(a, 2).T}


@pytest.mark.slow
def test_every_rigid_turn_of_a_held_out_pelvis_is_withheld_with_a_trained_unet(trained: dict) -> None:
    """Issue 26 item 2, with the trained U-Net (not the stand-in): on every held-out image, the image as
    given and its mirror pass QC, and each of the six other rigid transforms (quarter turns, 180 degrees,
    vertical flip, both transposes) is withheld. Before the orientation check several passed: the small
    network labels a turned pelvis as an upright one (measured: rot90, rot270, transpose and antitranspose
    passed on 2-5 of the 6 images; docs/reliability.md O-rows). A mirror image is not told from the
    near-symmetric anatomy; its sides are named by the display convention (documented limit)."""
    from sijscan.classify.card import classifier_recipe
    from sijscan.classify.data import read_image
    from sijscan.classify.preprocess import PreprocessSpec
    from sijscan.modelfolder import build_network, save_model
    from sijscan.predict.pipeline import Pipeline

    init = {"grade_head": True, "dropout": 0.0}
    clf = trained["root"] / "classifier-rigid"
    if not clf.exists():
        torch.manual_seed(0)
        save_model(clf, network=build_network("tiny-resnet", init).eval(), kind="classifier", arch="tiny-resnet",
                   init_args=init, labels={0: "negative", 1: "positive"},
                   recipe=classifier_recipe(view="sij", spec=PreprocessSpec(height=48, width=72)),
                   provenance={"test": True}, cutoff=0.5)
    pipe = Pipeline.from_dirs(classifier=clf, segmenter=trained["model"], device="cpu")
    for _, row in trained["test"].iterrows():
        img = read_image(row["image"])
        name = Path(row["image"]).name
        for label, arr in {"as given": img, "mirrored": img[:, ::-1]}.items():
            pred = pipe.predict(np.ascontiguousarray(arr), name=name)
            assert pred.qc_passed and pred.decision is not None and pred.grades, (name, label, pred.qc_flags)
        for label, turn in RIGID.items():
            pred = pipe.predict(np.ascontiguousarray(turn(img)), name=name)
            assert not pred.qc_passed and pred.decision is None, (name, label, pred.qc_flags)
            assert {"upside_down", "rotated_90"} & set(pred.qc_flags), (name, label, pred.qc_flags)
