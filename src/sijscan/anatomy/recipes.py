"""Inference recipes stored in a segmenter's model card (``recipe``), read by :mod:`segment`.

Keys (all required unless marked optional)::

    working_size     [H, W] the network sees (after the optional transposition)
    input_scale      factor applied to display pixels in [0, 1] first (255 for the published
                     model, which was fed 8-bit values; z-scoring makes this near-irrelevant)
    transposed       true: the array is transposed before preprocessing and the mask transposed
                     back (the published model saw MONAI ``LoadImage`` arrays, axis 0 = columns)
    resize_mode      resize to the working size: a torch interpolation mode ("area", "bilinear")
                     or "cv2_area" (OpenCV INTER_AREA, used by sijscan's own models for speed)
    normalisation    "zscore" (whole image, population std; std 0 -> 1) or "none"
    gaussian_sigma   optional Gaussian smoothing sigma after normalisation (MONAI GaussianSmooth)
    rescale          optional [min, max] linear rescale after smoothing
    inference        {"mode": "single"} or {"mode": "sliding_window", "window": [h, w],
                     "overlap": f, "sw_batch_size": n, "blend": "constant" | "gaussian"}
    postprocess      {"argmax": true, "largest_component": true}
    resize_back      "nearest" (sijscan) or "area_truncate" (published: the label map resized back
                     with area interpolation, then cast to uint8, as MONAI's inverted Resize does)
    localize         optional {"dilation_frac": .., "margin_frac": ..} for :func:`locate_sij`
"""
from __future__ import annotations

from typing import Any

GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def sijscan_recipe(*, size: int = 256) -> dict[str, Any]:
    """Recipe of sijscan's own segmenters: one pass at ``size`` x ``size``, display orientation."""
    return {
        "working_size": [int(size), int(size)],
        "input_scale": 1.0,
        "transposed": False,
        "resize_mode": "cv2_area",
        "normalisation": "zscore",
        "gaussian_sigma": None,
        "rescale": None,
        "inference": {"mode": "single"},
        "postprocess": {"argmax": True, "largest_component": True},
        "resize_back": "nearest",
        "localize": {"dilation_frac": 0.05, "margin_frac": 0.15},
    }


def published_recipe() -> dict[str, Any]:
    """The authors' segmentation recipe (see /work/shared/docs/published-pipeline.md)."""
    return {
        "working_size": [768, 768],
        "input_scale": 255.0,
        "grey_weights": list(GREY_WEIGHTS),
        "transposed": True,
        "resize_mode": "area",
        "normalisation": "zscore",
        "gaussian_sigma": 0.1,
        "rescale": [-1.0, 1.0],
        "inference": {"mode": "sliding_window", "window": [512, 512], "overlap": 0.75,
                      "sw_batch_size": 16, "blend": "constant"},
        "postprocess": {"argmax": True, "largest_component": True},
        "resize_back": "area_truncate",
        "localize": {"dilation_frac": 0.05, "margin_frac": 0.0},
    }
