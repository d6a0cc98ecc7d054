"""End to end: render, write, read back (needs the anatomy renderer ``sijscan.phantom.body_model``)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sijscan.phantom.body_model", reason="anatomy renderer not available yet")

from sijscan.cli.main import main  # noqa: E402
from sijscan.io import read_radiograph  # noqa: E402
from sijscan.mny import mny_positive  # noqa: E402
from sijscan.phantom.profiles import get_profile  # noqa: E402
from sijscan.phantom.simulate import geometry_for, render_spec, simulate_case, simulate_cohort  # noqa: E402
from sijscan.phantom.spec import CaseSpec  # noqa: E402
from sijscan.predict.qc import header_flags  # noqa: E402


def _read_png(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope="module")
def proof_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("proof")
    rc = main(["simulate", "--cohort", "proof", "--n", "8", "--seed", "1", "--out", str(out), "--size", "192",
               "--workers", "1", "--contact-sheet"])
    assert rc == 0
    return out


def test_cli_writes_a_valid_cohort(proof_dir) -> None:
    from sijscan.io.manifest import read_manifest, validate_manifest

    df = read_manifest(proof_dir / "manifest.csv")
    assert len(df) == 8 and validate_manifest(df, base_dir=proof_dir) == []
    for _, row in df.iterrows():
        assert row["label"] == mny_positive(int(row["grade_left"]), int(row["grade_right"]))
        img = _read_png(proof_dir / row["image"])
        mask = _read_png(proof_dir / row["mask"])
        assert img.dtype == np.uint16 and mask.dtype == np.uint8 and img.shape == mask.shape
        assert set(np.unique(mask)) <= {0, 1, 2, 3} and {1, 2, 3} <= set(np.unique(mask))
        x0, y0, x1, y1 = (int(v) for v in row["sij_box_image_left"].split())
        assert 0 <= x0 < x1 <= img.shape[1] // 2 + 10 and 0 <= y0 < y1 <= img.shape[0]
    info = json.loads((proof_dir / "cohort.json").read_text())
    assert info["seed"] == 1 and info["cohort"]["shortcut_strength"] == 0.8
    assert set(info["profiles"]) <= {"proof_a", "proof_b"} and info["n_images"] == 8
    assert (proof_dir / "contact_sheet.png").stat().st_size > 0


def test_same_seed_same_pixels_for_any_worker_count(tmp_path, proof_dir) -> None:
    a = simulate_cohort("proof", n=8, seed=1, out_dir=tmp_path / "a", size=192, workers=2)
    df_a = pd.read_csv(a)
    assert df_a.drop(columns=["image", "mask"]).equals(pd.read_csv(proof_dir / "manifest.csv").drop(
        columns=["image", "mask"]))
    for _, row in df_a.iterrows():  # same pixels as the 1-worker run
        assert np.array_equal(_read_png(tmp_path / "a" / row["image"]), _read_png(proof_dir / row["image"]))
        assert np.array_equal(_read_png(tmp_path / "a" / row["mask"]), _read_png(proof_dir / row["mask"]))
    b = simulate_cohort("proof", n=8, seed=2, out_dir=tmp_path / "b", size=192, workers=1)
    row = pd.read_csv(b).iloc[0]
    assert not np.array_equal(_read_png(tmp_path / "b" / row["image"]),
                              _read_png(tmp_path / "a" / df_a.iloc[0]["image"]))


def test_mask_matches_projected_bones() -> None:
    from sijscan.phantom.body_model import render_projection

    spec = CaseSpec(anatomy_seed=11, severity_left=2.0)
    image, labels, truth = render_spec(spec, profile="gespic", size=256, seed=3)
    proj = render_projection(spec, geometry_for(get_profile("gespic"), 256))
    assert np.array_equal(labels, proj.labels)
    assert float(proj.bone[labels > 0].mean()) > 3 * float(proj.bone[labels == 0].mean() + 1e-6)
    bones = labels > 0
    ring = cv2.dilate(bones.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~bones
    assert image[bones].mean() > image[ring].mean()  # bone bright next to its surroundings


def test_followup_pairs_and_monotone(tmp_path) -> None:
    manifest = simulate_cohort("gespic", n=8, seed=4, out_dir=tmp_path, size=128, workers=1)
    df = pd.read_csv(manifest)
    fu = pd.read_csv(tmp_path / "manifest_followup.csv")
    assert len(fu) == round(8 * 251 / 436) and set(fu["patient_id"]) <= set(df["patient_id"])
    paired = df.dropna(subset=["followup_image"])
    assert set(paired["patient_id"]) == set(fu["patient_id"])
    for _, r in paired.iterrows():
        assert r["followup_grade_left"] >= r["grade_left"] and r["followup_grade_right"] >= r["grade_right"]
        assert (tmp_path / r["followup_image"]).is_file()
    for _, r in fu.iterrows():
        assert r["label"] == mny_positive(int(r["grade_left"]), int(r["grade_right"]))


@pytest.mark.parametrize("cohort", ["proof", "optiref"])
def test_dicom_tags_and_read_back(tmp_path, cohort) -> None:
    import pydicom

    manifest = simulate_cohort(cohort, n=2, seed=5, out_dir=tmp_path, size=160, fmt="dicom", workers=1)
    df = pd.read_csv(manifest)
    row = df.iloc[0]
    ds = pydicom.dcmread(tmp_path / row["image"])
    prof = get_profile(row["site"])
    assert ds.PhotometricInterpretation == prof.photometric == row["photometric"]
    assert ds.BitsAllocated == 16 and ds.BitsStored == prof.bits_stored and ds.HighBit == prof.bits_stored - 1
    assert ds.PixelRepresentation == 0 and ds.Modality == prof.modality
    assert float(ds.PixelSpacing[0]) == pytest.approx(prof.field_long_mm / 160, rel=1e-5)
    assert float(ds.ImagerPixelSpacing[0]) == pytest.approx(float(ds.PixelSpacing[0]))
    assert ds.BodyPartExamined == "PELVIS" and ds.ViewPosition == "AP" and ds.Manufacturer == "sijscan phantom"
    assert str(ds.PatientName) == f"PHANTOM^{cohort.upper()}" and ds.PatientID == row["patient_id"]
    assert float(ds.KVP) == prof.kvp and int(ds.pixel_array.max()) <= (1 << prof.bits_stored) - 1
    # the phantom is drawn in the standard AP display (patient's right on the image's left), and its header
    # says so: input QC finds nothing to object to in the DICOM tags (a mirrored PatientOrientation is withheld)
    assert list(ds.PatientOrientation) == ["L", "F"]
    assert header_flags(read_radiograph(tmp_path / row["image"]).metadata) == []
    again = simulate_cohort(cohort, n=1, seed=5, out_dir=tmp_path / "again", size=160, fmt="dicom", workers=1)
    ds2 = pydicom.dcmread(tmp_path / "again" / pd.read_csv(again).iloc[0]["image"])
    assert ds2.SOPInstanceUID == ds.SOPInstanceUID and np.array_equal(ds2.pixel_array, ds.pixel_array)
    reader = pytest.importorskip("sijscan.io.reader")
    rad = reader.read_radiograph(tmp_path / row["image"])
    mask = _read_png(tmp_path / row["mask"])
    assert rad.pixel_spacing_mm == pytest.approx(prof.field_long_mm / 160, rel=1e-5)
    assert rad.pixels[mask == 1].mean() > rad.pixels[mask == 0].mean() + 0.05  # bone bright after reading


def test_png_read_back_bone_bright(proof_dir) -> None:
    reader = pytest.importorskip("sijscan.io.reader")
    row = pd.read_csv(proof_dir / "manifest.csv").iloc[0]
    rad = reader.read_radiograph(proof_dir / row["image"])
    png = _read_png(proof_dir / row["image"]).astype(np.float32) / 65535.0
    mask = _read_png(proof_dir / row["mask"])
    assert np.allclose(rad.pixels, png, atol=2e-3)
    assert rad.pixels[mask == 1].mean() > rad.pixels[mask == 0].mean() + 0.05
    if rad.pixel_spacing_mm is not None:
        assert rad.pixel_spacing_mm == pytest.approx(row["pixel_spacing_mm"], rel=1e-3)


def test_profiles_change_pixels_not_grade_meaning() -> None:
    """Same spec under two hospitals: same label map and boxes, different image statistics, and the
    SIJ signal moves the same way with severity."""
    profiles = [replace(get_profile(n), field_long_mm=410.0, aspect=0.82, collimation_prob=0.0)
                for n in ("proof_a", "damact")]
    stats, sij_delta = [], []
    for prof in profiles:
        per_sev = []
        for sev in (0.0, 4.2):
            spec = CaseSpec(anatomy_seed=21, severity_left=sev, severity_right=sev, bowel_gas=0.0)
            image, labels, truth = render_spec(spec, profile=prof, size=256, seed=8)
            per_sev.append((image, labels, truth))
        (img0, lab0, t0), (img4, lab4, t4) = per_sev
        stats.append((float(img0.mean()), float(np.std(np.diff(img0, axis=1)))))
        sij = np.zeros(lab0.shape, bool)
        for x0, y0, x1, y1 in t0["sij_boxes"].values():
            sij[y0:y1, x0:x1] = True
        sij_delta.append(float(img4[sij].mean() - img0[sij].mean()))
        if prof is profiles[0]:
            ref_labels, ref_boxes = lab0, t0["sij_boxes"]
        else:
            assert np.array_equal(lab0, ref_labels) and t0["sij_boxes"] == ref_boxes
    assert stats[0] != stats[1]
    assert np.sign(sij_delta[0]) == np.sign(sij_delta[1]) != 0


def test_simulate_case_returns_truth() -> None:
    image, labels, truth = simulate_case(cohort="damact", index=2, seed=0, size=128)
    assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0
    assert labels.shape == image.shape and truth["label"] == mny_positive(truth["grade_left"], truth["grade_right"])
    assert set(truth["sij_boxes"]) == {"image_left", "image_right"}


def test_simulate_case_takes_profile_overrides() -> None:
    over = {"profiles": {"damact": {"age_mean": 70.0, "age_sd": 0.5, "kvp": 70.0}}}
    _, _, truth = simulate_case(cohort="damact", index=1, seed=0, size=96, overrides=over)
    assert 68.0 <= truth["age"] <= 72.0 and truth["acquisition"]["kvp"] == 70.0


def test_cli_followup_switch(tmp_path) -> None:
    assert main(["simulate", "--cohort", "gespic", "--n", "4", "--seed", "0", "--out", str(tmp_path / "off"),
                 "--size", "96", "--workers", "1", "--no-followup"]) == 0
    assert not (tmp_path / "off" / "manifest_followup.csv").exists()
    assert pd.read_csv(tmp_path / "off" / "manifest.csv")["followup_image"].isna().all()
    assert main(["simulate", "--cohort", "damact", "--n", "4", "--seed", "0", "--out", str(tmp_path / "on"),
                 "--size", "96", "--workers", "1", "--followup", "--shortcut-strength", "0"]) == 0
    fu = pd.read_csv(tmp_path / "on" / "manifest_followup.csv")
    assert len(fu) == round(4 * 251 / 436)
    info = json.loads((tmp_path / "on" / "cohort.json").read_text())
    assert info["cohort"]["followup"] is True and info["cohort"]["shortcut_strength"] == 0.0


def test_write_display_dicom_round_trips_through_the_reader(tmp_path: Path) -> None:
    from sijscan.io import read_radiograph
    from sijscan.phantom.writers import PhantomWriteError, write_display_dicom

    img = np.linspace(0.0, 1.0, 48 * 64).reshape(48, 64)
    write_display_dicom(tmp_path / "d.dcm", img, pixel_spacing_mm=0.2)
    rad = read_radiograph(tmp_path / "d.dcm")
    assert rad.pixels.shape == (48, 64) and rad.photometric == "MONOCHROME2"
    np.testing.assert_allclose(rad.pixels, img, atol=2e-5)  # 16-bit quantisation, full-range window
    assert rad.pixel_spacing_mm == pytest.approx(0.2)
    with pytest.raises(PhantomWriteError):
        write_display_dicom(tmp_path / "v.dcm", np.zeros((2, 3, 4)))
