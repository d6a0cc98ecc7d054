"""``sijscan simulate --from-ct`` end to end on a toy case, and on a real shared CT at a small size."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sijscan.cli.main import main
from sijscan.io.manifest import read_manifest
from sijscan.mny import mny_positive
from sijscan.phantom.ct.synthetic import write_toy_case_folder

REAL_CT = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-ct" / "pengwin"


def _write_toy(folder: Path) -> Path:
    return write_toy_case_folder(folder, spacing=2.0, gap_mm=2.0)  # voxel centres 4 mm apart across the joint


def test_simulate_from_ct_end_to_end(tmp_path, capsys):
    case_dir = _write_toy(tmp_path / "case")
    out = tmp_path / "out"
    rc = main(["simulate", "--from-ct", str(case_dir), "--n", "3", "--size", "96", "--seed", "4", "--out", str(out),
               "--profile", "proof_a"])
    assert rc == 0, capsys.readouterr().err
    df = read_manifest(out / "manifest.csv")
    assert len(df) == 3 and set(df["patient_id"]) == {"CT-toy"} and set(df["site"]) == {"proof_a"}
    for _, row in df.iterrows():
        assert row["label"] == mny_positive(int(row["grade_left"]), int(row["grade_right"]))
        img = cv2.imread(str(out / row["image"]), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / row["mask"]), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint16 and img.shape == mask.shape == (int(row["height"]), int(row["width"]))
        assert set(np.unique(mask)) <= {0, 1, 2, 3} and {1, 2, 3} <= set(np.unique(mask))
    assert (out / "cohort.json").is_file()
    # same seed, same pixels
    rc = main(["simulate", "--from-ct", str(case_dir), "--n", "1", "--size", "96", "--seed", "4", "--out",
               str(tmp_path / "again"), "--profile", "proof_a"])
    assert rc == 0
    a = cv2.imread(str(out / df["image"].iloc[0]), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(tmp_path / "again" / "images" / Path(df["image"].iloc[0]).name), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("args, message", [
    (["--from-ct", "MISSING"], "does not exist"),
    (["--from-ct", "EMPTY"], "not a CT case"),
    (["--from-ct", "CASE", "--n", "0"], "n must be >= 1"),
    (["--from-ct", "CASE", "--profile", "nope"], "unknown acquisition profile"),
    (["--from-ct", "CASE", "--format", "dicom"], "PNG only"),
    (["--from-ct", "CASE", "--device", "nonsense"], "device must be"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "EMPTY").mkdir()
    _write_toy(tmp_path / "CASE")
    args = [str(tmp_path / a) if a in ("MISSING", "EMPTY", "CASE") else a for a in args]
    assert main(["simulate", *args, "--size", "96", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_CT / "003").is_dir(), reason="shared real CTs (../shared/real-ct) not present")
def test_real_ct_radiograph_at_small_size():
    from sijscan.phantom.ct.case import load_ct_case
    from sijscan.phantom.ct.render import render_ct_radiograph

    case = load_ct_case(REAL_CT / "003")
    r = render_ct_radiograph(case, size=160, rng=1, profile="gespic", grades={"left": 3, "right": 1})
    assert r.label == 1 and r.image.shape == r.labels.shape == (131, 160)
    cols = {k: np.nonzero(r.labels == k)[1].mean() for k in (1, 2, 3)}
    assert cols[2] < cols[1] < cols[3]
    for side in ("image_left", "image_right"):
        x0, y0, x1, y1 = r.sij_boxes[side]
        patch = r.labels[y0:y1, x0:x1]
        assert (patch == 1).any() and (patch == (2 if side == "image_left" else 3)).any()  # where they meet
    assert set(r.meta["femoral_heads"]) == {"left", "right"}
