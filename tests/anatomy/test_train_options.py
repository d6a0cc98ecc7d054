"""train-segmenter's --augment / --extra-manifest / --extra-weight reach the trainer and its data."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

import sijscan.anatomy.train as train_mod
from sijscan.anatomy.recipes import sijscan_recipe
from sijscan.anatomy.train import SegmenterModule, TrainConfig, _loaders, train_segmenter
from sijscan.cli.main import main
from sijscan.errors import InputError
from sijscan.modelfolder import read_card

from test_train_segment import _dataset  # noqa: E402  (tests/anatomy is on sys.path under pytest)

torch.set_num_threads(1)


@pytest.fixture
def two_manifests(tmp_path: Path, draw: Callable[..., np.ndarray], render: Callable[..., np.ndarray]) -> tuple[Path, Path]:
    first = _dataset(tmp_path / "a", draw, render, n=8, size=32)
    second = _dataset(tmp_path / "b", draw, render, n=6, size=32)
    return first, second


def test_cli_options_reach_the_trainer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[TrainConfig] = []
    monkeypatch.setattr(train_mod, "train_segmenter", lambda **kw: seen.append(kw["config"]) or tmp_path)
    base = ["train-segmenter", "--manifest", "m.csv", "--out", str(tmp_path)]
    assert main(base) == 0
    assert (seen[-1].augment, seen[-1].extra_manifest, seen[-1].extra_weight) == ("basic", None, 0.5)
    assert main([*base, "--augment", "strong", "--extra-manifest", "ct.csv", "--extra-weight", "0.3"]) == 0
    assert (seen[-1].augment, seen[-1].extra_manifest, seen[-1].extra_weight) == ("strong", "ct.csv", 0.3)
    assert main([*base, "--augment", "heavy"]) == 2


def test_loaders_mix_and_augment(two_manifests: tuple[Path, Path]) -> None:
    first, second = two_manifests
    recipe = sijscan_recipe(size=32)
    dl, val_dl, counts = _loaders(first, TrainConfig(size=32, augment="strong", extra_manifest=str(second),
                                                     extra_weight=0.5), recipe)
    assert counts["n_train"] == 6 + 4 and counts["n_val"] == 2 + 2 and counts["n_train_extra"] == 4
    assert isinstance(dl.sampler, torch.utils.data.WeightedRandomSampler)
    w = dl.sampler.weights.numpy()
    assert np.isclose(w[:6].sum(), 0.5) and np.isclose(w[6:].sum(), 0.5)
    ds = dl.dataset
    x0, y0 = ds.x[0], ds.y[0]
    xa, ya = ds[0]
    assert xa.shape == x0.shape and ya.dtype == torch.int64 and not torch.equal(xa, x0)  # augmented on the fly
    plain, _, _ = _loaders(first, TrainConfig(size=32), recipe)
    assert plain.dataset.transform is None and counts["n_val"] == len(val_dl.dataset)
    with pytest.raises(InputError, match="augment must be one of none, basic, strong"):
        train_segmenter(manifest=first, out_dir=first.parent / "m", config=TrainConfig(augment="heavy"))


def test_collimate_reaches_the_loader_and_is_refused_where_it_cannot_apply(
        two_manifests: tuple[Path, Path]) -> None:
    """TrainConfig.collimate puts the random collimation into the strong chain; it needs strong augmentation and
    visible_only (its labels are cut at the edge), and a share within 0-1: else one InputError."""
    first, _ = two_manifests
    recipe = sijscan_recipe(size=32)
    def names(cfg: TrainConfig) -> list[str]:
        return [type(t).__name__ for t in _loaders(first, cfg, recipe)[0].dataset.transform.transforms]

    assert "RandCollimated" in names(TrainConfig(size=32, augment="strong", visible_only=True, collimate=0.3))
    assert "RandCollimated" not in names(TrainConfig(size=32, augment="strong", visible_only=True))
    for cfg in (TrainConfig(augment="strong", collimate=0.3),
                TrainConfig(augment="basic", visible_only=True, collimate=0.3),
                TrainConfig(augment="strong", visible_only=True, collimate=1.5)):
        with pytest.raises(InputError, match="collimate"):
            train_segmenter(manifest=first, out_dir=first.parent / "m", config=cfg)


def test_module_skips_batch_augmentation_unless_basic(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(train_mod, "basic_augment", lambda x, y: calls.append(1) or (x, y))
    batch = (torch.zeros(2, 1, 32, 32), torch.zeros(2, 1, 32, 32, dtype=torch.long))
    for level, n in (("basic", 1), ("strong", 1), ("none", 1)):  # cumulative: only basic adds a call
        m = SegmenterModule(arch="unet-default", init_args=dict(train_mod.ARCH_INIT["unet-default"]), lr=1e-3,
                            weight_decay=0.0, augment=level)
        monkeypatch.setattr(m, "log", lambda *a, **k: None)
        m.training_step(batch, 0)
        assert len(calls) == n
    calls.clear()


@pytest.mark.slow
def test_train_strong_with_extra_manifest(two_manifests: tuple[Path, Path], tmp_path: Path) -> None:
    first, second = two_manifests
    out = tmp_path / "model"
    rc = main(["train-segmenter", "--manifest", str(first), "--out", str(out), "--epochs", "1", "--batch-size", "4",
               "--size", "32", "--accelerator", "cpu", "--augment", "strong", "--extra-manifest", str(second),
               "--extra-weight", "0.4"])
    assert rc == 0
    prov = read_card(out).provenance
    assert prov["n_train"] == 10 and prov["n_train_extra"] == 4 and prov["extra_data"] == str(second.resolve())
    assert prov["train_config"]["augment"] == "strong" and prov["train_config"]["extra_weight"] == 0.4
    shutil.rmtree(out)


def test_masks_corrected_in_slicer_train_as_png_masks_do(two_manifests: tuple[Path, Path]) -> None:
    """A manifest whose masks are NIfTI (``segment --nifti``, edited in 3D Slicer) trains on the same labels as
    its PNG masks: the trainer reads masks with the one label-map reader (affine honoured), not as pictures."""
    import pandas as pd

    from sijscan.anatomy.outputs import write_nifti_mask
    from sijscan.io.labelmap import read_label_map

    first, _ = two_manifests
    df = pd.read_csv(first)
    nifti = first.with_name("nifti.csv")
    for i, mask in enumerate(df["mask"]):
        out = first.parent / f"m{i}.nii.gz"
        write_nifti_mask(out, read_label_map(first.parent / mask))
        df.loc[i, "mask"] = out.name
    df.to_csv(nifti, index=False)
    recipe = sijscan_recipe(size=32)
    png_train, png_val, _ = _loaders(first, TrainConfig(size=32), recipe)
    nii_train, nii_val, _ = _loaders(nifti, TrainConfig(size=32), recipe)
    assert torch.equal(png_train.dataset.y, nii_train.dataset.y) and torch.equal(png_val.dataset.tensors[1],
                                                                                  nii_val.dataset.tensors[1])


def test_precision_reaches_the_trainer_and_the_card(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     two_manifests: tuple[Path, Path]) -> None:
    import sijscan.devices as devices

    seen: list[TrainConfig] = []
    real = train_mod.train_segmenter
    monkeypatch.setattr(train_mod, "train_segmenter", lambda **kw: seen.append(kw["config"]) or tmp_path)
    base = ["train-segmenter", "--manifest", "m.csv", "--out", str(tmp_path)]
    assert main(base) == 0 and seen[-1].precision == "auto"
    assert main([*base, "--precision", "bf16"]) == 0 and seen[-1].precision == "bf16"
    assert main([*base, "--precision", "16"]) == 2
    monkeypatch.setattr(train_mod, "train_segmenter", real)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    dtypes: set[torch.dtype] = set()
    fwd = SegmenterModule.forward

    def spy(self: SegmenterModule, x: torch.Tensor) -> torch.Tensor:
        out = fwd(self, x)
        dtypes.add(out.dtype)
        return out
    monkeypatch.setattr(SegmenterModule, "forward", spy)
    first, _ = two_manifests
    folder = train_segmenter(manifest=first, out_dir=tmp_path / "m",
                             config=TrainConfig(size=32, epochs=1, batch_size=4, accelerator="cpu", precision="bf16"))
    assert read_card(folder).provenance["precision"] == "bf16-mixed" and dtypes == {torch.bfloat16}
    dtypes.clear()
    folder = train_segmenter(manifest=first, out_dir=tmp_path / "m32",
                             config=TrainConfig(size=32, epochs=1, batch_size=4, accelerator="cpu"))
    assert read_card(folder).provenance["precision"] == "32-true" and dtypes == {torch.float32}
