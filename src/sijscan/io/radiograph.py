"""The ``Radiograph`` record every reader returns, and the pixel normalisation the readers share.

A radiograph in sijscan is a 2-D float32 array in [0, 1], rows top to bottom and columns left to
right as a viewer shows it, bone bright. Readers for each format live in their own module
(``dicom.py``, ``raster.py``, ``nifti.py``); they end here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from sijscan.errors import one_line  # noqa: F401  transition: io/dicom.py (and other branches) import it from here
from sijscan.errors import (
    ConstantImageError,
    CorruptImageError,
    ImageTooLargeError,
    UnsupportedPhotometricError,
    VolumeNotSupportedError,
    ZeroSizeImageError,
)

logger = logging.getLogger(__name__)

#: The most pixels (rows x columns) sijscan accepts; checked from the header, before decoding.
MAX_PIXELS = 100_000_000
#: Values of ``Radiograph.source_format``.
SOURCE_FORMATS = ("dicom", "png", "jpeg", "tiff", "nifti", "array")
#: Luminance weights for RGB -> grey (the published pipeline's weights; alpha is dropped).
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)


@dataclass(frozen=True, eq=False)
class Radiograph:
    """One 2-D radiograph as sijscan sees it.

    ``pixels`` is float32 in [0, 1], shape (height, width), display orientation, bone bright.
    ``windowing`` says how stored values became [0, 1]: always a ``"method"`` key
    (``"voi_lut"``, ``"window"`` or ``"full_range"``) and ``"inverted"``; a window adds
    ``"center"``/``"width"``, a full-range mapping adds the ``"low"``/``"high"`` values mapped to
    0 and 1 and where they came from (``"source"``). ``metadata`` holds technical facts only
    (never names, IDs, dates, institutions, UIDs). ``uids`` (DICOM only) holds the image's
    StudyInstanceUID, SeriesInstanceUID and SOPInstanceUID as ``study_uid``/``series_uid``/``sop_uid``,
    to key results for PACS: the only identifiers a radiograph keeps (never patient names, IDs or dates).
    """

    pixels: np.ndarray
    path: Path | None
    source_format: str
    bits_stored: int
    photometric: str
    pixel_spacing_mm: float | None = None
    modality: str | None = None
    windowing: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    uids: Mapping[str, str] = field(default_factory=dict)
    height: int = field(init=False)
    width: int = field(init=False)

    def __post_init__(self) -> None:
        pixels = self.pixels
        if not isinstance(pixels, np.ndarray) or pixels.ndim != 2 or pixels.dtype != np.float32:
            raise TypeError("Radiograph.pixels must be a 2-D float32 numpy array")
        if self.source_format not in SOURCE_FORMATS:
            raise ValueError(f"source_format must be one of {SOURCE_FORMATS}, got {self.source_format!r}")
        object.__setattr__(self, "height", int(pixels.shape[0]))
        object.__setattr__(self, "width", int(pixels.shape[1]))

    @property
    def name(self) -> str:
        """The file name, or the name given to ``radiograph_from_array``."""
        if self.path is not None:
            return self.path.name
        return str(self.metadata.get("name", "array"))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (what ``sijscan info --json`` prints)."""
        return {
            "path": str(self.path) if self.path is not None else self.name,
            "format": self.source_format,
            "width": self.width,
            "height": self.height,
            "bits_stored": self.bits_stored,
            "photometric": self.photometric,
            "modality": self.modality,
            "spacing_mm": self.pixel_spacing_mm,
            "windowing": dict(self.windowing),
            "min": float(self.pixels.min()),
            "max": float(self.pixels.max()),
        }


def full_range_info(*, low: float, high: float, source: str) -> dict[str, Any]:
    """``windowing`` for a linear map of [low, high] onto [0, 1], also as the equivalent window."""
    return {
        "method": "full_range", "low": float(low), "high": float(high), "source": source,
        "center": (float(low) + float(high)) / 2, "width": float(high) - float(low),
    }


def check_size(rows: int, cols: int, *, label: str) -> None:
    """Reject zero-size images and images over ``MAX_PIXELS``, from header sizes."""
    if rows <= 0 or cols <= 0:
        raise ZeroSizeImageError(f"{label}: image has zero size ({cols} x {rows} pixels, width x height)")
    if rows * cols > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{label}: image is {cols} x {rows} = {rows * cols / 1e6:.0f} megapixels; "
            f"sijscan reads at most {MAX_PIXELS / 1e6:.0f} megapixels"
        )


def to_grey(arr: np.ndarray, *, label: str) -> np.ndarray:
    """(H, W) passes through; (H, W, 1|2) keeps channel 0; (H, W, 3|4) -> luminance (alpha dropped)."""
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3:
        raise VolumeNotSupportedError(f"{label}: array of shape {arr.shape} is not a 2-D image")
    channels = arr.shape[2]
    if channels in (2, 4) and arr.size and not arr[:, :, -1].any():
        raise ConstantImageError(f"{label}: every pixel is fully transparent (alpha 0 everywhere): nothing is visible")
    if channels in (1, 2):
        return arr[:, :, 0]
    if channels in (3, 4):
        rgb = arr[:, :, :3].astype(np.float64)
        return rgb @ np.asarray(LUMA_WEIGHTS, dtype=np.float64)
    raise UnsupportedPhotometricError(
        f"{label}: {channels} channels per pixel; supported are grey (1), grey+alpha (2), RGB (3), RGBA (4)"
    )


def check_finite(arr: np.ndarray, *, label: str) -> None:
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise CorruptImageError(f"{label}: pixel values include NaN or infinity")


def scale_to_unit(values: np.ndarray, *, low: float, high: float, label: str) -> np.ndarray:
    """Map ``low`` -> 0 and ``high`` -> 1 linearly, clip, float32; reject a constant result."""
    if high == low:
        raise ConstantImageError(f"{label}: every pixel has the value {low:g}")
    out = (values.astype(np.float64) - low) / (high - low)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    if out.size and out.min() == out.max():
        raise ConstantImageError(f"{label}: image is constant ({out.flat[0]:g}) after scaling")
    return out


def min_max(values: np.ndarray, *, label: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Min-max rescale to [0, 1] (float data, integer data of no fixed range)."""
    check_finite(values, label=label)
    low, high = float(values.min()), float(values.max())
    if low == high:
        raise ConstantImageError(f"{label}: every pixel has the value {low:g}")
    return scale_to_unit(values, low=low, high=high, label=label), full_range_info(low=low, high=high, source="data")


def normalise_plain(arr: np.ndarray, *, label: str, divisor: float | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Grey [0, 1] from a decoded PNG/JPEG/TIFF/array: integer dtypes over their maximum, floats min-max.

    ``divisor`` overrides the integer maximum (a recorded bit depth, e.g. 4095 for 12 significant bits).
    """
    if arr.size == 0 or min(arr.shape[:2]) == 0:
        raise ZeroSizeImageError(f"{label}: image has zero size (shape {arr.shape})")
    grey = to_grey(arr, label=label)
    if arr.dtype == np.bool_:
        return scale_to_unit(grey, low=0.0, high=1.0, label=label), full_range_info(low=0.0, high=1.0, source="bit_depth")
    if arr.dtype in (np.uint8, np.uint16) or divisor is not None:
        high = float(divisor) if divisor is not None else float(np.iinfo(arr.dtype).max)
        raw_low, raw_high = float(grey.min()), float(grey.max())
        if raw_low == raw_high:
            raise ConstantImageError(f"{label}: every pixel has the value {raw_low:g}")
        return scale_to_unit(grey, low=0.0, high=high, label=label), full_range_info(low=0.0, high=high, source="bit_depth")
    return min_max(grey, label=label)


def radiograph_from_array(array: np.ndarray, *, name: str = "array") -> Radiograph:
    """Normalise an in-memory image exactly as a PNG would be read.

    Accepts (H, W), (H, W, 1), (H, W, 2) grey+alpha, (H, W, 3) RGB or (H, W, 4) RGBA, channels last.
    uint8 is divided by 255 and uint16 by 65535; bool maps to 0/1; every other dtype (floats,
    signed or 32-bit integers) is min-max rescaled. Raises the same ``InputError`` subclasses as
    ``read_radiograph`` (the message names ``name``).
    """
    arr = np.asarray(array)
    if arr.ndim not in (2, 3):
        raise VolumeNotSupportedError(f"{name}: array of shape {arr.shape} is not a 2-D image")
    check_size(int(arr.shape[0]), int(arr.shape[1]), label=name)
    if arr.dtype.kind not in "biuf":
        raise UnsupportedPhotometricError(f"{name}: array dtype {arr.dtype} is not numeric")
    pixels, windowing = normalise_plain(arr, label=name)
    channels = 1 if arr.ndim == 2 else int(arr.shape[2])
    photometric = {1: "MONOCHROME2", 2: "MONOCHROME2", 3: "RGB", 4: "RGBA"}[channels]
    bits = 1 if arr.dtype == np.bool_ else arr.dtype.itemsize * 8
    return Radiograph(
        pixels=pixels,
        path=None,
        source_format="array",
        bits_stored=bits,
        photometric=photometric,
        windowing={**windowing, "inverted": False},
        metadata={"name": name, "dtype": str(arr.dtype), "channels": channels},
    )


def display_radiograph(pixels: np.ndarray, *, name: str = "array") -> Radiograph:
    """Wrap display pixels already in [0, 1] (e.g. a phantom image in memory) as a ``Radiograph``, unchanged.

    No rescaling (unlike :func:`radiograph_from_array`, which min-max scales float arrays) and no
    copy when ``pixels`` is already float32. Raises ``InputError`` subclasses for anything else.
    """
    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise VolumeNotSupportedError(f"{name}: display pixels of shape {arr.shape} are not a 2-D image")
    check_size(int(arr.shape[0]), int(arr.shape[1]), label=name)
    if arr.dtype.kind != "f":
        raise UnsupportedPhotometricError(f"{name}: display pixels must be floats in [0, 1], got dtype {arr.dtype}"
                                          " (use radiograph_from_array for stored values)")
    check_finite(arr, label=name)
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise CorruptImageError(f"{name}: display pixels must lie in [0, 1], got [{arr.min():g}, {arr.max():g}]")
    return Radiograph(pixels=arr.astype(np.float32, copy=False), path=None, source_format="array", bits_stored=32,
                      photometric="MONOCHROME2",
                      windowing={**full_range_info(low=0.0, high=1.0, source="display"), "inverted": False},
                      metadata={"name": name, "dtype": str(arr.dtype), "channels": 1})
