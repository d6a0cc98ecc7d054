"""The collimated border (sijscan.anatomy.border) and the segmenter recipe's ``border: fill``: the exposed field
found from the image alone, the border filled from the field's edge before the network sees it, the labels cut
back to the field; cards without the key segment exactly as before."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sijscan.anatomy.border import exposed_field, fill_border
from sijscan.anatomy.metrics import visible_labels
from sijscan.anatomy.recipes import parse_segmenter_recipe, published_recipe, sijscan_recipe
from sijscan.anatomy.segment import Segmenter, prepare_input, preprocess_array
from sijscan.errors import InputError, ModelError
from sijscan.io import display_radiograph
from sijscan.modelfolder import save_model

from test_segment_run import BandThreshold  # noqa: E402  (tests/anatomy is on sys.path under pytest)

FIELD = (11, 7, 83, 61)  # x0, y0, x1, y1


def _collimated(value: float = 0.96, *, text: bool = False, seed: int = 0) -> np.ndarray:
    """Textured 'anatomy' (never flat along a line) inside FIELD, a flat border with faint noise outside."""
    rng = np.random.default_rng(seed)
    h, w = 70, 96
    yy, xx = np.mgrid[0:h, 0:w]
    img = (0.45 + 0.25 * np.sin(xx / 3.0) * np.cos(yy / 5.0) + rng.normal(0, 0.05, (h, w))).astype(np.float32)
    out = np.full((h, w), value, np.float32) + rng.normal(0, 0.004, (h, w)).astype(np.float32) * (value > 0)
    x0, y0, x1, y1 = FIELD
    out[y0:y1, x0:x1] = img[y0:y1, x0:x1]
    if text:  # burned-in text in the border's corner: a few bright-dark strokes on the top rows
        out[1:5, 2:8] = 0.1
    return np.clip(out, 0, 1).astype(np.float32)


def test_a_white_border_is_found_exactly_with_text_in_it() -> None:
    assert exposed_field(_collimated()) == FIELD
    assert exposed_field(_collimated(text=True)) == FIELD


def test_no_border_a_black_border_and_a_blank_image() -> None:
    img = _collimated()
    x0, y0, x1, y1 = FIELD
    assert exposed_field(img[y0:y1, x0:x1]) is None  # anatomy to every edge
    black = _collimated(0.0)
    assert exposed_field(black) == FIELD  # a vendor's black mask is a border too
    assert exposed_field(black, bright_only=True) is None  # ... but not an unexposed (white) one
    assert exposed_field(np.full((40, 50), 0.97, np.float32)) is None  # all flat: no field to believe
    assert exposed_field(np.zeros((40, 50), np.float32)) is None


def test_the_phantoms_white_border_is_found_where_the_phantom_put_it() -> None:
    """A real phantom render (DAMACT: unexposed white border): the field found equals the acquisition's."""
    from sijscan.phantom.simulate import simulate_case

    image, _, truth = simulate_case(cohort="damact", index=1, seed=0, size=128)
    want = tuple(truth["acquisition"]["field_box"])
    assert want != (0, 0, image.shape[1], image.shape[0])
    assert exposed_field(image) == want


def test_fill_replicates_the_fields_edge_and_the_labels_are_cut_back() -> None:
    img = _collimated()
    x0, y0, x1, y1 = FIELD
    filled = fill_border(img, FIELD)
    assert filled.shape == img.shape and filled.dtype == img.dtype
    assert np.array_equal(filled[y0:y1, x0:x1], img[y0:y1, x0:x1])
    assert np.array_equal(filled[0, x0:x1], img[y0, x0:x1]) and np.array_equal(filled[y0:y1, -1], img[y0:y1, x1 - 1])
    assert fill_border(img, None) is img
    lab = np.full(img.shape, 2, np.uint8)
    cut = visible_labels(lab, FIELD)
    assert int(cut.sum()) == 2 * (x1 - x0) * (y1 - y0) and cut[y0, x0] == 2 and cut[y0 - 1, x0] == 0


def test_recipe_key_round_trips_and_old_cards_are_unchanged() -> None:
    keep = sijscan_recipe(size=32)
    assert "border" not in keep and parse_segmenter_recipe(keep).border == "keep"
    fill = sijscan_recipe(size=32, border="fill")
    assert fill["border"] == "fill" and parse_segmenter_recipe(fill).to_json() == fill
    with pytest.raises(ModelError, match="border"):
        parse_segmenter_recipe({**keep, "border": "crop"})
    with pytest.raises(ModelError, match="border: 'fill'"):
        parse_segmenter_recipe({**published_recipe(), "border": "fill"})  # the authors' 0-255 grey


def _segmenter(tmp_path: Path, border: str) -> Segmenter:
    recipe = sijscan_recipe(size=32, mirror=False, border=border)
    init = {"threshold": 0.0, "transposed": False}
    folder = save_model(tmp_path / border, network=BandThreshold(**init), kind="segmenter", arch="one-path-test-seg",
                        init_args=init, labels={0: "bg", 1: "sacrum", 2: "a", 3: "b"}, recipe=recipe)
    return Segmenter.load(folder)


def test_fill_reaches_the_network_and_the_labels_stay_in_the_field(tmp_path: Path) -> None:
    """The network sees the filled image (the z-scored white border made it 'bone' before), every path
    (run, the batched prepare + finish, segment) gives the same labels, none outside the field."""
    rad = display_radiograph(_collimated())
    keep, fill = _segmenter(tmp_path, "keep"), _segmenter(tmp_path, "fill")
    prepared = prepare_input(rad, fill.spec)
    assert prepared.field_box == FIELD and prepare_input(rad, keep.spec).field_box is None
    want = preprocess_array(fill_border(rad.pixels, FIELD), recipe=keep.spec)[0]
    assert torch.equal(prepared.tensor, want)
    x0, y0, x1, y1 = FIELD
    before, after = keep.run(rad), fill.run(rad)
    assert after.field_box == FIELD and before.field_box is None
    outside = np.ones(rad.pixels.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert (before.labels[outside] > 0).mean() > 0.9  # the threshold network calls the white border bone
    assert not (after.labels[outside] > 0).any()
    assert not (after.working_labels[:2] > 0).any()  # the working map is cut too (rows 0-1 lie above y0 = 7 of 70)
    batched = fill.finish(fill.logits(prepared.tensor[None]), prepared, radiograph=rad)
    assert np.array_equal(batched.labels, after.labels) and batched.location.box == after.location.box
    assert np.array_equal(fill.segment(rad.pixels)[0], after.labels)
    inner = display_radiograph(np.ascontiguousarray(rad.pixels[y0:y1, x0:x1]))
    assert np.array_equal(fill.run(inner).labels, keep.run(inner).labels)  # no border: nothing changes


def test_training_writes_the_mode_and_learns_from_the_images_as_they_are(tmp_path: Path) -> None:
    """New segmenters' cards say border: fill (session 19's rule); the network learns from the radiographs as they
    are unless border_in_training (measured, not adopted); an unknown mode is one InputError."""
    import cv2
    import pandas as pd

    from sijscan.anatomy.train import TrainConfig, _loaders, train_segmenter
    from sijscan.modelfolder import read_card

    root = tmp_path / "d"
    (root / "img").mkdir(parents=True)
    img = _collimated()
    lab = np.zeros(img.shape, np.uint8)
    lab[20:50, 20:40], lab[20:50, 40:55], lab[20:50, 55:75] = 2, 1, 3
    rows = []
    for i in range(4):
        cv2.imwrite(str(root / "img" / f"p{i}.png"), np.rint(np.roll(img, i, axis=0) * 65535).astype(np.uint16))
        cv2.imwrite(str(root / "img" / f"p{i}_mask.png"), lab)
        rows.append({"image": f"img/p{i}.png", "mask": f"img/p{i}_mask.png", "split": "val" if i == 3 else "train"})
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    assert TrainConfig().border == "fill" and TrainConfig().border_in_training is False
    recipe = sijscan_recipe(size=32, border="fill")
    as_is = _loaders(manifest, TrainConfig(size=32), recipe)[0].dataset.x
    filled = _loaders(manifest, TrainConfig(size=32, border_in_training=True), recipe)[0].dataset.x
    kept = _loaders(manifest, TrainConfig(size=32), sijscan_recipe(size=32))[0].dataset.x
    assert torch.equal(as_is, kept) and not torch.equal(filled, kept)
    with pytest.raises(InputError, match="border must be one of"):
        train_segmenter(manifest=manifest, out_dir=tmp_path / "m", config=TrainConfig(size=32, border="crop"))
    out = train_segmenter(manifest=manifest, out_dir=tmp_path / "m",
                          config=TrainConfig(size=32, epochs=1, batch_size=2, accelerator="cpu"))
    assert read_card(out).recipe["border"] == "fill"
    assert json.loads((out / "model.json").read_text())["provenance"]["train_config"]["border"] == "fill"


def test_cli_and_study_pass_the_border(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sijscan.anatomy.train as train_mod
    from sijscan.cli.main import main
    from sijscan.study.config import StudyConfigError, config_from_dict

    seen: list = []
    monkeypatch.setattr(train_mod, "train_segmenter", lambda **kw: seen.append(kw["config"]) or tmp_path)
    base = ["train-segmenter", "--manifest", "m.csv", "--out", str(tmp_path)]
    assert main(base) == 0 and seen[-1].border == "fill"
    assert main([*base, "--border", "keep"]) == 0 and seen[-1].border == "keep"
    cfg = {"cohorts": {"proof": {"role": "train", "phantom": {"n": 4}}, "gespic": {"role": "test", "phantom": {"n": 4}}},
           "segmenter": {"train": {"border": "fill"}}}
    assert config_from_dict(cfg).segmenter.train.border == "fill"
    cfg["segmenter"]["train"]["border"] = "paint"
    with pytest.raises(StudyConfigError, match="segmenter.train.border"):
        config_from_dict(cfg)


@pytest.mark.parametrize("flag, want", [([], None), (["--border", "keep"], {"border": "keep"}),
                                        (["--border-in-training"], {"border_in_training": True})])
def test_stress_benchmark_passes_the_border_choice(flag: list[str], want, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path, load_benchmark) -> None:
    """benchmarks/stress_ct.py --border / --border-in-training override the demo recipe's; sim_to_real trains so."""
    bench = load_benchmark("stress_ct")
    seen: dict = {}
    monkeypatch.setattr(bench.s2r, "run", lambda **kw: seen.update(kw) or {"mode": kw["mode"], "folds": {},
                                                                           "timings": {}, "code": {}})
    for case in ("001", "002"):
        (tmp_path / "cts" / case).mkdir(parents=True)
    assert bench.main(["--quick", "--work", str(tmp_path), "--ct-root", str(tmp_path / "cts"), "--cases", "001,002",
                       "--holdout", "001", *flag]) == 0
    assert seen["overrides"] == want
    trained: list = []
    import sijscan.anatomy.train as train_mod

    monkeypatch.setattr(train_mod, "train_segmenter", lambda **kw: trained.append(kw["config"]) or tmp_path)
    s2r = load_benchmark("sim_to_real")
    monkeypatch.setattr("sijscan.modelfolder.read_card", lambda folder: type("C", (), {"provenance": {}})())
    s2r._train(tmp_path / "m.csv", tmp_path / "out", p={**s2r.MODES["quick"], **(want or {})}, augment="strong",
               extra=None)
    assert trained[-1].border == (want or {}).get("border", "fill")
    assert trained[-1].border_in_training is bool((want or {}).get("border_in_training"))


def test_segment_run_reports_the_exposed_field(tmp_path: Path) -> None:
    """``sijscan segment`` with a border-fill model says in each image's JSON which field it found."""
    import cv2

    from sijscan.anatomy.api import segment

    png = tmp_path / "img.png"
    cv2.imwrite(str(png), np.rint(_collimated() * 65535).astype(np.uint16))
    fill, keep = _segmenter(tmp_path, "fill"), _segmenter(tmp_path, "keep")
    run = segment([str(png)], model=fill.card.path, out=tmp_path / "out")
    assert run.done[0]["exposed_field"] == list(FIELD)
    assert "exposed_field" not in segment([str(png)], model=keep.card.path, out=tmp_path / "out2").done[0]
