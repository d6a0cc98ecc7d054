"""Training step time per precision (``--precision`` of train-segmenter / train-classifier, ``study.precision``).

For the demo's two networks at the demo's shapes (classifier ``tiny-resnet`` with a grade head, 16 views of
96 x 144, as the ``cpu`` recipe trains; segmenter ``unet-default``, 8 images of 128 x 128): the median time of
one training step (forward, loss, backward, AdamW step; the data pipeline left out) in float32, in float32
channels-last, and in bfloat16 mixed precision (``torch.autocast``, as Lightning's ``bf16-mixed`` runs it) with
and without channels-last. On a CPU without bfloat16 arithmetic (no AVX512-BF16 or AMX), ``bf16`` is emulated
and sijscan trains in float32 instead; the figures say why (``cpu_native_bf16``). Prints ONE JSON line.

    PYTHONPATH=src python benchmarks/bench_precision.py [--steps 8] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import sijscan.anatomy.networks  # noqa: E402,F401  (registers the segmenter architectures)
import sijscan.classify.networks  # noqa: E402,F401  (registers the classifier architectures)
from sijscan.devices import cpu_has_native_bf16  # noqa: E402
from sijscan.modelfolder import build_network  # noqa: E402

MODES = {"fp32": (False, False), "fp32_channels_last": (False, True), "bf16": (True, False),
         "bf16_channels_last": (True, True)}


def step_ms(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, bf16: bool, channels_last: bool,
            steps: int, device: str) -> float:
    """Median ms of ``steps`` training steps after two warm-up steps."""
    net = net.to(device).train()
    x, y = x.to(device), y.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    times = []
    for i in range(steps + 2):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        loss = torch.nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    nets = {
        "classifier tiny-resnet 16x1x96x144": (lambda: build_network("tiny-resnet", {"grade_head": True}),
                                                (16, 1, 96, 144), 2),
        "segmenter unet-default 8x1x128x128": (lambda: build_network("unet-default", {}), (8, 1, 128, 128), 4),
    }
    res: dict[str, Any] = {}
    for name, (make, shape, classes) in nets.items():
        row = {}
        for mode, (bf16, cl) in MODES.items():
            torch.manual_seed(0)
            x = torch.randn(*shape)
            y = torch.randint(0, classes, (shape[0], *shape[2:]) if classes == 4 else (shape[0],))
            row[f"{mode}_ms"] = round(step_ms(make(), x, y, bf16=bf16, channels_last=cl, steps=args.steps,
                                              device=device), 1)
        row["speedup_bf16_channels_last"] = round(row["fp32_ms"] / row["bf16_channels_last_ms"], 2)
        row["speedup_bf16"] = round(row["fp32_ms"] / row["bf16_ms"], 2)
        res[name] = row
    print(json.dumps({"benchmark": "precision", "device": device,
                      "cpu": cpu_name(), "cores": os.cpu_count(),
                      "torch_threads": torch.get_num_threads(), "cpu_native_bf16": cpu_has_native_bf16(),
                      "torch": torch.__version__, "steps": args.steps, "results": res}))


if __name__ == "__main__":
    main()
