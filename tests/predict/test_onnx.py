"""ONNX export and the onnxruntime backend: same numbers as torch, same CLI results, clear errors."""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from sijscan.anatomy.networks import DEFAULT_INIT, PAPER_INIT  # noqa: E402
from sijscan.anatomy.recipes import published_recipe, sijscan_recipe  # noqa: E402
from sijscan.anatomy.segment import Segmenter  # noqa: E402
from sijscan.cli.main import main  # noqa: E402
from sijscan.export.onnx_export import export_any, export_model  # noqa: E402
from sijscan.files import file_digest  # noqa: E402
from sijscan.modelfolder import build_network, read_card, save_model, update_card  # noqa: E402
from sijscan.onnx_backend import (BackendError, OnnxGradCAMError, OnnxModelError,  # noqa: E402
                                          load_onnx_network)
from test_standins import draw_pelvis, make_models  # noqa: E402

TOL = 1e-4  # absolute, on logits (float32 graphs; observed differences are ~1e-6)


def _segmenter_folder(root: Path, *, sliding: bool) -> Path:
    """A tiny ``unet-default`` (one pass at 64 px) or a tiny ``unet-paper`` with the published recipe scaled down."""
    torch.manual_seed(3)
    if sliding:
        init = {**PAPER_INIT, "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1}
        recipe = published_recipe()
        recipe["working_size"] = [64, 64]
        recipe["inference"]["window"] = [32, 32]
        arch = "unet-paper"
    else:
        init = {**DEFAULT_INIT, "channels": [4, 8, 16, 32]}
        recipe, arch = sijscan_recipe(size=64), "unet-default"
    return save_model(root / ("seg-sw" if sliding else "seg"), network=build_network(arch, init), kind="segmenter",
                      arch=arch, init_args=init, labels={0: "bg", 1: "sacrum", 2: "a", 3: "b"}, recipe=recipe)


def _classifier_folder(root: Path, *, grade_head: bool, grade_pool: str = "global") -> Path:
    from sijscan.classify.card import classifier_recipe
    from sijscan.classify.preprocess import PreprocessSpec

    torch.manual_seed(5)
    init = {"grade_head": grade_head, "dropout": 0.0, "grade_pool": grade_pool}
    spec = PreprocessSpec(height=48, width=72, clahe_impl="opencv")
    return save_model(root / f"clf-{grade_head}-{grade_pool}", network=build_network("tiny-resnet", init), kind="classifier",
                      arch="tiny-resnet", init_args=init, labels={0: "negative", 1: "positive"},
                      recipe=classifier_recipe(view="sij", spec=spec), cutoff=0.5, temperature=2.0)


def _check_card(folder: Path, *, outputs: list[str]) -> dict:
    entry = read_card(folder).extra["onnx"]
    path = folder / entry["file"]
    assert path.is_file() and entry["sha256"] == file_digest(path)
    assert entry["outputs"] == outputs and entry["opset"] == 20
    assert 0 <= entry["max_abs_diff"] < TOL
    assert entry["dynamic_axes"]["image"][0] == 0  # dynamic batch
    assert entry["weights_sha256"] == read_card(folder).sha256
    return entry


@pytest.mark.parametrize("sliding", [False, True], ids=["single-pass", "sliding-window"])
def test_segmenter_onnx_equals_torch(tmp_path: Path, sliding: bool) -> None:
    folder = _segmenter_folder(tmp_path, sliding=sliding)
    export_model(folder, exporter="torchscript")
    entry = _check_card(folder, outputs=["logits"])
    assert entry["check_input"]["shape"] == ([2, 1, 32, 32] if sliding else [2, 1, 64, 64])
    ref, onx = Segmenter.load(folder), Segmenter.load(folder, backend="onnx")
    g = torch.Generator().manual_seed(11)
    for batch in (1, 3):  # two batch sizes through the raw network
        x = torch.randn(batch, 1, 32, 32, generator=g)
        with torch.no_grad():
            want = ref.network(x)
        got = onx.network(x)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)
    img, _ = draw_pelvis(90, 120, seed=2)
    lr, lo = ref.logits(ref.preprocess(img)), onx.logits(onx.preprocess(img))  # sliding window wraps the session
    torch.testing.assert_close(lo, lr, atol=TOL, rtol=0)
    full_ref, work_ref = ref.segment(img)
    full_onx, work_onx = onx.segment(img)
    assert len(np.unique(work_ref)) > 1  # a non-trivial map
    np.testing.assert_array_equal(work_onx, work_ref)
    np.testing.assert_array_equal(full_onx, full_ref)


@pytest.mark.parametrize("grade_head, grade_pool", [(True, "global"), (True, "sides"), (False, "global")])
def test_classifier_onnx_equals_torch(tmp_path: Path, grade_head: bool, grade_pool: str) -> None:
    """Also with the side-pooled grade head, at input sizes whose feature maps are odd and even wide."""
    from sijscan.classify.predict import classify_views, load_classifier

    folder = _classifier_folder(tmp_path, grade_head=grade_head, grade_pool=grade_pool)
    export_model(folder, exporter="torchscript")
    _check_card(folder, outputs=["logits", "grade_logits"] if grade_head else ["logits"])
    ref, onx = load_classifier(folder), load_classifier(folder, backend="onnx")
    assert onx.backend == "onnx" and (onx.network.grade_head is not None) == grade_head
    g = torch.Generator().manual_seed(12)
    for batch, shape in ((1, (48, 72)), (4, (48, 72)), (2, (64, 96)), (2, (64, 128))):  # dynamic batch and size
        x = torch.randn(batch, 1, *shape, generator=g)
        with torch.no_grad():
            want = ref.network.forward_all(x)
        got = onx.network.forward_all(x)
        torch.testing.assert_close(got[0], want[0], atol=TOL, rtol=0)
        if grade_head:
            torch.testing.assert_close(got[1], want[1], atol=TOL, rtol=0)
        else:
            assert got[1] is None and want[1] is None
    crops = [draw_pelvis(40 + 7 * i, 60, seed=i)[0] for i in range(3)]
    a, b = classify_views(ref, crops), classify_views(onx, crops)
    for pa, pb in zip(a, b):
        assert pb.probability == pytest.approx(pa.probability, abs=TOL) and pb.grades == pa.grades


def _pngs(d: Path, n: int = 3) -> Path:
    d.mkdir(parents=True)
    for i in range(n):
        img, _ = draw_pelvis(seed=i)
        cv2.imwrite(str(d / f"case{i}.png"), (img * 255).astype(np.uint8))
    return d


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "predictions.csv", newline="") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    root = make_models(tmp_path_factory.mktemp("models"))
    assert main(["export-onnx", "--model", str(root), "--exporter", "torchscript"]) == 0
    return root


def test_predict_cli_onnx_equals_torch(exported: Path, tmp_path: Path) -> None:
    inputs = _pngs(tmp_path / "in")
    for backend in ("torch", "onnx"):
        rc = main(["predict", str(inputs), "--model", str(exported), "--out", str(tmp_path / backend),
                   "--device", "cpu", "--backend", backend, "--batch-size", "2"])
        assert rc == 0
    ref, got = _rows(tmp_path / "torch"), _rows(tmp_path / "onnx")
    assert set(ref) == set(got) == {f"case{i}.png" for i in range(3)}
    for name, r in ref.items():
        o = got[name]
        assert r["error"] == o["error"] == "" and r["qc_passed"] == "true"
        assert float(o["probability"]) == pytest.approx(float(r["probability"]), abs=1e-4)
        assert float(o["probability_calibrated"]) == pytest.approx(float(r["probability_calibrated"]), abs=1e-4)
        for key in ("decision", "grade_left", "grade_right", "mny", "sij_box", "qc_passed"):
            assert o[key] == r[key], key


def test_onnx_prediction_needs_no_torchvision_monai_or_lightning(exported: Path, tmp_path: Path) -> None:
    """The ONNX path loads no model-zoo code: those imports alone cost ~400 MB of resident memory."""
    import subprocess
    import sys

    inputs = _pngs(tmp_path / "in", n=1)
    code = (
        "import sys\n"
        "from sijscan.predict.pipeline import Pipeline\n"
        f"p = Pipeline.from_folder({str(exported)!r}, device='cpu', backend='onnx')\n"
        f"pred = p.predict({str(inputs / 'case0.png')!r})\n"
        "assert pred.probability is not None and pred.grades is not None\n"
        "print(sorted(m for m in ('torchvision', 'monai', 'lightning') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_pipeline_api_backend_and_gradcam_refusal(exported: Path, capsys) -> None:
    from sijscan import Pipeline

    pipe = Pipeline.from_folder(exported, device="cpu", backend="onnx")
    assert pipe.device == "cpu" and pipe.classifier.backend == "onnx"
    img, _ = draw_pelvis(seed=4)
    pred = pipe.predict(img, name="x")
    ref = Pipeline.from_folder(exported, device="cpu").predict(img, name="x")
    assert pred.probability == pytest.approx(ref.probability, abs=1e-4) and pred.decision == ref.decision
    with pytest.raises(OnnxGradCAMError, match="Grad-CAM needs gradients"):
        pipe.predict(img, gradcam=True)
    with pytest.raises(BackendError, match="'torch' or 'onnx'"):
        Pipeline.from_folder(exported, device="cpu", backend="tensorrt")
    rc = main(["predict", "x.png", "--model", str(exported), "--out", "o", "--backend", "onnx", "--gradcam"])
    assert rc == 2 and "--gradcam" in capsys.readouterr().err


def test_tampered_onnx_is_refused(exported: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "m"
    shutil.copytree(exported, root)
    onnx_file = root / "classifier" / "onnx" / "network.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[-10] ^= 0xFF  # one byte of a weight
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(OnnxModelError, match="sha256 does not match"):
        load_onnx_network(root / "classifier")
    rc = main(["predict", str(_pngs(tmp_path / "in", 1)), "--model", str(root), "--out", str(tmp_path / "o"),
               "--device", "cpu", "--backend", "onnx"])
    err = capsys.readouterr().err
    assert rc == 2 and "sha256 does not match" in err and len(err.strip().splitlines()) == 1
    # stale: the card's weights are not the ones the file was exported from
    seg = root / "segmenter"
    card = read_card(seg)
    update_card(seg, extra={**card.extra, "onnx": {**card.extra["onnx"], "weights_sha256": "0" * 64}})
    with pytest.raises(OnnxModelError, match="stale"):
        load_onnx_network(seg)


def test_missing_onnx_gives_exit_2_naming_export(tmp_path: Path, capsys) -> None:
    root = make_models(tmp_path / "never-exported")
    inputs = _pngs(tmp_path / "in", 1)
    rc = main(["predict", str(inputs), "--model", str(root), "--out", str(tmp_path / "o"), "--device", "cpu",
               "--backend", "onnx"])
    err = capsys.readouterr().err
    assert rc == 2 and "sijscan export-onnx" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "predictions.csv").exists()
    export_any(root, exporter="torchscript")
    (root / "segmenter" / "onnx" / "network.onnx").unlink()  # recorded, then deleted
    rc = main(["predict", str(inputs), "--model", str(root), "--out", str(tmp_path / "o"), "--device", "cpu",
               "--backend", "onnx"])
    err = capsys.readouterr().err
    assert rc == 2 and "missing" in err and "sijscan export-onnx" in err
    assert main(["export-onnx", "--model", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
def test_default_dynamo_export_to_out_dir(tmp_path: Path, capsys) -> None:
    """The default exporter (dynamo), a pipeline folder and --out: card paths relative to each model folder."""
    root = make_models(tmp_path / "models")
    shutil.rmtree(root / "segmenter")
    seg = _segmenter_folder(root, sliding=False)
    spec = json.loads((root / "pipeline.json").read_text())
    (root / "pipeline.json").write_text(json.dumps({**spec, "segmenter": seg.name}))
    out = tmp_path / "exported"
    assert main(["export-onnx", "--model", str(root), "--out", str(out), "--opset", "18"]) == 0
    printed = capsys.readouterr().out
    assert "segmenter:" in printed and "classifier:" in printed and "dynamo" in printed
    for role, folder, outputs in (("segmenter", seg, ["logits"]), ("classifier", root / "classifier",
                                                                   ["logits", "grade_logits"])):
        entry = read_card(folder).extra["onnx"]
        assert (folder / entry["file"]).resolve() == (out / role / "network.onnx").resolve()
        assert entry["exporter"] == "dynamo" and entry["opset"] == 18 and entry["outputs"] == outputs
        assert entry["dynamic_axes"]["image"] == [0, 2, 3] and entry["max_abs_diff"] < TOL
    net, _ = load_onnx_network(seg)
    x = torch.randn(3, 1, 32, 48)  # another batch and size than the export's example
    with torch.no_grad():
        want = Segmenter.load(seg).network(x)
    torch.testing.assert_close(net(x), want, atol=TOL, rtol=0)


def _cuda_onnx() -> bool:
    import onnxruntime as ort

    return torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.skipif(not _cuda_onnx(), reason="needs a CUDA device and onnxruntime-gpu (CUDAExecutionProvider)")
def test_cuda_provider_equals_torch_cpu(exported: Path) -> None:
    from sijscan import Pipeline

    pipe = Pipeline.from_folder(exported, device="cuda", backend="onnx")
    assert pipe.classifier.network.session.get_providers()[0] == "CUDAExecutionProvider"
    img, _ = draw_pelvis(seed=6)
    got = pipe.predict(img, name="x")
    ref = Pipeline.from_folder(exported, device="cpu").predict(img, name="x")
    assert got.probability == pytest.approx(ref.probability, abs=1e-4) and got.decision == ref.decision
