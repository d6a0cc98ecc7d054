"""Scale-out prediction (Lightning Trainer.predict, DDP): same rows as the single-process path, rank files, resume."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sijscan.cli.main import main
from test_standins import draw_pelvis, make_models

N_GOOD = 10


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return make_models(tmp_path_factory.mktemp("scale-models"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("scale-in")
    (d / "sub").mkdir()
    for i in range(N_GOOD):
        img, _ = draw_pelvis(seed=i)
        if i == 7:
            img = np.random.default_rng(7).random(img.shape).astype(np.float32)  # noise: QC withholds it
        cv2.imwrite(str(d / ("sub" if i % 3 == 0 else "") / f"case{i}.png"), (img * 255).astype(np.uint8))
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 12)  # a truncated PNG
    cv2.imwrite(str(d / "flat.png"), np.full((40, 50), 90, np.uint8))  # constant: the reader refuses it
    return d


@pytest.fixture(scope="module")
def reference(models: Path, folder: Path, tmp_path_factory) -> dict[str, dict[str, str]]:
    """The single-process path's rows (run_batch), what every scale-out run must reproduce."""
    out = tmp_path_factory.mktemp("scale-ref")
    assert main(["predict", str(folder), "--model", str(models), "--out", str(out), "--device", "cpu",
                 "--gradcam", "--batch-size", "4"]) == 1
    return _rows(out)


def _rows(out: Path, name: str = "predictions.csv") -> dict[str, dict[str, str]]:
    with open(out / name, newline="") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


def _assert_same(rows: dict[str, dict[str, str]], ref: dict[str, dict[str, str]]) -> None:
    assert list(rows) != [] and set(rows) == set(ref)
    for image, r in ref.items():
        got = rows[image]
        for col, want in r.items():
            if col == "total_s":
                continue
            if col.startswith("probability") and want:
                assert abs(float(got[col]) - float(want)) <= 1e-6, (image, col)
            else:
                assert got[col] == want, (image, col, got[col], want)


def test_reference_is_a_fair_comparison(reference: dict[str, dict[str, str]]) -> None:
    assert len(reference) == N_GOOD + 2 and reference["broken.png"]["error"] and reference["flat.png"]["error"]
    assert reference["case7.png"]["qc_passed"] == "false" and reference["case7.png"]["decision"] == ""
    good = [r for r in reference.values() if not r["error"]]
    assert sum(r["decision"] in ("0", "1") for r in good) == N_GOOD - 1
    assert len({r["probability"] for r in good}) > 3  # the images differ, so do their probabilities


def test_loader_path_in_process_matches_and_resumes(models: Path, folder: Path, tmp_path: Path,
                                                    reference: dict[str, dict[str, str]]) -> None:
    out = tmp_path / "out"
    args = ["predict", str(folder), "--model", str(models), "--out", str(out), "--device", "cpu",
            "--loader-workers", "0", "--batch-size", "3", "--gradcam"]
    assert main(args) == 1
    _assert_same(_rows(out), reference)
    assert list(_rows(out)) == list(reference)  # input order
    assert set(_rows(out / "ranks", "predictions.rank0.csv")) == set(reference)
    from sijscan.predict.many_files import safe_stem

    assert (out / "images" / f"{safe_stem('sub/case0.png')}_gradcam.png").is_file()
    assert (out / "images" / "case1.png.json").is_file() and not (out / "images" / "broken.png.json").exists()
    stamp = (out / "images" / "case1.png.json").stat().st_mtime_ns
    # rerun: the finished images are skipped, only the broken file is retried (and fails again)
    assert main(args) == 1
    assert (out / "images" / "case1.png.json").stat().st_mtime_ns == stamp
    assert set(_rows(out / "ranks", "predictions.rank0.csv")) == {"broken.png", "flat.png"}
    _assert_same(_rows(out), reference)
    # --overwrite redoes everything
    assert main([*args, "--overwrite"]) == 1
    assert (out / "images" / "case1.png.json").stat().st_mtime_ns != stamp
    _assert_same(_rows(out), reference)


def test_interrupted_run_rows_are_recovered(models: Path, folder: Path, tmp_path: Path,
                                            reference: dict[str, dict[str, str]],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["predict", str(folder), "--model", str(models), "--out", str(out), "--device", "cpu",
            "--loader-workers", "0"]
    assert main([*args, "--report"]) == 1
    assert "case1.png" in (out / "report.html").read_text()
    (out / "predictions.csv").unlink()  # as if rank 0 died before merging
    capsys.readouterr()
    assert main(args) == 1
    assert "predicted 0, skipped 10 already done" in capsys.readouterr().out
    _assert_same(_rows(out), reference)


def test_full_view_without_segmenter(tmp_path: Path, folder: Path) -> None:
    root = make_models(tmp_path / "m", view="full", grade_head=False)
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert main(["predict", str(folder), "--model", str(root), "--out", str(ref), "--device", "cpu"]) == 1
    assert main(["predict", str(folder), "--model", str(root), "--out", str(out), "--device", "cpu",
                 "--loader-workers", "0"]) == 1
    _assert_same(_rows(out), _rows(ref))


def test_scaleout_usage_errors(models: Path, folder: Path, tmp_path: Path) -> None:
    base = ["predict", str(folder), "--model", str(models), "--out", str(tmp_path / "o")]
    assert main([*base, "--devices", "0"]) == 2
    assert main([*base, "--loader-workers", "-1"]) == 2
    assert main([*base, "--loader-workers", "0", "--device", "cuda:1"]) == 2
    if not torch.cuda.is_available():
        assert main([*base, "--loader-workers", "0", "--accelerator", "gpu"]) == 2


WRAPPER = """import sys
sys.path.insert(0, {tests!r})
import test_standins  # registers the stand-in segmenter's architecture in every process
from sijscan.cli.main import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_two_gloo_processes_match_the_single_process_path(models: Path, folder: Path, tmp_path: Path,
                                                          reference: dict[str, dict[str, str]]) -> None:
    script = tmp_path / "run_sijscan.py"  # Lightning re-launches this script for rank 1
    script.write_text(WRAPPER.format(tests=str(Path(__file__).resolve().parent)))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    # -v: the Lightning INFO lines naming the processes and the backend follow the CLI log level
    cmd = [sys.executable, str(script), "-v", "predict", str(folder), "--model", str(models), "--out", str(out),
           "--devices", "2", "--accelerator", "cpu", "--loader-workers", "1", "--batch-size", "2", "--gradcam"]
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log[-3000:]  # the bad files
    assert "distributed_backend=gloo" in log and "Starting with 2 processes" in log
    assert "Traceback" not in log, log[-3000:]
    _assert_same(_rows(out), reference)
    assert list(_rows(out)) == list(reference)
    r0, r1 = (set(_rows(out / "ranks", f"predictions.rank{r}.csv")) for r in (0, 1))
    assert r0 and r1 and not r0 & r1 and r0 | r1 == set(reference)
    assert len(list((out / "images").glob("*.json"))) == N_GOOD
    # rerun without the bad files: everything is done, nothing is launched or rewritten, exit 0
    bad = ("broken.png", "flat.png")
    for name in bad:
        (folder / name).rename(tmp_path / name)
    try:
        stamp = (out / "images" / "case1.png.json").stat().st_mtime_ns
        proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300, env=env)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        assert "predicted 0, skipped 10 already done" in proc.stdout
        assert "Starting with 2 processes" not in proc.stdout + proc.stderr
        assert (out / "images" / "case1.png.json").stat().st_mtime_ns == stamp
    finally:
        for name in bad:
            (tmp_path / name).rename(folder / name)


# --- every option on every path (issue 23): --fast, --masks and --backend onnx were refused here ---
def _option_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Windowed stand-in models exported to ONNX, 4 drawn images, a corrected mask for one of them."""
    from PIL import Image
    from test_fast_mode import _windowed

    models = _windowed(tmp_path / "models")  # 32 px windows: --fast changes this stand-in's labels
    assert main(["export-onnx", "--model", str(models), "--exporter", "torchscript"]) == 0
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i in range(4):
        img, labels = draw_pelvis(seed=20 + i)
        cv2.imwrite(str(images / f"p{i}.png"), (img * 255).astype(np.uint8))
    own = labels.copy()
    own[:, :30][own[:, :30] == 2] = 0  # a user's correction of p3
    Image.fromarray(own).save(masks / "p3_mask.png")
    return models, images, masks


def _check_options_took_effect(out: Path, masks: Path, no_fast: dict[str, dict[str, str]]) -> None:
    import json

    from PIL import Image

    from sijscan.anatomy.localize import locate_sij

    rows = _rows(out)
    own = np.asarray(Image.open(masks / "p3_mask.png"))
    assert rows["p3.png"]["sij_box"] == " ".join(map(str, locate_sij(own, dilation_frac=0.1, margin_frac=0.1).box))
    detail = json.loads(next((out / "images").glob("p3.png*.json")).read_text())
    assert any("label map given by the user" in w for w in detail["qc_warnings"])
    assert any(rows[f"p{i}.png"]["sij_box"] != no_fast[f"p{i}.png"]["sij_box"] for i in range(3))  # --fast ran
    run = json.loads((out / "run.json").read_text())
    assert run["identity"]["settings"] == {"backend": "onnx", "fast": True, "own_masks": True}


def test_loader_path_takes_fast_masks_and_onnx(tmp_path: Path) -> None:
    models, images, masks = _option_inputs(tmp_path)
    base = ["predict", str(images), "--model", str(models), "--device", "cpu", "--masks", str(masks)]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert main([*base, "--out", str(tmp_path / "ref"), "--fast", "--backend", "onnx"]) == 0
    out = tmp_path / "loader"
    assert main([*base, "--out", str(out), "--fast", "--backend", "onnx", "--loader-workers", "0",
                 "--batch-size", "3"]) == 0
    _assert_same(_rows(out), _rows(tmp_path / "ref"))
    _check_options_took_effect(out, masks, _rows(tmp_path / "plain"))


@pytest.mark.slow
def test_two_ranks_take_fast_masks_and_onnx(tmp_path: Path) -> None:
    models, images, masks = _option_inputs(tmp_path)
    base = ["predict", str(images), "--model", str(models), "--device", "cpu", "--masks", str(masks)]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert main([*base, "--out", str(tmp_path / "ref"), "--fast", "--backend", "onnx"]) == 0
    script = tmp_path / "run_sijscan.py"
    script.write_text(WRAPPER.format(tests=str(Path(__file__).resolve().parent)))
    out = tmp_path / "two"
    cmd = [sys.executable, str(script), "-v", *base, "--out", str(out), "--fast", "--backend", "onnx",
           "--devices", "2", "--accelerator", "cpu", "--loader-workers", "1", "--batch-size", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "Starting with 2 processes" in log and "Traceback" not in log
    assert log.count("ONNX backend") >= 4  # both networks from their ONNX files, in both processes
    _assert_same(_rows(out), _rows(tmp_path / "ref"))
    r0, r1 = (set(_rows(out / "ranks", f"predictions.rank{r}.csv")) for r in (0, 1))
    assert r0 and r1 and not r0 & r1 and r0 | r1 == {f"p{i}.png" for i in range(4)}
    _check_options_took_effect(out, masks, _rows(tmp_path / "plain"))
