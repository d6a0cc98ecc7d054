"""Anatomy-adversarial training: gradient reversal, its ramp, anatomy keys, and the trainer's wiring."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sijscan.classify.data import domain_key
from sijscan.classify.domain import DomainHead, reversal_ramp, reverse_gradient

torch.set_num_threads(1)


def test_reversal_is_identity_forward_and_flips_the_gradient() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    y = reverse_gradient(x, 0.5)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.tile(-0.5 * np.arange(3.0), (4, 1)))


def test_ramp_starts_at_zero_and_rises_to_one() -> None:
    vals = [reversal_ramp(p) for p in (0.0, 0.1, 0.5, 1.0, 2.0)]
    assert vals[0] == 0.0 and all(a < b for a, b in zip(vals[:4], vals[1:4])) and vals[3] > 0.99 and vals[4] == vals[3]


def test_domain_head_trains_against_the_features() -> None:
    """The head's own weights descend its loss; the features get the opposite of that loss's gradient."""
    torch.manual_seed(0)
    head = DomainHead(8, 3)
    f = torch.randn(6, 8, requires_grad=True)
    d = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.nn.functional.cross_entropy(head(f, 1.0), d).backward()
    reversed_grad = f.grad.clone()
    f.grad = None
    torch.nn.functional.cross_entropy(head.net(f), d).backward()  # the same head without the reversal
    torch.testing.assert_close(reversed_grad, -f.grad)


@pytest.mark.parametrize("row, key", [
    ({"ct_case": "002", "cohort": "ct"}, "ct:002"), ({"ct_case": 2, "cohort": "ct"}, "ct:2"),
    ({"ct_case": 2.0, "cohort": "ct"}, "ct:2"), ({"ct_case": float("nan"), "cohort": "proof"}, "cohort:proof"),
    ({"cohort": "gespic"}, "cohort:gespic"), ({"ct_case": " ", "cohort": "x"}, "cohort:x"),
])
def test_anatomy_key_of_a_row(row: dict, key: str) -> None:
    assert domain_key(pd.Series(row)) == key


def _cohort(tmp: Path, cases: list[str] | None) -> Path:
    from sijscan.classify.synthetic import write_synthetic_cohort

    m = write_synthetic_cohort(tmp / "syn", n=16, height=48, width=64, seed=1)
    if cases is not None:
        df = pd.read_csv(m)
        df["ct_case"] = [cases[i % len(cases)] for i in range(len(df))]
        df.to_csv(m, index=False)
    return m


def _train(manifest: Path, out: Path, weight: float) -> dict:
    from sijscan.classify.recipe import Stage
    from sijscan.classify.train import quick_recipe_with, train_classifier

    rec = quick_recipe_with(arch="tiny-resnet", stages=(Stage(32, 48, 4, 0, 1e-2, 1, 1e-3),), domain_weight=weight)
    train_classifier(manifest=manifest, view="sij", out_dir=out, recipe=rec, use_mask_crops=True, init="random",
                     accelerator="cpu", progress=False, crop="joints")
    return json.loads((out / "model.json").read_text())


def test_trainer_names_the_anatomies_and_saves_no_domain_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import load_file

    import sijscan.classify.module as mod

    seen: list[int] = []
    real_loss = mod.ClassifierModule._domain_loss

    def spy(self, f, domains, perm, lam):
        seen.append(int(domains.max()))
        return real_loss(self, f, domains, perm, lam)

    monkeypatch.setattr(mod.ClassifierModule, "_domain_loss", spy)
    card = _train(_cohort(tmp_path, ["001", "002", "003"]), tmp_path / "m", 1.0)
    assert card["provenance"]["data"]["adversarial_anatomies"] == ["ct:1", "ct:2", "ct:3"]
    assert card["recipe"]["training"]["domain_weight"] == 1.0
    assert seen and max(seen) == 2  # the head saw the three anatomies' indices
    assert not any(k.startswith("domain") for k in load_file(str(tmp_path / "m" / "weights.safetensors")))
    seen.clear()
    card = _train(_cohort(tmp_path / "one", None), tmp_path / "m1", 1.0)  # one anatomy: nothing to hide
    assert "adversarial_anatomies" not in card["provenance"]["data"] and not seen


def test_cli_refuses_a_bad_weight_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sijscan.cli.main import main

    m = _cohort(tmp_path, ["001", "002"])
    assert main(["train-classifier", "--manifest", str(m), "--view", "sij", "--crop-from-mask", "--out", str(tmp_path / "o"),
                 "--recipe", "quick", "--anatomy-adversarial", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--anatomy-adversarial" in err and len(err.splitlines()) == 1 and not (tmp_path / "o").exists()
