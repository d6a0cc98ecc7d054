"""CLI argument errors and file writers (no anatomy renderer needed)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sijscan.cli.main import main
from sijscan.phantom.writers import write_labels, write_png16


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cohort", "proof", "--size", "10"], "size must be"),
        (["--cohort", "proof", "--n", "0"], "--n must be"),
        (["--cohort", "proof", "--shortcut-strength", "1.5"], "--shortcut-strength"),
        (["--cohort", "proof", "--vendor-spread", "-0.2"], "--vendor-spread must be within 0-1"),
        (["--from-ct", "x", "--vendor-spread", "0.5"], "no --followup, --shortcut-strength, --vendor-spread"),
        (["--from-ct", "x", "--bones-from", "001"], "or --bones-from"),
        (["--cohort", "proof", "--bones-from", "001,009", "--n", "1", "--size", "64"],
         "ct_members must name some of the shape set's CTs 001, 002, 003"),
        (["--cohort", "proof", "--bones-from", ",", "--n", "1", "--size", "64"], "ct_members must name"),
        (["--cohort", "proof", "--workers", "0", "--n", "1", "--size", "64"], "workers must be"),
        (["--cohort", "nope"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_errors(tmp_path, capsys, argv, message) -> None:
    rc = main(["simulate", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_help_lists_the_options(capsys) -> None:
    assert main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--cohort", "--n", "--seed", "--out", "--size", "--format", "--followup", "--no-followup",
                "--contact-sheet", "--workers", "--shortcut-strength", "--vendor-spread", "--bones-from"):
        assert opt in out


def test_png16_keeps_values_and_spacing(tmp_path) -> None:
    img = np.linspace(0, 1, 64 * 80, dtype=np.float32).reshape(64, 80)
    path = write_png16(tmp_path / "a.png", img, pixel_spacing_mm=0.2)
    with Image.open(path) as im:
        arr = np.array(im)
        assert im.info["PixelSpacing"] == "0.200000"
        assert im.info["dpi"][0] == pytest.approx(25.4 / 0.2, rel=1e-3)
    assert arr.dtype == np.uint16 and np.abs(arr / 65535.0 - img).max() < 1e-4
    labels = (np.arange(64 * 80).reshape(64, 80) % 4).astype(np.uint8)
    with Image.open(write_labels(tmp_path / "l.png", labels)) as im:
        assert np.array_equal(np.array(im), labels)


def test_relative_out_dir_gives_paths_relative_to_the_manifest(tmp_path, monkeypatch):
    """Regression: a relative --out used to leave cwd-relative paths in manifest.csv."""
    from sijscan.cli.main import main
    from sijscan.io.manifest import read_manifest

    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--cohort", "proof", "--n", "2", "--seed", "1", "--out", "rel", "--size", "128", "--workers", "1"]) == 0
    df = read_manifest(tmp_path / "rel" / "manifest.csv", check_files=True)
    assert len(df) == 2 and all(str(p).startswith(str(tmp_path / "rel")) for p in df["image"])


def test_bones_from_mixes_the_named_cts_only(tmp_path) -> None:
    """--bones-from 001,002: the cohort's hip bones and sacrum leave CT 003's anatomy out (recorded)."""
    import json

    def masks(bones: str | None) -> np.ndarray:
        out = tmp_path / (bones or "all")
        assert main(["simulate", "--cohort", "proof", "--n", "1", "--size", "128", "--workers", "1", "--seed", "3",
                     "--out", str(out), *(["--bones-from", bones] if bones else [])]) == 0
        if bones:
            assert json.loads((out / "cohort.json").read_text())["cohort"]["ct_members"] == bones.split(",")
        return np.asarray(Image.open(next((out / "masks").glob("*.png"))))

    one, other = masks("001"), masks("003")
    assert (one != other).mean() > 0.005  # the same patient draw, other bones: the shapes come from the named CTs
    assert masks("001,002").shape == one.shape
