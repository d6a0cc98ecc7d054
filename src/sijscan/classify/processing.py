"""Vendor-processing randomisation of the classifier's training views (issue 22; off unless asked for).

A radiograph reaches a reader after the vendor's processing: a grey-level curve (sigmoid or gamma) and
edge enhancement (unsharp masking), different at every site. benchmarks/processing_shift.py showed the
anatomy-aware classifier reading that processing as disease: the same phantom patients under DAMACT's
gamma curve without edge enhancement score 0.58-0.66 on their normal joints, 0.20-0.26 with GESPIC's
curve and enhancement (docs/performance.md, "Classifier transfer"). The paper's CLAHE does not undo it.

Here each training view (the crop, as cut from the display pixels, BEFORE the paper's CLAHE) is also
cached as ``variants`` re-processed versions: a grey-level curve ``x ** g`` with ``g`` log-uniform in
``gamma_range``, then unsharp masking ``x + a (x - G_s * x)`` with ``a`` uniform in ``amount_range``
(negative: smoothing, i.e. less enhancement than the site applied) and ``s`` uniform in
``sigma_px_range`` source pixels (the phantom's sites use 1.8-2.5 mm, about 4-6 pixels at 0.41 mm).
Each training draw takes the view as acquired or one of its variants with equal chance. Validation
views are never re-processed. Each variant's draw is seeded by the training seed, the variant's index
and the image's file name, so a cache shared between trainings with the same seed is reused.

Measured (docs/performance.md, "A first processing randomisation"): it did NOT remove the dependence
on DAMACT's processing and raised every probability; off everywhere.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from sijscan.classify.errors import ClassifierInputError


@dataclass(frozen=True)
class ProcessingSpec:
    variants: int = 3
    gamma_range: tuple[float, float] = (0.6, 1.6)
    amount_range: tuple[float, float] = (-0.4, 0.8)
    sigma_px_range: tuple[float, float] = (3.0, 8.0)

    def __post_init__(self) -> None:
        if self.variants < 1:
            raise ClassifierInputError(f"processing variants must be >= 1, got {self.variants}")
        for name in ("gamma_range", "amount_range", "sigma_px_range"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ClassifierInputError(f"processing {name} must be (low, high), got {(lo, hi)}")
        if self.gamma_range[0] <= 0 or self.sigma_px_range[0] <= 0 or self.amount_range[0] <= -1:
            raise ClassifierInputError("processing gamma and sigma must be > 0 and the amount > -1")

    def to_json(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


PROCESSING = ProcessingSpec()
"""What ``classifiers.processing: true`` / ``--processing`` turn on."""


def variant_rng(seed: int, index: int, name: str) -> np.random.Generator:
    """The generator of variant ``index`` of the image named ``name`` in a training with ``seed``."""
    return np.random.default_rng([int(seed), int(index), zlib.crc32(str(name).encode())])


def reprocess(image: np.ndarray, rng: np.random.Generator, spec: ProcessingSpec = PROCESSING) -> np.ndarray:
    """One random vendor processing of display pixels in [0, 1]: a grey-level curve, then edge enhancement."""
    x = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    gamma = math.exp(rng.uniform(math.log(spec.gamma_range[0]), math.log(spec.gamma_range[1])))
    amount = float(rng.uniform(*spec.amount_range))
    sigma = float(rng.uniform(*spec.sigma_px_range))
    x = np.power(x, np.float32(gamma))
    blur = cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    return np.clip(x + np.float32(amount) * (x - blur), 0.0, 1.0).astype(np.float32)
