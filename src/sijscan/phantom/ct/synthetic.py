"""A toy CT case (boxes for sacrum and hip bones, a few-mm joint gap) for tests and examples.

Not anatomy: it has the layout the CT route needs (a sacrum between two hip bones, patient's left
at +x, joints where they come close), small enough to render in milliseconds.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sijscan.phantom.ct.case import VOL_HIP_LEFT, VOL_HIP_RIGHT, VOL_SACRUM, CTCase


def toy_case(*, spacing: float = 2.0, gap_mm: float = 3.0, name: str = "toy") -> CTCase:
    """Sacrum x 60-100 mm, right hip x 10..(60-gap), left hip (100+gap)..150, y 30-70, z 10-110 mm."""
    shape = (int(120 / spacing), int(90 / spacing), int(160 / spacing))  # z, y, x
    z, y, x = (np.arange(n) * spacing + spacing / 2 for n in shape)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    labels = np.zeros(shape, np.uint8)
    in_y = (yy >= 30) & (yy < 70)
    labels[in_y & (zz >= 50) & (zz < 110) & (xx >= 60) & (xx < 100)] = VOL_SACRUM
    labels[in_y & (zz >= 10) & (zz < 110) & (xx >= 10) & (xx < 60 - gap_mm)] = VOL_HIP_RIGHT
    labels[in_y & (zz >= 10) & (zz < 110) & (xx >= 100 + gap_mm) & (xx < 150)] = VOL_HIP_LEFT
    hu = np.where(labels > 0, 300, 0).astype(np.int16)
    return CTCase(hu=hu, labels=labels, spacing=(spacing, spacing, spacing), name=name, soft_tissue=False,
                  source="toy")


def write_toy_case_folder(folder: str | os.PathLike[str], *, spacing: float = 2.0, gap_mm: float = 2.0,
                          name: str = "toy") -> Path:
    """Write :func:`toy_case` in the bone-volume layout of ``../shared/real-ct`` (``NAME_SA/_LI/_RI.nii.gz``)."""
    import SimpleITK as sitk

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    toy = toy_case(spacing=spacing, gap_mm=gap_mm, name=name)
    for suffix, value in (("SA", VOL_SACRUM), ("LI", VOL_HIP_LEFT), ("RI", VOL_HIP_RIGHT)):
        img = sitk.GetImageFromArray(np.where(toy.labels == value, toy.hu, 0).astype(np.int16))
        img.SetSpacing((spacing, spacing, spacing))
        sitk.WriteImage(img, str(out / f"{name}_{suffix}.nii.gz"))
    return out
