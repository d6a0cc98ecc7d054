"""The one-call Python API (issue 25): ``sijscan.predict``, ``sijscan.segment``, ``sijscan.train_classifier``.

Each is the call behind its command, so the tests compare them with the command's own output.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import sijscan
from sijscan.cli.main import main
from sijscan.predict.table import CSV_COLUMNS, read_table
from test_standins import draw_pelvis


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    for i in range(3):
        img, _ = draw_pelvis(seed=i)
        cv2.imwrite(str(d / ("sub" if i == 2 else "") / f"case{i}.png"), (img * 255).astype(np.uint8))
    (d / "notes.png").write_text("not an image\n")
    return d


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_predict_returns_the_table_the_cli_writes(models: Path, folder: Path, tmp_path: Path) -> None:
    cli_out = tmp_path / "cli"
    assert main(["predict", str(folder), "--model", str(models), "--out", str(cli_out), "--device", "cpu"]) == 1
    cli = read_table(cli_out / "predictions.csv")
    df = sijscan.predict(folder, model=models, device="cpu")
    assert isinstance(df, pd.DataFrame) and list(df.columns) == CSV_COLUMNS
    pd.testing.assert_frame_equal(df.drop(columns="total_s"), cli.drop(columns="total_s"))
    # the typed table says what the CSV says (read independently, as text)
    raw = pd.read_csv(cli_out / "predictions.csv", dtype=str, keep_default_na=False).set_index("image")
    assert list(df["image"]) == ["case0.png", "case1.png", "notes.png", "sub/case2.png"]
    for _, row in df.iterrows():
        text = raw.loc[row["image"]]
        if row["image"] == "notes.png":
            assert row["error"] and row["error"] == text["error"] and pd.isna(row["probability"])
            assert pd.isna(row["decision"]) and pd.isna(row["qc_passed"])
            continue
        assert row["error"] == "" and row["probability"] == float(text["probability"])
        assert row["decision"] == int(text["decision"]) and row["qc_passed"] == (text["qc_passed"] == "true")
        assert row["grade_left"] == int(text["grade_left"]) and row["sij_box"] == text["sij_box"]
    # out=DIR: what the command writes, file for file
    api_out = tmp_path / "api"
    again = sijscan.predict([folder], model=models, out=api_out, device="cpu", batch_size=3)
    assert _files(api_out) == _files(cli_out) and (api_out / "images" / "case0.png_overlay.png").is_file()
    pd.testing.assert_frame_equal(again.drop(columns="total_s"), cli.drop(columns="total_s"))
    assert json.loads((api_out / "run.json").read_text())["arguments"]["batch_size"] == 3  # the options reach the run
    # a later call into the same folder returns its own images only (the others' rows stay in the CSV)
    one = sijscan.predict(folder / "case1.png", model=models, out=api_out, device="cpu")
    assert list(one["image"]) == ["case1.png"] and len(read_table(api_out / "predictions.csv")) == 4
    pd.testing.assert_frame_equal(one, again.iloc[[1]].reset_index(drop=True))  # resumed: the same row


def test_predict_without_out_leaves_no_files(models: Path, folder: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    scratch, cwd = tmp_path / "scratch", tmp_path / "cwd"
    scratch.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where a temporary folder would go
    monkeypatch.chdir(cwd)
    import sijscan.predict.many_files as many_files

    per_image: list[str] = []  # not even into the temporary folder: the table is all that comes back
    monkeypatch.setattr(many_files, "write_image_outputs", lambda pred, **_: per_image.append(pred.image))
    before = _files(folder)
    df = sijscan.predict(str(folder / "case0.png"), model=str(models), device="cpu", batch_size=2)
    assert len(df) == 1 and df.loc[0, "image"] == "case0.png" and df.loc[0, "error"] == "" and per_image == []
    assert list(scratch.iterdir()) == [] and list(cwd.iterdir()) == [] and _files(folder) == before


def test_bad_input_is_one_specific_error(models: Path, folder: Path, tmp_path: Path) -> None:
    from sijscan.predict.options import PredictUsageError
    from sijscan.predict.pipeline import PipelineConfigError

    with pytest.raises(PipelineConfigError, match=r"^model folder not found: .*nowhere$"):
        sijscan.predict(folder, model=tmp_path / "nowhere")
    with pytest.raises(PredictUsageError, match=r"^give model=DIR"):
        sijscan.predict(folder)
    with pytest.raises(PredictUsageError, match=r"^unknown option\(s\) batchsize; the options are: device, "):
        sijscan.predict(folder, model=models, batchsize=2)
    with pytest.raises(PredictUsageError, match=r"^inputs must be paths .* got ndarray; for an array use "):
        sijscan.predict([np.zeros((8, 8))], model=models)
    with pytest.raises(PredictUsageError, match=r"^report=True writes files: give out=DIR$"):
        sijscan.predict(folder, model=models, report=True)
    with pytest.raises(PredictUsageError, match=r"^devices x num_nodes > 1 starts processes that share one output"):
        sijscan.predict(folder, model=models, devices=2)
    assert not (tmp_path / "nowhere").exists()


def test_callable_package_in_either_import_order() -> None:
    """``sijscan.predict(...)`` and ``import sijscan.predict.runner`` live side by side, whichever comes first."""
    call = ("import pytest\nfrom sijscan.predict.pipeline import PipelineConfigError\n"
            "with pytest.raises(PipelineConfigError):\n    sijscan.predict('x.png', model='/nowhere/m')\n")
    first_api = ("import sys, sijscan\nf = sijscan.predict\nassert callable(f) and 'torch' not in sys.modules\n"
                 "from sijscan.predict.runner import run_prediction\nimport sijscan.predict.api\n"
                 "assert sijscan.predict is f and sijscan.predict.runner.run_prediction is run_prediction\n" + call)
    first_runner = ("from sijscan.predict.runner import run_prediction\nimport sijscan\n"
                    "from sijscan import predict\nassert predict is sijscan.predict and callable(predict)\n"
                    "assert sijscan.predict.run_prediction is run_prediction\n" + call)
    for code in (first_api, first_runner):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-2000:]


def test_segment_returns_label_maps_in_sijscan_convention(models: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from sijscan.errors import ModelError

    monkeypatch.chdir(tmp_path)
    img, truth = draw_pelvis(96, 128, seed=4)  # not the segmenter's working size (64 x 64): labels come back
    path = tmp_path / "pelvis.png"
    cv2.imwrite(str(path), np.round(img * 65535).astype(np.uint16))
    run = sijscan.segment([path, tmp_path / "missing.png"], model=models / "segmenter")
    assert [i.path for i in run.images] == [path] and run.failed[0][0] == str(tmp_path / "missing.png")
    labels = run.images[0].labels
    assert labels.shape == img.shape and labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2, 3}
    assert (labels == truth).mean() > 0.98  # 1 sacrum, 2 hip bone on the image's left, 3 on its right
    h, w = labels.shape
    assert labels[h // 2, int(0.3 * w)] == 2 and labels[h // 2, int(0.7 * w)] == 3
    assert run.images[0].segmentation.location.box is not None and run.images[0].files == []
    assert _files(tmp_path) == {"pelvis.png"}  # out=None: nothing written
    written = sijscan.segment(path, model=models / "segmenter", out=tmp_path / "seg")
    files = written.images[0].files
    assert tmp_path / "seg" / "pelvis_mask.png" in files and all(f.is_file() for f in files)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "seg" / "pelvis_mask.png"), cv2.IMREAD_UNCHANGED), labels)
    assert sijscan.segment(path, model=models / "segmenter", keep=False).images == []  # the command's way
    with pytest.raises(ModelError, match="^model folder not found"):
        sijscan.segment(path, model=tmp_path / "nowhere")


def test_train_classifier_refuses_bad_arguments_in_one_line(tmp_path: Path) -> None:
    from sijscan.classify.errors import ClassifierInputError

    manifest = tmp_path / "m.csv"
    for kw, message in (({"devices": 0}, r"^devices and num_nodes \(--devices, --num-nodes\) must be >= 1$"),
                        ({"max_images": 1}, r"^max_images \(--max-images\) must be >= 2$"),
                        ({"recipe": "fast"}, r"^unknown recipe 'fast'; use one of: paper, quick, cpu$")):
        with pytest.raises(ClassifierInputError, match=message):
            sijscan.train_classifier(manifest, view="full", out=tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_train_classifier_makes_a_loadable_model_folder(tmp_path: Path) -> None:
    from sijscan.classify.api import TrainedClassifier
    from sijscan.classify.errors import ClassifierInputError
    from sijscan.classify.synthetic import write_synthetic_cohort

    manifest = write_synthetic_cohort(tmp_path / "cohort", n=12, height=48, width=64, seed=1)
    out = tmp_path / "model"
    kw = dict(view="full", out=out, recipe="quick", arch="tiny-resnet", init="random", accelerator="cpu")
    trained = sijscan.train_classifier(manifest, **kw)
    assert isinstance(trained, TrainedClassifier) and trained.folder == out and trained.is_pipeline
    assert trained.verdict["val_n"] == 4 and trained.lines()[0] == f"model folder written: {out}"
    pipe = sijscan.Pipeline.from_folder(out, device="cpu")
    assert pipe.classifier.card.arch == "tiny-resnet" and pipe.view == "full"
    df = sijscan.predict(manifest, model=out, device="cpu")
    assert len(df) == 12 and (df["error"] == "").all() and df["probability"].between(0, 1).all()
    with pytest.raises(ClassifierInputError, match="already holds a trained model"):
        sijscan.train_classifier(manifest, **kw)


def test_readme_calls_fit_the_signatures() -> None:
    """Every ``sijscan.<name>(...)`` call in the README's "Python API" example binds to the function it names."""
    import ast
    import inspect
    import re

    from sijscan.predict.api import predict
    from sijscan.predict.options import PredictOptions

    readme = (Path(sijscan.__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    calls = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) and n.func.value.id == "sijscan"]
    assert {c.func.attr for c in calls} == {"predict", "segment", "train_classifier"}
    for call in calls:
        target = predict if call.func.attr == "predict" else getattr(sijscan, call.func.attr)
        kwargs = {k.arg: None for k in call.keywords}
        params = inspect.signature(target).parameters
        if call.func.attr == "predict":  # **options: the rest must be PredictOptions fields
            PredictOptions.from_fields({k: None for k in kwargs if k not in params})
            kwargs = {k: v for k, v in kwargs.items() if k in params}
        inspect.signature(target).bind(*[None] * len(call.args), **kwargs)


def test_the_callable_package_shows_the_functions_signature() -> None:
    import inspect

    import sijscan

    params = inspect.signature(sijscan.predict).parameters
    assert list(params)[:2] == ["inputs", "model"] and "out" in params
