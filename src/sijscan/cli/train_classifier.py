"""``sijscan train-classifier``: a thin shell over :func:`sijscan.classify.api.train_classifier`."""
from __future__ import annotations

import argparse
import logging
import sys

from sijscan._progress import add_progress_flag
from sijscan.devices import add_precision_flag

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-classifier", help="train a ResNet-50 classifier on SIJ crops or whole radiographs",
                              description="Train with the paper's recipe (or 'quick'); writes a model folder to --out.")
    p.add_argument("--manifest", required=True, help="manifest CSV (image, label, split, [grade_left, grade_right, mask])")
    p.add_argument("--view", required=True, choices=["sij", "full"], help="SIJ crop (anatomy-aware) or whole radiograph")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--segmenter", metavar="DIR", help="segmenter model folder (view sij)")
    src.add_argument("--crop-from-mask", action="store_true", help="crop with the manifest's true masks (view sij)")
    p.add_argument("--recipe", choices=["paper", "quick", "cpu"], default="paper")
    p.add_argument("--out", required=True, metavar="DIR", help="model folder to write")
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument("--accelerator", choices=["auto", "cpu", "gpu"], default="auto")
    add_precision_flag(p)
    p.add_argument("--init", choices=["imagenet", "random"], default="imagenet")
    p.add_argument("--init-weights", metavar="FILE", help="torchvision resnet50 state_dict (.pth/.safetensors)")
    p.add_argument("--arch", default=None, help="override the recipe's architecture (e.g. tiny-resnet for demos)")
    seed = p.add_mutually_exclusive_group()
    seed.add_argument("--seed", type=int, default=0)
    seed.add_argument("--seeds", default=None, metavar="S,S[,...]",
                      help="train one model per seed (OUT/members/seed<k>) and write their ensemble to OUT: the "
                           "members' logits averaged, its own cut-off and temperature on the shared validation split")
    p.add_argument("--resume", action="store_true", help="continue from the last finished phase/checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="replace a trained model already in --out")
    p.add_argument("--max-images", type=int, default=None, help="use at most N training images (N/4 validation)")
    p.add_argument("--extra-manifest", metavar="CSV", default=None,
                   help="a second training set mixed into every epoch, e.g. CT-route renders of real anatomy "
                        "(`sijscan simulate --from-ct`); its split 'val' rows join validation")
    p.add_argument("--extra-weight", type=float, default=0.5, help="share of each epoch's draws from --extra-manifest")
    # sijscan.anatomy.crop.CROPS, spelt out so that registering the CLI stays light (a test keeps them equal)
    p.add_argument("--crop", choices=["box", "joints", "joints_span", "joints_wide"], default="box",
                   help="view 'sij': the box around both joints (the paper's) or the two joints side by side, "
                        "each in one orientation, their tiles scaled by the joints' height (joints; joints_wide "
                        "with more bone around them) or by the span between them (joints_span)")
    p.add_argument("--appearance", action="store_true",
                   help="appearance randomisation (gamma, contrast, blur, noise) on top of the recipe's augmentation")
    p.add_argument("--elastic", action="store_true", help="a smooth random deformation of each training view")
    p.add_argument("--joint-mix", action="store_true",
                   help="--crop joints: half the training rows take their right joint (and its grade) from another "
                        "row; the label is the mNY criterion of the two grades")
    p.add_argument("--processing", action="store_true",
                   help="also train on re-processed versions of each view (a random grey-level curve and edge "
                        "enhancement before CLAHE: what differs between vendors' processing)")
    p.add_argument("--anatomy-adversarial", type=float, default=0.0, metavar="W",
                   help="weight of an anatomy-adversarial head (gradient reversal) that keeps the features from telling "
                        "which anatomy a view shows: each real CT of CT-route renders (ct_case), else each cohort "
                        "(e.g. hospitals); 0: off (default); 1: the DANN paper's")
    # sijscan.classify.recipe.GRADE_POOLS, spelt out so that registering the CLI stays light (a test keeps them equal)
    p.add_argument("--grade-pool", choices=["global", "sides"], default="global",
                   help="what the per-side grade head reads: the whole view's pooled features (global, default) or "
                        "each side's half of the last feature map (sides: image-left half = the patient's right)")
    add_progress_flag(p)
    p.set_defaults(handler=run)


def parse_seeds(text: str | None) -> list[int] | None:
    """``--seeds 0,1,2`` -> [0, 1, 2]; at least two distinct integers >= 0, else a one-line error."""
    if text is None:
        return None
    from sijscan.classify.errors import ClassifierInputError  # lazy: cli

    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ClassifierInputError(f"--seeds: expected comma-separated integers, got {text!r}") from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ClassifierInputError(f"--seeds: at least two different integers >= 0, got {text!r}")
    return seeds


def run(args: argparse.Namespace) -> int:
    from sijscan.classify.api import train_classifier  # lazy: cli, pandas, torch

    trained = train_classifier(
        args.manifest, view=args.view, out=args.out, recipe=args.recipe, arch=args.arch, segmenter=args.segmenter,
        crop_from_mask=args.crop_from_mask, crop=args.crop, appearance=args.appearance, elastic=args.elastic,
        joint_mix=args.joint_mix, processing=args.processing, anatomy_adversarial=args.anatomy_adversarial,
        grade_pool=args.grade_pool, extra_manifest=args.extra_manifest, extra_weight=args.extra_weight,
        init=args.init, init_weights=args.init_weights, seed=args.seed, devices=args.devices,
        num_nodes=args.num_nodes, accelerator=args.accelerator, max_images=args.max_images, resume=args.resume,
        overwrite=args.overwrite, progress=args.progress, seeds=parse_seeds(args.seeds), precision=args.precision,
    )
    if trained is None:  # a scale-out rank other than 0: rank 0 reports
        return 0
    for line in trained.lines():
        print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout, flush=True)
    return 0
