"""Import of the authors' segmentation file and equality with an independent MONAI re-implementation."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sijscan.anatomy.networks import PAPER_INIT
from sijscan.anatomy.published import import_published_segmenter
from sijscan.anatomy.recipes import published_recipe
from sijscan.anatomy.segment import Segmenter, recipe_input
from sijscan.io import read_radiograph
from sijscan.errors import ModelError, UnsafeCheckpointError
from sijscan.modelfolder import build_network, read_card, save_model

torch.set_num_threads(1)


def reference_published(path: Path, network: torch.nn.Module, *, size: int, window: int,
                        overlap: float, sw_batch: int) -> np.ndarray:
    """The authors' segmentation written with MONAI's own transforms, Invert included (the oracle).

    Facts (published-pipeline.md): LoadImage (PIL, transposed), grey 0.2989/0.5870/0.1140, Resize
    "area", NormalizeIntensity, GaussianSmooth(0.1), ScaleIntensity(-1, 1), sliding window, argmax,
    KeepLargestConnectedComponent, argmax, then ``Invert(pre_transforms)`` (nearest by default).
    """
    from monai.data import MetaTensor
    from monai.inferers import sliding_window_inference
    from monai.transforms import (AsDiscrete, Compose, EnsureChannelFirst, GaussianSmooth, Invert,
                                  KeepLargestConnectedComponent, Lambda, LoadImage, NormalizeIntensity,
                                  Resize, ScaleIntensity)

    def grey(x: torch.Tensor) -> torch.Tensor:
        x = x.squeeze(-1) if x.ndim == 4 else x
        if x.shape[0] in (3, 4):
            return torch.einsum("cwh,c->wh", x[:3], torch.tensor([0.2989, 0.5870, 0.1140]))[None]
        return x

    pre = Compose([LoadImage(image_only=True, reader="PILReader"), EnsureChannelFirst(), Lambda(grey),
                   Resize((size, size)), NormalizeIntensity(), GaussianSmooth(sigma=0.1), ScaleIntensity(minv=-1, maxv=1)])
    x = pre(str(path))
    with torch.no_grad():
        logits = sliding_window_inference(x[None], (window, window), sw_batch, network, overlap=overlap,
                                          mode="constant")
    post = Compose([AsDiscrete(argmax=True, to_onehot=4), KeepLargestConnectedComponent(), AsDiscrete(argmax=True)])
    lab = post(torch.as_tensor(logits)[0])
    lab = MetaTensor(torch.as_tensor(lab), meta=x.meta, applied_operations=x.applied_operations)
    back = Invert(pre)(lab)  # nearest_interp defaults to True
    out = np.asarray(torch.as_tensor(back))[0].astype(np.uint8)
    return out.T  # back to the usual (row, column) view


def _write_rgb(path: Path, h: int, w: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 120 + 80 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    rgb = np.stack([base, base * 0.9, base * 0.7], -1) + rng.normal(0, 20, (h, w, 3))
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(path)


def _small_published_folder(tmp_path: Path, *, size: int, window: int) -> Path:
    torch.manual_seed(1)
    init = {**PAPER_INIT, "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1}
    net = build_network("unet-paper", init)
    recipe = published_recipe()
    recipe["working_size"] = [size, size]
    recipe["inference"]["window"] = [window, window]
    return save_model(tmp_path / "small", network=net, kind="segmenter", arch="unet-paper", init_args=init,
                      labels={0: "bg", 1: "s", 2: "a", 3: "b"}, recipe=recipe)


@pytest.mark.parametrize("shape", [(45, 70), (90, 33)])
def test_recipe_equals_monai_reference_small(tmp_path: Path, shape: tuple[int, int]) -> None:
    folder = _small_published_folder(tmp_path, size=64, window=32)
    seg = Segmenter.load(folder)
    png = tmp_path / "x.png"
    _write_rgb(png, *shape, seed=shape[0])
    pixels, scaled = recipe_input(read_radiograph(png), seg.spec)
    assert scaled and pixels.shape == shape
    ours, work = seg.segment(pixels, already_scaled=True)
    ref = reference_published(png, seg.network, size=64, window=32, overlap=0.75, sw_batch=16)
    assert ours.shape == shape and ours.dtype == np.uint8 and work.shape == (64, 64)
    assert len(np.unique(ref)) > 1  # a non-trivial map, so the comparison means something
    np.testing.assert_array_equal(ours, ref)


def test_grey_png_passes_through(tmp_path: Path) -> None:
    png = tmp_path / "g.png"
    Image.fromarray(np.arange(12 * 9, dtype=np.uint8).reshape(12, 9), "L").save(png)
    from sijscan.anatomy.recipes import parse_segmenter_recipe

    pixels, scaled = recipe_input(read_radiograph(png), parse_segmenter_recipe(published_recipe()))
    assert scaled
    np.testing.assert_array_equal(pixels, np.arange(12 * 9).reshape(12, 9).astype(np.float32))


@pytest.mark.slow
def test_imported_recipe_at_full_size_equals_reference(tmp_path: Path) -> None:
    """The imported card's own recipe (768 / 512 windows / 0.75 / 16), run with a light UNet for speed."""
    torch.manual_seed(0)
    pt = tmp_path / "segmentation_model.pt"
    torch.save({"network": build_network("unet-paper", PAPER_INIT).state_dict()}, pt)
    card = read_card(import_published_segmenter(pt, tmp_path / "published"))
    assert card.recipe["transposed"] is True and card.recipe["working_size"] == [768, 768]
    assert card.recipe["inference"] == {"mode": "sliding_window", "window": [512, 512], "overlap": 0.75,
                                        "sw_batch_size": 16, "blend": "constant"}
    init = {**PAPER_INIT, "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1}
    net = build_network("unet-paper", init)
    light = save_model(tmp_path / "light", network=net, kind="segmenter", arch="unet-paper", init_args=init,
                       labels=card.labels, recipe=card.recipe)
    seg = Segmenter.load(light)
    png = tmp_path / "r.png"
    _write_rgb(png, 40, 56, seed=5)
    ours, _ = seg.segment_radiograph(read_radiograph(png))
    ref = reference_published(png, seg.network, size=768, window=512, overlap=0.75, sw_batch=16)
    assert len(np.unique(ref)) > 1
    np.testing.assert_array_equal(ours, ref)


def test_import_roundtrip_weights_identical(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_network("unet-paper", PAPER_INIT)
    pt = tmp_path / "segmentation_model.pt"
    torch.save({"network": net.state_dict(), "epoch": 3}, pt)
    folder = import_published_segmenter(pt, tmp_path / "m")
    seg = Segmenter.load(folder)
    for k, v in net.state_dict().items():
        assert torch.equal(seg.network.state_dict()[k], v)
    card = json.loads((folder / "model.json").read_text())
    assert card["kind"] == "segmenter" and card["provenance"]["imported_from"] == "segmentation_model.pt"


def test_import_refuses_foreign_objects(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pt = tmp_path / "evil.pt"
    torch.save({"network": build_network("unet-paper", PAPER_INIT).state_dict(), "when": datetime.date(2024, 1, 1)}, pt)
    with pytest.raises(UnsafeCheckpointError, match="datetime.date"):
        import_published_segmenter(pt, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_import_wrong_structure(tmp_path: Path) -> None:
    pt = tmp_path / "x.pt"
    torch.save({"state_dict": {}}, pt)
    with pytest.raises(ModelError, match="'network'"):
        import_published_segmenter(pt, tmp_path / "m")
    torch.save({"network": {"w": torch.zeros(2)}}, pt)
    with pytest.raises(ModelError, match="do not fit"):
        import_published_segmenter(pt, tmp_path / "m")


def test_import_published_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from sijscan.cli.main import main

    torch.manual_seed(0)
    pt = tmp_path / "segmentation_model.pt"
    torch.save({"network": build_network("unet-paper", PAPER_INIT).state_dict()}, pt)
    assert main(["import-published", "--segmentation", str(pt), "--out", str(tmp_path / "seg")]) == 0
    assert read_card(tmp_path / "seg").recipe["transposed"] is True
    assert main(["import-published", "--segmentation", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")]) == 2
    assert "file not found" in capsys.readouterr().err
