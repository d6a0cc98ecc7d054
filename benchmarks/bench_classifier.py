"""Classifier speed: CPU inference per 416 x 628 crop (2 threads) and training images/s per stage size.

Prints ONE JSON line. Training uses the real ``ClassifierModule.training_step`` (GPU-side affine
augmentation, mixup, label smoothing, all layers trainable, AdamW + one-cycle) on random tensors of
each paper stage size; on CUDA with bf16 autocast and channels-last, as in training.

    python benchmarks/bench_classifier.py                     # CPU, small batches
    python benchmarks/bench_classifier.py --device cuda       # H100/H200: paper batch sizes
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch


def bench_inference(threads: int, repeats: int) -> dict[str, float]:
    from sijscan.classify.preprocess import PreprocessSpec, preprocess_view
    from sijscan.modelfolder import build_network

    torch.set_num_threads(threads)
    net = build_network("resnet50-sij", {"grade_head": False}).eval()
    rng = np.random.default_rng(0)
    crop = rng.random((420, 640)).astype(np.float32)
    spec = PreprocessSpec()
    t0 = time.perf_counter()
    for _ in range(repeats):
        x = preprocess_view(crop, spec)
    t_pre = (time.perf_counter() - t0) / repeats
    xt = torch.from_numpy(x)[None, None]
    with torch.inference_mode():
        net(xt)
        t0 = time.perf_counter()
        for _ in range(repeats):
            net(xt)
    t_net = (time.perf_counter() - t0) / repeats
    return {"cpu_threads": threads, "preprocess_s_per_crop": round(t_pre, 4), "network_s_per_crop": round(t_net, 4),
            "total_s_per_crop": round(t_pre + t_net, 4)}


def bench_training(device: str, steps: int, warmup: int, batch_cap: int | None) -> list[dict[str, object]]:
    from sijscan.classify.module import ClassifierModule
    from sijscan.classify.recipe import PAPER
    from sijscan.modelfolder import build_network

    cuda = device == "cuda"
    out = []
    for st in PAPER.stages:
        bs = st.batch_size if batch_cap is None else min(st.batch_size, batch_cap)
        net = build_network("resnet50-sij", {"grade_head": True}).to(device)
        if cuda:
            net = net.to(memory_format=torch.channels_last)
        m = ClassifierModule(net, phase="all", max_lr=st.all_lr, channels_last=cuda).to(device)
        opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=st.all_lr, weight_decay=1e-4)
        x = torch.rand(bs, 1, st.height, st.width, device=device).half()
        y = torch.randint(0, 2, (bs,), device=device)
        g = torch.randint(0, 5, (bs, 2), device=device)

        def step() -> None:
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=cuda):
                loss = m.training_step((x, y, g), 0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(warmup):
            step()
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        out.append({"size_hw": [st.height, st.width], "batch": bs, "steps": steps,
                    "images_per_s": round(bs * steps / dt, 2)})
        del net, m, opt
        if cuda:
            torch.cuda.empty_cache()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="timed steps per stage (default 1 cpu, 20 cuda)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps (default 1 cpu, 5 cuda)")
    ap.add_argument("--batch-cap", type=int, default=None, help="cap the batch (default 2 on cpu, none on cuda)")
    ap.add_argument("--skip-training", action="store_true")
    a = ap.parse_args()
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda but no CUDA device is visible")
    result: dict[str, object] = {"bench": "classifier", "machine": platform.machine(), "torch": torch.__version__,
                                 "inference_416x628": bench_inference(a.threads, a.repeats)}
    if not a.skip_training:
        torch.set_num_threads(a.threads if not cuda else torch.get_num_threads())
        result["training_device"] = torch.cuda.get_device_name(0) if cuda else f"cpu ({a.threads} threads)"
        result["precision"] = "bf16-mixed, channels_last" if cuda else "fp32"
        result["training"] = bench_training(a.device, a.steps or (20 if cuda else 1), a.warmup or (5 if cuda else 1),
                                            a.batch_cap if a.batch_cap is not None else (None if cuda else 2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
