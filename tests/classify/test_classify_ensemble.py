"""Seed ensembles: one folder, the members' logits averaged, its own cut-off; refusals in one line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import sijscan.classify.networks as networks
from sijscan.classify.ensemble import build_ensemble, train_ensemble
from sijscan.classify.errors import ClassifierInputError
from sijscan.classify.predict import classify_views, load_classifier
from sijscan.classify.recipe import Stage
from sijscan.classify.synthetic import write_synthetic_cohort
from sijscan.classify.train import quick_recipe_with
from sijscan.modelfolder import build_network

torch.set_num_threads(1)

RECIPE = quick_recipe_with(arch="tiny-resnet", stages=(Stage(32, 48, 4, 0, 1e-2, 1, 1e-3),))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cohort WITHOUT 'val' rows: each training seed would hold out other validation patients."""
    import pandas as pd

    manifest = write_synthetic_cohort(tmp_path_factory.mktemp("syn"), n=16, height=48, width=64, seed=1)
    df = pd.read_csv(manifest)
    out = Path(manifest).with_name("no_val_rows.csv")
    df.assign(split="").to_csv(out, index=False)
    return out


@pytest.fixture(scope="module")
def ensemble(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ens") / "model"
    return Path(train_ensemble(seeds=[0, 1], out_dir=out, manifest=cohort, view="full", recipe=RECIPE,
                               init="random", accelerator="cpu", progress=False))


def test_ensemble_logits_are_the_mean_of_its_members() -> None:
    torch.manual_seed(0)
    members = [build_network("tiny-resnet", {"grade_head": True, "dropout": 0.0}).eval() for _ in range(3)]
    ens = networks.SeedEnsemble(members).eval()
    x = torch.rand(2, 1, 32, 48)
    with torch.no_grad():
        logits, grades = ens.forward_all(x)
        outs = [m.forward_all(x) for m in members]
    torch.testing.assert_close(logits, sum(o[0] for o in outs) / 3)
    torch.testing.assert_close(grades, sum(o[1] for o in outs) / 3)
    torch.testing.assert_close(ens(x), logits)
    assert ens.grade_head is not None


def test_ensemble_of_members_without_grade_head_has_none() -> None:
    members = [build_network("tiny-resnet", {"grade_head": g}) for g in (True, False)]
    assert networks.SeedEnsemble(members).grade_head is None


def test_ensemble_needs_two_members_and_no_nesting() -> None:
    from sijscan.errors import ModelError

    with pytest.raises(ValueError, match="at least two"):
        networks.SeedEnsemble([build_network("tiny-resnet", {})])
    with pytest.raises(ModelError, match="cannot itself be an ensemble"):
        build_network("seed-ensemble", {"members": [{"arch": "seed-ensemble", "init_args": {}}] * 2})


def test_trained_ensemble_is_one_classifier_folder(ensemble: Path, cohort: Path) -> None:
    card = json.loads((ensemble / "model.json").read_text())
    assert card["arch"] == "seed-ensemble" and len(card["init_args"]["members"]) == 2
    members = card["provenance"]["ensemble_of"]
    assert [m["seed"] for m in members] == [0, 1]
    assert all(Path(m["folder"]).is_dir() for m in members)
    assert 0.0 < card["cutoff"] < 1.0 and card["temperature"] > 0
    assert card["recipe"]["grade_head"] is True and card["recipe"]["view"] == "full"
    # both members validated on the same patients as the ensemble (the first seed's split), where their
    # own seeds would have held out different ones
    import pandas as pd

    from sijscan.classify.data import split_train_val

    df = pd.read_csv(cohort)
    own = [set(split_train_val(df, seed=s)[1]["patient_id"]) for s in (0, 1)]
    assert own[0] != own[1]
    provs = [json.loads((Path(m["folder"]) / "model.json").read_text())["provenance"] for m in members]
    assert [p["split_seed"] for p in provs] == [0, 0] and card["provenance"]["split_seed"] == 0
    assert card["provenance"]["data"]["val_n"] == provs[0]["data"]["val"]["n"] == len(own[0])


def test_ensemble_folder_predicts_the_mean_of_its_members_logits(ensemble: Path) -> None:
    from sijscan.classify.calibration import probability

    rng = np.random.default_rng(0)
    views = [rng.random((48, 64)).astype(np.float32) for _ in range(4)]
    ens = load_classifier(ensemble)
    members = [load_classifier(m["folder"]) for m in ens.card.provenance["ensemble_of"]]
    x = torch.from_numpy(np.stack([np.asarray(v) for v in views]))
    from sijscan.classify.preprocess import preprocess_view

    x = torch.from_numpy(np.stack([preprocess_view(v, ens.spec) for v in views]))[:, None]
    with torch.no_grad():
        mean_logits = torch.stack([m.network(x) for m in members]).mean(0).numpy()
    got = [p.probability for p in classify_views(ens, views)]
    np.testing.assert_allclose(got, probability(mean_logits), rtol=1e-5, atol=1e-6)
    assert all(p.grades is not None for p in classify_views(ens, views))


def test_grad_cam_of_an_ensemble_lights_every_members_evidence() -> None:
    """Two members whose positive logit reads two different regions: the ensemble's CAM covers both
    (a CAM of one member only would leave the other region dark)."""
    from sijscan.predict.gradcam import forward_with_cam
    from tests.predict.test_gradcam import RegionNet

    h, w = 24, 36
    masks = [torch.zeros(1, 1, h, w), torch.zeros(1, 1, h, w)]
    masks[0][..., 2:8, 2:10] = 1
    masks[1][..., 14:20, 24:34] = 1
    ens = networks.SeedEnsemble([RegionNet(m).eval() for m in masks]).eval()
    x = torch.rand(2, 1, h, w) * 0.5 + 0.5
    cam = forward_with_cam(ens, x).cams["positive"]
    for m in masks:
        inside = m[0, 0].numpy() > 0
        assert (cam[:, inside].max(axis=1) > 0.5).all()
    outside = (masks[0] + masks[1])[0, 0].numpy() == 0
    assert cam[:, outside].max() == 0.0


def test_grad_cam_of_an_ensemble_sums_its_members_cams(ensemble: Path) -> None:
    from sijscan.predict.gradcam import forward_with_cam, target_layers

    net = load_classifier(ensemble).network.eval()
    layers = target_layers(net)
    assert layers == [m.layer4[-1] for m in net.members]
    x = torch.rand(2, 1, 32, 48)
    res = forward_with_cam(net, x)
    cam = res.cams["positive"]
    assert cam.shape == (2, 32, 48) and np.isfinite(cam).all() and 0 <= cam.min() and cam.max() <= 1


def test_members_that_see_different_views_are_refused(ensemble: Path, cohort: Path, tmp_path: Path) -> None:
    import shutil

    members = [m["folder"] for m in json.loads((ensemble / "model.json").read_text())["provenance"]["ensemble_of"]]
    other = tmp_path / "other"
    shutil.copytree(members[1], other)
    card = json.loads((other / "model.json").read_text())
    card["recipe"]["preprocess"]["clahe_clip_limit"] = 0.5
    (other / "model.json").write_text(json.dumps(card))
    with pytest.raises(ClassifierInputError, match="differs from .* in preprocess"):
        build_ensemble([members[0], other], tmp_path / "e", manifest=cohort)
    with pytest.raises(ClassifierInputError, match="at least two member"):
        build_ensemble([members[0]], tmp_path / "e", manifest=cohort)
    with pytest.raises(ClassifierInputError, match="itself an ensemble"):
        build_ensemble([ensemble, members[0]], tmp_path / "e", manifest=cohort)


def test_train_ensemble_refuses_repeated_seeds(cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(ClassifierInputError, match="two different seeds"):
        train_ensemble(seeds=[3, 3], out_dir=tmp_path / "e", manifest=cohort, view="full", recipe=RECIPE)


@pytest.mark.parametrize("seeds", ["0", "1,1", "a,b", "0,-1"])
def test_cli_bad_seeds_is_one_line_exit_2(cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          seeds: str) -> None:
    from sijscan.cli.main import main

    assert main(["train-classifier", "--manifest", str(cohort), "--view", "full", "--out", str(tmp_path / "o"),
                 "--recipe", "quick", "--seeds", seeds]) == 2
    err = capsys.readouterr().err.strip()
    assert "--seeds" in err and len(err.splitlines()) == 1 and not (tmp_path / "o").exists()


def test_cli_seeds_writes_an_ensemble_folder(cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sijscan.cli.main import main
    from sijscan.devices import cpu_has_native_bf16

    out = tmp_path / "ens"
    assert main(["train-classifier", "--manifest", str(cohort), "--view", "full", "--out", str(out), "--recipe",
                 "quick", "--arch", "tiny-resnet", "--init", "random", "--accelerator", "cpu", "--max-images", "8",
                 "--seeds", "2,5", "--precision", "bf16"]) == 0
    card = json.loads((out / "model.json").read_text())
    assert card["arch"] == "seed-ensemble" and [m["seed"] for m in card["provenance"]["ensemble_of"]] == [2, 5]
    used = "bf16-mixed" if cpu_has_native_bf16() else "32-true"  # --precision reaches every member's training
    assert {json.loads((out / "members" / m / "model.json").read_text())["provenance"]["precision"]
            for m in ("seed2", "seed5")} == {used}
    assert (out / "members" / "seed2" / "model.json").is_file() and (out / "members" / "seed5" / "model.json").is_file()
    assert str(out) in capsys.readouterr().out
    # a second run refuses to replace it, in one line
    assert main(["train-classifier", "--manifest", str(cohort), "--view", "full", "--out", str(out), "--recipe",
                 "quick", "--seeds", "2,5"]) == 2
    assert "already holds a trained model" in capsys.readouterr().err


def test_ensemble_exports_to_onnx_and_runs_there_alike(ensemble: Path, tmp_path: Path) -> None:
    import shutil

    from sijscan.cli.main import main

    folder = tmp_path / "ens"
    shutil.copytree(ensemble, folder)
    assert main(["export-onnx", "--model", str(folder)]) == 0
    rng = np.random.default_rng(1)
    views = [rng.random((48, 64)).astype(np.float32) for _ in range(3)]
    torch_p = [p.probability for p in classify_views(load_classifier(folder), views)]
    onnx_p = [p.probability for p in classify_views(load_classifier(folder, backend="onnx"), views)]
    np.testing.assert_allclose(onnx_p, torch_p, atol=1e-4)


def test_views_preprocessed_once_give_every_seed_the_same_answer(ensemble: Path) -> None:
    """The study's other seeds classify the model inputs the first model's pipeline made: equal to
    preprocessing the crops again; inputs made with another spec are preprocessed again."""
    import dataclasses

    from sijscan.classify.preprocess import preprocess_view

    rng = np.random.default_rng(1)
    views = [rng.random((48, 64)).astype(np.float32) for _ in range(3)]
    member = load_classifier(load_classifier(ensemble).card.provenance["ensemble_of"][1]["folder"])
    ready = [preprocess_view(v, member.spec) for v in views]
    want = [p.probability for p in classify_views(member, views)]
    assert [p.probability for p in classify_views(member, ready, preprocessed_as=member.spec)] == want
    other = dataclasses.replace(member.spec, height=member.spec.height + 8)
    assert other != member.spec
    again = [p.probability for p in classify_views(member, views, preprocessed_as=other)]
    assert again == want
