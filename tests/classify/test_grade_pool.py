"""The grade head's pool: one vector of the whole view for both sides ("global", the default and every
older model) or each side's half of the last feature map ("sides")."""
from __future__ import annotations

import pytest
import torch

from sijscan.classify.networks import CoralGradeHead, side_features
from sijscan.classify.recipe import GRADE_POOLS, get_recipe
from sijscan.errors import ModelError
from sijscan.modelfolder import build_network

torch.set_num_threads(1)


def test_side_features_put_the_image_left_half_on_the_patients_right() -> None:
    """SIDE_ORDER is (patient's left, patient's right); display orientation puts the patient's right on
    the image's left, so output side 1 is the mean of the image-left half."""
    fmap = torch.zeros(1, 3, 2, 6)
    fmap[..., :3] = 1.0  # image-left half
    f = side_features(fmap)
    assert tuple(f.shape) == (1, 2, 3)
    assert torch.equal(f[0, 1], torch.ones(3)) and torch.equal(f[0, 0], torch.zeros(3))


def test_an_odd_width_gives_both_halves_the_middle_column() -> None:
    fmap = torch.arange(5, dtype=torch.float32).reshape(1, 1, 1, 5)  # columns 0..4
    f = side_features(fmap)
    assert f[0, 1, 0].item() == pytest.approx((0 + 1 + 2) / 3)  # image-left: columns 0-2
    assert f[0, 0, 0].item() == pytest.approx((2 + 3 + 4) / 3)  # image-right: columns 2-4


def test_coral_head_projects_each_side_with_its_own_row() -> None:
    torch.manual_seed(0)
    head = CoralGradeHead(4)
    per_side = torch.randn(3, 2, 4)
    want = torch.stack([per_side[:, s] @ head.proj.weight[s] for s in range(2)], dim=1)
    assert torch.allclose(head(per_side), want.unsqueeze(-1) + head.thresholds.unsqueeze(0), atol=1e-6)
    shared = torch.randn(3, 4)  # the global pool: one vector, both rows
    assert torch.allclose(head(shared), head(shared[:, None].expand(3, 2, 4)), atol=1e-6)


@pytest.mark.parametrize("pool", GRADE_POOLS)
def test_a_side_grade_follows_its_own_half_only_with_side_pooling(pool: str) -> None:
    """Changing the image-right half (the patient's left joint) moves the patient's right grade logits
    through the global pool but not through the side pool, once the feature map is fixed; the binary
    logits (the paper's head, always the global pool) are the same for both pools."""
    torch.manual_seed(0)
    net = build_network("tiny-resnet", {"grade_head": True, "dropout": 0.0, "grade_pool": pool}).eval()
    fmap = torch.rand(1, net.n_features, 3, 6)
    other = fmap.clone()
    other[..., 3:] = torch.rand(1, net.n_features, 3, 3)  # image-right half only
    with torch.no_grad():
        (la, ga, _), (lb, gb, _) = net.heads(fmap), net.heads(other)
    right_moved = (ga[0, 1] - gb[0, 1]).abs().max().item() > 1e-6  # side 1: the patient's right
    assert right_moved is (pool == "global")
    assert (ga[0, 0] - gb[0, 0]).abs().max().item() > 1e-6  # the patient's left follows its half either way
    ref = build_network("tiny-resnet", {"grade_head": True, "dropout": 0.0}).eval()
    ref.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(ref.heads(fmap)[0], la)


def test_forward_all_equals_forward_and_heads() -> None:
    torch.manual_seed(1)
    net = build_network("tiny-resnet", {"grade_head": True, "dropout": 0.0, "grade_pool": "sides"}).eval()
    x = torch.rand(2, 1, 96, 144)
    with torch.no_grad():
        logits, grades = net.forward_all(x)
        assert torch.allclose(net(x), logits, atol=1e-6)
        assert torch.allclose(net.heads(net.feature_map(x))[1], grades, atol=1e-6)
    assert tuple(grades.shape) == (2, 2, 4)


def test_unknown_pool_is_refused_and_the_state_dict_does_not_depend_on_the_pool() -> None:
    with pytest.raises(ModelError, match="grade_pool"):
        build_network("tiny-resnet", {"grade_head": True, "grade_pool": "middle"})
    a = build_network("tiny-resnet", {"grade_head": True, "grade_pool": "global"}).state_dict()
    b = build_network("tiny-resnet", {"grade_head": True, "grade_pool": "sides"}).state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}


def test_recipe_default_is_global_and_the_api_refuses_an_unknown_pool(tmp_path) -> None:
    from sijscan.classify.api import train_classifier
    from sijscan.classify.errors import ClassifierInputError

    assert get_recipe("cpu").grade_pool == "global" and get_recipe("paper").grade_pool == "global"
    with pytest.raises(ClassifierInputError, match="grade_pool"):
        train_classifier(tmp_path / "m.csv", view="sij", out=tmp_path / "o", grade_pool="middle")


def test_cli_choices_are_the_recipe_pools(capsys) -> None:
    from sijscan.cli.main import main

    assert main(["train-classifier", "--help"]) == 0
    assert "{" + ",".join(GRADE_POOLS) + "}" in capsys.readouterr().out


@pytest.mark.parametrize("given, want", [(None, "sides"), ("global", "global")])
def test_the_api_keeps_a_recipe_objects_pool_unless_told(given, want, tmp_path, monkeypatch) -> None:
    """``train_classifier(recipe=Recipe(..., grade_pool="sides"))`` trains with side pooling; only an explicit
    ``grade_pool`` replaces the recipe's."""
    import dataclasses

    import sijscan.classify.train as train_mod
    from sijscan.classify.api import train_classifier

    seen: dict = {}

    class Stop(Exception):
        pass

    def fake_train(**kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(train_mod, "train_classifier", fake_train)
    rec = dataclasses.replace(get_recipe("cpu"), grade_pool="sides")
    with pytest.raises(Stop):
        train_classifier(tmp_path / "m.csv", view="sij", out=tmp_path / "o", recipe=rec, crop_from_mask=True,
                         **({} if given is None else {"grade_pool": given}))
    assert seen["recipe"].grade_pool == want
