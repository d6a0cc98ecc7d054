"""CPU latency, torch vs ONNX Runtime: segmenter forward, classifier forward, whole pipeline per radiograph.

Two configurations, both with RANDOM weights (latency does not depend on the weights' values):
  default    sijscan's own ``unet-default`` segmenter (one pass at 256 x 256) + ``resnet50-sij`` with the
             grade head at the paper's 416 x 628 input;
  published  the published segmenter architecture and recipe (MONAI UNet 64-512, 3 residual units; 768 x 768,
             sliding windows of 512 x 512, overlap 0.75 = 9 windows, 16 per batch) + the same ``resnet50-sij``.
Inputs are phantom radiographs written as 16-bit PNG (``--size`` px long side). ``--threads`` sets torch's
threads, OpenCV's and the ONNX Runtime sessions' intra-op threads (default 2). torch and ONNX repeats are
interleaved so load changes on a shared machine hit both alike. For the published recipe it also times one
512 x 512 window, the segmenter's stages, torch with channels-last, and two NOT-equivalent window layouts
(overlap 0.5 = 4 windows; one 768 x 768 pass; bf16 autocast) whose mask agreement cannot be measured with
random weights, and the published 9 windows fed one at a time (``sw_batch_size`` 1: the same arithmetic).
Prints ONE JSON line. Usage: python benchmarks/bench_onnx.py [--n 3] [--repeats 3] [--threads 2]
[--exporter dynamo|torchscript] [--configs default,published]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable


def _phantoms(out: Path, n: int, size: int) -> list[str]:
    import cv2
    import numpy as np

    from sijscan.phantom import simulate_case

    paths = []
    for i in range(n):
        img, _, _ = simulate_case(cohort="proof", index=i, seed=7, size=size, n=n)
        paths.append(str(out / f"case{i}.png"))
        cv2.imwrite(paths[-1], (img * 65535).astype(np.uint16))
    return paths


def _models(root: Path) -> dict[str, Path]:
    """Random-weight folders: seg-default, seg-published, classifier; a pipeline folder per configuration."""
    import torch

    from sijscan.anatomy.networks import DEFAULT_INIT, LABELS, PAPER_INIT
    from sijscan.anatomy.recipes import published_recipe, sijscan_recipe
    from sijscan.classify.card import classifier_recipe
    from sijscan.classify.preprocess import PreprocessSpec
    from sijscan.modelfolder import build_network, save_model
    from sijscan.predict.pipeline import write_pipeline_folder

    torch.manual_seed(0)
    prov = {"benchmark": "random weights"}
    save_model(root / "seg-default", network=build_network("unet-default", DEFAULT_INIT), kind="segmenter",
               arch="unet-default", init_args=DEFAULT_INIT, labels=LABELS, recipe=sijscan_recipe(size=256),
               provenance=prov)
    save_model(root / "seg-published", network=build_network("unet-paper", PAPER_INIT), kind="segmenter",
               arch="unet-paper", init_args=PAPER_INIT, labels=LABELS, recipe=published_recipe(), provenance=prov)
    init = {"grade_head": True, "dropout": 0.5}
    save_model(root / "classifier", network=build_network("resnet50-sij", init), kind="classifier",
               arch="resnet50-sij", init_args=init, labels={0: "negative", 1: "positive"},
               recipe=classifier_recipe(view="sij", spec=PreprocessSpec()), provenance=prov, cutoff=0.5,
               temperature=1.0)
    return {name: write_pipeline_folder(root / f"pipe-{name}", classifier=root / "classifier",
                                        segmenter=root / f"seg-{name}") for name in ("default", "published")}


def _pair(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each callable, after one warm-up each, runs interleaved."""
    for f in fns.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: round(statistics.median(v), 4) for k, v in times.items()}


def _speedup(d: dict[str, float]) -> float:
    return round(d["torch"] / d["onnx"], 3)


def _segmenter_stages(seg: Any, radiograph: Any, repeats: int) -> dict[str, float]:
    """Median time of each stage of ``Segmenter.run`` (torch or onnx alike)."""
    from sijscan.anatomy.localize import locate_sij

    stages: dict[str, list[float]] = {k: [] for k in ("preprocess", "network", "postprocess", "resize_back", "locate")}
    for _ in range(repeats):
        t0 = time.perf_counter()
        x = seg.prepare(radiograph).tensor[None]
        t1 = time.perf_counter()
        logits = seg.logits(x)
        t2 = time.perf_counter()
        lab = seg.postprocess(logits)
        t3 = time.perf_counter()
        seg.resize_back(lab, (radiograph.height, radiograph.width))
        t4 = time.perf_counter()
        work = lab.T.copy() if seg.recipe.get("transposed") else lab
        locate_sij(work, **seg.recipe.get("localize", {}))
        t5 = time.perf_counter()
        for k, a, b in (("preprocess", t0, t1), ("network", t1, t2), ("postprocess", t2, t3),
                        ("resize_back", t3, t4), ("locate", t4, t5)):
            stages[k].append(b - a)
    return {k: round(statistics.median(v), 4) for k, v in stages.items()}


def _bench_config(name: str, folder: Path, paths: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from sijscan.io import read_radiograph
    from sijscan.modelfolder import read_card
    from sijscan.predict.pipeline import Pipeline, pipeline_dirs

    pipes = {b: Pipeline.from_folder(folder, device="cpu", backend=b) for b in ("torch", "onnx")}
    segs = {b: p.segmenter for b, p in pipes.items()}
    radiograph = read_radiograph(paths[0])
    x_seg = segs["torch"].prepare(radiograph).tensor[None]
    x_clf = torch.rand(1, 1, 416, 628, generator=torch.Generator().manual_seed(0))
    clf = {b: p.classifier.network for b, p in pipes.items()}
    res: dict[str, Any] = {"segmenter_input": list(x_seg.shape)}
    with torch.inference_mode():
        res["segmenter_forward_s"] = _pair({b: (lambda s=s: s.logits(x_seg)) for b, s in segs.items()}, args.repeats)
        res["classifier_forward_s"] = _pair({b: (lambda n=n: n.forward_all(x_clf)) for b, n in clf.items()},
                                            args.repeats)
        diff_seg = float((segs["onnx"].logits(x_seg) - segs["torch"].logits(x_seg)).abs().max())
        diff_clf = float((clf["onnx"](x_clf) - clf["torch"](x_clf)).abs().max())
    res["segmenter_forward_speedup_onnx"] = _speedup(res["segmenter_forward_s"])
    res["classifier_forward_speedup_onnx"] = _speedup(res["classifier_forward_s"])
    res["max_abs_logit_diff_on_benchmark_input"] = {"segmenter": diff_seg, "classifier": diff_clf}
    for b, p in pipes.items():  # warm-up
        p.predict(paths[0])
    per: dict[str, list[float]] = {"torch": [], "onnx": []}
    stages: dict[str, list[dict[str, float]]] = {"torch": [], "onnx": []}
    probs: dict[str, list[float | None]] = {"torch": [], "onnx": []}
    for path in paths:
        for b, p in pipes.items():
            t = time.perf_counter()
            pred = p.predict(path)
            per[b].append(time.perf_counter() - t)
            stages[b].append(pred.timings)
            probs[b].append(pred.probability)
    med = statistics.median
    res["pipeline_s_per_radiograph"] = {b: round(med(v), 4) for b, v in per.items()}
    res["pipeline_speedup_onnx"] = _speedup(res["pipeline_s_per_radiograph"])
    res["pipeline_stage_medians_s"] = {b: {k: round(med(t.get(k, 0.0) for t in s), 4) for k in sorted(s[0])}
                                      for b, s in stages.items()}
    both = [(a, c) for a, c in zip(probs["torch"], probs["onnx"]) if a is not None and c is not None]
    res["max_abs_probability_diff"] = max((abs(a - c) for a, c in both), default=None)
    res["export"] = {role: {k: read_card(d).extra["onnx"][k] for k in ("exporter", "opset", "max_abs_diff")}
                     for role, d in pipeline_dirs(folder).items()}
    if name == "published":
        res.update(_published_extras(segs, radiograph, args))
    return res


def _published_extras(segs: dict[str, Any], radiograph: Any, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {}
    win = torch.randn(1, 1, 512, 512, generator=torch.Generator().manual_seed(1))
    net_cl = copy.deepcopy(segs["torch"].network).to(memory_format=torch.channels_last)
    win_cl = win.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out["one_window_512_forward_s"] = _pair({
            "torch": lambda: segs["torch"].network(win), "onnx": lambda: segs["onnx"].network(win),
            "torch_channels_last": lambda: net_cl(win_cl)}, args.repeats + 2)
        out["windows_per_radiograph"] = 9
        out["segmenter_stages_s"] = {b: _segmenter_stages(s, radiograph, max(2, args.repeats - 1))
                                     for b, s in segs.items()}
        x = segs["torch"].prepare(radiograph).tensor[None]
        def variant(seg: Any, inf: dict[str, Any]) -> Callable[[], Any]:
            v = copy.copy(seg)
            v.recipe = {**seg.recipe, "inference": {**seg.recipe["inference"], **inf}}
            return lambda: v.logits(x)

        # the same 9 windows and the same per-window arithmetic, fed to the network one at a time
        out["equivalent_sw_batch_size_1_network_s"] = _pair(
            {b: variant(s, {"sw_batch_size": 1}) for b, s in segs.items()}, max(1, args.repeats - 2))
        variants: dict[str, Callable[[], Any]] = {}
        for label, inf in (("overlap_0.5_4_windows", {"overlap": 0.5, "sw_batch_size": 1}),
                           ("single_768_pass", {"mode": "single"})):
            for b, s in segs.items():
                variants[f"{label}/{b}"] = variant(s, inf)
        bf16 = variant(segs["torch"], {"sw_batch_size": 1})

        def autocast_bf16() -> Any:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return bf16()

        variants["bf16_autocast_9_windows/torch"] = autocast_bf16
        out["not_equivalent_variants_network_s"] = _pair(variants, max(1, args.repeats - 2))
        out["not_equivalent_variants_note"] = ("fewer/larger windows or bf16 arithmetic instead of the published "
                                               "recipe: masks differ; agreement UNMEASURED (random weights)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3, help="phantom radiographs for the whole-pipeline timing")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--exporter", default="dynamo", choices=("dynamo", "torchscript"))
    parser.add_argument("--configs", default="default,published")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    import onnxruntime

    from sijscan.export.onnx_export import export_any

    load0 = os.getloadavg()[0]
    t_start = time.perf_counter()
    configs = [c for c in args.configs.split(",") if c]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _phantoms(root, args.n, args.size)
        folders = _models(root / "models")
        export_s: dict[str, float] = {}
        for name in configs:
            t = time.perf_counter()
            export_any(folders[name], exporter=args.exporter)
            export_s[name] = round(time.perf_counter() - t, 1)
        results = {name: _bench_config(name, folders[name], paths, args) for name in configs}
    print(json.dumps({
        "benchmark": "onnx", "device": "cpu", "threads": args.threads, "n": args.n, "image_px_long_side": args.size,
        "repeats": args.repeats, "weights": "random (speed does not depend on the weights' values)",
        "exporter": args.exporter, "export_s_seg_plus_clf": export_s, "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__, "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "load_average_1min": {"start": round(load0, 2), "end": round(os.getloadavg()[0], 2)},
        "wall_s": round(time.perf_counter() - t_start, 1), "configs": results,
    }))


if __name__ == "__main__":
    main()
