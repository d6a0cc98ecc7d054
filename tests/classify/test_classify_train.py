"""Training control flow: best checkpoint carried forward, resume, initialisation (tiny data, CPU)."""
from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import resnet50

from sijscan.classify import module as mod
from sijscan.classify.errors import InitWeightsError, TrainingInterrupted
from sijscan.classify.init_weights import initialise
from sijscan.classify.recipe import Stage
from sijscan.classify.synthetic import write_synthetic_cohort
from sijscan.classify.train import quick_recipe_with, train_classifier
from sijscan.modelfolder import build_network

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cohort(tmp_path_factory.mktemp("syn"), n=12, height=48, width=64, seed=1)


class Recorder(L.Callback):
    def __init__(self) -> None:
        self.starts: list[dict[str, object]] = []
        self.state_at_start: dict[str, dict[str, torch.Tensor]] = {}
        self.state_at_end: dict[str, dict[str, torch.Tensor]] = {}
        self.first_lr: dict[str, float] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: mod.ClassifierModule) -> None:
        self.starts.append({"phase": pl_module.phase, "global_step": trainer.global_step,
                            "epoch": trainer.current_epoch})
        self.state_at_start[pl_module.phase] = {k: v.clone() for k, v in pl_module.model.state_dict().items()}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: mod.ClassifierModule, batch: object,
                             batch_idx: int) -> None:
        self.first_lr.setdefault(pl_module.phase, trainer.optimizers[0].param_groups[-1]["lr"])

    def on_train_end(self, trainer: L.Trainer, pl_module: mod.ClassifierModule) -> None:
        self.state_at_end[pl_module.phase] = {k: v.clone() for k, v in pl_module.model.state_dict().items()}


def _ckpt_state(path: str) -> dict[str, torch.Tensor]:
    obj = torch.load(path, map_location="cpu", weights_only=False)
    return {k.removeprefix("model."): v for k, v in obj["state_dict"].items()}


def test_best_checkpoint_not_last_starts_next_phase(cohort: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = iter([0.2, 0.9, 0.1, 0.3])  # head phase: epoch 1 is best, epoch 2 is last; then the 'all' epoch
    monkeypatch.setattr(mod, "softmax_decision_mcc", lambda logits, y: next(scripted))
    recipe = quick_recipe_with(arch="tiny-resnet", stages=(Stage(32, 48, 4, 3, 1e-2, 1, 1e-3),))
    rec = Recorder()
    out = train_classifier(manifest=cohort, view="full", out_dir=tmp_path / "m", recipe=recipe, init="random",
                           accelerator="cpu", callbacks=[rec])
    progress = json.loads((out / "training" / "progress.json").read_text())
    head = progress["completed"][0]
    assert head["best_val_mcc"] == pytest.approx(0.9) and "epoch=1" in Path(head["best_ckpt"]).name
    best = _ckpt_state(head["best_ckpt"])
    start_all, end_head = rec.state_at_start["all"], rec.state_at_end["head"]
    assert all(torch.equal(start_all[k], best[k]) for k in best)
    assert any(not torch.equal(end_head[k], best[k]) for k in best)  # the last epoch differed
    assert len(list((out / "training").glob("phase0-*/best-*.ckpt"))) == 1  # top-1, not an arbitrary top-k


def test_resume_continues_phase_step_and_schedule(cohort: Path, tmp_path: Path) -> None:
    recipe = quick_recipe_with(arch="tiny-resnet", stages=(Stage(32, 48, 4, 1, 1e-2, 2, 1e-3),))
    out = tmp_path / "m"

    class StopInSecondEpochOfAll(L.Callback):
        def on_train_epoch_start(self, trainer: L.Trainer, pl_module: mod.ClassifierModule) -> None:
            if pl_module.phase == "all" and trainer.current_epoch == 1:
                raise TrainingInterrupted("stopped by test")

    first = Recorder()
    with pytest.raises(TrainingInterrupted):
        train_classifier(manifest=cohort, view="full", out_dir=out, recipe=recipe, init="random",
                         accelerator="cpu", callbacks=[first, StopInSecondEpochOfAll()])
    assert (out / "training" / "phase1-0-all" / "last.ckpt").is_file()
    assert not (out / "model.json").exists()
    second = Recorder()
    train_classifier(manifest=cohort, view="full", out_dir=out, recipe=recipe, init="random",
                     accelerator="cpu", callbacks=[second], resume=True)
    steps_per_epoch = 8 // 4  # 8 training images (12 - 4 validation), batch 4
    assert [s["phase"] for s in second.starts] == ["all"]  # the finished head phase was not redone
    assert second.starts[0]["global_step"] == steps_per_epoch and second.starts[0]["epoch"] == 1
    # the one-cycle schedule continues: the first LR after resuming is the one at step 2 of 4
    p = torch.nn.Parameter(torch.zeros(1))
    ref = torch.optim.lr_scheduler.OneCycleLR(torch.optim.AdamW([p], lr=1e-3), max_lr=1e-3, total_steps=4)
    for _ in range(steps_per_epoch):
        ref.optimizer.step()
        ref.step()
    assert second.first_lr["all"] == pytest.approx(ref.get_last_lr()[0], rel=1e-6)
    progress = json.loads((out / "training" / "progress.json").read_text())
    assert [c["phase"] for c in progress["completed"]] == ["head", "all"]
    assert progress["completed"][1]["global_step"] == 2 * steps_per_epoch
    assert (out / "model.json").is_file()


def test_imagenet_init_from_file_sums_rgb_filters(tmp_path: Path) -> None:
    tv = resnet50().state_dict()
    path = tmp_path / "r50.safetensors"
    save_file({k: v.contiguous() for k, v in tv.items()}, str(path))
    net = build_network("resnet50-sij", {"grade_head": True})
    info = initialise(net, init="imagenet", init_weights=path)
    assert info["init"] == "imagenet"
    assert torch.allclose(net.conv1.weight, tv["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(net.layer3[2].conv2.weight, tv["layer3.2.conv2.weight"])
    assert torch.equal(net.bn1.running_var, tv["bn1.running_var"])
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(InitWeightsError):
        initialise(build_network("resnet50-sij", {}), init="imagenet", init_weights=tmp_path / "bad.pth")


def test_offline_imagenet_gives_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.models._api as api

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(InitWeightsError) as exc:
        initialise(build_network("tiny-resnet", {}), init="imagenet")
    msg = str(exc.value)
    assert "--init-weights" in msg and "--init random" in msg and "\n" not in msg


def test_segmenter_crops_equal_mask_crops_and_failures_are_left_out(cohort: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """--segmenter plumbing: a stand-in segmenter that returns the true label maps gives the same
    crops as --crop-from-mask; an image without SIJs is left out with a warning, not a crash."""
    import numpy as np

    import sijscan.anatomy.segment as seg_mod
    from sijscan.classify.data import (crop_from_mask, crop_from_segmenter, prepare_views, read_image,
                                       read_training_manifest)
    from sijscan.io.labelmap import read_label_map
    from sijscan.classify.preprocess import PreprocessSpec

    df = read_training_manifest(cohort).head(4)
    truth = {read_image(r["image"]).tobytes(): read_label_map(r["mask"]) for _, r in df.iterrows()}
    broken = read_image(df.iloc[3]["image"]).tobytes()

    class FakeSegmenter:
        recipe: dict[str, object] = {}
        card = type("Card", (), {"sha256": "ab" * 32})()

        def run(self, radiograph):  # Segmenter.run: labels and the default recipe's location
            from sijscan.anatomy.localize import locate_sij
            from sijscan.anatomy.segment import Segmentation

            pixels = radiograph.pixels
            lab = truth[pixels.tobytes()] if pixels.tobytes() != broken else np.zeros(pixels.shape, np.uint8)
            return Segmentation(labels=lab, working_labels=lab, location=locate_sij(lab))

    monkeypatch.setattr(seg_mod.Segmenter, "load", classmethod(lambda cls, d, device="cpu": FakeSegmenter()))
    source = crop_from_segmenter(tmp_path / "any-segmenter")
    for _, r in df.head(3).iterrows():
        img = read_image(r["image"])
        assert np.array_equal(source(img, r), crop_from_mask(img, r))
    import sijscan.classify.data as data_mod

    reads: list[str] = []
    real_read = data_mod.read_radiograph
    monkeypatch.setattr(data_mod, "read_radiograph", lambda path: reads.append(str(path)) or real_read(path))
    views = prepare_views(df, view="sij", spec=PreprocessSpec(height=32, width=48), crop_source=source)
    assert len(views.arrays) == 3 and views.n_left_out == 1 and len(views.labels) == 3
    assert len(reads) == len(df)  # each radiograph decoded once: the segmenter gets the object read for the crop


def test_crops_from_nifti_masks_equal_crops_from_png_masks(cohort: Path, tmp_path: Path) -> None:
    """--crop-from-mask with masks corrected in 3D Slicer (NIfTI, by its affine) cuts the PNG masks' crops."""
    import numpy as np

    from sijscan.anatomy.outputs import write_nifti_mask
    from sijscan.classify.data import crop_from_mask, read_image, read_training_manifest
    from sijscan.io.labelmap import read_label_map

    for _, r in read_training_manifest(cohort).head(3).iterrows():
        nii = tmp_path / f"{Path(r['mask']).stem}.nii.gz"
        write_nifti_mask(nii, read_label_map(r["mask"]))
        img = read_image(r["image"])
        assert np.array_equal(crop_from_mask(img, r), crop_from_mask(img, {**r, "mask": str(nii)}))


def test_trainings_share_one_preprocessing_cache(cohort: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``cache_dir``: a second training on the same images cuts no crop again (a study's seeds); the
    cache lives where it is given, not in the model folder; segmenters with other weights key apart."""
    import sijscan.anatomy.segment as seg_mod
    import sijscan.classify.data as data_mod

    calls: list[str] = []
    real = data_mod.crop_from_mask

    def counting(image, row, *, crop="box"):
        calls.append(row["image"])
        return real(image, row, crop=crop)

    monkeypatch.setattr(data_mod, "crop_from_mask", counting)
    shared = tmp_path / "shared-cache"
    rec = quick_recipe_with(arch="tiny-resnet", stages=(Stage(32, 48, 4, 0, 1e-2, 1, 1e-3),))
    kw = dict(manifest=cohort, view="sij", recipe=rec, use_mask_crops=True, init="random", accelerator="cpu",
              progress=False, crop="joints", cache_dir=shared)
    train_classifier(out_dir=tmp_path / "seed0", seed=0, **kw)
    first = len(calls)
    assert first == 12 and len(list(shared.glob("*.npy"))) == 12
    assert not (tmp_path / "seed0" / "training" / "cache").exists()
    train_classifier(out_dir=tmp_path / "seed1", seed=1, **kw)
    assert len(calls) == first  # every view read from the shared cache

    class Fake:
        def __init__(self, sha: str) -> None:
            self.card = type("Card", (), {"sha256": sha})()

    shas = iter(["ab" * 32, "cd" * 32])
    monkeypatch.setattr(seg_mod.Segmenter, "load", classmethod(lambda cls, d, device="cpu": Fake(next(shas))))
    names = {data_mod.crop_from_segmenter(tmp_path / "model").__name__ for _ in range(2)}
    assert len(names) == 2


class Conv1Dtypes(L.Callback):
    """The dtype and memory format of conv1's output in every training step."""

    def __init__(self) -> None:
        self.seen: set[tuple[torch.dtype, bool]] = set()

    def on_train_start(self, trainer: L.Trainer, pl_module: mod.ClassifierModule) -> None:
        def hook(_m: torch.nn.Module, _i: object, out: torch.Tensor) -> None:
            if pl_module.training:
                self.seen.add((out.dtype, out.is_contiguous(memory_format=torch.channels_last)))
        self.handle = pl_module.model.conv1.register_forward_hook(hook)

    def on_train_end(self, trainer: L.Trainer, pl_module: mod.ClassifierModule) -> None:
        self.handle.remove()


@pytest.mark.parametrize("native", [True, False])
def test_bf16_precision_trains_in_bfloat16_where_the_cpu_has_it_channels_last_everywhere(
        cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    import sijscan.devices as devices

    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
    recipe = quick_recipe_with(arch="tiny-resnet", stages=(Stage(32, 48, 4, 0, 1e-2, 1, 1e-3),))
    seen = Conv1Dtypes()
    out = train_classifier(manifest=cohort, view="full", out_dir=tmp_path / "m", recipe=recipe, init="random",
                           accelerator="cpu", callbacks=[seen], precision="bf16")
    card = json.loads((out / "model.json").read_text())
    if native:
        assert seen.seen == {(torch.bfloat16, True)} and card["provenance"]["precision"] == "bf16-mixed"
    else:
        assert seen.seen == {(torch.float32, True)} and card["provenance"]["precision"] == "32-true"
    weights = torch.load(next((out / "training").glob("phase0-*/best-*.ckpt")), map_location="cpu", weights_only=False)
    assert all(v.dtype in (torch.float32, torch.int64) for v in weights["state_dict"].values())  # fp32 master weights
