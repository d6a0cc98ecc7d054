"""Issue 26 item 1: NaN/Inf weights refused on load, non-finite outputs an error row, JSON never bare NaN."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rel_helpers import draw_pelvis, rows, write_png
from sijscan.cli.main import main
from sijscan.modelfolder import _REGISTRY, register_arch


class NanAboveMean(nn.Module):
    """A classifier with finite weights whose logits are NaN for inputs brighter than ``limit``."""

    def __init__(self, limit: float = 1e9) -> None:
        super().__init__()
        self.limit = nn.Parameter(torch.tensor(float(limit)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(1).mean(1)
        out = torch.stack([-z, z], 1)
        return torch.where((z > self.limit)[:, None], torch.full_like(out, float("nan")), out)


if "rel2-nan-above" not in _REGISTRY:
    register_arch("rel2-nan-above")(lambda limit=1e9: NanAboveMean(limit))


def _strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def _poison(folder: Path, *, value: float, tensor: str | None = None) -> str:
    """Put ``value`` into one tensor of ``folder``'s weights and fix up model.json's sha256 (as a
    tampering that keeps the hash, or a training that diverged, would leave it)."""
    from safetensors.torch import load_file, save_file

    from sijscan.files import file_digest as sha256_file

    wfile = folder / "weights.safetensors"
    state = load_file(str(wfile))
    name = tensor or next(k for k, v in state.items() if v.is_floating_point() and v.numel() >= 1)
    state[name] = state[name].clone()
    state[name].view(-1)[0] = value
    save_file(state, str(wfile))
    card = json.loads((folder / "model.json").read_text())
    card["sha256"] = sha256_file(wfile)
    (folder / "model.json").write_text(json.dumps(card))
    return name


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("which", ["classifier", "segmenter"])
def test_row1_non_finite_weights_are_refused_on_load_naming_the_tensor(models, tmp_path, capsys, value, which):
    from sijscan.errors import ModelError
    from sijscan.modelfolder import load_model

    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    name = _poison(folder / which, value=value)
    with pytest.raises(ModelError, match=re.escape(repr(name))):
        load_model(folder / which)
    out = tmp_path / "out"
    code = main(["predict", str(write_png(tmp_path / "a.png")), "--model", str(folder), "--out", str(out),
                 "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and name in err and "NaN or infinite" in err, err
    assert not (out / "predictions.csv").exists()


def test_row1_a_network_with_nan_weights_is_never_saved(tmp_path) -> None:
    from sijscan.errors import ModelError
    from sijscan.modelfolder import save_model

    net = NanAboveMean(float("nan"))
    with pytest.raises(ModelError, match="'limit' holds NaN"):
        save_model(tmp_path / "m", network=net, kind="classifier", arch="rel2-nan-above", init_args={},
                   labels={0: "n", 1: "p"}, recipe={}, cutoff=0.5)
    assert not (tmp_path / "m").exists()


def _nan_models(models: Path, tmp_path: Path, *, limit: float) -> Path:
    from sijscan.classify.card import classifier_recipe
    from sijscan.classify.preprocess import PreprocessSpec
    from sijscan.modelfolder import save_model
    from sijscan.predict.pipeline import write_pipeline_folder

    root = tmp_path / "nanmodels"
    shutil.copytree(models / "segmenter", root / "segmenter")
    save_model(root / "classifier", network=NanAboveMean(limit), kind="classifier", arch="rel2-nan-above",
               init_args={"limit": limit}, labels={0: "negative", 1: "positive"},
               recipe=classifier_recipe(view="sij", spec=PreprocessSpec(height=48, width=72, clahe_impl="opencv"),
                                        grade_head=False),
               cutoff=0.5, temperature=1.0)
    write_pipeline_folder(root, classifier=root / "classifier", segmenter=root / "segmenter")
    return root


def test_row1_nan_outputs_are_error_rows_never_qc_passed_negatives(models, tmp_path) -> None:
    """Finite weights, NaN logits (a numerical fault): every row an error, exit 1, no decision."""
    root = _nan_models(models, tmp_path, limit=-1e9)  # every input's mean is above -1e9: NaN for all
    inputs = [write_png(tmp_path / "in" / f"{i}.png", seed=i) for i in range(2)]
    out = tmp_path / "out"
    assert main(["predict", *map(str, inputs), "--model", str(root), "--out", str(out), "--device", "cpu"]) == 1
    got = rows(out)
    assert set(got) == {"0.png", "1.png"}
    for r in got.values():
        assert "NaN or infinite" in r["error"] and r["decision"] == "" and r["probability"] == ""
    assert not list((out / "images").glob("*.json")) if (out / "images").exists() else True


def test_row1_only_the_image_with_a_nan_output_fails(models, tmp_path) -> None:
    from sijscan.predict.pipeline import Pipeline

    pipe = Pipeline.from_folder(_nan_models(models, tmp_path, limit=1e9), device="cpu")
    plain = draw_pelvis()[0]
    spotted = plain.copy()
    spotted[40:60, 30:100] = 1.0  # a bright band across both joints: another classifier input
    inputs = [p.images.model_input.mean() for p in pipe.predict_many([plain, spotted], on_error="record")]
    assert inputs[0] != inputs[1]
    with torch.no_grad():
        pipe.classifier.network.limit.fill_(float(np.mean(inputs)))  # NaN for the brighter input only
    preds = pipe.predict_many([plain, spotted], names=["plain", "spotted"], on_error="record")
    good, bad = (preds[0], preds[1]) if inputs[0] < inputs[1] else (preds[1], preds[0])
    assert good.error is None and good.probability is not None and np.isfinite(good.probability)
    assert bad.error and "NaN or infinite" in bad.error
    assert bad.decision is None and bad.probability is None and bad.grades is None


def test_row1_classify_views_raises_on_nan_output(models, tmp_path) -> None:
    from sijscan.classify.predict import NonFiniteOutputError, classify_views

    root = _nan_models(models, tmp_path, limit=-1e9)
    with pytest.raises(NonFiniteOutputError, match="view"):
        classify_views(root / "classifier", [draw_pelvis()[0]])


def test_row1_a_nan_metric_in_a_model_card_is_written_as_null(tmp_path) -> None:
    """model.json is read by other tools: a NaN metric (AUC of a one-class validation set) is null."""
    from sijscan.modelfolder import read_card, save_model, update_card

    save_model(tmp_path / "m", network=NanAboveMean(1.0), kind="classifier", arch="rel2-nan-above",
               init_args={"limit": 1.0}, labels={0: "n", 1: "p"}, recipe={}, cutoff=0.5,
               provenance={"val_auc": float("nan"), "val_loss": np.float32("inf")})
    card = _strict_json((tmp_path / "m" / "model.json").read_text())
    assert card["provenance"]["val_auc"] is None and card["provenance"]["val_loss"] is None
    update_card(tmp_path / "m", provenance={"auc": np.float64("nan")})
    assert _strict_json((tmp_path / "m" / "model.json").read_text())["provenance"]["auc"] is None
    assert read_card(tmp_path / "m").provenance == {"auc": None}


def test_row1_jsonio_turns_every_non_finite_value_into_null() -> None:
    from sijscan import jsonio

    obj = {"a": float("nan"), "b": [1.0, float("inf"), np.float32("-inf")], "c": np.array([np.nan, 2.0]),
           "d": (np.int64(3), np.bool_(True)), "e": Path("/x")}
    assert _strict_json(jsonio.dumps(obj)) == {"a": None, "b": [1.0, None, None], "c": [None, 2.0],
                                               "d": [3, True], "e": "/x"}


def test_row1_every_json_written_by_sijscan_goes_through_jsonio() -> None:
    """A static sweep of src/: ``json.dump``/``json.dumps`` appear only in jsonio (and in the two
    hashes that are never written, and evaluate's strict writer with allow_nan=False)."""
    src = Path(__file__).resolve().parents[2] / "src" / "sijscan"
    allowed = {("jsonio.py", "json.dumps(plain("), ("evaluate/report.py", "allow_nan=False"),
               ("classify/data.py", "key_base = json.dumps("), ("study/stages.py", "text = json.dumps(")}
    found = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src).as_posix()
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(r"\bjson\.dumps?\(", line) and not any(rel == f and s in line for f, s in allowed):
                found.append(f"{rel}: {line.strip()}")
    assert not found, found


def test_row1_nan_output_in_serve_and_pipeline_predict_is_an_error(models, tmp_path, monkeypatch) -> None:
    import cv2

    from sijscan.app.app import analyse
    from sijscan.classify.predict import NonFiniteOutputError
    from sijscan.predict.pipeline import Pipeline

    pipe = Pipeline.from_folder(_nan_models(models, tmp_path, limit=-1e9), device="cpu")
    with pytest.raises(NonFiniteOutputError, match="NaN or infinite"):
        pipe.predict(draw_pelvis()[0], name="x")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    up = tmp_path / "cache" / "h" / "u.png"
    up.parent.mkdir(parents=True)
    up.write_bytes(cv2.imencode(".png", (draw_pelvis()[0] * 255).astype(np.uint8))[1].tobytes())

    class NoCam:  # the test network has no layer for Grad-CAM: serve's call without it
        def predict(self, radiograph, *, gradcam, name):
            return pipe.predict(radiograph, gradcam=False, name=name)

    summary, images = analyse(NoCam(), str(up), max_upload_mb=5)
    assert summary.startswith("**Error:**") and "NaN or infinite" in summary and "Decision" not in summary
