"""Model cards are validated when a folder loads: typed recipes, cut-off/temperature ranges, sha256,
weights inside the folder, unknown keys refused by name; version-1 cards migrate explicitly."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sijscan.anatomy.networks import PAPER_INIT
from sijscan.anatomy.recipes import published_recipe, sijscan_recipe
from sijscan.anatomy.segment import Segmenter
from sijscan.classify.card import classifier_recipe
from sijscan.classify.predict import load_classifier
from sijscan.classify.preprocess import PreprocessSpec
from sijscan.errors import ModelError
import sijscan.classify.networks  # noqa: F401 - registers the architectures these tests build by name
from sijscan.modelfolder import build_network, load_model, read_card, save_model

TINY_UNET = {**PAPER_INIT, "channels": [4, 8], "strides": [2], "num_res_units": 1}


@pytest.fixture()
def clf(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    spec = PreprocessSpec(height=32, width=48)
    return save_model(tmp_path / "clf", network=build_network("tiny-resnet", {}), kind="classifier", arch="tiny-resnet",
                      init_args={}, labels={0: "no", 1: "yes"}, recipe=classifier_recipe(view="sij", spec=spec),
                      cutoff=0.6, temperature=1.5)


@pytest.fixture()
def seg(tmp_path: Path) -> Path:
    return save_model(tmp_path / "seg", network=build_network("unet-paper", TINY_UNET), kind="segmenter",
                      arch="unet-paper", init_args=TINY_UNET, labels={0: "bg", 1: "s", 2: "a", 3: "b"},
                      recipe=sijscan_recipe(size=32))


def _edit(folder: Path, fn) -> None:
    card = json.loads((folder / "model.json").read_text())
    fn(card)
    (folder / "model.json").write_text(json.dumps(card))


@pytest.mark.parametrize("key, value, message", [
    ("cutoff", 2.0, "cutoff must be a number in \\[0, 1\\]"),
    ("cutoff", float("nan"), "cutoff must be a number in \\[0, 1\\]"),
    ("cutoff", None, "needs a cutoff"),
    ("temperature", 0, "temperature must be a finite number > 0"),
    ("temperature", -1, "temperature must be a finite number > 0"),
    ("weights_file", "../elsewhere.safetensors", "weights_file must be a file name inside"),
    ("weights_file", "/etc/passwd", "weights_file must be a file name inside"),
    ("sha256", "", "sha256 must be the 64 hex digits"),
    ("colour", "blue", "unknown key\\(s\\) in model.json: 'colour'"),
])
def test_bad_card_values_are_refused_by_name(clf: Path, key: str, value: object, message: str) -> None:
    _edit(clf, lambda c: c.__setitem__(key, value))
    with pytest.raises(ModelError, match=message) as info:
        load_classifier(clf)
    assert "\n" not in str(info.value)


def test_card_without_sha256_is_refused(clf: Path) -> None:
    _edit(clf, lambda c: c.pop("sha256"))
    with pytest.raises(ModelError, match="lacks sha256"):
        read_card(clf)


def test_weights_symlinked_out_of_the_folder_are_refused(clf: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.safetensors"
    (clf / "weights.safetensors").rename(outside)
    (clf / "weights.safetensors").symlink_to(outside)
    with pytest.raises(ModelError, match="plain file inside the model folder"):
        load_model(clf)


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.pop("crop"), "missing key\\(s\\) 'crop'"),
    (lambda r: r.__setitem__("crop", "ellipse"), "crop: must be one of box, joints, joints_span, joints_wide, authors_otsu"),
    (lambda r: r.__setitem__("view", "lateral"), "view: must be 'sij' or 'full'"),
    (lambda r: r["preprocess"].__setitem__("sharpen", 2), "preprocess: unknown key\\(s\\) 'sharpen'"),
    (lambda r: r.__setitem__("input_size_hw", [10, 10]), "differs from preprocess"),
])
def test_classifier_recipe_is_parsed_strictly(clf: Path, edit, message: str) -> None:
    _edit(clf, lambda c: edit(c["recipe"]))
    with pytest.raises(ModelError, match=message):
        load_classifier(clf)


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.pop("resize_back"), "missing key\\(s\\) 'resize_back'"),
    (lambda r: r.__setitem__("resize_back", "area_truncate"), "resize_back: must be one of nearest, nearest_torch"),
    (lambda r: r.__setitem__("tile", 3), "unknown key\\(s\\) 'tile'"),
    (lambda r: r["localize"].__setitem__("method", "guess"), "localize.method: must be one of sijscan, authors"),
    (lambda r: r["inference"].__setitem__("mode", "tta"), "inference.mode: must be one of single, sliding_window"),
])
def test_segmenter_recipe_is_parsed_strictly(seg: Path, edit, message: str) -> None:
    _edit(seg, lambda c: edit(c["recipe"]))
    with pytest.raises(ModelError, match=message):
        Segmenter.load(seg)


def test_update_card_cannot_write_an_invalid_card(clf: Path) -> None:
    from sijscan.modelfolder import update_card

    with pytest.raises(ModelError, match="cutoff"):
        update_card(clf, cutoff=1.5)
    assert read_card(clf).cutoff == 0.6


def test_version_1_cards_migrate_explicitly(clf: Path, seg: Path, tmp_path: Path, caplog) -> None:
    import logging

    def v1_classifier(c: dict) -> None:
        c["format_version"] = 1
        c["recipe"].pop("crop")
        c["cutoff"] = None

    _edit(clf, v1_classifier)
    with caplog.at_level(logging.INFO):
        model = load_classifier(clf)
    assert model.recipe.crop == "box" and model.cutoff == 0.5
    assert "migrated from format version 1" in caplog.text and "without a cut-off: using 0.5" in caplog.text

    # a version-1 import of the published segmenter: area_truncate and working-map localisation
    torch.manual_seed(0)
    old = published_recipe()
    old["resize_back"] = "area_truncate"
    old["localize"] = {"dilation_frac": 0.05, "margin_frac": 0.0}
    pub = save_model(tmp_path / "pub", network=build_network("unet-paper", TINY_UNET), kind="segmenter",
                     arch="unet-paper", init_args=TINY_UNET, labels={0: "bg", 1: "s", 2: "a", 3: "b"},
                     recipe=published_recipe(), extra={"published": True})
    _edit(pub, lambda c: (c.__setitem__("format_version", 1), c.__setitem__("recipe", old)))
    s = Segmenter.load(pub)
    assert s.spec.resize_back == "nearest_torch" and s.spec.localize.method == "authors" and s.spec.localize.on == "full"
    assert json.loads((pub / "model.json").read_text())["format_version"] == 1  # the file is not rewritten


def test_newer_format_is_refused(clf: Path) -> None:
    _edit(clf, lambda c: c.__setitem__("format_version", 99))
    with pytest.raises(ModelError, match="newer than this sijscan"):
        read_card(clf)
