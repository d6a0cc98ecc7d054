"""``Segmenter.run`` is the one way to segment a radiograph: it gives what the old hand-assembled path
gave (recipe grey -> segment -> locate), on the published recipe with 8-bit PNGs and on sijscan's
own recipe with a 16-bit PNG; the batched split (prepare + finish) gives what ``run`` gives."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from sijscan.anatomy.recipes import published_recipe, sijscan_recipe
from sijscan.anatomy.segment import Segmenter, grey_u8, prepare_input, recipe_input
from sijscan.errors import InputError
from sijscan.io import display_radiograph, read_radiograph
from sijscan.modelfolder import _REGISTRY, register_arch, save_model

BAND = (0.42, 0.58)


class BandThreshold(nn.Module):
    """Bone = input above ``threshold``; class by position along the IMAGE's x (1 middle band, 2 left,
    3 right), also when the recipe hands the network the transposed image."""

    def __init__(self, threshold: float = 0.0, transposed: bool = False) -> None:
        super().__init__()
        self.threshold = nn.Parameter(torch.tensor(float(threshold)), requires_grad=False)
        self.transposed = transposed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            x = x.transpose(-1, -2)
        n, _, h, w = x.shape
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w
        cls = torch.where((xs >= BAND[0]) & (xs < BAND[1]), 1, torch.where(xs < BAND[0], 2, 3)).expand(n, h, w)
        lab = torch.where(x[:, 0] > self.threshold, cls, torch.zeros_like(cls))
        out = nn.functional.one_hot(lab, 4).permute(0, 3, 1, 2).float() * 10
        return out.transpose(-1, -2) if self.transposed else out


if "one-path-test-seg" not in _REGISTRY:
    register_arch("one-path-test-seg")(lambda threshold=0.0, transposed=False: BandThreshold(threshold, transposed))


def _folder(root: Path, recipe: dict, *, threshold: float) -> Path:
    init = {"threshold": threshold, "transposed": bool(recipe["transposed"])}
    return save_model(root, network=BandThreshold(**init), kind="segmenter", arch="one-path-test-seg", init_args=init,
                      labels={0: "bg", 1: "sacrum", 2: "a", 3: "b"}, recipe=recipe)


def _published(tmp_path: Path) -> Segmenter:
    recipe = published_recipe()
    recipe["working_size"], recipe["inference"]["window"] = [64, 64], [32, 32]
    return Segmenter.load(_folder(tmp_path / "published", recipe, threshold=-0.3))


def _old_path(seg: Segmenter, radiograph):
    """What Pipeline.prepare / anatomy.run / sim_to_real assembled by hand before ``Segmenter.run``."""
    arr, scaled = recipe_input(radiograph, seg.spec)
    full, work = seg.segment(arr, already_scaled=scaled)
    return full, work, seg.locate(full=full, working=work), grey_u8(radiograph.pixels, arr if scaled else None)


def _assert_same(seg: Segmenter, radiograph) -> None:
    full, work, loc, grey = _old_path(seg, radiograph)
    res = seg.run(radiograph)
    assert len(np.unique(full)) == 4 and loc.box is not None  # a real map with both joints: the test means something
    np.testing.assert_array_equal(res.labels, full)
    np.testing.assert_array_equal(res.working_labels, work)
    assert res.location.box == loc.box and res.location.boxes == loc.boxes
    assert res.location.qc_flags == loc.qc_flags and res.location.confidence == loc.confidence
    np.testing.assert_array_equal(res.crop_grey(), grey)
    assert set(res.timings) == {"segment_s", "locate_s"}


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_run_equals_the_old_path_on_the_published_recipe_with_an_8bit_png(tmp_path: Path, draw, render,
                                                                          mode: str) -> None:
    img = render(draw(90, 120), seed=1)
    u8 = np.rint(img * 255).astype(np.uint8)
    png = tmp_path / "x.png"
    if mode == "RGB":  # colour: the authors' float grey, not sijscan's luminance
        rgb = np.stack([u8, np.clip(u8.astype(int) + 9, 0, 255), np.clip(u8.astype(int) - 13, 0, 255)], -1)
        Image.fromarray(rgb.astype(np.uint8), "RGB").save(png)
    else:
        Image.fromarray(u8, "L").save(png)
    radiograph = read_radiograph(png)
    seg = _published(tmp_path)
    assert recipe_input(radiograph, seg.spec)[1]  # the authors' grey is what the old path read
    _assert_same(seg, radiograph)


def test_run_equals_the_old_path_on_sijscan_recipe_with_a_16bit_png(tmp_path: Path, draw, render) -> None:
    png = tmp_path / "x16.png"
    cv2.imwrite(str(png), np.rint(render(draw(100, 140), seed=2) * 65535).astype(np.uint16))
    radiograph = read_radiograph(png)
    assert radiograph.bits_stored == 16
    seg = Segmenter.load(_folder(tmp_path / "own", sijscan_recipe(size=64), threshold=0.4))
    _assert_same(seg, radiograph)


def test_prepare_and_finish_in_a_batch_equal_run(tmp_path: Path, draw, render) -> None:
    """The batched path (DataLoader workers prepare, one network call, finish per image) = ``run``,
    including the authors' 8-bit grey of a colour PNG, which travels with the prepared input."""
    seg = _published(tmp_path)
    radiographs = []
    for i, shape in enumerate(((90, 120), (70, 96))):
        u8 = np.rint(render(draw(*shape), seed=i) * 255).astype(np.uint8)
        png = tmp_path / f"c{i}.png"
        Image.fromarray(np.stack([u8, u8 // 2 + 60, 255 - u8], -1), "RGB").save(png)
        radiographs.append(read_radiograph(png))
    prepared = [prepare_input(r, seg.spec) for r in radiographs]
    logits = seg.logits(torch.stack([p.tensor for p in prepared]))
    for k, (r, p) in enumerate(zip(radiographs, prepared)):
        got, want = seg.finish(logits[k:k + 1], p, radiograph=r), seg.run(r)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.location.box == want.location.box and want.location.box is not None
        np.testing.assert_array_equal(got.crop_grey(), want.crop_grey())
        assert not np.array_equal(got.crop_grey(), grey_u8(r.pixels, None))  # the authors' grey, not the display's


def test_an_array_is_wrapped_unchanged_and_run_refuses_a_bare_array(tmp_path: Path, draw, render) -> None:
    img = render(draw(80, 100), seed=3)
    wrapped = display_radiograph(img, name="phantom")
    assert wrapped.pixels is img and wrapped.name == "phantom" and wrapped.source_format == "array"
    seg = Segmenter.load(_folder(tmp_path / "own", sijscan_recipe(size=64), threshold=0.4))
    np.testing.assert_array_equal(seg.run(wrapped).labels, seg.segment(img)[0])
    with pytest.raises(InputError, match="takes a Radiograph"):
        seg.run(img)  # type: ignore[arg-type]
    for bad in (img * 2, (img * 255).astype(np.uint8), np.stack([img, img])):
        with pytest.raises(InputError):
            display_radiograph(bad)


@pytest.mark.parametrize("transposed", [False, True])
def test_mirrored_inference_follows_the_card_and_the_caller(tmp_path: Path, transposed: bool) -> None:
    """A card with ``inference.mirror`` segments a mirrored radiograph into the mirrored label map (hip
    bones exchanged), also for a transposed recipe (the mirror is then along the network's rows);
    ``Segmenter.load(mirror=False)`` turns it off (an untrained network is then not equivariant)."""
    from sijscan.anatomy.networks import PAPER_INIT
    from sijscan.modelfolder import build_network

    torch.manual_seed(5)
    init = {**PAPER_INIT, "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1}
    recipe = {**sijscan_recipe(size=64), "transposed": transposed}
    folder = save_model(tmp_path / "m", network=build_network("unet-paper", init).eval(), kind="segmenter",
                        arch="unet-paper", init_args=init, labels={0: "bg", 1: "sacrum", 2: "a", 3: "b"}, recipe=recipe)
    img = np.random.default_rng(0).random((64, 64)).astype(np.float32)

    def equivariant(seg: Segmenter) -> bool:
        lab = seg.segment(img)[1]
        back = seg.segment(img[:, ::-1].copy())[1][:, ::-1]
        swapped = np.select([back == 2, back == 3], [3, 2], back.astype(int))
        return bool(np.array_equal(swapped, lab))

    assert Segmenter.load(folder).spec.inference.mirror is True
    assert equivariant(Segmenter.load(folder))
    off = Segmenter.load(folder, mirror=False)
    assert off.spec.inference.mirror is False and not equivariant(off)
