"""Run any segmenter model folder (sijscan's own or an imported published one) from its card alone.

The card's ``recipe`` (parsed strictly into :class:`sijscan.anatomy.recipes.SegmenterRecipe`) says
how to preprocess, infer, postprocess and locate; nothing here is specific to one model.

:meth:`Segmenter.run` is the one way code segments a radiograph: ``Radiograph`` in (an array is
wrapped by :func:`sijscan.io.display_radiograph` or :func:`sijscan.io.radiograph_from_array`),
:class:`Segmentation` out (labels at the input size and the working size, the SIJ location in
input-size pixels, the grey image the published crop is cut from). Batched callers split it in
two: :func:`prepare_input` (what the network takes; picklable, runs in DataLoader workers) and
:meth:`Segmenter.finish` (network output -> ``Segmentation``). How a radiograph becomes the
network's input (the published recipe's 8-bit grey, its x255 scale) is decided here only.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

import sijscan.anatomy.networks  # noqa: F401 - registers the segmenter architectures load_network rebuilds
from sijscan.anatomy.border import Box, exposed_field, fill_border
from sijscan.anatomy.crop import scale_box
from sijscan.anatomy.inference import infer_logits  # execution (exact or --fast) lives there
from sijscan.anatomy.localize import SIJLocation, locate_sij
from sijscan.anatomy.localize_authors import authors_sij_region
from sijscan.anatomy.metrics import visible_labels
from sijscan.anatomy.recipes import SegmenterRecipe, parse_segmenter_recipe
from sijscan.backends import load_network
from sijscan.errors import InputError, ModelError
from sijscan.io.radiograph import Radiograph
from sijscan.modelfolder import ModelCard

log = logging.getLogger(__name__)

_PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


@dataclass
class SegmenterInput:
    """One radiograph prepared for the segmenter's network (:func:`prepare_input`).

    Tensors only, so it crosses DataLoader worker processes through shared memory.
    """

    tensor: torch.Tensor
    """(1, h, w) float32 at the working size; stack several into a batch."""
    shape: tuple[int, int]
    """The radiograph's (H, W): labels come back at this size."""
    paper_grey: torch.Tensor | None = None
    """uint8 (H, W): the authors' 8-bit grey (published recipe, 8-bit PNG/JPEG); None otherwise."""
    field_box: Box | None = None
    """The exposed field (x0, y0, x1, y1) the recipe's ``border: fill`` found; labels are cut back to it."""


@dataclass
class Segmentation:
    """A segmentation of one radiograph, in display orientation."""

    labels: np.ndarray  # uint8, the input's (H, W)
    working_labels: np.ndarray  # uint8, working size, what localisation runs on
    location: SIJLocation  # boxes in input-size pixels
    timings: dict[str, float] = field(default_factory=dict)
    pixels: np.ndarray | None = field(default=None, repr=False)  # the radiograph's display pixels
    paper_grey: np.ndarray | None = field(default=None, repr=False)
    field_box: Box | None = None  # the exposed field the recipe's ``border: fill`` found (labels cut back to it)

    def crop_grey(self) -> np.ndarray:
        """uint8 (H, W): the grey the published (Otsu) crop is cut from (see :func:`grey_u8`)."""
        if self.paper_grey is not None:
            return self.paper_grey
        if self.pixels is None:
            raise ValueError("this Segmentation was made without the radiograph's pixels")
        return display_u8(self.pixels)


class Segmenter:
    """A loaded segmenter model folder: network + card; :meth:`run` segments a ``Radiograph``."""

    def __init__(self, network: torch.nn.Module, card: ModelCard, *, device: str = "cpu", fast: bool = False,
                 mirror: bool | None = None) -> None:
        if card.kind != "segmenter":
            raise ModelError(f"{card.path}: model kind is {card.kind!r}, expected 'segmenter'")
        self.card = card
        self.spec: SegmenterRecipe = parse_segmenter_recipe(card.recipe, where=f"{card.path or 'model card'}: recipe")
        if mirror is not None:  # the caller overrides the card's mirrored test-time augmentation
            self.spec = replace(self.spec, inference=replace(self.spec.inference, mirror=bool(mirror)))
        self.recipe: dict[str, Any] = self.spec.to_json()
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.fast = bool(fast)  # one pass instead of sliding windows: see sijscan.anatomy.inference

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], *, device: str = "cpu", backend: str = "torch",
             fast: bool = False, mirror: bool | None = None) -> "Segmenter":
        """``backend="onnx"``: the folder's exported ONNX file in onnxruntime. ``fast``: one pass, not
        windows. ``mirror``: mirrored test-time augmentation on or off whatever the card says (None: the card's)."""
        network, card = load_network(model_dir, backend=backend, device=device)
        return cls(network, card, device=device, fast=fast, mirror=mirror)

    def to(self, device: str | torch.device) -> "Segmenter":
        """Move the network to ``device``; inputs follow it."""
        self.device = torch.device(device)
        self.network.to(self.device)
        return self

    # --- preprocessing -------------------------------------------------------------------------
    def preprocess(self, pixels: np.ndarray, *, already_scaled: bool = False,
                   field_box: Box | None = None) -> torch.Tensor:
        """Grey (H, W) array -> (1, 1, h, w) float32 tensor at the working size, per the recipe (``field_box``:
        the exposed field whose border is filled first, :func:`input_field`)."""
        return preprocess_array(pixels, recipe=self.spec, already_scaled=already_scaled, field_box=field_box)

    # --- inference -----------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return infer_logits(self.network, x.to(self.device), self.spec.inference, fast=self.fast,
                            mirror_axis=-2 if self.spec.transposed else -1)

    def postprocess(self, logits: torch.Tensor) -> np.ndarray:
        """(1, C, h, w) logits -> uint8 (h, w) labels in the NETWORK's frame (maybe transposed)."""
        lab = torch.argmax(logits[0].float(), dim=0).cpu().numpy().astype(np.int64)
        if self.spec.postprocess.largest_component:
            lab = keep_largest_components(lab)
        return lab.astype(np.uint8)

    def resize_back(self, lab: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Working-frame labels -> input size (H, W), display orientation."""
        transposed = self.spec.transposed
        target = (shape[1], shape[0]) if transposed else shape
        if self.spec.resize_back == "nearest_torch":  # MONAI Invert of a Resize: nearest_interp=True
            t = torch.as_tensor(lab, dtype=torch.float32)[None, None]
            out = F.interpolate(t, size=target, mode="nearest")[0, 0].to(torch.uint8).numpy()
        else:
            import cv2

            out = cv2.resize(lab, (target[1], target[0]), interpolation=cv2.INTER_NEAREST)
        return np.ascontiguousarray(out.T if transposed else out)

    def _linear_labels(self, logits: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
        """``resize_back: linear``: logits bilinearly to the input size (at most :data:`LINEAR_MAX_ZOOM` times
        the working grid per axis), argmax and largest components there, then :meth:`resize_back` (nearest,
        display orientation) for the rest of the way."""
        target = (int(shape[1]), int(shape[0])) if self.spec.transposed else (int(shape[0]), int(shape[1]))
        grid = tuple(int(v) for v in logits.shape[-2:])
        size = tuple(min(t, LINEAR_MAX_ZOOM * g) for t, g in zip(target, grid))
        with torch.inference_mode():
            up = F.interpolate(logits[:1].float(), size=size, mode="bilinear", align_corners=False)[0].cpu()
            lab = channel_argmax(up).numpy()
        if self.spec.postprocess.largest_component:
            lab = keep_largest_components(lab)
        return self.resize_back(lab, shape)

    def segment(self, pixels: np.ndarray, *, already_scaled: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(labels at input size, labels at working size)`` of a grey array, both display
        orientation. A low-level step: code with a radiograph calls :meth:`run`, which picks the grey."""
        arr = np.asarray(pixels)
        if arr.ndim != 2 or min(arr.shape) < 2:
            raise InputError(f"expected a 2-D grey image, got shape {arr.shape}")
        box = None if already_scaled else input_field(arr, self.spec)
        return self.labels_from_logits(self.logits(self.preprocess(arr, already_scaled=already_scaled, field_box=box)),
                                       shape=(int(arr.shape[0]), int(arr.shape[1])), field_box=box)

    def labels_from_logits(self, logits: torch.Tensor, *, shape: tuple[int, int],
                           field_box: Box | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(1, C, h, w) logits -> ``(labels at input size shape, labels at working size)``, display orientation;
        both cut back to the exposed field ``field_box`` (input-size pixels) when one is given."""
        work = self.postprocess(logits)
        full = self._linear_labels(logits, shape) if self.spec.resize_back == "linear" else self.resize_back(work, shape)
        work_disp = np.ascontiguousarray(work.T) if self.spec.transposed else work
        if field_box is not None:
            full = visible_labels(full, field_box)
            work_disp = visible_labels(work_disp, scale_box(field_box, from_shape=shape, to_shape=work_disp.shape))
        return full, work_disp

    def segment_radiograph(self, radiograph: Radiograph) -> tuple[np.ndarray, np.ndarray]:
        """``(labels at input size, labels at working size)`` of a ``Radiograph``; :meth:`run` also locates."""
        prepared = self.prepare(radiograph)
        return self.labels_from_logits(self.logits(prepared.tensor[None]), shape=prepared.shape,
                                       field_box=prepared.field_box)

    # --- the one way to segment a radiograph ---------------------------------------------------
    def prepare(self, radiograph: Radiograph) -> SegmenterInput:
        """The network's input for ``radiograph`` (:func:`prepare_input` with this recipe)."""
        return prepare_input(radiograph, self.spec)

    def finish(self, logits: torch.Tensor, prepared: SegmenterInput, *, radiograph: Radiograph) -> Segmentation:
        """(1, C, h, w) logits of ``prepared`` -> labels, working map and the SIJ location (timed)."""
        t0 = time.perf_counter()
        full, work = self.labels_from_logits(logits, shape=prepared.shape, field_box=prepared.field_box)
        t1 = time.perf_counter()
        location = self.locate(full=full, working=work)
        paper = None if prepared.paper_grey is None else prepared.paper_grey.numpy()
        return Segmentation(labels=full, working_labels=work, location=location, pixels=radiograph.pixels,
                            paper_grey=paper, timings={"segment_s": t1 - t0, "locate_s": time.perf_counter() - t1},
                            field_box=prepared.field_box)

    def run(self, radiograph: Radiograph) -> Segmentation:
        """Segment ``radiograph`` and locate its SIJs as the recipe says (location in input-size pixels).

        Timings: ``segment_s`` (input preparation, network, labels at both sizes), ``locate_s``.
        """
        if not isinstance(radiograph, Radiograph):
            raise InputError(f"Segmenter.run takes a Radiograph, got {type(radiograph).__name__} (wrap an array "
                             "with sijscan.io.display_radiograph or radiograph_from_array)")
        t0 = time.perf_counter()
        prepared = self.prepare(radiograph)
        logits = self.logits(prepared.tensor[None])
        t1 = time.perf_counter()
        out = self.finish(logits, prepared, radiograph=radiograph)
        out.timings["segment_s"] += t1 - t0
        return out

    def crop_grey(self, radiograph: Radiograph) -> np.ndarray:
        """uint8 (H, W): the grey the published crop is cut from, for a label map not made by :meth:`run`."""
        return crop_grey(radiograph, self.spec)

    def locate(self, *, full: np.ndarray, working: np.ndarray | None = None) -> SIJLocation:
        """The SIJ location in FULL-size pixels, by the recipe's method on the map it names.

        ``method="sijscan"``: :func:`locate_sij` on the working map (or the full map when none is
        given, e.g. a user's own mask), boxes scaled to the full size. ``method="authors"``: the
        published arithmetic on the full-size map (:func:`locate_authors`).
        """
        loc = self.spec.localize
        if loc.method == "authors":
            return locate_authors(full, working=working, dilation_frac=loc.dilation_frac)
        base = full if working is None else loc.map_for(full) if loc.on == "full" else working
        found = locate_sij(base, dilation_frac=loc.dilation_frac, margin_frac=loc.margin_frac)
        return rescale_location(found, to_shape=full.shape)


def input_field(pixels: np.ndarray, spec: SegmenterRecipe) -> Box | None:
    """The exposed field of display ``pixels`` when the recipe says ``border: fill`` (None otherwise, or when
    the image shows no flat collimated border): :func:`sijscan.anatomy.border.exposed_field`."""
    return exposed_field(pixels) if spec.border == "fill" else None


def preprocess_array(pixels: np.ndarray, *, recipe: SegmenterRecipe | Mapping[str, Any],
                     already_scaled: bool = False, field_box: Box | None = None) -> torch.Tensor:
    """Grey (H, W) array -> (1, 1, h, w) float32 tensor at the recipe's working size.

    Order: the border outside ``field_box`` filled from the field's edge (``border: fill``), input scale,
    optional transposition, resize (``resize_mode``), z-score over the whole image (population std;
    0 -> 1, as MONAI ``NormalizeIntensity``), optional Gaussian smoothing
    (MONAI ``GaussianSmooth``), optional linear rescale to ``rescale`` (as MONAI ``ScaleIntensity``).
    """
    rec = recipe if isinstance(recipe, SegmenterRecipe) else parse_segmenter_recipe(recipe)
    x = torch.as_tensor(np.ascontiguousarray(fill_border(pixels, field_box)), dtype=torch.float32)
    if not already_scaled and rec.input_scale != 1.0:
        x = x * rec.input_scale
    if rec.transposed:
        x = x.T.contiguous()
    size = rec.working_size
    mode = rec.resize_mode
    if mode == "cv2_area":  # OpenCV INTER_AREA: the same box average, several times faster on CPU
        import cv2

        x = torch.from_numpy(cv2.resize(x.numpy(), (size[1], size[0]), interpolation=cv2.INTER_AREA))[None, None]
    else:
        x = F.interpolate(x[None, None], size=size, mode=mode)
    if rec.normalisation == "zscore":
        mean = torch.mean(x).item()
        std = torch.std(x, unbiased=False).item()
        x = (x - mean) / (std if std != 0.0 else 1.0)
    if rec.gaussian_sigma:
        from monai.transforms import GaussianSmooth

        x = torch.as_tensor(GaussianSmooth(sigma=rec.gaussian_sigma)(x[0]), dtype=torch.float32)[None]
    if rec.rescale:
        lo, hi = rec.rescale
        mn, mx = x.min(), x.max()
        x = x * lo if mn == mx else (x - mn) / (mx - mn) * (hi - lo) + lo
    return torch.as_tensor(x).float()


LINEAR_MAX_ZOOM = 4
"""``resize_back: linear`` resizes the logits to at most 4x the working grid per axis (nearest beyond): the
boundary is then placed to a quarter of a working pixel, and a 2048 px radiograph costs ~50 ms, not ~0.3 s."""


def channel_argmax(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``argmax`` over the first axis of a (C, H, W) tensor, the first channel winning ties (as
    ``torch.argmax``). A running maximum over the few channels: 24 ms for 4 x 1664 x 2048 on two CPU
    cores, where ``torch.argmax(dim=0)`` takes ~0.6 s (a strided reduction) and numpy's ~0.09 s."""
    best = x[0].clone()
    idx = torch.zeros(x.shape[1:], dtype=torch.uint8)
    for k in range(1, int(x.shape[0])):
        better = x[k] > best
        idx[better] = k
        best = torch.maximum(best, x[k])
    return idx


def keep_largest_components(lab: np.ndarray) -> np.ndarray:
    """Keep the largest 8-connected component of every non-zero class; the rest becomes 0."""
    out = lab.copy()
    full = np.ones((3, 3), bool)
    for cls in np.unique(lab):
        if cls == 0:
            continue
        mask = lab == cls
        cc, n = ndimage.label(mask, structure=full)
        if n > 1:
            sizes = np.bincount(cc.ravel())
            sizes[0] = 0
            out[mask & (cc != int(np.argmax(sizes)))] = 0
    return out


def authors_grey(radiograph: Radiograph, weights: tuple[float, float, float]) -> np.ndarray | None:
    """The float32 grey the authors' app computes from an 8-bit PNG/JPEG; None for any other input.

    Their ``LoadImage`` (PIL) keeps the stored 8-bit values; RGB(A) becomes ``weights`` . (R, G, B)
    in float32, not rounded. A grey 8-bit file is recovered exactly from the display pixels
    (v / 255 * 255, rounded); a colour one is decoded again with PIL. For 12/16-bit data and DICOM
    their uint8 cast is a bug sijscan does not copy: None, and the caller uses the windowed pixels.
    """
    if radiograph.source_format not in ("png", "jpeg") or int(radiograph.bits_stored) != 8:
        return None
    pixels = radiograph.pixels
    if str(radiograph.photometric).startswith("MONOCHROME"):
        return np.rint(pixels * np.float32(255.0)).astype(np.float32)
    if radiograph.path is None:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(radiograph.path) as im:
            arr = np.asarray(im)
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"{radiograph.name}: cannot read image ({exc})") from exc
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        # w0 R + w1 G + w2 B in float32, one IEEE operation at a time in this order: the same bits on every
        # CPU. The authors' torch.einsum sums in an order that depends on memory layout and the CPU's
        # kernels (on an Intel Xeon, 1 ulp apart on 6% of pixels between two layouts; this sum is within
        # 2 ulp of both: a grey level moves only where a value lies within 2 ulp of an integer)
        rgb = arr[..., :3].astype(np.float32)
        w = np.asarray(weights, dtype=np.float32)
        arr = (rgb[..., 0] * w[0] + rgb[..., 1] * w[1]) + rgb[..., 2] * w[2]
    if arr.ndim != 2 or arr.shape != pixels.shape:  # e.g. an EXIF-rotated JPEG: keep sijscan's reading
        return None
    return arr.astype(np.float32)


def recipe_input(radiograph: Radiograph, spec: SegmenterRecipe) -> tuple[np.ndarray, bool]:
    """``(grey array, already_scaled)`` for :meth:`Segmenter.segment`: the authors' 8-bit grey when the
    recipe names ``grey_weights`` and the file is an 8-bit PNG/JPEG, else the display pixels."""
    raw = authors_grey(radiograph, spec.grey_weights) if spec.grey_weights else None
    return (raw, True) if raw is not None else (radiograph.pixels, False)


def grey_u8(pixels: np.ndarray, raw: np.ndarray | None) -> np.ndarray:
    """The 8-bit grey image the published crop is cut from: the authors' ``astype(uint8)`` of their
    grey when there is one (8-bit files), else the correctly windowed display pixels rounded to 8 bits."""
    if raw is not None:
        return np.clip(raw, 0, 255).astype(np.uint8)
    return display_u8(pixels)


def display_u8(pixels: np.ndarray) -> np.ndarray:
    """Display pixels in [0, 1] rounded to 8 bits."""
    return np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)


def prepare_input(radiograph: Radiograph, spec: SegmenterRecipe) -> SegmenterInput:
    """THE preparation of a radiograph for a segmenter with recipe ``spec``: the grey it wants
    (:func:`recipe_input`), resized and normalised (:func:`preprocess_array`); with the authors'
    8-bit grey kept for the published crop when the recipe read one."""
    if min(radiograph.height, radiograph.width) < 2:
        raise InputError(f"expected a 2-D grey image, got shape {radiograph.pixels.shape}")
    arr, scaled = recipe_input(radiograph, spec)
    box = None if scaled else input_field(arr, spec)
    tensor = preprocess_array(arr, recipe=spec, already_scaled=scaled, field_box=box)[0]
    paper = torch.from_numpy(grey_u8(radiograph.pixels, arr)) if scaled else None
    return SegmenterInput(tensor=tensor, shape=(int(radiograph.height), int(radiograph.width)), paper_grey=paper,
                          field_box=box)


def crop_grey(radiograph: Radiograph, spec: SegmenterRecipe | None) -> np.ndarray:
    """uint8 (H, W): the grey the published crop is cut from, for a segmenter recipe ``spec`` (or
    none: the display pixels). :meth:`Segmentation.crop_grey` gives the same without decoding again."""
    raw = authors_grey(radiograph, spec.grey_weights) if spec is not None and spec.grey_weights else None
    return grey_u8(radiograph.pixels, raw)


def rescale_location(loc: SIJLocation, *, to_shape: tuple[int, ...]) -> SIJLocation:
    """``loc`` with its boxes mapped from its label map's grid to ``to_shape`` (outward rounding)."""
    from dataclasses import replace

    shape = (int(to_shape[0]), int(to_shape[1]))
    if tuple(loc.label_shape) == shape:
        return loc

    def scaled(b: list[int] | None) -> list[int] | None:
        return None if b is None else scale_box(b, from_shape=loc.label_shape, to_shape=shape)

    return replace(loc, box=scaled(loc.box), boxes={k: scaled(b) for k, b in loc.boxes.items()}, label_shape=shape)


def locate_authors(full: np.ndarray, *, working: np.ndarray | None = None, dilation_frac: float = 0.05) -> SIJLocation:
    """The published SIJ box on the full-size map, with sijscan's QC flags (computed on ``working``,
    or on ``full`` when not given) beside it; sides named by the regions' positions."""
    region = authors_sij_region(full, dilation_frac=dilation_frac)
    qc = rescale_location(locate_sij(working if working is not None else full, dilation_frac=dilation_frac,
                                     margin_frac=0.0), to_shape=full.shape)
    found = sorted((b for b in region.boxes.values() if b is not None), key=lambda b: b[0] + b[2])  # by x centre
    boxes = dict(zip(("image_left", "image_right"), found + [None] * (2 - len(found))))
    used = [c for c, f in region.fallback.items() if f]
    flags = list(qc.qc_flags)
    notes = [f"authors' SIJ region: square dilation r = {region.radius} px on the full-size mask"]
    if used:
        notes.append(f"authors' median-height strip used for class(es) {', '.join(map(str, used))} (no contact)")
        if "no_joint_contact" not in flags:
            flags.append("no_joint_contact")
    if region.box is None:
        notes.append("no SIJ box: the authors' method has no region on one side (their app would fail here)")
    return SIJLocation(box=region.box, boxes=boxes, qc_flags=flags, fallback_used=bool(used),
                       confidence=qc.confidence if region.box is not None else 0.0,
                       label_shape=(int(full.shape[0]), int(full.shape[1])), notes=notes)
