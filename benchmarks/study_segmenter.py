"""Segmenter study on phantom data: simulate proof/gespic/damact -> train unet-default -> Dice and SIJ-box hit rate.

Made for a GPU machine (16 workers for the phantom, bf16 training); runs on CPU with
``--device cpu --accelerator cpu`` and smaller sizes. Prints the log as one JSON line at the end and
writes it to ``$OUT/gpu_log.json`` with the model folder's card and weights.

Example (H200, as used for docs/performance.md):
    PYTHONPATH=src python3 benchmarks/study_segmenter.py --n-train 1000 --epochs 40 --eval-n 50
"""
import argparse
import json
import os
import shutil
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--n-train", type=int, default=1500)
ap.add_argument("--train-size", type=int, default=320)
ap.add_argument("--epochs", type=int, default=60)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--eval-n", type=int, default=50)
ap.add_argument("--eval-size", type=int, default=2048)
ap.add_argument("--workers", type=int, default=16)
ap.add_argument("--device", default="cuda")
ap.add_argument("--accelerator", default="gpu")
ap.add_argument("--data", default="/tmp/phantom")
ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
def main():
    a = ap.parse_args()
    import torch
    from sijscan.phantom.simulate import simulate_cohort
    from sijscan.anatomy.train import TrainConfig, train_segmenter
    from sijscan.anatomy.run import segment_files

    log = {"args": vars(a), "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    data, out = Path(a.data), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.time()
    proof = simulate_cohort("proof", n=a.n_train, seed=11, out_dir=data / "proof", size=a.train_size, fmt="png",
                            followup=False, workers=a.workers)
    evals = {c: simulate_cohort(c, n=a.eval_n, seed=s, out_dir=data / c, size=a.eval_size, fmt="png",
                                followup=False, workers=a.workers) for c, s in (("gespic", 21), ("damact", 22))}
    log["simulate_s"] = round(time.time() - t, 1); print(log, flush=True)
    t = time.time()
    cfg = TrainConfig(arch="unet-default", epochs=a.epochs, batch_size=a.batch, size=256, lr=3e-3,
                      accelerator=a.accelerator, seed=0)
    model = train_segmenter(manifest=proof, out_dir=data / "seg-default", config=cfg)
    log["train_s"] = round(time.time() - t, 1); print(log, flush=True)
    shutil.copy(model / "model.json", out / "model.json")
    shutil.copy(model / "weights.safetensors", out / "weights.safetensors")
    for c, m in evals.items():
        t = time.time()
        run = segment_files([], model_dir=model, out_dir=data / f"seg-{c}", manifest=m, device=a.device)
        log[f"eval_{c}_s"] = round(time.time() - t, 1)
        log[f"eval_{c}"] = {k: v for k, v in (run.metrics or {}).items() if k != "per_image"}
        log[f"eval_{c}_failed"] = run.failed[:5]
        log[f"eval_{c}_flagged"] = sum(1 for d in run.done if d["qc_flags"])
        shutil.copy(data / f"seg-{c}" / "metrics.json", out / f"metrics_{c}.json")
        print(c, log[f"eval_{c}"], flush=True)
    (out / "gpu_log.json").write_text(json.dumps(log, indent=2, default=str))
    print(json.dumps(log, default=str))


if __name__ == "__main__":
    main()
