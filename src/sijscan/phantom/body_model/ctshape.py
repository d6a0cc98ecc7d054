"""Real-bone statistics for the procedural phantom: CT-derived shapes and projected thickness.

``sijscan/data/phantom_shapes.npz`` (made by ``tools/shape_stats.py`` from the AP
projections of real pelvic CTs; provenance in the ``.json`` beside it) holds, per intact bone,
corresponding outline points (hip bone: crest, lateral margin, ischium, symphysis, obturator
foramen, both SIJ margins; sacrum: alae, joint margins, apex) in the phantom's frame, and the
bone's projected line integral warped onto the mean outline (a 2 mm template).

A phantom patient mixes the member bones with seeded weights (a convex mix, within the span of
the real bones): the weights shape the outline, and their cubes (renormalised) mix the thickness
templates, so a bone's thickness pattern is mostly that of the real bone its outline is closest to. At
render time a thin-plate spline from the patient's posed outline points to the template's takes
each pixel to the template (see :func:`warp_template`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from sijscan.phantom.shape_set import ShapeDataError, shape_meta

N_HIP = (12, 28, 18, 16, 14)
N_SAC = (20, 20, 16, 16)  # as stored: mid top -> right joint | right joint -> apex | apex -> left joint | left joint -> mid top
SAC_PIECES = (20, N_JOINT := 9, 20, 20, 9, 20)  # after loading: symmetric counts, joints included
N_OBT = 32
STRETCH = 0.0  # how far (fraction of the spread) a mix may reach beyond the convex hull of the real bones
TEMPLATE_SHARPEN = 3.0  # template weights = mixing weights ** this, renormalised
WARP_STEP_MM = 6.0  # the spline is evaluated on this grid and the coordinate maps are interpolated




@dataclass(frozen=True)
class BoneSet:
    """Member bones of one kind: corresponding points (n, P, 2) mm, depths (n, P) and templates."""

    points: np.ndarray  # what patients are mixed from (the sacrum: left-right symmetrised)
    depth: np.ndarray
    template_points: np.ndarray  # (P, 2): the template's frame (mean of the members as measured)
    template: np.ndarray  # (n, H, W) float32: projected bone line integral on the mean outline, edge-filled
    origin: tuple[float, float, float]  # x, y of the first template pixel centre, template spacing (mm)
    median: np.ndarray  # (n,) median line integral inside each member's outline
    members: tuple[str, ...]
    heads: np.ndarray | None = None  # hip bones: (n, 3) femoral head centre x, y (mm) and socket distance

    @property
    def mean(self) -> np.ndarray:
        return self.template_points


def _fill_edges(t: np.ndarray, step: float) -> np.ndarray:
    """Template values carried out to the outline and beyond (the phantom makes its own rounded edges):
    pixels more than 3 mm inside keep their value, the rest take the nearest such value."""
    inside = (t > 0.02).astype(np.uint8)
    core = cv2.erode(inside, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(3 / step) + 1,) * 2))
    if not core.any():
        return t
    _, lab = cv2.distanceTransformWithLabels(1 - core, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(core)
    vals = np.zeros(lab.max() + 1, np.float32)
    vals[lab[ys, xs]] = t[ys, xs]
    out = np.where(core > 0, t, vals[lab])
    return cv2.GaussianBlur(out.astype(np.float32), (0, 0), 0.6)


@functools.lru_cache(maxsize=1)
def _raw() -> dict:
    try:
        ref = resources.files("sijscan") / "data" / "phantom_shapes.npz"
        with resources.as_file(ref) as path, np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ShapeDataError(f"cannot read sijscan/data/phantom_shapes.npz: {exc}") from exc
    return {"arrays": arrays, "meta": shape_meta()}


@functools.lru_cache(maxsize=8)
def bone_set(kind: str, members: tuple[str, ...] | None = None) -> BoneSet:
    """'hip' or 'sacrum'; ``members`` (e.g. ``("001_RI", "003_RI")``, or case ids for the sacrum)
    restricts the set, e.g. to leave one CT's anatomy out."""
    raw = _raw()
    a, meta = raw["arrays"], raw["meta"]
    names = tuple(meta["hip_members"] if kind == "hip" else meta["sacrum_members"])
    keep = [i for i, n in enumerate(names) if members is None or n in members or n.split("_")[0] in members]
    if not keep:
        raise ShapeDataError(f"no {kind} member left of {names} with members={members}")
    pts = a[f"{kind}_points"][keep].astype(np.float64)
    z = a[f"{kind}_z"][keep].astype(np.float64)
    if kind == "sacrum":
        pts, z = _sacrum_pieces(pts), _sacrum_pieces(z[..., None])[..., 0]
    z = _smooth_depth(z, kind)
    tpl = pts.mean(axis=0)
    if kind == "sacrum":  # a patient's sacrum: each member averaged with its mirror image
        pts = 0.5 * (pts + pts[:, ::-1] * np.array([-1.0, 1.0]))
        z = 0.5 * (z + z[:, ::-1])
    tmp = a[f"{kind}_template"][keep].astype(np.float32)
    ox, oy, step = (float(v) for v in a[f"{kind}_template_origin"])
    filled = np.stack([_fill_edges(t, step) for t in tmp])
    med = np.array([float(np.median(t[t > 0.02])) for t in tmp])
    return BoneSet(points=pts, depth=z, template_points=tpl, template=filled,
                   origin=(ox, oy, step), median=med, members=tuple(names[i] for i in keep),
                   heads=a["hip_head"][keep].astype(np.float64) if kind == "hip" else None)


def _smooth_depth(z: np.ndarray, kind: str) -> np.ndarray:
    """Depths along each outline smoothed (a 9-point binomial kernel, wrapping on closed outlines): the
    mean depth at a projected edge jumps between the bone's front and back, and a tilt would turn
    those jumps into teeth on the outline."""
    k = np.array([1, 8, 28, 56, 70, 56, 28, 8, 1], np.float64)
    k /= k.sum()

    def run(v: np.ndarray, closed: bool) -> np.ndarray:
        h = len(k) // 2
        pad = np.concatenate([v[-h:], v, v[:h]]) if closed else np.pad(v, h, mode="edge")
        return np.convolve(pad, k, mode="valid")

    out = z.copy()
    for m in range(len(z)):
        if kind == "sacrum":
            out[m] = run(z[m], True)
            continue
        n = sum(N_HIP) + 1
        out[m, :n] = run(z[m, :n], False)
        out[m, n : n + N_OBT] = run(z[m, n : n + N_OBT], True)
        for j in range(2):
            a = n + N_OBT + j * N_JOINT
            out[m, a : a + N_JOINT] = run(z[m, a : a + N_JOINT], False)
    return out


def _sacrum_pieces(p: np.ndarray) -> np.ndarray:
    """Stored sacrum points (20, 9, 20, 16, 9, 16 per piece) -> SAC_PIECES counts, so that the mirror
    image of a point set is ``p[::-1]`` with x negated."""
    cuts = np.cumsum([N_SAC[0], N_JOINT, N_SAC[1], N_SAC[2], N_JOINT])
    out = []
    for member in p:
        pieces = np.split(member, cuts)
        out.append(np.concatenate([_resample_any(q, n) for q, n in zip(pieces, SAC_PIECES)]))
    return np.stack(out)


def _resample_any(q: np.ndarray, n: int) -> np.ndarray:
    """Resample an open polyline (or per-point values) at n points evenly spaced in index."""
    if len(q) == n:
        return q
    t = np.linspace(0.0, len(q) - 1.0, n)
    return np.stack([np.interp(t, np.arange(len(q)), q[:, k]) for k in range(q.shape[1])], axis=1)


def mix_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seeded mixing weights over n member bones: Dirichlet(1), stretched by STRETCH about the mean."""
    w = rng.dirichlet(np.ones(n)) if n > 1 else np.ones(1)
    return (1.0 + STRETCH) * w - STRETCH / n


def mixed(bs: BoneSet, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points, depths) of a mix."""
    return np.tensordot(w, bs.points, axes=1), np.tensordot(w, bs.depth, axes=1)


def hip_parts(points: np.ndarray) -> dict[str, np.ndarray]:
    """Split a hip point set: outline (SIJ top ... SIJ bottom, without the joint), obturator, anterior
    and posterior joint margins (top -> bottom)."""
    n = sum(N_HIP) + 1
    j = points[n + N_OBT :].reshape(2, N_JOINT, -1)
    return {"outline": points[:n], "obturator": points[n : n + N_OBT], "ant": j[0], "post": j[1]}


def resample(path: np.ndarray, n: int, *, closed: bool = False) -> np.ndarray:
    p = np.concatenate([path, path[:1]]) if closed else path
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))]
    t = np.linspace(0.0, s[-1], n, endpoint=not closed)
    return np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], axis=1)


def hip_anchor_points(rest: np.ndarray, obturator: np.ndarray) -> np.ndarray:
    """Corresponding points of an image-right hip outline that runs SIJ top -> crest -> lateral ->
    ischium -> symphysis -> SIJ bottom (the joint itself left out) and its obturator outline."""
    k_crest = int(np.argmin(rest[:, 1]))
    k_lat = k_crest + int(np.argmax(rest[k_crest:, 0]))
    k_low = k_lat + int(np.argmax(rest[k_lat:, 1]))
    k_sym = k_low + int(np.argmin(rest[k_low:, 0]))
    cuts = [0, k_crest, k_lat, k_low, k_sym, len(rest) - 1]
    pieces = [resample(rest[a : b + 1], n + 1)[:-1] for a, b, n in zip(cuts[:-1], cuts[1:], N_HIP)]
    ob = np.roll(obturator, -int(np.argmin(obturator[:, 1])), axis=0)
    return np.concatenate(pieces + [rest[-1:], resample(ob, N_OBT, closed=True)])


def sacrum_anchor_points(outline: np.ndarray, joints: dict[str, np.ndarray]) -> np.ndarray:
    """Corresponding points of a sacrum outline (mid top -> image-right ala -> right joint -> apex ->
    left joint -> left ala -> mid top) whose joint margins are the given anterior lines (top -> bottom)."""
    def near(p: np.ndarray) -> int:
        return int(np.argmin(np.hypot(outline[:, 0] - p[0], outline[:, 1] - p[1])))

    jr, jl = joints["image_right"], joints["image_left"]
    i_rt, i_rb, i_lb, i_lt = near(jr[0]), near(jr[-1]), near(jl[-1]), near(jl[0])
    i_apex = i_rb + int(np.argmax(outline[i_rb : i_lb + 1, 1]))
    segs = [outline[: i_rt + 1], outline[i_rb : i_apex + 1], outline[i_apex : i_lb + 1],
            np.concatenate([outline[i_lt:], outline[:1]])]
    a, b, c, d = (resample(s, n) for s, n in zip(segs, N_SAC))
    return np.concatenate([a, resample(jr, N_JOINT), b, c, resample(jl, N_JOINT)[::-1], d])


def warp_template(bs: BoneSet, w: np.ndarray, src_pts: np.ndarray, frame, win, *, sign: float = 1.0) -> np.ndarray:
    """The mixed template on the window's pixels (``frame``: an ``frame.Frame``, ``win`` a
    ``Window``): a thin-plate spline takes the patient's points ``src_pts`` (posed mm, x times
    ``sign``, same order as the set's points) to the mean template's."""
    dst = bs.mean
    ok = np.isfinite(src_pts).all(axis=1) & np.isfinite(dst).all(axis=1)
    sel = np.nonzero(ok)[0][::2]
    tps = RBFInterpolator(src_pts[sel], dst[sel], kernel="thin_plate_spline", smoothing=0.5)
    # the spline is smooth: evaluate it on cells of about WARP_STEP_MM, in the layout cv2.resize expects
    cell = max(1, int(round(WARP_STEP_MM / frame.spacing)))
    X, Y = frame.mm_grid(win, step=cell)
    q = tps(np.stack([sign * X.ravel(), Y.ravel()], 1)).astype(np.float32)
    ox, oy, step = bs.origin
    size = (X.shape[1] * cell, X.shape[0] * cell)
    mx = cv2.resize(((q[:, 0] - ox) / step).reshape(X.shape), size, interpolation=cv2.INTER_LINEAR)[: win.h, : win.w]
    my = cv2.resize(((q[:, 1] - oy) / step).reshape(X.shape), size, interpolation=cv2.INTER_LINEAR)[: win.h, : win.w]
    # the thickness pattern: mostly the patient's dominant member (a plain mix of three templates
    # blurs the dense columns, whose positions differ from bone to bone)
    wt = np.clip(w, 0.0, None) ** TEMPLATE_SHARPEN
    wt = wt / wt.sum()
    tmix = np.tensordot(wt.astype(np.float32) / np.float32(bs.median @ wt), bs.template, axes=1)
    out = cv2.remap(np.ascontiguousarray(tmix, np.float32), np.ascontiguousarray(mx), np.ascontiguousarray(my),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.maximum(out, 0.0)
