"""What one prediction holds: :class:`Prediction` (serialisable fields) and :class:`PredictionImages`
(the arrays behind it, for overlays, the report and the app; never serialised)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class PredictionImages:
    """The arrays behind a prediction (for overlays, the report and the app); never serialised."""

    pixels: np.ndarray
    labels: np.ndarray | None = None
    crop: np.ndarray | None = None
    crop_box: list[int] | None = None
    model_input: np.ndarray | None = None
    cams: dict[str, np.ndarray] = field(default_factory=dict)
    """Class name -> CAM at the classifier input size, [0, 1]."""
    mirror: bool = False
    tiles: list[tuple[list[int], bool]] | None = None
    """A joint-pair crop's tiles (box in the image, mirrored), left to right; None for a one-box crop."""


@dataclass
class Prediction:
    """One radiograph's result. ``decision`` is None when QC withholds it (or on error)."""

    image: str
    probability: float | None = None
    probability_calibrated: float | None = None
    decision: int | None = None
    cutoff: float | None = None
    temperature: float | None = None
    view: str = "sij"
    qc_passed: bool = False
    qc_flags: list[str] = field(default_factory=list)
    qc_reasons: list[str] = field(default_factory=list)
    qc_warnings: list[str] = field(default_factory=list)
    grades: dict[str, int] | None = None
    mny: int | None = None
    sij_box: list[int] | None = None
    sij_boxes: dict[str, list[int] | None] = field(default_factory=dict)
    image_shape: list[int] = field(default_factory=list)
    source_format: str | None = None
    study_uid: str | None = None
    """DICOM inputs: StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID (``Radiograph.uids``) to key the
    result for PACS; None for other inputs. Never patient names, IDs or dates."""
    series_uid: str | None = None
    sop_uid: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    images: PredictionImages | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("images")
        return d

    def cam_on_radiograph(self, cls: str = "positive") -> np.ndarray | None:
        """The CAM of ``cls`` mapped onto the whole radiograph (None without Grad-CAM)."""
        from sijscan.predict.gradcam import cam_to_radiograph  # lazy: torch

        im = self.images
        if im is None or cls not in im.cams or im.crop_box is None:
            return None
        if im.tiles is not None and im.crop is not None:
            from sijscan.predict.gradcam import cam_tiles_to_radiograph  # lazy: torch

            return cam_tiles_to_radiograph(im.cams[cls], tiles=im.tiles, crop_shape=im.crop.shape,
                                           image_shape=im.pixels.shape, mirror=im.mirror)
        return cam_to_radiograph(im.cams[cls], crop_box=im.crop_box, image_shape=im.pixels.shape, mirror=im.mirror)

    def cam_on_crop(self, cls: str = "positive") -> np.ndarray | None:
        from sijscan.predict.gradcam import cam_to_crop  # lazy: torch

        im = self.images
        if im is None or cls not in im.cams or im.crop is None:
            return None
        return cam_to_crop(im.cams[cls], crop_shape=im.crop.shape, mirror=im.mirror)
