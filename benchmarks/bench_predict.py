"""End-to-end prediction speed on CPU: read -> segment -> QC -> crop -> classify, and Grad-CAM cost.

Default architectures (``unet-default`` segmenter at 256 x 256, ``resnet50-sij`` classifier at
416 x 628, randomly initialised: speed does not depend on the weights), phantom radiographs written
as PNG (``--size`` px long side), ``--threads`` torch/OpenCV threads (default 2). Prints ONE JSON
line: median seconds per radiograph without and with Grad-CAM, median Grad-CAM overhead, median
stage times, peak RSS. Targets: <= 0.7 s per radiograph, <= 1 GB, Grad-CAM <= 0.3 s.
Models are built (and, for ``--backend onnx``, exported) in a child process, so the peak RSS is
that of a process that only loads and runs them, as ``sijscan predict`` does.
Usage: python benchmarks/bench_predict.py [--n 8] [--size 1024] [--threads 2] [--device cpu] [--backend torch|onnx]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path


def _write_phantoms(out: str, n: int, size: int) -> list[str]:
    """Phantom PNGs (16-bit), generated in a child process so they do not count in the peak RSS."""
    import cv2
    import numpy as np

    from sijscan.phantom import simulate_case

    paths = []
    for i in range(n):
        img, _, _ = simulate_case(cohort="proof", index=i, seed=7, size=size, n=n)
        paths.append(str(Path(out) / f"case{i}.png"))
        cv2.imwrite(paths[-1], (img * 65535).astype(np.uint16))
    return paths


def build_default_models(root: Path, *, segmenter: str | None = None) -> Path:
    """Randomly initialised default segmenter + classifier folders and a pipeline.json."""
    import torch

    import sijscan.classify.networks  # noqa: F401 - registers "resnet50-sij" (networks register when imported)
    from sijscan.anatomy.networks import DEFAULT_INIT, LABELS
    from sijscan.anatomy.recipes import sijscan_recipe
    from sijscan.classify.card import classifier_recipe
    from sijscan.classify.preprocess import PreprocessSpec
    from sijscan.modelfolder import build_network, save_model
    from sijscan.predict.pipeline import write_pipeline_folder

    torch.manual_seed(0)
    if segmenter is not None:
        import shutil

        shutil.copytree(segmenter, root / "segmenter")
    else:
        save_model(root / "segmenter", network=build_network("unet-default", DEFAULT_INIT), kind="segmenter",
               arch="unet-default", init_args=DEFAULT_INIT, labels=LABELS, recipe=sijscan_recipe(size=256),
                   provenance={"benchmark": "random weights"})
    init = {"grade_head": True, "dropout": 0.5}
    save_model(root / "classifier", network=build_network("resnet50-sij", init), kind="classifier",
               arch="resnet50-sij", init_args=init, labels={0: "negative", 1: "positive"},
               recipe=classifier_recipe(view="sij", spec=PreprocessSpec()),
               provenance={"benchmark": "random weights"}, cutoff=0.5, temperature=1.0)
    return write_pipeline_folder(root, classifier=root / "classifier", segmenter=root / "segmenter")


def _models(root: str, segmenter: str | None, backend: str) -> str:
    """Build the model folders (and the ONNX files) in a child process; returns the pipeline folder."""
    folder = build_default_models(Path(root), segmenter=segmenter)
    if backend == "onnx":
        from sijscan.export import export_any

        export_any(folder, exporter="torchscript")
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--segmenter", help="a trained segmenter folder (realistic crop sizes); default random")
    parser.add_argument("--repeats", type=int, default=10, help="timed classifier-only passes")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="onnx: export both networks and run them in onnxruntime (no Grad-CAM figures)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from sijscan.predict.gradcam import forward_with_cam
    from sijscan.predict.pipeline import Pipeline

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(1) as pool:
            paths = pool.apply(_write_phantoms, (tmp, args.n, args.size))
            models = pool.apply(_models, (str(root / "models"), args.segmenter, args.backend))
        pipe = Pipeline.from_folder(models, device=args.device, backend=args.backend)
        cam_ok = args.backend == "torch"
        pipe.predict(paths[0])  # warm-up
        plain, with_cam, stages, crops = [], [], [], []
        for p in paths:
            t = time.perf_counter()
            pred = pipe.predict(p)
            plain.append(time.perf_counter() - t)
            stages.append(pred.timings)
            if pred.images is not None and pred.images.crop is not None:
                crops.append(pred.images.crop.shape)
            if cam_ok:
                t = time.perf_counter()
                pipe.predict(p, gradcam=True)
                with_cam.append(time.perf_counter() - t)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the classifier-only timing
        x = torch.rand(1, 1, 416, 628, device=args.device)
        net = pipe.classifier.network
        sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
        fwd, cam = [], []
        if cam_ok:
            forward_with_cam(net, x)
        for _ in range(args.repeats if cam_ok else 0):  # interleaved, so load changes hit both alike
            sync()
            t = time.perf_counter()
            with torch.inference_mode():
                net(x)
            sync()
            fwd.append(time.perf_counter() - t)
            t = time.perf_counter()
            forward_with_cam(net, x)
            sync()
            cam.append(time.perf_counter() - t)
    def med(v: list[float]) -> float | None:
        return round(statistics.median(v), 4) if v else None

    stage_keys = sorted({k for s in stages for k in s})
    print(json.dumps({
        "benchmark": "predict", "device": args.device, "backend": args.backend, "threads": args.threads,
        "n": args.n, "image_px_long_side": args.size, "classifier_input": [416, 628],
        "median_s_per_radiograph": med(plain),
        "median_s_per_radiograph_with_gradcam": med(with_cam),
        "median_gradcam_overhead_s": round(med(cam) - med(fwd), 4) if cam else None,
        "min_gradcam_overhead_s": round(min(cam) - min(fwd), 4) if cam else None,
        "min_classifier_forward_s": round(min(fwd), 4) if fwd else None,
        "median_classifier_forward_s": med(fwd),
        "median_forward_plus_gradcam_s": med(cam),
        "segmenter": "trained" if args.segmenter else "random weights",
        "median_crop_px": int(statistics.median(c[0] * c[1] for c in crops)) if crops else None,
        "median_stage_s": {k: med([s.get(k, 0.0) for s in stages]) for k in stage_keys},
        "peak_rss_mb": round(rss_mb, 1),
        "load_average_1min": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
        "targets": {"s_per_radiograph": 0.7, "rss_mb": 1024, "gradcam_s": 0.3},
    }))


if __name__ == "__main__":
    main()
