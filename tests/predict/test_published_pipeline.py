"""The published route end to end: folders, crop equal to the authors' arithmetic, commands a user runs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sijscan.anatomy.networks import PAPER_INIT
from sijscan.anatomy.recipes import published_recipe
from sijscan.classify.preprocess import PreprocessSpec
import sijscan.classify.networks  # noqa: F401 - registers the architectures these tests build by name
from sijscan.modelfolder import build_network, save_model
from sijscan.phantom.simulate import simulate_case
from sijscan.predict.pipeline import Pipeline


def authors_crop_oracle(grey_u8: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The authors' crop as their app computes it, in THEIR frame (transposed), with SimpleITK, then
    Rotate90(k=3): what their classifier sees. Written from the facts in published-pipeline.md."""
    import cv2
    import SimpleITK as sitk
    from monai.transforms import Rotate90
    from scipy.ndimage import label

    img_t, lab_t = grey_u8.T.copy(), labels.T.copy()
    sac = lab_t == 1
    cols = np.nonzero(np.any(sac, axis=0))[0]
    r = int(np.round(0.05 * (cols.max() - cols[0])))
    dil = cv2.dilate(sac.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8), iterations=1)
    region = np.zeros(lab_t.shape, np.uint8)
    for cls in (2, 3):
        inter = dil & (lab_t == cls)
        assert inter.any(), "the oracle covers the contact case only"
        cc, n = label(inter)
        if n > 1:
            inter = (cc == np.argmax(np.bincount(cc.flat)[1:]) + 1).astype(inter.dtype)
        region = region + inter
    rows = np.nonzero(np.any(region != 0, axis=1))[0]
    cols = np.nonzero(np.any(region != 0, axis=0))[0]
    box = np.zeros(lab_t.shape, np.uint8)
    box[rows[0]:rows.max() + 1, cols[0]:cols.max() + 1] = 1
    image = sitk.GetImageFromArray(img_t[None])
    boxed = sitk.Mask(image, sitk.GetImageFromArray(box[None]), maskingValue=0, outsideValue=0)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.OtsuThreshold(boxed, 0, 255))
    bb = stats.GetBoundingBox(255)
    crop = sitk.GetArrayFromImage(sitk.RegionOfInterest(boxed, bb[len(bb) // 2:], bb[:len(bb) // 2]))
    return np.asarray(Rotate90(spatial_axes=(0, 1), k=3)(torch.as_tensor(crop.astype(np.float32))))[0]


def _published_pair(tmp_path: Path, *, mirror: bool = True) -> tuple[Path, Path]:
    torch.manual_seed(0)
    init = {**PAPER_INIT, "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1}
    recipe = published_recipe()
    recipe["working_size"], recipe["inference"]["window"] = [64, 64], [32, 32]
    seg = save_model(tmp_path / "seg", network=build_network("unet-paper", init), kind="segmenter", arch="unet-paper",
                     init_args=init, labels={0: "bg", 1: "sacrum", 2: "a", 3: "b"}, recipe=recipe)
    spec = PreprocessSpec(height=32, width=48, mirror=mirror)
    clf_recipe = {"task": "binary", "view": "sij", "crop": "authors_otsu", "preprocess": spec.to_json(),
                  "input_size_hw": [32, 48]}
    clf = save_model(tmp_path / "clf", network=build_network("tiny-resnet", {}), kind="classifier", arch="tiny-resnet",
                     init_args={}, labels={0: "no", 1: "yes"}, recipe=clf_recipe, cutoff=0.59)
    return seg, clf


@pytest.fixture(scope="module")
def phantom_png(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    image, labels, _ = simulate_case(cohort="proof", index=1, seed=4, size=192)
    path = tmp_path_factory.mktemp("png") / "pelvis.png"
    Image.fromarray(np.rint(image * 255).astype(np.uint8), "L").save(path)
    return path, labels


def test_crop_equals_the_authors_crop_as_their_classifier_sees_it(tmp_path: Path, phantom_png) -> None:
    path, labels = phantom_png
    seg, clf = _published_pair(tmp_path)
    pipe = Pipeline.from_dirs(classifier=clf, segmenter=seg, device="cpu")
    from sijscan.io import read_radiograph

    radiograph = read_radiograph(path)
    pred = pipe.prepare_from_labels(radiograph, labels=labels)
    grey = np.asarray(Image.open(path))
    theirs = authors_crop_oracle(grey, labels)
    mine = pred.images.crop
    assert mine.dtype == np.uint8 and mine.shape == theirs.shape[::1] and min(mine.shape) > 10
    np.testing.assert_array_equal(mine[:, ::-1], theirs)  # mirror=True: the classifier sees theirs
    x0, y0, x1, y1 = pred.images.crop_box
    np.testing.assert_array_equal(grey[y0:y1, x0:x1], mine)
    pipe.classify_prepared([pred], gradcam=False)
    assert 0.0 <= pred.probability <= 1.0 and pred.cutoff == 0.59


def test_rgb_png_grey_is_the_authors_float_grey(tmp_path: Path) -> None:
    from sijscan.anatomy.recipes import parse_segmenter_recipe
    from sijscan.anatomy.segment import grey_u8, recipe_input
    from sijscan.io import read_radiograph

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    p = tmp_path / "c.png"
    Image.fromarray(rgb, "RGB").save(p)
    arr, scaled = recipe_input(read_radiograph(p), parse_segmenter_recipe(published_recipe()))
    expect = torch.einsum("cwh,c->wh", torch.as_tensor(rgb.transpose(2, 1, 0), dtype=torch.float32),
                          torch.tensor([0.2989, 0.5870, 0.1140])).numpy().T
    assert scaled
    # the authors' einsum sums in an order that depends on layout and CPU kernels: within 2 ulp of it
    # (seen here: 2), and bit for bit the same sum taken one float32 operation at a time (every CPU alike)
    np.testing.assert_array_max_ulp(arr, expect, maxulp=2)
    w = np.float32([0.2989, 0.5870, 0.1140])
    f = rgb.astype(np.float32)
    np.testing.assert_array_equal(arr, (f[..., 0] * w[0] + f[..., 1] * w[1]) + f[..., 2] * w[2])
    np.testing.assert_array_equal(grey_u8(np.zeros((20, 30), np.float32), arr), np.clip(arr, 0, 255).astype(np.uint8))


def test_dicom_crop_source_is_windowed_not_cast(tmp_path: Path) -> None:
    from sijscan.anatomy.segment import grey_u8

    pixels = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(grey_u8(pixels, None), np.rint(pixels * 255).astype(np.uint8))


def test_import_published_writes_a_pipeline_folder_that_predict_uses(tmp_path: Path, phantom_png,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from sijscan.cli.main import main
    from tests.classify.test_classify_published import authors_network

    torch.manual_seed(0)
    seg_pt = tmp_path / "segmentation_model.pt"
    torch.save({"network": build_network("unet-paper", PAPER_INIT).state_dict()}, seg_pt)
    ckpt = tmp_path / "classification_model.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in authors_network().state_dict().items()}}, ckpt)
    out = tmp_path / "pub"
    assert main(["import-published", "--segmentation", str(seg_pt), "--classification", str(ckpt),
                 "--out", str(out)]) == 0
    assert json.loads((out / "pipeline.json").read_text()) == {"classifier": "classifier", "segmenter": "segmenter"}
    card = json.loads((out / "classifier" / "model.json").read_text())
    assert card["recipe"]["crop"] == "authors_otsu" and card["format_version"] == 2
    # the folder loads whole, and as classifier + segmenter
    assert Pipeline.from_folder(out, device="cpu").segmenter is not None
    pipe = Pipeline.from_folder(out / "classifier", segmenter=out / "segmenter", device="cpu")
    assert pipe.segmenter.spec.localize.method == "authors" and pipe.segmenter.spec.resize_back == "nearest_torch"
    capsys.readouterr()
    # a folder of folders is named as such
    assert main(["predict", str(phantom_png[0]), "--model", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no model.json" in capsys.readouterr().err


def test_tampered_classifier_checkpoint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from sijscan.cli.main import main

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    ckpt = tmp_path / "classification_model.ckpt"
    torch.save({"state_dict": {"model.fc.weight": torch.zeros(2, 2)}, "callbacks": {"x": Evil()}}, ckpt)
    assert main(["import-published", "--classification", str(ckpt), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "system" in err and "refused" in err and "--allow-unknown-objects" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()
    # opting in loads past the refusal (and then fails on the wrong weights, as it should)
    assert main(["import-published", "--classification", str(ckpt), "--out", str(tmp_path / "c"),
                 "--allow-unknown-objects"]) == 2
    assert "do not fit" in capsys.readouterr().err
