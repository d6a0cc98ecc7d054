"""Radiographic realism checks: pelvic ring shapes in the label map, grey levels, collimated borders.

Anatomy sizes come from the AP projections of the real CTs (obturator foramen) and
docs/radiographic-anatomy.md (adult): slender rami (about 1-2 cm), an open subpubic arch; grey levels from the reference radiographs
(bone above soft tissue above air, most of the grey range used, nothing clipped but lead).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage as ndi

from sijscan.phantom.acquisition import acquire
from sijscan.phantom.body_model import render_projection
from sijscan.phantom.profiles import PROFILES, get_profile
from sijscan.phantom.spec import CaseSpec, Geometry, Projection

MID = Geometry(height=384, width=512, pixel_spacing_mm=0.8)


def _foramen(labels: np.ndarray, k: int) -> np.ndarray:
    """The largest background region enclosed by hip bone ``k`` (the obturator foramen)."""
    hip = labels == k
    hole = ndi.binary_fill_holes(hip) & ~hip
    lab, n = ndi.label(hole)
    assert n >= 1, "no obturator foramen"
    sizes = ndi.sum(hole, lab, range(1, n + 1))
    return lab == 1 + int(np.argmax(sizes))


def _run(col: np.ndarray, start: int, step: int) -> int:
    """Number of consecutive True pixels in ``col`` from ``start`` going ``step``."""
    n, r = 0, start
    while 0 <= r < len(col) and col[r]:
        n += 1
        r += step
    return n


@pytest.mark.parametrize("sex", ["M", "F"])
@pytest.mark.parametrize("seed", [2, 9])
def test_obturator_foramen_is_open_and_framed_by_slender_rami(sex: str, seed: int) -> None:
    p = render_projection(CaseSpec(anatomy_seed=seed, sex=sex), MID)
    sp = MID.pixel_spacing_mm
    for k in (2, 3):
        hole = _foramen(p.labels, k)
        ys, xs = np.nonzero(hole)
        w_mm, h_mm = np.ptp(xs) * sp, np.ptp(ys) * sp
        area = hole.sum() * sp * sp
        # the AP projections of the real CTs (src/sijscan/data/phantom_shapes.json, intact hip bones):
        # 19-26 x 18-29 mm, 220-490 mm^2 (the foramen's plane is oblique to the beam); a man's narrowed
        # subpubic arch stretches it to about 25 x 50 mm
        assert 14 < w_mm < 40 and 14 < h_mm < 60, (k, w_mm, h_mm)
        assert 150 < area < 1200, (k, area)
        # through the foramen's centre: superior pubic ramus above, ischiopubic ramus below, each 0.5-2.5 cm
        cx = int(round(xs.mean()))
        col = p.labels[:, cx] == k
        top, bot = ys[xs == cx].min(), ys[xs == cx].max()
        sup, inf = _run(col, top - 1, -1) * sp, _run(col, bot + 1, 1) * sp
        assert 5 < sup < 25 and 5 < inf < 25, (k, sup, inf)
        # the hip bone (ilium + ischium + pubis) is much larger than its foramen
        assert (p.labels == k).sum() * sp * sp > 6 * area


@pytest.mark.parametrize("sex", ["M", "F"])
def test_subpubic_arch_is_open_below_the_symphysis(sex: str) -> None:
    p = render_projection(CaseSpec(anatomy_seed=4, sex=sex), MID)
    (x_top, y_top), (x_bot, y_bot) = p.info["symphysis"]
    x, y = int(round(x_bot)), int(round(y_bot))
    gap = int(round(20.0 / MID.pixel_spacing_mm))
    assert p.labels[y + 3 : y + gap, x].max() == 0  # soft tissue between the inferior rami
    # the symphyseal gap: open all along the joint, 4-6 mm wide along most of it
    widths = []
    for r in range(int(round(y_top)) + 2, y - 2):
        row = p.labels[r]
        lo, hi = x, x
        while lo > 0 and row[lo - 1] == 0:
            lo -= 1
        while hi < len(row) - 1 and row[hi + 1] == 0:
            hi += 1
        assert row[x] == 0, r
        widths.append((hi - lo + 1) * MID.pixel_spacing_mm)
    assert min(widths) >= 1.5 and 3.5 <= float(np.median(widths)) <= 7.0, widths
    # both pubic bodies beside the symphysis
    half = int(round(12.0 / MID.pixel_spacing_mm))
    row = p.labels[int(round((y_top + y_bot) / 2))]
    assert (row[x - half : x] == 2).any() and (row[x : x + half] == 3).any()


@pytest.fixture(scope="module")
def projection() -> tuple[Projection, CaseSpec]:
    spec = CaseSpec(anatomy_seed=3, habitus=1.05, bowel_gas=0.5)
    return render_projection(spec, MID), spec


def _clean(name: str, **kw):
    base = dict(collimation_prob=0.0, marker_prob=0.0, burned_text=False, shield_prob_male=0.0, shield_prob_female=0.0)
    return replace(get_profile(name), **{**base, **kw})


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_grey_levels_use_the_range_without_clipping(name: str, projection) -> None:
    proj, spec = projection
    prof = _clean(name)
    d = acquire(proj, profile=prof, spec=spec, seed=1).display
    bone = np.median(d[proj.labels > 0])
    soft = np.median(d[(proj.labels == 0) & (proj.soft > 2.5)])
    air = d[proj.soft < 0.05]
    # references: bone ~0.6-0.85 at its brightest, soft tissue ~0.3-0.5, air ~0.05-0.15
    assert 0.45 < bone < 0.75 and 0.3 < soft < 0.55 and bone > soft + 0.08, (bone, soft)
    assert air.size and 0.03 < float(np.median(air)) < 0.15
    body = d[proj.soft > 0.5]
    assert float((body >= prof.white_level - 1e-3).mean()) < 0.01  # bone is not a saturated cut-out
    assert float((d <= 0.0).mean()) == 0.0  # nothing but the black shutter is clipped to black
    assert np.percentile(body, 99) - np.percentile(body, 1) > 0.5  # most of the grey range is used


@pytest.mark.parametrize("shutter", [False, True])
def test_collimated_border_is_flat_with_a_sharp_edge(shutter: bool, projection) -> None:
    proj, spec = projection
    prof = _clean("proof_a", collimation_prob=1.0, collimation_margin=(0.1, 0.1), black_shutter=shutter)
    out = acquire(proj, profile=prof, spec=spec, seed=3)
    x0, y0, x1, y1 = out.meta["field_box"]
    border = out.display[:, : x0 - 1]
    if shutter:
        assert float(border.max()) == 0.0
    else:
        assert float(border.std()) < 0.01  # flat: no scatter glow, no gradients
        assert abs(float(border[:, :5].mean()) - float(border[:, -5:].mean())) < 0.005
        assert float(border.mean()) > float(np.percentile(out.display[y0:y1, x0:x1], 99))  # unexposed = white
        # the edge is sharp: the first exposed column already differs from the border by a lot
        inside = out.display[y0 + 10 : y1 - 10, x0 + 1]
        assert float(np.median(border)) - float(np.median(inside)) > 0.3
