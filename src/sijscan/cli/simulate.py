"""``sijscan simulate``: write a phantom cohort (images, label maps, manifest, cohort.json).

``--cohort NAME`` renders the procedural phantom; ``--from-ct CASE_DIR...`` renders labelled AP
radiographs from real CT volumes (``sijscan.phantom.ct``), ``--n`` of them per CT.
"""
from __future__ import annotations

import argparse
import logging
import os

from sijscan._progress import add_progress_flag

logger = logging.getLogger(__name__)

COHORT_NAMES = ("proof", "gespic", "optiref", "damact")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="generate a phantom cohort of AP pelvis radiographs with masks and grades",
        description="Generate a phantom cohort (synthetic AP pelvis radiographs, label maps, "
        "manifest.csv, cohort.json). Deterministic for a seed, whatever the number of workers. "
        "With --from-ct, render them from CT volumes with sacrum/hip-bone masks instead.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--cohort", choices=COHORT_NAMES, help="procedural cohort to simulate")
    src.add_argument("--from-ct", nargs="+", metavar="CASE_DIR",
                     help="CT case folders (bone volumes *_SA/_LI/_RI.nii.gz, or a CT NIfTI / DICOM series "
                     "with TotalSegmentator sacrum, hip_left, hip_right masks)")
    p.add_argument("--n", type=int, default=None,
                   help="number of patients (default: the paper's cohort size); with --from-ct: radiographs "
                   "per CT (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", type=int, default=None,
                   help="long side in pixels (default 2048, ~0.2 mm/pixel; 1024 with --from-ct)")
    p.add_argument("--format", dest="fmt", choices=("dicom", "png"), default="png", help="image format")
    p.add_argument("--followup", action=argparse.BooleanOptionalAction, default=None,
                   help="also simulate 2-year follow-up visits (default: on for gespic only)")
    p.add_argument("--contact-sheet", action="store_true", help="write OUT/contact_sheet.png")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    p.add_argument("--shortcut-strength", type=float, default=None,
                   help="0-1: how strongly findings outside the SIJ and the site follow the label")
    p.add_argument("--vendor-spread", type=float, default=None, metavar="S",
                   help="0-1: each patient's own detector and vendor processing around its site's (a cohort from "
                   "many centres; docs/phantom.md)")
    p.add_argument("--bones-from", default=None, metavar="CTS",
                   help="--cohort: mix the hip bones and sacrum from these of the packaged shape set's CTs only, "
                   "comma-separated (e.g. 001,002: leave CT 003's anatomy out of a training cohort; default all)")
    p.add_argument("--profile", default=None,
                   help="--from-ct: acquisition profile for every image (default: a random one per image)")
    p.add_argument("--split", default="train", choices=("train", "val", "test"), help="--from-ct: manifest split")
    p.add_argument("--device", default="cpu", help="--from-ct: 'cpu' (OpenCV) or a torch device such as 'cuda'")
    p.add_argument("--anatomy-variants", type=int, default=1, metavar="K",
                   help="--from-ct: render each CT as K anatomy variants, the CT as scanned and K-1 stretched to "
                   "other proportions and bone densities (default 1: as scanned)")
    p.add_argument("--anatomy-vary", default=None, metavar="WHAT",
                   help="--from-ct: what the anatomy variants vary, comma-separated: proportions, density (default both)")
    real = p.add_mutually_exclusive_group()
    real.add_argument("--realism", default=None, choices=("off", "varied", "stress"),
                      help="--from-ct: CT acquisition and body realism drawn per image (default off: plain renders; "
                      "varied: thick slices, implants, fields of view, table, habitus, gas; stress: the hardest)")
    real.add_argument("--stress", action="store_const", const="stress", dest="realism",
                      help="--from-ct: the hardest settings (= --realism stress: obese, gas over the SIJs, 3-5 mm "
                      "slices, an implant, the abdomen's field, a table)")
    add_progress_flag(p)
    p.set_defaults(handler=handle)


def _handle_ct(args: argparse.Namespace) -> int:
    from sijscan.phantom.ct.cohort import CTCohortError, render_ct_cohort  # lazy: cli

    if (args.fmt != "png" or args.followup or args.shortcut_strength is not None or args.vendor_spread is not None
            or args.bones_from is not None):
        raise CTCohortError("--from-ct writes PNG only and has no --followup, --shortcut-strength, --vendor-spread "
                            "or --bones-from")
    manifest = render_ct_cohort(
        args.from_ct, args.out, n=10 if args.n is None else args.n, size=args.size or 1024, seed=args.seed,
        profile=args.profile, split=args.split, device=args.device, realism=args.realism,
        variants=args.anatomy_variants,
        vary=tuple(v.strip() for v in (args.anatomy_vary or "proportions,density").split(",") if v.strip()),
        workers=args.workers or os.cpu_count() or 1,
    )
    if args.contact_sheet:
        from pathlib import Path

        from sijscan.phantom.contact_sheet import cohort_contact_sheet  # lazy: cli

        cohort_contact_sheet(manifest, Path(args.out) / "contact_sheet.png")
    print(manifest)
    return 0


def handle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sijscan.phantom.simulate import SimulateError, simulate_cohort  # lazy: cli

    if args.from_ct:
        return _handle_ct(args)
    if args.profile is not None:
        raise SimulateError("--profile is for --from-ct; procedural cohorts use their own sites")
    if args.realism is not None:
        raise SimulateError("--realism/--stress are for --from-ct")
    if args.anatomy_variants != 1 or args.anatomy_vary is not None:
        raise SimulateError("--anatomy-variants and --anatomy-vary are for --from-ct")
    overrides = {}
    for flag, value in (("shortcut-strength", args.shortcut_strength), ("vendor-spread", args.vendor_spread)):
        if value is not None:
            if not 0.0 <= value <= 1.0:
                raise SimulateError(f"--{flag} must be within 0-1, got {value}")
            overrides[flag.replace("-", "_")] = value
    if args.bones_from is not None:
        overrides["ct_members"] = [m.strip() for m in args.bones_from.split(",") if m.strip()]
    if args.n is not None and args.n < 1:
        raise SimulateError(f"--n must be >= 1, got {args.n}")
    manifest = simulate_cohort(
        args.cohort, n=args.n, seed=args.seed, out_dir=args.out, size=args.size or 2048, fmt=args.fmt,
        followup=args.followup, workers=args.workers, overrides=overrides, progress=args.progress,
    )
    if args.contact_sheet:
        from sijscan.phantom.contact_sheet import cohort_contact_sheet  # lazy: cli

        cohort_contact_sheet(manifest, Path(args.out) / "contact_sheet.png")
    print(manifest)
    return 0
