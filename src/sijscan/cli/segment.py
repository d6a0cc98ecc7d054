"""``sijscan segment`` and ``sijscan train-segmenter``: thin shells over sijscan.anatomy."""
from __future__ import annotations

import argparse
import logging
import sys

from sijscan._progress import add_progress_flag
from sijscan.devices import add_precision_flag
from sijscan.anatomy.train_config import BORDER_MODES, train_default as D  # one source of the defaults (the parser needs them)

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "segment", help="segment pelvis/sacrum, locate and crop the sacroiliac joints",
        description="Segment radiographs with a segmenter model folder; write per image <stem>_mask.png, "
                    "<stem>_overlay.png, <stem>_crop.png and <stem>.json (SIJ box in original pixels, QC flags).",
    )
    p.add_argument("images", nargs="*", metavar="IMAGE", help="radiographs (DICOM, PNG, JPEG, TIFF) or folders of them")
    p.add_argument("--model", required=True, help="segmenter model folder (sijscan or imported published)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--nifti", action="store_true", help="also write <stem>_mask.nii.gz with the radiograph's pixel "
                                                        "spacing and position (opens aligned in 3D Slicer)")
    p.add_argument("--dicom-seg", action="store_true", help="DICOM inputs: also write <stem>_seg.dcm (DICOM SEG, "
                   "needs sijscan[dicom-seg]) and dicom_results.csv keyed by StudyInstanceUID/SOPInstanceUID")
    p.add_argument("--manifest", help="manifest CSV; with masks, Dice and SIJ-box hit rate go to metrics.json")
    p.add_argument("--paper-crop", action="store_true", help="published crop: zero outside the box, Otsu trim")
    p.add_argument("--device", default="cpu", help="torch device, e.g. 'cpu' or 'cuda' (default cpu)")
    p.set_defaults(handler=run_segment)

    t = subparsers.add_parser(
        "train-segmenter", help="train a pelvis/sacrum U-Net from a manifest with masks",
        description="Train a 4-class U-Net (background, sacrum, two hip bones) with Lightning; the best "
                    "validation Dice is written as a sijscan model folder in --out.",
    )
    t.add_argument("--manifest", required=True, help="manifest CSV with image and mask columns")
    t.add_argument("--out", required=True, help="output model folder (checkpoints in OUT/checkpoints)")
    t.add_argument("--arch", choices=("default", "paper"), default="default")
    t.add_argument("--epochs", type=int, default=D("epochs"))
    t.add_argument("--batch-size", type=int, default=D("batch_size"))
    t.add_argument("--size", type=int, default=None, help="working size (default 256, paper 512)")
    t.add_argument("--lr", type=float, default=D("lr"), help="one-cycle max learning rate")
    t.add_argument("--devices", type=int, default=D("devices"))
    t.add_argument("--accelerator", choices=("auto", "cpu", "gpu"), default=D("accelerator"))
    add_precision_flag(t)
    t.add_argument("--max-images", type=int, default=None, help="use at most N images (first N rows)")
    t.add_argument("--seed", type=int, default=D("seed"))
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt")
    t.add_argument("--overwrite", action="store_true", help="replace a trained model already in --out")
    add_progress_flag(t)
    t.add_argument("--augment", choices=("none", "basic", "strong"), default=D("augment"),
                   help="training augmentation: basic (default: affine, intensity, noise per batch), strong "
                        "(SyntheX's sim-to-real families: mirroring, affine, elastic, inversion, gamma, contrast, blur/sharpen, "
                        "noise, random erasing) or none")
    t.add_argument("--extra-manifest", metavar="CSV", default=None,
                   help="a second training manifest with masks (e.g. CT-route renders), mixed into every epoch")
    t.add_argument("--extra-weight", type=float, default=D("extra_weight"), metavar="W",
                   help="share of each epoch's training draws taken from --extra-manifest, in (0, 1) (default 0.5)")
    t.add_argument("--visible-only", action="store_true", default=D("visible_only"),
                   help="labels outside a manifest row's exposed field (its field_box column, which sijscan's phantom "
                        "writes) become background: train on the bone the radiograph shows, not bone behind the collimator")
    t.add_argument("--border", choices=BORDER_MODES, default=D("border"),
                   help="fill: a flat collimated border the image shows (white or black) is filled from the exposed "
                        "field's edge before the network sees it, in training and whenever the model runs, and the "
                        "labels are cut back to the field; keep: the radiograph as it is (default %(default)s)")
    t.set_defaults(handler=run_train)


def run_segment(args: argparse.Namespace) -> int:
    from sijscan.anatomy.api import segment  # lazy: cli, torch

    run = segment(args.images, model=args.model, out=args.out, nifti=args.nifti, manifest=args.manifest,
                  paper_crop=args.paper_crop, device=args.device, dicom_seg=args.dicom_seg, keep=False)
    for path, reason in run.failed:
        print(f"sijscan segment: {reason if reason.startswith(path) else f'{path}: {reason}'}", file=sys.stderr)
    flagged = sum(1 for d in run.done if d["qc_flags"])
    print(f"segmented {len(run.done)} image(s), {flagged} with QC flags, {len(run.failed)} failed -> {args.out}")
    if run.metrics:
        m = run.metrics
        dice = ", ".join(f"{k} {v:.3f}" for k, v in m["dice_mean"].items())
        print(f"Dice: {dice}; SIJ-box hit rate {m['sij_hit_rate']:.3f} (n={m['n_hit_evaluated']})")
    return 1 if run.failed else 0


def run_train(args: argparse.Namespace) -> int:
    from sijscan.anatomy.train import TrainConfig, train_segmenter  # lazy: cli, lightning, torch

    cfg = TrainConfig(
        arch=f"unet-{args.arch}", epochs=args.epochs, batch_size=args.batch_size,
        size=args.size or (512 if args.arch == "paper" else 256), lr=args.lr, devices=args.devices,
        accelerator=args.accelerator, max_images=args.max_images, seed=args.seed, progress=args.progress,
        augment=args.augment, extra_manifest=args.extra_manifest, extra_weight=args.extra_weight,
        precision=args.precision, visible_only=args.visible_only, border=args.border,
    )
    folder = train_segmenter(manifest=args.manifest, out_dir=args.out, config=cfg, resume=args.resume,
                             overwrite=args.overwrite)
    from sijscan.modelfolder import read_card  # lazy: cli

    if not (folder / "model.json").is_file():  # a DDP rank other than 0
        return 0
    verdict = read_card(folder).provenance.get("verdict") or {}
    print(f"model folder written: {folder}")
    dice = verdict.get("val_dice")
    print(f"validation: {verdict.get('val_n', '?')} images, best mean Dice (sacrum, hip bones) "
          f"{'undefined' if dice is None else f'{dice:.3f}'}")
    for code, text in verdict.get("flags", {}).items():
        print(f"warning: {code}: {text}", file=sys.stderr)
    if verdict.get("degenerate"):
        print("warning: this segmenter is DEGENERATE (see above): do not use it", file=sys.stderr)
    return 0
