"""End to end on tiny drawn data: train (with resume), model folder, ``sijscan segment`` with metrics."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
import torch

from sijscan.anatomy.segment import Segmenter
from sijscan.anatomy.train import TrainConfig, augment, batch_dice, export_checkpoint, train_segmenter
from sijscan.cli.main import main
from sijscan.modelfolder import read_card

torch.set_num_threads(1)


def _dataset(root: Path, draw: Callable[..., np.ndarray], render: Callable[..., np.ndarray], n: int = 8,
             size: int = 64) -> Path:
    rng = np.random.default_rng(0)
    rows = ["image,mask,split"]
    (root / "img").mkdir(parents=True)
    for i in range(n):
        lab = draw(size, size + 8 * (i % 2))
        shift = int(rng.integers(-3, 4))
        lab = np.roll(lab, shift, axis=1)
        img = render(lab, seed=i)
        cv2.imwrite(str(root / "img" / f"p{i}.png"), (img * 255).astype(np.uint8))
        cv2.imwrite(str(root / "img" / f"p{i}_mask.png"), lab)
        rows.append(f"img/p{i}.png,img/p{i}_mask.png,{'val' if i >= n - 2 else 'train'}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_augment_keeps_labels_and_shapes(draw: Callable[..., np.ndarray]) -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.from_numpy(draw(64, 64).astype(np.int64))[None, None].repeat(3, 1, 1, 1)
    x = y.float()
    xa, ya = augment(x, y, generator=g)
    assert xa.shape == x.shape and ya.shape == y.shape and ya.dtype == torch.int64
    assert set(ya.unique().tolist()) <= {0, 1, 2, 3}  # nearest: no invented classes
    assert not torch.equal(ya, y)


def test_batch_dice_against_hand_values() -> None:
    t = torch.zeros(1, 1, 4, 4, dtype=torch.long)
    t[0, 0, :2, :2] = 1
    p = t.clone()
    p[0, 0, 0, 0] = 0
    d = batch_dice(p, t, classes=(1,))
    assert d.item() == pytest.approx(2 * 3 / (3 + 4))
    assert batch_dice(t, t, classes=(2,)).item() == 1.0  # absent in both


@pytest.mark.slow
def test_train_resume_segment_cli(tmp_path: Path, draw: Callable[..., np.ndarray],
                                  render: Callable[..., np.ndarray]) -> None:
    manifest = _dataset(tmp_path / "data", draw, render)
    out = tmp_path / "model"
    cfg = TrainConfig(epochs=2, batch_size=4, size=64, accelerator="cpu", seed=0, stop_after_epochs=1)
    train_segmenter(manifest=manifest, out_dir=out, config=cfg)  # "interrupted" after epoch 1 of 2
    assert (out / "checkpoints" / "last.ckpt").is_file()
    card = read_card(out)
    assert card.kind == "segmenter" and card.arch == "unet-default" and card.recipe["working_size"] == [64, 64]
    assert card.provenance["n_train"] == 6 and card.provenance["n_val"] == 2 and card.provenance["epochs"] == 1
    ck = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ck["epoch"] == 0 and ck["global_step"] == 2
    exported = export_checkpoint(out / "checkpoints" / "best.ckpt", out_dir=tmp_path / "exported", size=64)
    for k, v in Segmenter.load(exported).network.state_dict().items():
        assert torch.equal(v, Segmenter.load(out).network.state_dict()[k])
    # a different --epochs would change the one-cycle schedule: refused with a one-line error
    assert main(["train-segmenter", "--manifest", str(manifest), "--out", str(out), "--epochs", "3",
                 "--size", "64", "--accelerator", "cpu", "--resume"]) == 2
    # resume continues the same schedule to epoch 2 (the CLI path)
    rc = main(["train-segmenter", "--manifest", str(manifest), "--out", str(out), "--epochs", "2",
               "--batch-size", "4", "--size", "64", "--accelerator", "cpu", "--resume"])
    assert rc == 0
    card = read_card(out)
    assert card.provenance["epochs"] == 2 and card.labels["1"] == "sacrum"
    ck = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ck["epoch"] == 1 and ck["global_step"] == 4  # 2 epochs x 2 batches: the schedule went on
    seg = Segmenter.load(out)
    assert seg.recipe["transposed"] is False
    # segment CLI on two good files and one bad file, with the manifest for metrics
    imgs = [str(tmp_path / "data" / "img" / f"p{i}.png") for i in (6, 7)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    res = tmp_path / "seg"
    rc = main(["segment", *imgs, str(bad), "--model", str(out), "--out", str(res), "--nifti",
               "--manifest", str(manifest)])
    assert rc == 1  # the bad file failed, the others went on
    for stem in ("p6", "p7"):
        summary = json.loads((res / f"{stem}.json").read_text())
        assert {"sij_box", "sij_boxes", "qc_flags", "timings"} <= set(summary)
        mask = cv2.imread(str(res / f"{stem}_mask.png"), cv2.IMREAD_UNCHANGED)
        assert list(mask.shape) == summary["image_shape"] and mask.dtype == np.uint8
        assert (res / f"{stem}_overlay.png").is_file() and (res / f"{stem}_mask.nii.gz").is_file()
    metrics = json.loads((res / "metrics.json").read_text())
    assert metrics["n_images"] == 2 and "sacrum" in metrics["dice_mean"]


def test_nifti_orientation_matches_png(tmp_path: Path) -> None:
    import nibabel as nib

    from sijscan.anatomy.outputs import write_nifti_mask

    lab = np.zeros((5, 7), np.uint8)
    lab[1, 5] = 3  # row 1, column 5
    write_nifti_mask(tmp_path / "m.nii.gz", lab)
    img = nib.load(str(tmp_path / "m.nii.gz"))
    data = np.asarray(img.dataobj)
    assert data.shape == (7, 5, 1) and data[5, 1, 0] == 3
    # voxel (i=column 5, j=row 1) sits at LPS (5, 1) = RAS (-5, -1), as ITK/Slicer place PNG pixels
    assert np.allclose(img.affine @ [5, 1, 0, 1], [-5, -1, 0, 1])


def test_segment_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["segment", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "x.png"]) == 2
    assert "model folder not found" in capsys.readouterr().err
    assert main(["import-published", "--out", str(tmp_path / "o")]) == 2
