"""Contact sheet of CT-route radiographs beside real reference films (for eyes, not for models)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sijscan.phantom.contact_sheet import ContactSheetError, make_contact_sheet, read_display


def ct_route_sheet(manifest_path: str | Path, out_path: str | Path, *, reference_dir: str | Path | None = None,
                   max_images: int = 12, thumb: int = 256, columns: int = 6, max_references: int | None = None) -> Path:
    """Grid of the first ``max_images`` rows of a CT-route manifest (caption: case, grades L/R = the
    patient's sides, profile, realism preset if any), then the first ``max_references`` (default all)
    ``*.jpg`` in ``reference_dir`` (caption "ref <name>")."""
    import pandas as pd

    manifest_path = Path(manifest_path)
    df = pd.read_csv(manifest_path, dtype={"ct_case": str}).head(max_images)
    images, captions = [], []
    for _, row in df.iterrows():
        images.append(read_display(manifest_path.parent / str(row["image"])))
        extra = f" {row['realism']}" if "realism" in row and isinstance(row["realism"], str) else ""
        captions.append(f"CT {row['ct_case']} L{row['grade_left']} R{row['grade_right']} {row['site']}{extra}")
    refs = sorted(Path(reference_dir).glob("*.jpg")) if reference_dir else []
    for path in refs[:max_references]:
        arr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if arr is None:
            raise ContactSheetError(f"cannot read {path}")
        images.append(arr)
        captions.append(f"ref {path.stem}")
    sheet = make_contact_sheet(images, captions, thumb=thumb, columns=columns)
    if not cv2.imwrite(str(out_path), np.ascontiguousarray(sheet), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise ContactSheetError(f"cannot write {out_path}")
    return Path(out_path)
