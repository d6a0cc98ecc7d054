"""CT-route realism in a study (issue 24): the ``realism`` key of a CT-route spec, its renders, its record."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sijscan.phantom.ct.realism import REALISM_PRESETS
from sijscan.study.config import REALISM_LEVELS, StudyConfigError, config_from_dict
from sijscan.study.outputs import CTRenders, SegmenterOutput
from sijscan.study.stages import STAGES, cache_key


def test_realism_parses_with_off_as_default(minimal, tmp_path: Path) -> None:
    assert REALISM_LEVELS == tuple(REALISM_PRESETS)  # the config offers exactly the renderer's presets
    data = minimal(segmenter__train__ct_route={"cases": ["cts/001"], "realism": "varied"},
                   classifiers__ct_route={"cases": ["cts/001"]},
                   cohorts__ct9={"ct": {"cases": ["cts/009"], "realism": "stress"}})
    cfg = config_from_dict(data, base_dir=tmp_path)
    assert cfg.segmenter.train.ct_route.realism == "varied"
    assert cfg.classifiers.ct_route.realism == "off"
    assert next(c for c in cfg.cohorts if c.name == "ct9").ct.realism == "stress"
    # YAML reads an unquoted `off` as False
    data = minimal(segmenter__train__ct_route={"cases": ["cts/001"], "realism": False})
    assert config_from_dict(data, base_dir=tmp_path).segmenter.train.ct_route.realism == "off"


@pytest.mark.parametrize("value", ["hard", True, 1])
def test_a_bad_realism_is_refused_in_one_line_naming_the_key(minimal, value) -> None:
    data = minimal(segmenter__train__ct_route={"cases": ["cts/001"], "realism": value})
    with pytest.raises(StudyConfigError) as err:
        config_from_dict(data)
    msg = str(err.value)
    assert msg.startswith("segmenter.train.ct_route.realism: must be one of off, varied, stress") and "\n" not in msg


def test_the_segmenter_stage_key_changes_with_realism(minimal, tmp_path: Path) -> None:
    stage = next(s for s in STAGES if s.name == "segmenter")
    upstream = {u: "k" for u in stage.upstream}

    def key(realism: str) -> str:
        data = minimal(segmenter__train__ct_route={"cases": ["cts/001"], "realism": realism})
        return cache_key(stage, config_from_dict(data, base_dir=tmp_path), upstream)

    assert key("off") != key("varied") != key("stress") != key("off")


def test_ct_renders_record_their_realism_and_old_records_read_as_plain() -> None:
    # a done.json written before issue 24
    old = {"cases": ["/x/001"], "skipped": [], "n_per_case": 2, "size": 96, "n_images": 2}
    assert CTRenders.from_json(old).realism == "off"
    new = CTRenders.from_json({**old, "realism": "varied"})
    assert new.realism == "varied" and CTRenders.from_json(new.to_json()) == new


def test_render_ct_set_renders_under_the_spec_realism_and_says_so(minimal, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from sijscan.io import read_manifest, read_radiograph
    from sijscan.phantom.ct.synthetic import write_toy_case_folder
    from sijscan.study.ct_renders import render_ct_set
    from sijscan.study.report import segmenter_line

    write_toy_case_folder(tmp_path / "cts" / "toy")
    # "varied" without its lumbar spine: building L1-L5 and the ribs for the toy CT takes minutes; every
    # other element (and the draw order) is the preset's
    monkeypatch.setitem(REALISM_PRESETS, "varied", dataclasses.replace(REALISM_PRESETS["varied"], p_lumbar=0.0))
    images, infos = {}, {}
    for realism in ("off", "varied"):
        data = minimal(segmenter__train__ct_route={"cases": ["cts/toy"], "n": 1, "size": 96, "realism": realism})
        spec = config_from_dict(data, base_dir=tmp_path).segmenter.train.ct_route
        manifest, infos[realism] = render_ct_set(spec, out=tmp_path / realism, seed=5, use="segmenter",
                                                 split="train", where="segmenter.train.ct_route")
        df = read_manifest(manifest)
        assert len(df) == 1
        assert (df["realism"] == "varied").all() if realism == "varied" else "realism" not in df.columns
        images[realism] = [read_radiograph(p).pixels for p in df["image"]]
    # same seed, same pose and profile draws: only the realism differs, and it shows in every render
    for plain, varied in zip(images["off"], images["varied"]):
        assert plain.shape != varied.shape or not np.allclose(plain, varied)
    assert infos["off"]["realism"] == "off" and infos["varied"]["realism"] == "varied"
    out = SegmenterOutput(model="m", trained=True, arch="unet-default", augment="strong", val_dice=0.5,
                          ct_route=CTRenders.from_json(infos["varied"]))
    assert out.ct_route.realism == "varied" and "realism varied" in segmenter_line(out)
    plain = SegmenterOutput(model="m", trained=True, arch="unet-default", ct_route=CTRenders.from_json(infos["off"]))
    assert "plain renders" in segmenter_line(plain)


def test_anatomy_variants_parse_key_the_stage_render_and_are_recorded(minimal, tmp_path: Path) -> None:
    from sijscan.io import read_manifest
    from sijscan.phantom.ct.synthetic import write_toy_case_folder
    from sijscan.study.ct_renders import render_ct_set
    from sijscan.study.report import segmenter_line

    from sijscan.phantom.ct.proportions import VARY
    from sijscan.study.config import ANATOMY_VARY

    assert ANATOMY_VARY == VARY  # the config offers exactly what the renderer varies
    stage = next(s for s in STAGES if s.name == "classifiers")
    upstream = {u: "k" for u in stage.upstream}
    cfgs = {v: config_from_dict(minimal(classifiers__ct_route={"cases": ["cts/toy"], "n": 2, "size": 96,
                                                               **({} if v is None else {"variants": v})}),
                                base_dir=tmp_path) for v in (None, 1, 2)}
    assert cfgs[None].classifiers.ct_route.variants == 1 and cfgs[2].classifiers.ct_route.variants == 2
    assert cache_key(stage, cfgs[1], upstream) != cache_key(stage, cfgs[2], upstream)
    with pytest.raises(StudyConfigError, match="classifiers.ct_route.variants"):
        config_from_dict(minimal(classifiers__ct_route={"cases": ["cts/toy"], "variants": 0}), base_dir=tmp_path)
    assert cfgs[2].classifiers.ct_route.vary == ("proportions", "density")
    one = config_from_dict(minimal(classifiers__ct_route={"cases": ["cts/toy"], "variants": 2, "vary": "density"}),
                           base_dir=tmp_path)
    assert one.classifiers.ct_route.vary == ("density",)
    assert cache_key(stage, one, upstream) != cache_key(stage, cfgs[2], upstream)
    for bad in ("shape", [], ["density", "age"]):
        with pytest.raises(StudyConfigError, match=r"classifiers.ct_route.vary: must be a list of some of proportions, density"):
            config_from_dict(minimal(classifiers__ct_route={"cases": ["cts/toy"], "vary": bad}), base_dir=tmp_path)
    write_toy_case_folder(tmp_path / "cts" / "toy")
    manifest, info = render_ct_set(cfgs[2].classifiers.ct_route, out=tmp_path / "r", seed=5, use="classifiers",
                                   split="train", where="classifiers.ct_route")
    df = read_manifest(manifest)
    assert df["anatomy_variant"].tolist() == [0, 1] and info["variants"] == 2 and df.loc[1, "density"] != 1.0
    rec = CTRenders.from_json(info)
    assert rec.variants == 2 and CTRenders.from_json({k: v for k, v in info.items() if k != "variants"}).variants == 1
    out = SegmenterOutput(model="m", trained=True, arch="unet-default", ct_route=rec)
    assert "2 anatomy variants per CT (proportions and density)" in segmenter_line(out)
