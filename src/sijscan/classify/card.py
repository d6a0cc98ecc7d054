"""What a classifier model card's ``recipe`` says, parsed strictly when the folder loads.

:class:`ClassifierRecipe` fields::

    task            "binary" (softmax over 2 logits; index 1 = definite radiographic sacroiliitis)
    view            "sij" (SIJ crop; needs a segmenter) or "full" (the whole radiograph)
    crop            how the SIJ view is cut: "box" (sijscan: the located box of the display
                    pixels), "joints" (both joints side by side in one orientation:
                    sijscan.anatomy.crop.joint_pair_crop), "joints_span" (the same, tiles scaled by
                    the span between the joints), "joints_wide" (tiles 1.8 x the joints' height, not 1.3)
                    or "authors_otsu" (the published app:
                    zero outside the box on the 8-bit image, then ITK's Otsu foreground crop)
    preprocess      :class:`~sijscan.classify.preprocess.PreprocessSpec` (mirror, CLAHE, size)
    input_size_hw   [H, W] the network sees (= preprocess height/width)
    grade_head      whether the network has the per-side ordinal grade head
    grade_side_order, output, cutoff_method, temperature_method, training, source: documentation
                    and provenance of how the model was made (optional)

A missing or unknown key, or a value out of its set, is a one-line ``ModelError`` naming it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Mapping

from sijscan.anatomy.crop import CROPS as SIJ_CROPS
from sijscan.anatomy.recipes import strict_fields
from sijscan.classify.preprocess import PreprocessSpec
from sijscan.errors import ModelError

CROPS = (*SIJ_CROPS, "authors_otsu")
"""sijscan's SIJ views (:data:`sijscan.anatomy.crop.CROPS`) and the published app's Otsu crop."""
_DOC_KEYS = frozenset({"grade_side_order", "output", "cutoff_method", "temperature_method", "training", "source"})


@dataclass(frozen=True)
class ClassifierRecipe:
    task: Literal["binary"]
    view: Literal["sij", "full"]
    crop: Literal["box", "joints", "joints_span", "joints_wide", "authors_otsu"]
    preprocess: PreprocessSpec
    input_size_hw: tuple[int, int]
    grade_head: bool = False
    grade_side_order: tuple[str, ...] | None = None
    output: str | None = None
    cutoff_method: str | None = None
    temperature_method: str | None = None
    training: dict[str, Any] | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "extra"}
        d["preprocess"] = self.preprocess.to_json()
        d["input_size_hw"] = list(self.input_size_hw)
        if self.grade_side_order is not None:
            d["grade_side_order"] = list(self.grade_side_order)
        return d


def classifier_recipe(*, view: str, spec: PreprocessSpec, crop: str = "box", **doc: Any) -> dict[str, Any]:
    """A valid card ``recipe`` for a classifier seeing ``view`` preprocessed by ``spec``; ``doc``: the
    optional documentation keys (output, cutoff_method, training, source, ...)."""
    d = {"task": "binary", "view": view, "crop": crop, "preprocess": spec.to_json(),
         "input_size_hw": [spec.height, spec.width], **doc}
    parse_classifier_recipe(d)
    return d


def parse_preprocess(data: Mapping[str, Any], *, where: str) -> PreprocessSpec:
    d = strict_fields(PreprocessSpec, data, where=where, optional=frozenset(f.name for f in fields(PreprocessSpec)))
    try:
        spec = PreprocessSpec(**d)
    except TypeError as exc:
        raise ModelError(f"{where}: {exc}") from exc
    if spec.clahe_impl not in ("exact", "skimage", "opencv"):
        raise ModelError(f"{where}.clahe_impl: must be exact, skimage or opencv, got {spec.clahe_impl!r}")
    if not (isinstance(spec.height, int) and isinstance(spec.width, int) and spec.height > 0 and spec.width > 0):
        raise ModelError(f"{where}: height and width must be positive integers")
    if not isinstance(spec.mirror, bool):
        raise ModelError(f"{where}.mirror: expected true or false, got {spec.mirror!r}")
    return spec


def parse_classifier_recipe(data: Mapping[str, Any], *, where: str = "recipe") -> ClassifierRecipe:
    """A card's ``recipe`` -> :class:`ClassifierRecipe`; unknown/missing/invalid keys are a ModelError."""
    d = strict_fields(ClassifierRecipe, data, where=where, optional=_DOC_KEYS | {"grade_head", "extra"})
    if d["task"] != "binary":
        raise ModelError(f"{where}.task: only 'binary' is supported, got {d['task']!r}")
    if d["view"] not in ("sij", "full"):
        raise ModelError(f"{where}.view: must be 'sij' or 'full', got {d['view']!r}")
    if d["crop"] not in CROPS:
        raise ModelError(f"{where}.crop: must be one of {', '.join(CROPS)}, got {d['crop']!r}")
    spec = parse_preprocess(d["preprocess"], where=f"{where}.preprocess")
    size = d["input_size_hw"]
    if list(size) != [spec.height, spec.width]:
        raise ModelError(f"{where}.input_size_hw {list(size)} differs from preprocess {spec.height}x{spec.width}")
    if not isinstance(d.get("grade_head", False), bool):
        raise ModelError(f"{where}.grade_head: expected true or false, got {d['grade_head']!r}")
    order = d.get("grade_side_order")
    return ClassifierRecipe(
        task="binary", view=d["view"], crop=d["crop"], preprocess=spec, input_size_hw=(spec.height, spec.width),
        grade_head=bool(d.get("grade_head", False)), grade_side_order=None if order is None else tuple(order),
        output=d.get("output"), cutoff_method=d.get("cutoff_method"), temperature_method=d.get("temperature_method"),
        training=d.get("training"), source=d.get("source"), extra=dict(d.get("extra") or {}))
