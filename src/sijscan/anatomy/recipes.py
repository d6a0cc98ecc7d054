"""The segmenter's inference recipe, stored in its model card (``recipe``) and parsed strictly on load.

:class:`SegmenterRecipe` is the one typed description of how a segmenter folder turns a radiograph
into a label map and where the SIJs are looked for; :func:`parse_segmenter_recipe` refuses a missing
or unknown key with a one-line ``ModelError`` naming it. Fields::

    working_size     (H, W) the network sees (after the optional transposition)
    input_scale      factor applied to display pixels in [0, 1] first (255 for the published
                     model, which was fed 8-bit values; z-scoring makes this near-irrelevant)
    grey_weights     optional RGB weights: the published model's grey is the authors' 8-bit PIL
                     grey (0.2989 R + 0.5870 G + 0.1140 B, not rounded) for 8-bit PNG/JPEG input
    transposed       true: the array is transposed before preprocessing and the mask transposed
                     back (the published model saw MONAI ``LoadImage`` arrays, axis 0 = columns)
    resize_mode      resize to the working size: a torch interpolation mode ("area", "bilinear")
                     or "cv2_area" (OpenCV INTER_AREA, used by sijscan's own models for speed)
    normalisation    "zscore" (whole image, population std; std 0 -> 1) or "none"
    gaussian_sigma   optional Gaussian smoothing sigma after normalisation (MONAI GaussianSmooth)
    rescale          optional (min, max) linear rescale after smoothing
    inference        :class:`InferenceSpec`: one pass, or a sliding window; optionally mirrored
                     test-time augmentation (``mirror``: the mean of the logits of the image and of
                     its left-right mirror, hip-bone channels swapped back; sijscan's own models)
    postprocess      :class:`PostprocessSpec`: argmax, largest component per class
    resize_back      label map back to the input size: "nearest" (OpenCV, sijscan's models),
                     "nearest_torch" (torch ``interpolate(mode="nearest")``, what MONAI
                     ``Invert`` does for the published model: ``nearest_interp`` defaults to True),
                     "linear" (the LOGITS resized bilinearly to the input size, then argmax and the
                     largest component per class there, as nnU-Net resamples probabilities rather than
                     labels: smooth boundaries instead of the working grid's stair-steps; the working
                     map, and so the SIJ location and the crops, are the same as with "nearest")
    localize         :class:`LocalizeSpec`: which SIJ method, on which map
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Mapping

import numpy as np

from sijscan.anatomy.train_config import BORDER_MODES
from sijscan.errors import ModelError

GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)

RESIZE_MODES = ("area", "bilinear", "nearest", "cv2_area")
RESIZE_BACK = ("nearest", "nearest_torch", "linear")


def strict_fields(cls: type, data: Mapping[str, Any], *, where: str, optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``data``'s keys checked against dataclass ``cls``: unknown or missing (not in ``optional``) -> ModelError."""
    if not isinstance(data, Mapping):
        raise ModelError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ModelError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(names))}")
    missing = sorted(names - set(data) - set(optional))
    if missing:
        raise ModelError(f"{where}: missing key(s) {', '.join(map(repr, missing))}")
    return dict(data)


def _choice(value: Any, options: tuple[str, ...], *, where: str) -> str:
    if value not in options:
        raise ModelError(f"{where}: must be one of {', '.join(options)}, got {value!r}")
    return str(value)


def _positive_pair(value: Any, *, where: str) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
        raise ModelError(f"{where}: expected two positive integers, got {value!r}")
    return int(value[0]), int(value[1])


def _number(value: Any, *, where: str, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ModelError(f"{where}: expected a finite number, got {value!r}")
    v = float(value)
    if low is not None and (v <= low if low_open else v < low):
        raise ModelError(f"{where}: must be {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and v > high:
        raise ModelError(f"{where}: must be <= {high}, got {v}")
    return v


@dataclass(frozen=True)
class InferenceSpec:
    mode: Literal["single", "sliding_window"] = "single"
    window: tuple[int, int] | None = None
    overlap: float = 0.25
    sw_batch_size: int = 4
    blend: Literal["constant", "gaussian"] = "constant"
    mirror: bool = False
    """Left-right mirrored test-time augmentation (:func:`sijscan.anatomy.inference.infer_logits`)."""

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, where: str) -> "InferenceSpec":
        d = strict_fields(cls, data, where=where,
                          optional=frozenset({"window", "overlap", "sw_batch_size", "blend", "mirror"}))
        mode = _choice(d.get("mode"), ("single", "sliding_window"), where=f"{where}.mode")
        mirror = d.get("mirror", False)
        if not isinstance(mirror, bool):
            raise ModelError(f"{where}.mirror: expected true or false, got {mirror!r}")
        if mode == "single":
            return cls(mode="single", mirror=mirror)
        window = _positive_pair(d.get("window"), where=f"{where}.window")
        overlap = _number(d.get("overlap", 0.25), where=f"{where}.overlap", low=0.0, high=0.99)
        batch = d.get("sw_batch_size", 4)
        if not isinstance(batch, int) or batch < 1:
            raise ModelError(f"{where}.sw_batch_size: expected a positive integer, got {batch!r}")
        blend = _choice(d.get("blend", "constant"), ("constant", "gaussian"), where=f"{where}.blend")
        return cls(mode="sliding_window", window=window, overlap=overlap, sw_batch_size=batch, blend=blend,  # type: ignore[arg-type]
                   mirror=mirror)


@dataclass(frozen=True)
class PostprocessSpec:
    argmax: bool = True
    largest_component: bool = True

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, where: str) -> "PostprocessSpec":
        d = strict_fields(cls, data, where=where, optional=frozenset({"argmax", "largest_component"}))
        for k in ("argmax", "largest_component"):
            if not isinstance(d.get(k, True), bool):
                raise ModelError(f"{where}.{k}: expected true or false, got {d[k]!r}")
        if d.get("argmax", True) is not True:
            raise ModelError(f"{where}.argmax: only argmax postprocessing is supported")
        return cls(argmax=True, largest_component=bool(d.get("largest_component", True)))


@dataclass(frozen=True)
class LocalizeSpec:
    """Where the SIJs are looked for.

    ``method="sijscan"``: :func:`sijscan.anatomy.localize.locate_sij` (paper's idea plus QC and
    fallbacks) with ``dilation_frac`` and ``margin_frac``. ``method="authors"``: the published
    app's arithmetic exactly (:mod:`sijscan.anatomy.localize_authors`), with sijscan's QC flags
    beside it. ``on``: the map it runs on, the network's working-size map or the full-size one
    (the authors locate on the full-size mask). ``max_side`` (``on="full"`` only; 0: the map as it is): the
    full-size map is read at every k-th pixel, the smallest k that brings its long side to ``max_side`` or
    less (nearest-neighbour subsampling of the label map), so that a 2048 px radiograph is located on a 512 px
    map, not on 3.4 M labels; the boxes are scaled back to the full size as the working map's are.
    """

    method: Literal["sijscan", "authors"] = "sijscan"
    on: Literal["working", "full"] = "working"
    dilation_frac: float = 0.05
    margin_frac: float = 0.15
    max_side: int = 0

    def map_for(self, full: np.ndarray) -> np.ndarray:
        """The full-size label map as this spec locates on it: every k-th pixel when ``max_side`` asks."""
        if self.max_side <= 0 or max(full.shape[:2]) <= self.max_side:
            return full
        step = -(-max(full.shape[:2]) // self.max_side)  # ceil: the long side ends at <= max_side
        return full[::step, ::step]

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, where: str) -> "LocalizeSpec":
        d = strict_fields(cls, data, where=where, optional=frozenset({f.name for f in fields(cls)}))
        return cls(
            method=_choice(d.get("method", "sijscan"), ("sijscan", "authors"), where=f"{where}.method"),  # type: ignore[arg-type]
            on=_choice(d.get("on", "working"), ("working", "full"), where=f"{where}.on"),  # type: ignore[arg-type]
            dilation_frac=_number(d.get("dilation_frac", 0.05), where=f"{where}.dilation_frac", low=0.0, high=1.0),
            margin_frac=_number(d.get("margin_frac", 0.15), where=f"{where}.margin_frac", low=0.0, high=1.0),
            max_side=int(_number(d.get("max_side", 0), where=f"{where}.max_side", low=0.0, high=1e6)),
        )


@dataclass(frozen=True)
class SegmenterRecipe:
    working_size: tuple[int, int]
    input_scale: float = 1.0
    transposed: bool = False
    resize_mode: str = "cv2_area"
    normalisation: Literal["zscore", "none"] = "zscore"
    gaussian_sigma: float | None = None
    rescale: tuple[float, float] | None = None
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    postprocess: PostprocessSpec = field(default_factory=PostprocessSpec)
    resize_back: str = "nearest"
    localize: LocalizeSpec = field(default_factory=LocalizeSpec)
    grey_weights: tuple[float, float, float] | None = None
    border: str = "keep"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["working_size"] = list(self.working_size)
        d["rescale"] = None if self.rescale is None else list(self.rescale)
        d["grey_weights"] = None if self.grey_weights is None else list(self.grey_weights)
        if self.inference.mode == "single":
            d["inference"] = {"mode": "single", "mirror": self.inference.mirror}
        else:
            d["inference"]["window"] = list(self.inference.window or ())
        if not self.inference.mirror:  # written only when on: cards from before it stay byte-identical
            del d["inference"]["mirror"]
        if not self.localize.max_side:  # likewise
            del d["localize"]["max_side"]
        if self.border == "keep":  # likewise
            del d["border"]
        return d


def parse_segmenter_recipe(data: Mapping[str, Any], *, where: str = "recipe") -> SegmenterRecipe:
    """A card's ``recipe`` mapping -> :class:`SegmenterRecipe`; any unknown/missing/invalid key is a ModelError."""
    d = strict_fields(SegmenterRecipe, data, where=where, optional=frozenset({"grey_weights", "gaussian_sigma", "rescale", "border"}))
    if not isinstance(d["transposed"], bool):
        raise ModelError(f"{where}.transposed: expected true or false, got {d['transposed']!r}")
    sigma = d.get("gaussian_sigma")
    rescale = d.get("rescale")
    if rescale is not None and (not isinstance(rescale, (list, tuple)) or len(rescale) != 2):
        raise ModelError(f"{where}.rescale: expected [min, max] or null, got {rescale!r}")
    weights = d.get("grey_weights")
    if weights is not None and (not isinstance(weights, (list, tuple)) or len(weights) != 3):
        raise ModelError(f"{where}.grey_weights: expected three numbers or null, got {weights!r}")
    rec = SegmenterRecipe(
        working_size=_positive_pair(d["working_size"], where=f"{where}.working_size"),
        input_scale=_number(d["input_scale"], where=f"{where}.input_scale", low=0.0, low_open=True),
        transposed=d["transposed"],
        resize_mode=_choice(d["resize_mode"], RESIZE_MODES, where=f"{where}.resize_mode"),
        normalisation=_choice(d["normalisation"], ("zscore", "none"), where=f"{where}.normalisation"),  # type: ignore[arg-type]
        gaussian_sigma=None if not sigma else _number(sigma, where=f"{where}.gaussian_sigma", low=0.0, low_open=True),
        rescale=None if rescale is None else tuple(_number(v, where=f"{where}.rescale") for v in rescale),  # type: ignore[arg-type]
        inference=InferenceSpec.parse(d["inference"], where=f"{where}.inference"),
        postprocess=PostprocessSpec.parse(d["postprocess"], where=f"{where}.postprocess"),
        resize_back=_choice(d["resize_back"], RESIZE_BACK, where=f"{where}.resize_back"),
        localize=LocalizeSpec.parse(d["localize"], where=f"{where}.localize"),
        grey_weights=None if weights is None else tuple(_number(v, where=f"{where}.grey_weights") for v in weights),  # type: ignore[arg-type]
        border=_choice(d.get("border", "keep"), BORDER_MODES, where=f"{where}.border"),
    )
    if rec.border == "fill" and (rec.grey_weights is not None or rec.input_scale != 1.0):
        raise ModelError(f"{where}.border: 'fill' finds the border in display pixels (0-1); it cannot go with "
                         "grey_weights or an input_scale other than 1")
    return rec


def sijscan_recipe(*, size: int = 256, mirror: bool = True, resize_back: str = "linear",
                   border: str = "keep") -> dict[str, Any]:
    """Recipe of sijscan's own segmenters: one pass at ``size`` x ``size``, display orientation, with
    mirrored test-time augmentation (as nnU-Net does by default): on CT-route renders of the three
    shared CTs it raised the mean Dice of 17 of 18 held-out fold x structure x test-set cells
    (docs/performance.md, "Sim-to-real", "Session 10"), at twice the network passes. The logits are
    resized to the radiograph's size before the argmax (``resize_back: linear``; session 15: every one of
    36 held-out fold x structure x preset x seed cells up, pooled Dice against the visible bone 0.914 ->
    0.918 plain, 0.880 -> 0.883 under stress; "nearest" was the default before, and cards keep theirs)."""
    return SegmenterRecipe(working_size=(int(size), int(size)), resize_back=resize_back, border=border,
                           inference=InferenceSpec(mode="single", mirror=bool(mirror))).to_json()


def published_recipe() -> dict[str, Any]:
    """The authors' segmentation recipe (facts in /work/shared/docs/published-pipeline.md).

    LoadImage (PIL, transposed) -> grey with :data:`GREY_WEIGHTS` -> Resize 768 x 768 "area" ->
    NormalizeIntensity -> GaussianSmooth(0.1) -> ScaleIntensity(-1, 1) -> sliding window 512,
    overlap 0.75, batch 16, constant blend -> argmax, largest component per class -> MONAI
    ``Invert``: NEAREST back to the input size. SIJs located on that full-size mask, their way.
    """
    return SegmenterRecipe(
        working_size=(768, 768), input_scale=255.0, transposed=True, resize_mode="area", normalisation="zscore",
        gaussian_sigma=0.1, rescale=(-1.0, 1.0),
        inference=InferenceSpec(mode="sliding_window", window=(512, 512), overlap=0.75, sw_batch_size=16,
                                blend="constant"),
        resize_back="nearest_torch",
        localize=LocalizeSpec(method="authors", on="full", dilation_frac=0.05, margin_frac=0.0),
        grey_weights=GREY_WEIGHTS,
    ).to_json()
