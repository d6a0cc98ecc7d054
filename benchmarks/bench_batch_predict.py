"""Batch prediction throughput from files on disk: radiographs/s against the decode bound (issue #8).

One command on a GPU machine (one GPU, 16 cores; a trained ``unet-default`` folder makes the
segmenter find the joints so that the classifier really runs)::

    python benchmarks/bench_batch_predict.py --n 512 --render 32 --segmenter SEG_DIR

(SEG_DIR: e.g. a copy of the CPU-trained ``seg-default-cpu600`` folder carried into the tree. Disk:
about 7 MB per DICOM and 2.5 MB per PNG file plus the overlays, under ``$TMPDIR``; at a few tens of
radiographs/s the four timed runs per format take minutes, so keep ``--n`` in the hundreds.)

What it does (prints ONE JSON line):

1. renders ``--render`` phantom radiographs (``sijscan.phantom.simulate_cohort('proof', size=2048)``)
   once as uncompressed DICOM and once as 16-bit PNG, and copies them under new names up to
   ``--n`` files per format (copies, not renders: the decoder's work per file is the same);
2. per format, on one core: the raw decode time per file (``pydicom`` pixel data / OpenCV
   ``imread``) and the time of the loader's whole read (``sijscan.io.read_radiograph``: decode,
   LUTs, [0, 1] float pixels). Decode bound = cores / read time (radiographs/s that the cores can
   read at best; ``raw_decode_bound`` the same for the raw decode alone);
3. per format, ``sijscan.predict.runner.run_prediction`` (the ``sijscan predict --loader-workers``
   path, ``--device`` cuda when available else cpu) on all files: wall rate = n / wall time, and a
   steady rate that leaves out start-up (worker spawn, model transfer): (n - k) / (t_n - t_k) from a
   second run on the first ``k`` files. Once with the per-image JSON + overlay PNGs (the CLI's
   behaviour) and once with rows only (``outputs=False``). ``fraction_of_bound`` = steady rate / bound;
4. per format, on one thread, each CPU step of one image (networks excluded): what the workers do
   (read, segmenter input) and what the main process of a rank does after the segmenter (argmax +
   largest components, labels to full size, SIJ localisation, QC, CLAHE preprocessing, overlay,
   JSON). ``main_process_bound_per_s`` = 1000 / the main-process ms: images/s ONE thread manages;
   the rank spreads this over ``--threads`` threads, which the GIL keeps below linear.

Models: nothing is trained. Default: a ``unet-default`` segmenter and a ``resnet50-sij`` classifier
with RANDOM weights (speed only; a random segmenter rarely yields an SIJ box, so the classifier runs
on few images: see ``classified``), or ``--segmenter``/``--classifier`` model folders.
CPU use: ``python benchmarks/bench_batch_predict.py --n 16 --render 4 --segmenter SEG_DIR --loader-workers 1``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _render(root: Path, *, render: int, n: int, size: int, seed: int) -> dict[str, list[Path]]:
    from sijscan.phantom import simulate_cohort

    files: dict[str, list[Path]] = {}
    for fmt, suffix in (("dicom", ".dcm"), ("png", ".png")):
        simulate_cohort("proof", n=render, seed=seed, out_dir=root / f"render-{fmt}", size=size, fmt=fmt,
                        followup=False)
        rendered = sorted((root / f"render-{fmt}" / "images").glob(f"*{suffix}"))
        folder = root / fmt
        folder.mkdir()
        files[fmt] = []
        for i in range(n):
            target = folder / f"case{i:05d}{suffix}"
            shutil.copyfile(rendered[i % len(rendered)], target)
            files[fmt].append(target)
    return files


def _decode_times(paths: list[Path], fmt: str, repeats: int) -> dict[str, float]:
    """Median seconds per file on one thread: raw decode, and the loader's whole read."""
    import cv2
    import pydicom

    from sijscan.io import read_radiograph

    raw, full = [], []
    for _ in range(repeats):
        for p in paths:
            t = time.perf_counter()
            if fmt == "dicom":
                pydicom.dcmread(p).pixel_array
            else:
                cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            read_radiograph(p)
            full.append(time.perf_counter() - t)
    return {"raw_decode_s": statistics.median(raw), "read_s": statistics.median(full)}


def _cpu_stages(models: Path, paths: list[Path], out: Path) -> dict[str, float]:
    """Median single-thread ms per image of each CPU step (the networks excluded), on ``paths``."""
    from sijscan.classify.preprocess import preprocess_view
    from sijscan.io import read_radiograph
    from sijscan.predict.overlay import segmentation_overlay, write_png_atomic
    from sijscan.predict.pipeline import Pipeline
    from sijscan.predict.qc import assess

    pipe = Pipeline.from_folder(models, device="cpu")
    seg = pipe.segmenter
    times: dict[str, list[float]] = {}

    def timed(key: str, fn: Any, *a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        res = fn(*a, **kw)
        times.setdefault(key, []).append(1000 * (time.perf_counter() - t))
        return res

    out.mkdir(parents=True, exist_ok=True)
    for p in paths:
        radiograph = timed("read (worker)", read_radiograph, p)
        px = radiograph.pixels
        x = timed("segmenter_input: resize + z-score (worker)", seg.prepare, radiograph).tensor[None]
        logits = seg.logits(x)
        work = timed("segmenter_postprocess: argmax + largest components", seg.postprocess, logits)
        full = timed("labels_to_full_size", seg.resize_back, work, px.shape)
        loc = timed("locate_sij", seg.locate, full=full, working=work)  # the recipe's method, as predict does
        timed("qc", assess, px, labels=full, location=loc)
        pred = pipe.prepare(p)
        if pred.images is not None and pred.images.crop is not None:
            timed("classifier_preprocess: CLAHE + resize + pad", preprocess_view, pred.images.crop,
                  pipe.classifier.spec)
        img = timed("overlay_render", segmentation_overlay, px, full, box=pred.sij_box, side_boxes=pred.sij_boxes)
        timed("overlay_png_write", write_png_atomic, out / f"{p.stem}_overlay.png", img)
        timed("json_write", (out / f"{p.stem}.json").write_text, json.dumps(pred.to_json()))
    med = {k: round(statistics.median(v), 1) for k, v in times.items()}
    main_keys = [k for k in med if "(worker)" not in k]
    med["main_process_total"] = round(sum(med[k] for k in main_keys), 1)
    med["main_process_total_without_overlay"] = round(
        med["main_process_total"] - med.get("overlay_render", 0) - med.get("overlay_png_write", 0), 1)
    return med


def _predict(models: Path, folder: Path, out: Path, *, device: str, workers: int, batch_size: int,
             outputs: bool, threads: int | None) -> tuple[float, Any]:
    from sijscan.predict.options import PredictOptions
    from sijscan.predict.pipeline import Pipeline
    from sijscan.predict.runner import run_prediction

    pipe = Pipeline.from_folder(models, device=device)
    t = time.perf_counter()
    options = PredictOptions(device=device, loader_workers=workers, batch_size=batch_size, outputs=outputs,
                             threads=threads, progress=False)
    summary = run_prediction(pipe, inputs=[folder], out_dir=out, options=options)
    return time.perf_counter() - t, summary


def _stage_medians(out: Path) -> dict[str, float]:
    stages: dict[str, list[float]] = {}
    for f in (out / "images").glob("*.json"):
        for k, v in json.loads(f.read_text())["timings"].items():
            stages.setdefault(k, []).append(float(v))
    return {k: round(statistics.median(v), 4) for k, v in sorted(stages.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=512, help="files per format")
    ap.add_argument("--render", type=int, default=16, help="distinct phantoms rendered (then copied to --n)")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--segmenter", help="segmenter model folder (default: unet-default, random weights)")
    ap.add_argument("--classifier", help="classifier model folder (default: resnet50-sij, random weights)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--loader-workers", type=int, default=None, help="default: cores - 1")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None, help="post-segmentation/writing threads (default min(8, cores))")
    ap.add_argument("--k", type=int, default=None, help="files in the start-up run (default 2 batches)")
    ap.add_argument("--decode-repeats", type=int, default=2)
    ap.add_argument("--formats", default="dicom,png")
    ap.add_argument("--stages-only", action="store_true", help="decode times and CPU stages only, no end-to-end runs")
    args = ap.parse_args()
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    import cv2
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = max(1, cores - 1) if args.loader_workers is None else args.loader_workers
    k = min(args.n - 1, args.k or 2 * args.batch_size)
    from bench_predict import build_default_models

    result: dict[str, Any] = {
        "benchmark": "batch_predict", "device": device, "cores": cores, "n_per_format": args.n,
        "rendered_per_format": args.render, "copies": "files beyond --render are byte copies under new names",
        "size_px": args.size, "loader_workers": workers, "batch_size": args.batch_size, "startup_run_files": k,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "segmenter": args.segmenter or "unet-default, random weights",
        "classifier": args.classifier or "resnet50-sij, random weights",
        "load_average_1min_start": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        files = _render(root, render=args.render, n=args.n, size=args.size, seed=args.seed)
        result["render_and_copy_s"] = round(time.perf_counter() - t, 1)
        models = root / "models"
        build_default_models(models, segmenter=args.segmenter)
        if args.classifier:
            shutil.rmtree(models / "classifier")
            shutil.copytree(args.classifier, models / "classifier")
        for fmt in args.formats.split(","):
            torch.set_num_threads(1)
            cv2.setNumThreads(1)
            dec = _decode_times(files[fmt][:min(args.render, 8)], fmt, args.decode_repeats)
            torch.set_num_threads(max(1, cores))
            cv2.setNumThreads(max(1, cores))
            stages = _cpu_stages(models, files[fmt][:min(args.render, 4)], root / f"stages-{fmt}")
            bound = cores / dec["read_s"]
            entry: dict[str, Any] = {
                "raw_decode_ms": round(1000 * dec["raw_decode_s"], 1), "read_ms": round(1000 * dec["read_s"], 1),
                "decode_bound_per_s": round(bound, 1), "raw_decode_bound_per_s": round(cores / dec["raw_decode_s"], 1),
                "cpu_ms_per_image_one_thread": stages,
                "main_process_bound_per_s": round(1000 / stages["main_process_total"], 1),
                "main_process_bound_per_s_without_overlay": round(1000 / stages["main_process_total_without_overlay"], 1),
            }
            result[fmt] = entry
            if args.stages_only:
                continue
            subset = root / f"{fmt}-first{k}"
            subset.mkdir()
            for p in files[fmt][:k]:
                os.link(p, subset / p.name)
            for label, outputs in (("with_outputs", True), ("rows_only", False)):
                t_k, _ = _predict(models, subset, root / f"out-{fmt}-{label}-k", device=device, workers=workers,
                                  batch_size=args.batch_size, outputs=outputs, threads=args.threads)
                t_n, summary = _predict(models, root / fmt, root / f"out-{fmt}-{label}", device=device,
                                        workers=workers, batch_size=args.batch_size, outputs=outputs,
                                        threads=args.threads)
                steady = (args.n - k) / max(t_n - t_k, 1e-9)
                entry[label] = {
                    "wall_s": round(t_n, 2), "rate_wall_per_s": round(args.n / t_n, 2),
                    "startup_run_s": round(t_k, 2), "rate_steady_per_s": round(steady, 2),
                    "fraction_of_decode_bound": round(steady / bound, 3),
                    "failed": summary.failed, "withheld": summary.withheld,
                }
                if outputs:
                    stages = _stage_medians(root / f"out-{fmt}-{label}")
                    entry[label]["median_stage_s"] = stages
                    entry[label]["classified"] = sum(
                        1 for f in (root / f"out-{fmt}-{label}" / "images").glob("*.json")
                        if json.loads(f.read_text())["probability"] is not None)
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    result["targets"] = {"dicom_rate_per_s": 500, "png_fraction_of_decode_bound": 0.8}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
