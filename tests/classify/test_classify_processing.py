"""Vendor-processing variants of training views (sijscan.classify.processing): what they change, that each
training draw takes one of them, that validation views never get them, and the flags that turn them on."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sijscan.classify.data import prepare_views
from sijscan.classify.errors import ClassifierInputError
from sijscan.classify.preprocess import PreprocessSpec
from sijscan.classify.processing import PROCESSING, ProcessingSpec, reprocess, variant_rng
from sijscan.classify.recipe import Stage
from sijscan.classify.synthetic import write_synthetic_cohort
from sijscan.classify.train import quick_recipe_with, train_classifier
from sijscan.io import read_manifest

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cohort(tmp_path_factory.mktemp("syn"), n=12, height=48, width=64, seed=1)


def test_reprocess_applies_a_curve_and_edge_enhancement() -> None:
    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (32, 1))
    bright = reprocess(ramp, variant_rng(0, 0, "a"), ProcessingSpec(gamma_range=(0.5, 0.5), amount_range=(0.0, 0.0)))
    np.testing.assert_allclose(bright, np.sqrt(ramp), atol=1e-6)  # gamma 0.5, no enhancement
    step = np.zeros((32, 64), np.float32)
    step[:, 32:] = 0.5
    sharp = reprocess(step, variant_rng(0, 0, "a"), ProcessingSpec(gamma_range=(1.0, 1.0), amount_range=(0.8, 0.8)))
    assert sharp[:, 33].mean() > 0.55 and sharp[:, 30].mean() == 0.0  # overshoot at the edge, clipped at 0
    soft = reprocess(step, variant_rng(0, 0, "a"), ProcessingSpec(gamma_range=(1.0, 1.0), amount_range=(-0.4, -0.4)))
    assert 0.0 < soft[:, 31].mean() and soft[:, 32].mean() < 0.5  # smoothing: the edge spreads
    a, b = (reprocess(ramp, variant_rng(3, k, "x.png")) for k in (0, 1))
    assert not np.array_equal(a, b) and np.array_equal(a, reprocess(ramp, variant_rng(3, 0, "x.png")))
    assert a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0


def test_bad_spec_is_refused() -> None:
    with pytest.raises(ClassifierInputError, match="variants must be >= 1"):
        ProcessingSpec(variants=0)
    with pytest.raises(ClassifierInputError, match="gamma_range must be"):
        ProcessingSpec(gamma_range=(2.0, 1.0))


def test_views_carry_variants_cached_and_drawn(cohort: Path, tmp_path: Path) -> None:
    df = read_manifest(cohort)
    spec = PreprocessSpec(height=32, width=48)
    plain = prepare_views(df, view="full", spec=spec, crop_source=None, cache_dir=tmp_path / "c")
    views = prepare_views(df, view="full", spec=spec, crop_source=None, cache_dir=tmp_path / "c",
                          processing=ProcessingSpec(variants=2), seed=5)
    assert plain.variants is None and len(views.variants) == len(df) and views.variants[0].shape[0] == 2
    assert all(np.array_equal(a, b) for a, b in zip(plain.arrays, views.arrays))  # the view as acquired is kept
    assert not np.array_equal(views.variants[0][0], views.arrays[0])
    again = prepare_views(df, view="full", spec=spec, crop_source=None, cache_dir=tmp_path / "c",
                          processing=ProcessingSpec(variants=2), seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(views.variants, again.variants))
    assert len(list((tmp_path / "c").glob("*-*.npy"))) == len(df)  # one variants file per image, reused
    ds = views.dataset(32, 48)
    assert len(ds) == len(df) and ds[0][0].shape == (1, 32, 48)
    torch.manual_seed(0)
    seen = {int(torch.nonzero((ds.views[0] == ds[0][0]).flatten(1).all(1))[0]) for _ in range(40)}
    assert seen == {0, 1, 2}  # as acquired or either variant
    both = views.concat(views)
    assert len(both.variants) == 2 * len(df)
    with pytest.raises(ClassifierInputError, match="with and without processing variants"):
        views.concat(plain)


def test_training_uses_variants_for_training_views_only(cohort: Path, tmp_path: Path) -> None:
    recipe = quick_recipe_with(arch="tiny-resnet", stages=(Stage(32, 48, 4, 0, 1e-2, 1, 1e-3),),
                               processing=PROCESSING)
    out = train_classifier(manifest=cohort, view="full", out_dir=tmp_path / "m", recipe=recipe, init="random",
                           accelerator="cpu")
    def find(node: object) -> list[object]:
        if isinstance(node, dict):
            return [node["processing"]] if "processing" in node else [x for v in node.values() for x in find(v)]
        return [x for v in node for x in find(v)] if isinstance(node, list) else []
    assert find(json.loads((out / "model.json").read_text())) == [PROCESSING.to_json()]  # the card says so
    cache = out / "training" / "cache"
    n_train = int((pd.read_csv(cohort)["split"] == "train").sum())
    assert len(list(cache.glob("*-*.npy"))) == n_train  # validation images got none


def test_cli_flag_turns_it_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sijscan.cli.main import main

    seen = []
    monkeypatch.setattr("sijscan.classify.train.train_classifier", lambda **kw: seen.append(kw) or tmp_path)
    monkeypatch.setattr("sijscan.classify.api.read_card", lambda folder: type("C", (), {"provenance": {}})())
    main(["train-classifier", "--manifest", "m.csv", "--view", "full", "--out", str(tmp_path), "--recipe", "quick",
          "--processing"])
    main(["train-classifier", "--manifest", "m.csv", "--view", "full", "--out", str(tmp_path), "--recipe", "quick"])
    assert [kw["recipe"].processing for kw in seen] == [PROCESSING, None]
