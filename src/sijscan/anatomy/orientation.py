"""Is the radiograph upside down? Ask the segmenter, which has only ever seen upright pelves.

A pelvis turned by 180 degrees (or flipped vertically) still looks like a pelvis to a U-Net trained
on upright ones: it labels the pubic rami between the femoral heads "sacrum" and the rest "hip
bones", and the label map can pass every geometric check (issue 26: a PNG rotated by 180 degrees
passed QC with a decision, and the per-side grades named the wrong sides). What the network cannot
hide is its confidence: on the image turned the right way up it is surer of its foreground than on
the image as given. :func:`check_orientation` runs the segmenter on the input, on the input turned
upside down and turned by 90 and 270 degrees (one batch of four) and compares the mean top-class
softmax over the foreground (pixels whose background probability is below one half). The same
holds for quarter turns, which a small segmenter can also label as an upright pelvis.

Measured on 20 phantom radiographs of three test cohorts with the demo's segmenter (1024 px,
``docs/reliability.md``): upright 0.894-0.949 against 0.822-0.871 for the same image turned over,
and the reverse for images rotated by 180 degrees or flipped vertically, in every case; the
smallest gap 0.054. A gap above ``QCConfig.upside_down_margin`` (0.02) withholds the decision.
A mirror image (a horizontal flip) cannot be told from the anatomy: the pelvis is near symmetric
(the confidences differ by < 0.005); DICOM ``PatientOrientation`` says it when present
(:func:`sijscan.predict.qc.header_flags`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from sijscan.anatomy.segment import Segmenter
    from sijscan.io import Radiograph


@dataclass(frozen=True)
class OrientationCheck:
    """The segmenter's foreground confidence on the image as given, turned upside down, and turned
    by 90 degrees either way (None where the working grid is not square: a turn would change it)."""

    confidence: float
    confidence_flipped: float
    confidence_turned: float | None = None
    """The larger of the confidences on the image turned by 90 and by 270 degrees."""

    @property
    def gap(self) -> float:
        """How much surer the segmenter is of the image turned over (> 0: it looks upside down)."""
        return self.confidence_flipped - self.confidence

    @property
    def gap_turned(self) -> float:
        """How much surer it is of the image turned by a quarter (> 0: it looks lying on its side)."""
        return -1.0 if self.confidence_turned is None else self.confidence_turned - self.confidence


def foreground_confidence(logits: torch.Tensor) -> np.ndarray:
    """Per image of ``logits`` (N, C, h, w; class 0 background): mean top-class softmax over the foreground."""
    p = torch.softmax(logits.float(), dim=1)
    top = p.max(dim=1).values
    fg = p[:, 0] < 0.5
    out = []
    for i in range(len(p)):
        out.append(float(top[i][fg[i]].mean()) if bool(fg[i].any()) else 0.0)
    return np.asarray(out)


def check_orientation(segmenter: "Segmenter", radiograph: "Radiograph") -> OrientationCheck:
    """Run ``segmenter`` on ``radiograph`` as given, turned upside down and turned by 90 and 270
    degrees (one batch; the quarter turns only on a square working grid, where resizing to it and
    turning commute); compare the foreground confidences."""
    x = segmenter.prepare(radiograph).tensor[None]  # (1, 1, h, w): the input Segmenter.run would give it
    rows = -1 if segmenter.spec.transposed else -2  # the display's vertical axis, in the network's frame
    views = [x, x.flip(rows)]
    square = x.shape[-1] == x.shape[-2]
    if square:
        views += [torch.rot90(x, 1, dims=(-2, -1)), torch.rot90(x, 3, dims=(-2, -1))]
    with torch.inference_mode():
        conf = foreground_confidence(segmenter.logits(torch.cat(views)))
    return OrientationCheck(confidence=round(float(conf[0]), 4), confidence_flipped=round(float(conf[1]), 4),
                            confidence_turned=round(float(max(conf[2], conf[3])), 4) if square else None)
