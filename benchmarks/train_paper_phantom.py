"""Train the PUBLISHED segmentation structure (``unet-paper``) briefly on phantom radiographs, on the CPU.

Purpose: a trained network of the published structure, so ``--fast`` can be compared with the exact
published inference on masks that mean something (random weights cannot show agreement). Not a
model to use: a few minutes on 2 CPU threads.

Each image goes through the published recipe's own preprocessing (transposed frame, 768 x 768,
z-score, smoothing, rescale to [-1, 1]) once, so the pixel scale matches exact mode; training then
draws random ``--crop`` x ``--crop`` crops (MONAI ``DiceCELoss``, AdamW, one-cycle over the time
budget). Rows with ``split == "test"`` or the last ``--holdout`` rows are never used for training.

    nice -n 10 python benchmarks/train_paper_phantom.py --manifest M.csv --out DIR --minutes 20
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from sijscan.anatomy.networks import LABELS, PAPER_INIT
from sijscan.anatomy.recipes import published_recipe
from sijscan.anatomy.recipes import parse_segmenter_recipe
from sijscan.anatomy.segment import prepare_input
from sijscan.io import read_radiograph
from sijscan.modelfolder import build_network, default_provenance, save_model

log = logging.getLogger("train_paper_phantom")


def load_rows(manifest: Path, holdout: int) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    import csv

    rows = list(csv.DictReader(manifest.open()))
    pairs = [(manifest.parent / r["image"], manifest.parent / r["mask"]) for r in rows if r.get("mask")]
    return pairs[:-holdout], pairs[-holdout:]


def prepare(pairs: list[tuple[Path, Path]], recipe: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 768, 768) inputs as exact mode sees them, (N, 768, 768) int64 labels in the same frame."""
    xs, ys = [], []
    size = tuple(recipe["working_size"])
    for img, msk in pairs:
        xs.append(prepare_input(read_radiograph(img), parse_segmenter_recipe(recipe)).tensor)
        lab = cv2.imread(str(msk), cv2.IMREAD_UNCHANGED)
        lab = np.ascontiguousarray(lab.T) if recipe["transposed"] else lab
        ys.append(torch.from_numpy(cv2.resize(lab, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
                                   .astype(np.int64)))
    return torch.stack(xs), torch.stack(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--holdout", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", type=Path, help="start from this model folder's weights (continue a short run)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    from monai.losses import DiceCELoss

    recipe = published_recipe()
    recipe["resize_back"] = "nearest"
    train, held = load_rows(args.manifest, args.holdout)
    x, y = prepare(train, recipe)
    log.info("prepared %d training images %s", len(x), tuple(x.shape))
    if args.init is not None:
        from sijscan.modelfolder import load_model

        net, _card = load_model(args.init, map_location="cpu")
        net.train()
    else:
        net = build_network("unet-paper", dict(PAPER_INIT)).train()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    loss_fn = DiceCELoss(softmax=True, to_onehot_y=True)
    budget, t0, step, s = args.minutes * 60.0, time.time(), 0, x.shape[-1]
    while (elapsed := time.time() - t0) < budget:
        frac = elapsed / budget  # one-cycle on the time budget: warm-up 10%, cosine down
        lr = args.lr * (frac / 0.1 if frac < 0.1 else 0.5 * (1 + np.cos(np.pi * (frac - 0.1) / 0.9)))
        for g in opt.param_groups:
            g["lr"] = max(lr, args.lr * 1e-3)
        idx = rng.integers(0, len(x), args.batch)
        r0, c0 = rng.integers(0, s - args.crop + 1, (2, args.batch))
        xb = torch.stack([x[i, :, a:a + args.crop, b:b + args.crop] for i, a, b in zip(idx, r0, c0)])
        yb = torch.stack([y[i, a:a + args.crop, b:b + args.crop] for i, a, b in zip(idx, r0, c0)])[:, None]
        xb = xb * float(rng.uniform(0.85, 1.15)) + float(rng.uniform(-0.1, 0.1))
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        step += 1
        if step % 20 == 0:
            log.info("step %d  %.0f s  lr %.2e  loss %.4f", step, elapsed, lr, loss.item())
    net.eval()
    out = save_model(args.out, network=net, kind="segmenter", arch="unet-paper", init_args=dict(PAPER_INIT),
                     labels={int(k): v for k, v in LABELS.items()}, recipe=recipe,
                     provenance=default_provenance(source="benchmarks/train_paper_phantom.py", steps=step,
                                                   minutes=args.minutes, crop=args.crop, batch=args.batch,
                                                   manifest=str(args.manifest),
                                                   init=str(args.init) if args.init else None))
    (Path(out) / "heldout.json").write_text(json.dumps([[str(a), str(b)] for a, b in held], indent=1))
    log.info("saved %s after %d steps (%.0f s)", out, step, time.time() - t0)


if __name__ == "__main__":
    main()
