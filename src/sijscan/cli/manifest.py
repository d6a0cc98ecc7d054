"""``sijscan manifest`` (alias ``import-cohort``): a radiograph folder + a grades table -> a checked manifest."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "manifest", aliases=["import-cohort"],
        help="build a manifest from a DICOM folder and a grades table (CSV or Excel)",
        description="Scan FOLDER (recursive; DICOM files with or without extension, PNG/JPEG/TIFF/NIfTI), read "
                    "the grades table through a column mapping, join, derive the modified New York label from "
                    "the grades, pair baseline and follow-up by StudyDate, assign patient-level splits, and "
                    "write the manifest with OUT.summary.txt/.json (what matched and what did not). "
                    "Example: sijscan manifest dicoms/ --grades grades.csv --col patient_id=PatientID "
                    "--col grade_left=SIJ_left --col grade_right=SIJ_right --col reader=Reader --readers max "
                    "--out data/manifest.csv",
    )
    p.add_argument("folder", metavar="FOLDER", help="folder of radiographs (searched recursively)")
    p.add_argument("--grades", required=True, metavar="TABLE", help="grades table: .csv or .xlsx")
    p.add_argument("--out", required=True, metavar="CSV", help="manifest to write (paths relative to it)")
    p.add_argument("--col", action="append", default=[], metavar="FIELD=COLUMN",
                   help="which of your columns holds a field: patient_id, image (file name), study_uid, sop_uid, "
                        "accession, grade_left, grade_right (the PATIENT's sides), label, reader, study_date, "
                        "followup_grade_left/right, split, cohort, mask, sex, age, or any extra name to keep")
    p.add_argument("--mapping", metavar="YAML", help="the same as a file: {columns: {field: column}, readers: .., "
                                                     "join: .., sheet: ..}; --col and flags override it")
    p.add_argument("--join", help="join key (default: the most specific one mapped: image, sop_uid, study_uid, "
                                  "accession, patient_id)")
    p.add_argument("--readers", help="several grade rows per radiograph: first, max (per side), consensus "
                                     "(readers agree on the label) or a reader's name")
    p.add_argument("--followup", choices=("pair", "rows"), default="pair",
                   help="pair: a patient's earliest study is the row, the latest gives followup_* (default); "
                        "rows: every study is its own row")
    p.add_argument("--role", choices=("train", "test", "none"), default="train",
                   help="train: patient-level train/val split (default); test: split 'test'; none: leave empty")
    p.add_argument("--val-fraction", type=float, default=0.15, help="held-out validation share of patients (0.15)")
    p.add_argument("--test-fraction", type=float, default=0.0, help="held-out test share of patients (0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cohort", help="cohort name written into every row")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    p.add_argument("--keep-ungraded", action="store_true", help="keep radiographs without grades (label empty)")
    p.set_defaults(handler=run, out_is_file=True)


def run(args: argparse.Namespace) -> int:
    from sijscan.io.cohort import import_cohort, parse_column_flags, read_mapping_file  # lazy: cli, pandas

    config = read_mapping_file(args.mapping) if args.mapping else {"columns": {}}
    columns = {**config["columns"], **parse_column_flags(args.col)}
    result = import_cohort(
        folder=args.folder, grades=args.grades, out=args.out, columns=columns,
        join=args.join or config.get("join"), readers=args.readers or config.get("readers"),
        followup=args.followup, role=args.role, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        seed=args.seed, cohort=args.cohort, keep_ungraded=args.keep_ungraded, sheet=args.sheet or config.get("sheet"))
    print(result.summary_text, end="")
    print(f"summary: {result.manifest.with_suffix('.summary.txt')} and .summary.json")
    return 0
