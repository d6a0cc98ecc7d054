"""The one-page text summary of a cohort import (the same facts as ``<manifest>.summary.json``)."""
from __future__ import annotations

from typing import Any

_LISTED = 10


def _listed(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    lines = [f"{title} ({len(items)}):"] + [f"  {x}" for x in items[:_LISTED]]
    if len(items) > _LISTED:
        lines.append(f"  ... and {len(items) - _LISTED} more (all in the .summary.json)")
    return lines


def render_summary(s: dict[str, Any]) -> str:
    f, g, r = s["files"], s["grade_rows"], s["radiographs"]
    skipped = ", ".join(f"{n} {why}" for why, n in f["skipped"].items()) or "none"
    lines = [
        f"manifest: {s['manifest']}",
        f"folder: {s['folder']}: {f['scanned']} files, {f['radiographs']} radiographs ({f['dicom']} DICOM); "
        f"skipped: {skipped}",
        f"grades: {s['grades_table']}: {g['read']} rows, joined by {s['join_key']}: {g['matched']} matched, "
        f"{len(g['unmatched'])} without an image, {len(g['with_problems'])} with unusable cells",
        f"readers: {s['readers_rule'] or 'one row per radiograph'}",
        f"radiographs in the manifest: {r['in_manifest']}; without grades: {r['without_grades']} "
        f"({'kept unlabelled' if r['without_grades_kept'] else 'left out'}); left out by a rule: {len(r['left_out'])}",
        f"follow-up pairs (baseline = earliest StudyDate, follow-up = latest): {s['followup']['pairs']}",
        "splits (by patient, stratified by label, seed %d):" % s["seed"],
    ]
    for split, c in s["splits"].items():
        lines.append(f"  {split}: {c['images']} images, {c['patients']} patients, {c['positive']} positive, "
                     f"{c['negative']} negative" + (f", {c['unlabelled']} unlabelled" if c["unlabelled"] else ""))
    if s["patients_in_several_splits"]:
        lines.append(f"WARNING: {len(s['patients_in_several_splits'])} patient(s) in more than one split "
                     f"(from the table's split column): {', '.join(s['patients_in_several_splits'][:_LISTED])}")
    lines += _listed("grade rows with unusable cells (left out)", g["with_problems"])
    lines += _listed("grade rows without an image", g["unmatched"])
    lines += _listed("radiographs without grades", r["without_grades_examples"])
    lines += _listed("radiographs left out", r["left_out"])
    lines += _listed("follow-up notes", s["followup"]["notes"])
    lines += _listed("files skipped", f["skipped_examples"])
    return "\n".join(lines) + "\n"
