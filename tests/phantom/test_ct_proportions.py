"""Anatomy variants of a CT (issue 22): the same bones with other proportions or bone density, drawn per render group."""
from __future__ import annotations

import numpy as np
import pytest

from sijscan.phantom.ct.cohort import CTCohortError, render_ct_cohort
from sijscan.phantom.ct.joint import joint_report
from sijscan.phantom.ct.proportions import DENSITY_RANGE, SCALE_RANGE_ZYX, denser, rescaled, sample_scales, variant_of
from sijscan.phantom.ct.synthetic import toy_case


@pytest.fixture(scope="module")
def toy():
    return toy_case(spacing=2.0, gap_mm=2.0)  # a 3 mm gap stretched by 1.14 is no longer found as a joint


def test_scales_are_drawn_within_the_anatomical_ranges_on_a_log_scale():
    rng = np.random.default_rng(0)
    draws = np.array([sample_scales(rng) for _ in range(2000)])
    for axis, (lo, hi) in enumerate(SCALE_RANGE_ZYX):
        assert draws[:, axis].min() >= lo and draws[:, axis].max() <= hi
        logs = np.log(draws[:, axis])
        assert abs(np.median(logs) - (np.log(lo) + np.log(hi)) / 2) < 0.02  # log-uniform: median at the log-centre
    assert abs(np.corrcoef(draws[:, 0], draws[:, 2])[0, 1]) < 0.1  # axes independent


def test_a_variant_shares_the_voxels_and_stretches_the_joint(toy):
    v = rescaled(toy, (1.2, 1.0, 0.9))
    assert v.hu is toy.hu and v.labels is toy.labels and v.name == toy.name and v.cache == {}
    assert v.spacing == pytest.approx((2.4, 2.0, 1.8))
    before, after = joint_report(toy), joint_report(v)
    assert after["left"]["height_mm"] == pytest.approx(1.2 * before["left"]["height_mm"], rel=0.02)
    assert after["left"]["gap_mm_median"] < before["left"]["gap_mm_median"]  # the lateral axis shrank: a narrower joint


ONES = {"scale_z": 1.0, "scale_y": 1.0, "scale_x": 1.0, "density": 1.0}


def test_variant_zero_is_the_ct_as_scanned_and_others_depend_only_on_seed_and_index(toy):
    assert variant_of(toy, 0, seed=5) == (toy, ONES)
    a, sa = variant_of(toy, 3, seed=5)
    b, sb = variant_of(toy, 3, seed=5)
    assert sa == sb and all(sa[k] != 1.0 for k in ONES) and a is not toy and a.spacing == b.spacing
    assert variant_of(toy, 4, seed=5)[1] != sa and variant_of(toy, 3, seed=6)[1] != sa
    # one knob at a time: the same draws, the other factor left at 1
    p, wp = variant_of(toy, 3, seed=5, vary=("proportions",))
    d, wd = variant_of(toy, 3, seed=5, vary=("density",))
    assert wp == {**sa, "density": 1.0} and p.hu is toy.hu
    assert wd == {**ONES, "density": sa["density"]} and d.spacing == toy.spacing
    with pytest.raises(ValueError, match="vary must name"):
        variant_of(toy, 1, seed=5, vary=("colour",))


def test_a_density_variant_scales_the_bone_only_and_keeps_the_labels(toy):
    lo, hi = DENSITY_RANGE
    assert lo < 1.0 < hi
    d = denser(toy, 1.3)
    bone = toy.labels > 0
    assert d.labels is toy.labels and d.cache == {} and d.name == toy.name and toy.hu.max() == 300  # the toy untouched
    assert np.all(d.hu[bone] == 390) and np.all(d.hu[~bone] == toy.hu[~bone])


def test_a_cohort_of_variants_renders_each_variant_together_and_keeps_variant_zero(toy, tmp_path, monkeypatch):
    import sijscan.phantom.ct.cohort as cohort
    from sijscan.io.manifest import read_manifest

    spacings: list[tuple] = []
    import sijscan.phantom.ct.batch as batch

    render = batch.render_ct_radiograph

    def spy(case, **kwargs):
        spacings.append(case.spacing)
        return render(case, **kwargs)

    monkeypatch.setattr(batch, "render_ct_radiograph", spy)
    m = render_ct_cohort([toy], tmp_path / "v", n=6, size=96, seed=4, variants=3)
    assert sum(a != b for a, b in zip(spacings, spacings[1:])) == 2  # three variants, each in one run
    df = read_manifest(m)
    assert df["anatomy_variant"].tolist() == [0, 1, 2, 0, 1, 2]
    assert (df.loc[df.anatomy_variant == 0, ["scale_z", "scale_y", "scale_x", "density"]] == 1.0).all().all()
    assert (df.loc[df.anatomy_variant > 0, "density"] != 1.0).all()
    assert df.loc[df.anatomy_variant == 1, "scale_z"].nunique() == 1 and df.loc[1, "scale_z"] != 1.0
    assert set(df["patient_id"]) == {"CT-toy"}  # a variant is the same patient (split by it)
    plain = render_ct_cohort([toy], tmp_path / "p", n=6, size=96, seed=4)
    dp = read_manifest(plain)
    assert "anatomy_variant" not in dp.columns
    img = lambda root, j: (root / "images" / f"ct_toy_{j:04d}.png").read_bytes()  # noqa: E731
    assert img(tmp_path / "v", 0) == img(tmp_path / "p", 0) and img(tmp_path / "v", 3) == img(tmp_path / "p", 3)
    assert img(tmp_path / "v", 1) != img(tmp_path / "p", 1)  # the same draws on another anatomy
    assert df["grade_left"].tolist() == dp["grade_left"].tolist()


def test_variants_below_one_or_an_unknown_vary_are_refused(toy, tmp_path):
    with pytest.raises(CTCohortError, match="variants must be >= 1"):
        render_ct_cohort([toy], tmp_path, n=2, size=64, variants=0)
    with pytest.raises(CTCohortError, match="vary must name some of proportions, density"):
        render_ct_cohort([toy], tmp_path, n=2, size=64, variants=2, vary=("shape",))


def test_cli_renders_anatomy_variants_from_ct_only(tmp_path, capsys):
    import json

    from sijscan.cli.main import main
    from sijscan.io.manifest import read_manifest
    from sijscan.phantom.ct.synthetic import write_toy_case_folder

    case = write_toy_case_folder(tmp_path / "case", spacing=2.0, gap_mm=2.0)
    out = tmp_path / "out"
    assert main(["simulate", "--from-ct", str(case), "--n", "2", "--size", "64", "--out", str(out),
                 "--anatomy-variants", "2", "--anatomy-vary", "proportions"]) == 0
    df = read_manifest(out / "manifest.csv")
    assert df["anatomy_variant"].tolist() == [0, 1] and df.loc[1, "scale_z"] != 1.0 and df.loc[1, "density"] == 1.0
    info = json.loads((out / "cohort.json").read_text())
    assert info["anatomy_variants"] == 2 and info["anatomy_scale_range_zyx"] == [list(r) for r in SCALE_RANGE_ZYX]
    capsys.readouterr()
    assert main(["simulate", "--cohort", "proof", "--n", "2", "--out", str(tmp_path / "p"), "--anatomy-variants", "3"]) == 2
    assert "--from-ct" in capsys.readouterr().err
    assert main(["simulate", "--cohort", "proof", "--n", "2", "--out", str(tmp_path / "q"), "--anatomy-vary", "density"]) == 2
    assert "--from-ct" in capsys.readouterr().err and not (tmp_path / "q").exists()
    assert main(["simulate", "--from-ct", str(case), "--n", "2", "--size", "64", "--out", str(tmp_path / "z"),
                 "--anatomy-variants", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "variants must be >= 1" in err and len(err.splitlines()) == 1
    assert main(["simulate", "--from-ct", str(case), "--n", "2", "--size", "64", "--out", str(tmp_path / "y"),
                 "--anatomy-variants", "2", "--anatomy-vary", "colour"]) == 2
    err = capsys.readouterr().err.strip()
    assert "vary must name some of proportions, density" in err and len(err.splitlines()) == 1
