"""segmenter.train's augmentation and data-mixing keys: parsed strictly, defaults, reach the trainer."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sijscan.study import stage_functions as work
from sijscan.study.config import StudyConfigError, config_from_dict
from sijscan.study.context import StageContext


def test_old_config_keeps_the_basic_recipe(minimal) -> None:
    t = config_from_dict(minimal()).segmenter.train
    assert (t.augment, t.extra_manifest, t.extra_weight) == ("basic", None, 0.5)


def test_new_keys_parse_and_resolve_relative_paths(minimal, tmp_path: Path) -> None:
    data = minimal(segmenter__train__augment="strong", segmenter__train__extra_manifest="ct/manifest.csv",
                   segmenter__train__extra_weight=0.3)
    t = config_from_dict(data, base_dir=tmp_path).segmenter.train
    assert t.augment == "strong" and t.extra_weight == 0.3
    assert t.extra_manifest == str(tmp_path / "ct" / "manifest.csv")


@pytest.mark.parametrize("changes, key", [
    ({"segmenter__train__augment": "heavy"}, "segmenter.train.augment"),
    ({"segmenter__train__extra_manifest": "x.csv", "segmenter__train__extra_weight": 1.0},
     "segmenter.train.extra_weight"),
    ({"segmenter__train__extra_manifest": "x.csv", "segmenter__train__extra_weight": "half"},
     "segmenter.train.extra_weight"),
    ({"segmenter__train__extra_weight": 0.3}, "segmenter.train.extra_weight"),  # without extra_manifest
    ({"segmenter__train__extra_manifest": ""}, "segmenter.train.extra_manifest"),
])
def test_bad_values_are_named(minimal, changes: dict, key: str) -> None:
    with pytest.raises(StudyConfigError) as err:
        config_from_dict(minimal(**changes))
    assert str(err.value).startswith(key + ":") and "\n" not in str(err.value)


def test_segmenter_stage_passes_the_keys_to_the_trainer(minimal, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import sijscan.anatomy.train as train_mod
    import sijscan.modelfolder as mf

    seen: dict[str, Any] = {}

    def fake_train(*, manifest: str, out_dir: Any, config: Any, resume: bool = False) -> Path:
        seen["config"] = config
        return Path(out_dir)

    monkeypatch.setattr(train_mod, "train_segmenter", fake_train)
    monkeypatch.setattr(mf, "read_card", lambda folder: SimpleNamespace(provenance={"val_dice": 0.5}))
    cfg = config_from_dict(minimal(segmenter__train__augment="strong", segmenter__train__extra_manifest="ct.csv",
                                   segmenter__train__extra_weight=0.25), base_dir=tmp_path)
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "segmenter",
                       upstream={"cohorts": {"proof": {"manifest": "proof.csv"}}})
    work.run_segmenter(ctx)
    tc = seen["config"]
    assert (tc.augment, tc.extra_manifest, tc.extra_weight) == ("strong", str(tmp_path / "ct.csv"), 0.25)
