"""Findings outside the SIJ (shortcut features) and bowel gas: each knob acts only where it should."""
from __future__ import annotations

import numpy as np
import pytest

from sijscan.phantom.body_model import render_projection
from sijscan.phantom.spec import CaseSpec, Geometry, Projection

G = Geometry(height=384, width=512, pixel_spacing_mm=0.8)
SP = G.pixel_spacing_mm


def _render(**kw) -> Projection:
    kw.setdefault("anatomy_seed", 3)
    return render_projection(CaseSpec(**kw), G)


def _changed(p: Projection, base: Projection) -> tuple[np.ndarray, np.ndarray]:
    diff = np.abs(p.bone - base.bone) > 1e-6
    assert diff.sum() > 30, "the knob at 1 must be visible"
    np.testing.assert_array_equal(p.labels, base.labels)
    ys, xs = np.nonzero(diff)
    return xs.astype(float), ys.astype(float)


def _dist_to_polyline(xs: np.ndarray, ys: np.ndarray, line: np.ndarray) -> np.ndarray:
    best = np.full(xs.shape, np.inf)
    for a, b in zip(line[:-1], line[1:]):
        v = b - a
        t = np.clip(((xs - a[0]) * v[0] + (ys - a[1]) * v[1]) / max(float(v @ v), 1e-9), 0, 1)
        best = np.minimum(best, np.hypot(xs - a[0] - t * v[0], ys - a[1] - t * v[1]))
    return best


@pytest.fixture(scope="module")
def base() -> Projection:
    return _render()


def test_zero_strength_renders_nothing(base: Projection) -> None:
    p = _render(hip_narrowing=0.0, syndesmophytes=0.0, enthesitis=0.0, osteitis_condensans=0.0, degenerative=0.0)
    np.testing.assert_array_equal(p.bone, base.bone)


def test_hip_narrowing_only_at_the_hips(base: Projection) -> None:
    p = _render(hip_narrowing=1.0)
    xs, ys = _changed(p, base)
    near = np.zeros(xs.shape, bool)
    for side in ("image_left", "image_right"):
        cx, cy = p.info["femoral_head_centres"][side]
        r = p.info["femoral_head_radius_px"][side]
        near |= np.hypot(xs - cx, ys - cy) < r + 12.0 / SP
    assert near.all()
    # the joint space narrows: along the vertical through the head centre the acetabular roof (the
    # brightest point in the 9 mm above the head) comes down toward the head
    for side in ("image_left", "image_right"):
        cx, cy = (int(round(v)) for v in p.info["femoral_head_centres"][side])
        top = int(round(cy - p.info["femoral_head_radius_px"][side]))
        lo = top - int(round(9 / SP))
        roof_b = lo + int(np.argmax(base.bone[lo:top, cx]))
        roof_p = lo + int(np.argmax(p.bone[lo:top, cx]))
        assert (roof_p - roof_b) * SP > 1.5, side


def test_syndesmophytes_only_at_the_lumbosacral_discs(base: Projection) -> None:
    p = _render(syndesmophytes=1.0)
    xs, ys = _changed(p, base)
    l4 = np.array(p.info["vertebra_centres"]["L4"])
    prom = np.array(p.info["promontory"])
    assert (ys > l4[1]).all() and (ys < prom[1] + 8 / SP).all()
    assert (np.abs(xs - l4[0]) < 40 / SP).all()
    # vertical bridges: the change spans the disc spaces in height
    assert np.ptp(ys) * SP > 30


def test_enthesitis_only_at_entheses(base: Projection) -> None:
    p = _render(enthesitis=1.0)
    xs, ys = _changed(p, base)
    d = np.full(xs.shape, np.inf)
    for side in ("image_left", "image_right"):
        for key in ("iliac_crests", "ischial_tuberosities"):
            d = np.minimum(d, _dist_to_polyline(xs, ys, np.array(p.info[key][side])))
        gx, gy = p.info["greater_trochanters"][side]
        d = np.minimum(d, np.hypot(xs - gx, ys - gy) - 14 / SP)
    (tx, ty), (bx, by) = p.info["symphysis"]
    d = np.minimum(d, np.where((ys > ty - 8 / SP) & (ys < by + 8 / SP), np.abs(xs - tx) - 12 / SP, np.inf))
    assert (d * SP < 15.0).all(), float(d.max() * SP)
    # every site group shows up
    sym = (np.abs(xs - tx) < 15 / SP) & (ys > ty - 8 / SP) & (ys < by + 8 / SP)
    assert sym.sum() > 10


def test_bowel_gas_is_lucent_and_monotone() -> None:
    none, some, much = (_render(bowel_gas=v) for v in (0.0, 0.5, 1.0))
    np.testing.assert_array_equal(none.bone, much.bone)
    assert (much.soft <= some.soft + 1e-6).all() and (some.soft <= none.soft + 1e-6).all()
    gas_area = [(none.soft - p.soft > 0.05).mean() for p in (some, much)]
    assert 0.0 < gas_area[0] < gas_area[1]
    # gas overlies the sacrum or the SIJs in a typical case at full amount
    sac = much.labels == 1
    assert (none.soft - much.soft)[sac].max() > 0.2


@pytest.mark.parametrize("habitus", [0.7, 1.6])
def test_habitus_scales_soft_tissue(habitus: float) -> None:
    ref, p = _render(), _render(habitus=habitus, bowel_gas=0.5)
    centre = (slice(150, 230), slice(200, 312))
    ratio = float(np.median(p.soft[centre]) / np.median(ref.soft[centre]))
    assert (ratio < 0.9) if habitus < 1 else (ratio > 1.25)
