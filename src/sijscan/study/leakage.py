"""Train/test leakage between a study's cohorts, refused before any model is trained.

A test cohort that shares patients or images with the training cohort measures memory, not
generalisation: the AUC it reports is optimistic, silently. After the cohorts stage (the manifests
are then known, phantom or given) :func:`check_leakage` compares the training cohort (all its
rows, training and validation) with every test cohort by

* patient id (``patient_id``, where both have it): the same id in both, and
* image content: files of equal size whose SHA-256 agree (a copy under another name or folder).

Any overlap is a :class:`LeakageError` (one line naming the cohorts, the counts and the first
example): ``sijscan study`` exits 2 and trains nothing. Overlaps between two test cohorts are not
leakage (both only evaluate) and are allowed.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

from sijscan.errors import InputError


class LeakageError(InputError):
    """A test cohort shares patients or image content with the training cohort."""


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _sizes(paths: list[str]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for p in paths:
        try:
            out.setdefault(os.path.getsize(p), []).append(p)
        except OSError:  # a missing file is reported by the stage that reads it
            continue
    return out


def same_content(train: list[str], test: list[str]) -> list[tuple[str, str]]:
    """``(train image, test image)`` pairs with identical bytes (only equal-size files are hashed)."""
    a, b = _sizes(train), _sizes(test)
    pairs = []
    for size in sorted(set(a) & set(b)):
        hashes: dict[str, str] = {}
        for p in a[size]:
            hashes.setdefault(_sha256(p), p)
        pairs += [(hashes[h], p) for p in b[size] if (h := _sha256(p)) in hashes]
    return pairs


def _ids(df: Any) -> set[str]:
    if "patient_id" not in df.columns:
        return set()
    return {str(v).strip() for v in df["patient_id"] if str(v).strip() not in ("", "nan", "None")}


def check_leakage(cohorts: Mapping[str, Mapping[str, Any]]) -> None:
    """``cohorts``: the cohorts stage's outputs (name -> {"manifest", "role"}); raise :class:`LeakageError`."""
    from sijscan.io.manifest import read_manifest  # lazy: pandas

    cohorts = {n: c for n, c in cohorts.items() if isinstance(c, Mapping) and c.get("manifest") and c.get("role")}
    frames = {name: read_manifest(c["manifest"]) for name, c in cohorts.items()}
    train = [n for n, c in cohorts.items() if c.get("role") == "train"]
    if not train:
        return
    t_name, t_df = train[0], frames[train[0]]
    t_ids, t_images = _ids(t_df), [str(p) for p in t_df["image"]]
    problems = []
    for name, c in cohorts.items():
        if c.get("role") != "test":
            continue
        df = frames[name]
        shared = sorted(t_ids & _ids(df))
        copies = same_content(t_images, [str(p) for p in df["image"]])
        what = []
        if shared:
            what.append(f"{len(shared)} patient id(s) (first: {shared[0]})")
        if copies:
            what.append(f"{len(copies)} image(s) with identical content (first: {Path(copies[0][1]).name} = "
                        f"{Path(copies[0][0]).name})")
        if what:
            problems.append(f"test cohort {name!r} shares {' and '.join(what)} with the training cohort {t_name!r}")
    if problems:
        raise LeakageError("; ".join(problems) + ": a test cohort must hold other patients and images "
                           "(remove them, or give the rows another role); nothing was trained")
