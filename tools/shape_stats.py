"""Shape and thickness statistics of real pelvic bones, from the AP projections of bone-only CTs.

Reads the bone-volume layout of ``../shared/real-ct`` (``<case>/<case>_SA.nii.gz``, ``_LI``, ``_RI``:
HU inside one bone, 0 elsewhere, one grid per case), reorients to LPS, and for each bone makes a
parallel AP projection on a 1 mm grid (x to the image's right = the patient's left, y down):
the bone line integral (sum of mu = 0.0206/mm x (1 + HU/1000) over the bone's voxels, the phantom's
units), the bone path length and the mean depth. From those it measures outlines (arc-length
resampled between anatomical anchors, so points correspond across cases), the obturator foramen,
the sacroiliac overlap band, the femoral head centre (a sphere fitted into the acetabulum in 3-D),
sizes, and thickness/density percentiles; and it warps each bone's projected line integral onto
the mean outline (a 2 mm template), so the phantom can lay real thickness onto its sampled shapes.

Everything is in the phantom's patient frame (mm; origin between the femoral head centres, 20 mm
above them; x to the image's right; y down; z anterior positive, 0 at the head centres). Hip bones
are stored as the image-right bone (the patient's right hip bone is mirrored). Only derived numbers
are written (``src/sijscan/data/phantom_shapes.npz`` and its ``.json``), never the CT voxels.

A build-time tool (not part of the installed package): run it from the repository root,
``python tools/shape_stats.py --ct-root ../shared/real-ct/pengwin --out src/sijscan/data``.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy.interpolate import RBFInterpolator

from sijscan import jsonio
from sijscan.errors import InputError

logger = logging.getLogger(__name__)

MU_WATER = 0.0206  # per mm at ~60 keV
N_HIP = (12, 28, 18, 16, 14)  # points per hip-outline piece: SIJ top->crest top->lateral->bottom->symphysis->SIJ bottom
N_SAC = (20, 20, 16, 16)  # sacrum: mid top -> right SIJ top | right SIJ bottom -> apex | apex -> left SIJ bottom | left SIJ top -> mid top
N_JOINT = 9
N_OBT = 32
TEMPLATE_MM = 2.0
HEAD_ABOVE_MM = 20.0  # the phantom's head centres sit 20 mm below its origin


class ShapeStatsError(InputError):
    """The CT folder cannot be read as the bone-volume layout."""


def load_case(root: Path, case: str) -> dict:
    """The three bone volumes of one case, LPS-oriented: {'SA'|'LI'|'RI': (hu (z,y,x) float32)}, spacing (x,y,z)."""
    import SimpleITK as sitk

    out, spacing = {}, None
    for bone in ("SA", "LI", "RI"):
        path = root / case / f"{case}_{bone}.nii.gz"
        if not path.is_file():
            raise ShapeStatsError(f"missing {path} (expected <case>/<case>_SA|LI|RI.nii.gz)")
        img = sitk.DICOMOrient(sitk.ReadImage(str(path)), "LPS")
        out[bone] = sitk.GetArrayFromImage(img).astype(np.float32)
        spacing = img.GetSpacing()
    return {"hu": out, "spacing": tuple(float(s) for s in spacing)}


def project(hu: np.ndarray, spacing: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """AP projection on a 1 mm grid, rows superior -> inferior, columns patient right -> left."""
    sx, sy, sz = spacing
    bone = hu != 0
    mu = np.where(bone, MU_WATER * (1.0 + hu / 1000.0), 0.0).clip(0.0)
    yy = (np.arange(hu.shape[1], dtype=np.float32) * sy)[None, :, None]
    n = bone.sum(axis=1).astype(np.float32)
    maps = {"M": mu.sum(axis=1) * sy, "T": n * sy, "Y": (bone * yy).sum(axis=1) / np.maximum(n, 1)}
    size = (int(round(hu.shape[2] * sx)), int(round(hu.shape[0] * sz)))
    return {k: cv2.resize(v[::-1].astype(np.float32), size, interpolation=cv2.INTER_AREA) for k, v in maps.items()}


def _fib_dirs(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    th = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(phi), np.sin(phi) * np.sin(th), np.sin(phi) * np.cos(th)], axis=1)


def head_centre(hu: np.ndarray, spacing: tuple[float, float, float], lateral: float) -> tuple[np.ndarray, float]:
    """Femoral head centre (x, y_ap, z_sup in mm of the array) and its distance to the socket: the
    point 17-32 mm from the bone that the bone encloses from the widest solid angle (the acetabulum).
    ``lateral`` is +1 when the bone's lateral side has larger x."""
    step = 2.0
    zoom = [spacing[2] / step, spacing[1] / step, spacing[0] / step]
    b = ndi.zoom((hu != 0).astype(np.float32), zoom, order=1) > 0.3
    dist = ndi.distance_transform_edt(~b) * step
    zz, yy, xx = np.nonzero(b)
    cz, cx = zz.mean(), xx.mean()
    sel = (dist >= 17) & (dist <= 32)
    gz, gy, gx = np.nonzero(sel)
    keep = (lateral * (gx - cx) > 0) & (gz < cz + 10) & (gz > zz.min() + 5)  # lateral, not above the wings
    gz, gy, gx = gz[keep][::2], gy[keep][::2], gx[keep][::2]
    dirs = _fib_dirs(64)
    score = np.zeros(len(gz))
    d0 = dist[gz, gy, gx]
    for u in dirs:
        hit = np.zeros(len(gz), bool)
        for extra in (2.0, 4.0, 6.0, 8.0):
            t = (d0 + extra) / step
            pz = np.clip(np.rint(gz + u[0] * t).astype(int), 0, b.shape[0] - 1)
            py = np.clip(np.rint(gy + u[1] * t).astype(int), 0, b.shape[1] - 1)
            px = np.clip(np.rint(gx + u[2] * t).astype(int), 0, b.shape[2] - 1)
            hit |= b[pz, py, px]
        score += hit
    best = int(np.argmax(score + 0.01 * d0))
    c = np.array([gx[best], gy[best], gz[best]], dtype=np.float64) * step
    return c, float(d0[best])


def _contour(mask: np.ndarray) -> np.ndarray:
    """Outer contour (x, y) of the largest component, ordered clockwise on screen (y down)."""
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(cs, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    x, y = c[:, 0], c[:, 1]
    if float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) < 0:  # shoelace, y down: > 0 is clockwise on screen
        c = c[::-1]
    return c


def _resample(path: np.ndarray, n: int, *, closed: bool = False) -> np.ndarray:
    p = np.concatenate([path, path[:1]]) if closed else path
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))]
    t = np.linspace(0.0, s[-1], n, endpoint=not closed)
    return np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], axis=1)


def _piece(c: np.ndarray, i0: int, i1: int) -> np.ndarray:
    """Contour points from index i0 to i1 going forward (wrapping)."""
    idx = np.arange(i0, i1 + (len(c) if i1 < i0 else 0) + 1) % len(c)
    return c[idx]


def _nearest(c: np.ndarray, p: np.ndarray) -> int:
    return int(np.argmin(np.hypot(c[:, 0] - p[0], c[:, 1] - p[1])))


def _clean(mask: np.ndarray) -> np.ndarray:
    mask = ndi.binary_closing(mask, iterations=2)
    lab, n = ndi.label(mask)
    if n > 1:
        sizes = ndi.sum(mask, lab, range(1, n + 1))
        mask = lab == 1 + int(np.argmax(sizes))
    return mask


def case_stats(root: Path, case: str, skip: frozenset = frozenset()) -> dict:
    """Outlines, joint band, head centres, templates and sizes of one case (phantom frame, image-right hip).

    Bones in ``skip`` (fractured: no intact acetabulum or obturator ring) give no head centre and no
    obturator; their outlines are still measured."""
    data = load_case(root, case)
    sp = data["spacing"]
    proj = {k: project(v, sp) for k, v in data["hu"].items()}
    H = max(p["M"].shape[0] for p in proj.values())
    ny = data["hu"]["SA"].shape[1] * sp[1]
    heads = {}
    for bone, lat in (("LI", 1.0), ("RI", -1.0)):
        if bone in skip:
            continue
        c, dist = head_centre(data["hu"][bone], sp, lat)
        heads[bone] = {"x": c[0], "z_img": H - c[2], "depth": ny - c[1], "socket_mm": dist}
    # level the pelvis (trauma patients lie obliquely) by the iliac crest tops; midline = the sacrum's
    # upper half; origin 20 mm above the femoral head centres of the intact bones
    tops = {}
    for bone in ("LI", "RI"):
        m = _clean(proj[bone]["T"] > 0.5)
        r = int(np.nonzero(m.any(axis=1))[0].min())
        tops[bone] = (float(np.nonzero(m[r])[0].mean()), float(r))
    tilt = math.degrees(math.atan2(tops["LI"][1] - tops["RI"][1], tops["LI"][0] - tops["RI"][0]))
    sac = _clean(proj["SA"]["T"] > 0.5)
    rs = np.nonzero(sac.any(axis=1))[0]
    upper = sac[rs.min() : (rs.min() + rs.max()) // 2]
    cx = float(np.nonzero(upper)[1].mean())
    cy = float(np.mean([h["z_img"] for h in heads.values()]))
    rot = cv2.getRotationMatrix2D((cx, cy), tilt, 1.0)
    for p in proj.values():
        for k in p:
            p[k] = cv2.warpAffine(p[k], rot, (p[k].shape[1], p[k].shape[0]), flags=cv2.INTER_LINEAR)
    for h in heads.values():
        h["x"], h["z_img"] = (rot @ np.array([h["x"], h["z_img"], 1.0])).tolist()
    ox, oy = cx, float(np.mean([h["z_img"] for h in heads.values()])) - HEAD_ABOVE_MM
    oz = float(np.mean([h["depth"] for h in heads.values()]))
    masks = {k: _clean(p["T"] > 0.5) for k, p in proj.items()}
    for p in proj.values():  # mean depth where the path is long enough to trust, nearest such value elsewhere
        _, idx = ndi.distance_transform_edt(p["T"] < 3.0, return_indices=True)
        p["Y"] = p["Y"][idx[0], idx[1]]
    out = {"case": case, "heads": heads, "bones": {}, "levelled_deg": tilt, "skipped": sorted(skip)}
    sac = masks["SA"]
    # the midline: halfway between the sacrum's lateral margins, 15-60 mm below its top (the alae)
    rs = np.nonzero(sac.any(axis=1))[0]
    mids = [0.5 * (np.nonzero(sac[r])[0].min() + np.nonzero(sac[r])[0].max()) for r in range(rs.min() + 15, rs.min() + 60)]
    ox = float(np.median(mids))
    for _pass in range(1):
        for bone, sg in (("LI", 1.0), ("RI", -1.0)):
            hip = masks[bone]
            # the SIJ band: rows where this hip bone and the sacrum overlap on this side of the midline
            side_sac = sac & ((np.arange(sac.shape[1])[None, :] - ox) * sg > 0)
            ov = hip & side_sac
            rows = np.nonzero(ov.sum(axis=1) >= 2)[0]
            r0 = int(rows.min())
            # the joint: the first run of overlapping rows, while the sacrum keeps most of its half-width
            # (below the auricular surface a tilted sacrum can still overlap the rami)
            half = np.array([(np.nonzero(side_sac[r])[0] - ox).__abs__().max() if side_sac[r].any() else 0.0
                             for r in range(sac.shape[0])])
            r1 = r0
            while r1 + 1 < sac.shape[0] and ov[r1 + 1].sum() >= 2 and half[r1 + 1] >= 0.6 * half.max():
                r1 += 1
            ant, post = [], []
            for r in range(r0, r1 + 1):
                xs_s, xs_h = np.nonzero(side_sac[r])[0], np.nonzero(hip[r])[0]
                if xs_s.size == 0 or xs_h.size == 0:
                    continue
                a = xs_s.max() + 0.5 if sg > 0 else xs_s.min() - 0.5  # sacrum's lateral edge
                ph = xs_h[(xs_h - ox) * sg > 0]
                p = ph.min() - 0.5 if sg > 0 else ph.max() + 0.5  # hip bone's medial edge
                ant.append((a, r + 0.5))
                post.append((min(p, a - 0.5) if sg > 0 else max(p, a + 0.5), r + 0.5))
            ant, post = np.array(ant), np.array(post)
            cont = _contour(hip)
            i_top, i_bot = _nearest(cont, post[0]), _nearest(cont, post[-1])
            # the contour's clockwise order (y down) goes top -> lateral -> bottom for the image-right bone;
            # the mirrored bone runs the other way: walk it reversed
            c = cont if sg > 0 else cont[::-1]
            i_top, i_bot = (i_top, i_bot) if sg > 0 else (len(c) - 1 - i_top, len(c) - 1 - i_bot)
            rest = _piece(c, i_top, i_bot)
            k_crest = int(np.argmin(rest[:, 1]))
            k_lat = k_crest + int(np.argmax(sg * rest[k_crest:, 0]))
            k_low = k_lat + int(np.argmax(rest[k_lat:, 1]))
            k_sym = k_low + int(np.argmin(sg * rest[k_low:, 0]))
            cuts = [0, k_crest, k_lat, k_low, k_sym, len(rest) - 1]
            pieces = [_resample(rest[a : b + 1], n + 1)[:-1] for a, b, n in zip(cuts[:-1], cuts[1:], N_HIP)]
            outline = np.concatenate(pieces + [rest[-1:]])
            filled = ndi.binary_fill_holes(hip)
            holes, nh = ndi.label(filled & ~hip)
            if bone in skip or nh == 0:
                obt = np.full((N_OBT, 2), np.nan)
            else:
                sizes = ndi.sum(holes > 0, holes, range(1, nh + 1))
                obt = _contour(holes == 1 + int(np.argmax(sizes)))
                obt = obt if sg > 0 else obt[::-1]
                obt = _resample(np.roll(obt, -int(np.argmin(obt[:, 1])), axis=0), N_OBT, closed=True)
            joint = np.stack([_resample(ant, N_JOINT), _resample(post, N_JOINT)])
            pts = {"outline": outline, "obturator": obt, "joint": joint}
            frame = {}
            for k, v in pts.items():
                v = np.asarray(v, dtype=np.float64)
                depth = ndi.map_coordinates(ny - proj[bone]["Y"], [np.nan_to_num(v[..., 1]).ravel(),
                                            np.nan_to_num(v[..., 0]).ravel()], order=1)
                v = v.copy()
                v[..., 0] = sg * (v[..., 0] - ox)
                v[..., 1] -= oy
                frame[k] = v
                frame[k + "_z"] = (depth.reshape(v.shape[:-1]) - oz).astype(np.float32)
            if bone in heads:
                h = heads[bone]
                frame["head"] = np.array([sg * (h["x"] - ox), h["z_img"] - oy, h["socket_mm"]])
            else:
                frame["head"] = np.full(3, np.nan)
            frame["M"], frame["mask"] = proj[bone]["M"], hip
            frame["T"] = proj[bone]["T"]
            out["bones"][bone] = frame
    # the sacrum: mid top -> right SIJ (image right) -> apex -> left SIJ -> mid top
    cont = _contour(sac)
    jl, jr = out["bones"]["RI"]["joint"][0], out["bones"]["LI"]["joint"][0]
    to_img = lambda p, sg: np.stack([sg * p[:, 0] + ox, p[:, 1] + oy], 1)  # noqa: E731
    jr_i, jl_i = to_img(jr, 1.0), to_img(jl, -1.0)
    top_cand = np.nonzero(np.abs(cont[:, 0] - ox) < 12)[0]
    i_mid = int(top_cand[np.argmin(cont[top_cand, 1])])
    i_apex = int(np.argmax(cont[:, 1]))
    i_rt, i_rb = _nearest(cont, jr_i[0]), _nearest(cont, jr_i[-1])
    i_lb, i_lt = _nearest(cont, jl_i[-1]), _nearest(cont, jl_i[0])
    segs = [(i_mid, i_rt), (i_rb, i_apex), (i_apex, i_lb), (i_lt, i_mid)]
    pieces = [_resample(_piece(cont, a, b), n) for (a, b), n in zip(segs, N_SAC)]
    sac_out = np.concatenate(pieces)
    depth = ndi.map_coordinates(ny - proj["SA"]["Y"], [sac_out[:, 1], sac_out[:, 0]], order=1)
    out["bones"]["SA"] = {
        "outline": np.stack([sac_out[:, 0] - ox, sac_out[:, 1] - oy], 1),
        "outline_z": (depth - oz).astype(np.float32),
        "M": proj["SA"]["M"], "T": proj["SA"]["T"], "mask": sac,
    }
    out["origin_px"] = (float(ox), float(oy))
    return out


def _sacrum_full(st: dict) -> np.ndarray:
    """Closed sacrum outline with both joint (anterior) lines spliced in, image-right joint first."""
    s = st["bones"]["SA"]["outline"]
    jr = st["bones"]["LI"]["joint"][0]
    jl = st["bones"]["RI"]["joint"][0] * np.array([-1.0, 1.0])
    a, b, c, d = np.split(s, np.cumsum(N_SAC)[:-1])
    return np.concatenate([a, jr, b, c, jl[::-1], d])


def warp_to(M: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Sample image ``M`` (1 mm pixels, phantom mm shifted to pixel coords by the caller) on ``grid``
    (template mm) through a thin-plate spline taking template points ``dst_pts`` to ``src_pts``."""
    gx, gy = grid
    tps = RBFInterpolator(dst_pts, src_pts, kernel="thin_plate_spline", smoothing=1.0)
    q = tps(np.stack([gx.ravel(), gy.ravel()], 1)).astype(np.float32)
    mx, my = q[:, 0].reshape(gx.shape), q[:, 1].reshape(gx.shape)
    return cv2.remap(M.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderValue=0.0)


def _measures(st: dict) -> dict:
    li, ri, sa = st["bones"]["LI"], st["bones"]["RI"], st["bones"]["SA"]
    def hole(b):
        o = b["obturator"]
        if np.isnan(o).any():
            return None
        area = 0.5 * abs(np.dot(o[:, 0], np.roll(o[:, 1], 1)) - np.dot(o[:, 1], np.roll(o[:, 0], 1)))
        return {"w_mm": float(np.ptp(o[:, 0])), "h_mm": float(np.ptp(o[:, 1])), "area_mm2": float(area)}
    def band(b):
        j = b["joint"]
        w = j[0, :, 0] - j[1, :, 0]
        return {"top_mm": float(w[:3].mean()), "mid_mm": float(w[3:6].mean()), "bottom_mm": float(w[6:].mean()),
                "length_mm": float(np.hypot(*(j[0, -1] - j[0, 0])))}
    def dens(b):
        m = b["mask"]
        return {f"M_p{p}": float(np.percentile(b["M"][m], p)) for p in (10, 50, 90, 99)} | {
            f"T_p{p}_mm": float(np.percentile(b["T"][m], p)) for p in (10, 50, 90)} | {
            "area_mm2": float(m.sum()), "height_mm": float(np.ptp(np.nonzero(m)[0])),
            "width_mm": float(np.ptp(np.nonzero(m)[1]))}
    so = sa["outline"]
    top = so[np.argsort(so[:, 1])[:1]]
    return {
        "crest_width_mm": float(li["outline"][:, 0].max() + ri["outline"][:, 0].max()),
        "levelled_deg": round(st["levelled_deg"], 2),
        "heads": {k: {kk: round(float(vv), 1) for kk, vv in v.items()} for k, v in st["heads"].items()},
        "sacrum_base_width_mm": float(np.ptp(so[so[:, 1] < top[0, 1] + 25, 0])),
        "sacrum_height_mm": float(np.ptp(so[:, 1])),
        "obturator": {"LI": hole(li), "RI": hole(ri)},
        "sij_band": {"LI": band(li), "RI": band(ri)},
        "density": {"SA": dens(sa), "LI": dens(li), "RI": dens(ri)},
        "symphysis_gap_mm": float(li["outline"][:, 0][li["outline"][:, 1] > 40].min()
                                  + ri["outline"][:, 0][ri["outline"][:, 1] > 40].min()),
    }


def derive(ct_root: Path, cases: list[str], exclude_bones: dict[str, list[str]]) -> tuple[dict, dict]:
    """(arrays for the NPZ, JSON summary) over the cases; ``exclude_bones`` drops fractured bones from the shape sets."""
    stats = [case_stats(ct_root, c, frozenset(exclude_bones.get(c, []))) for c in cases]
    arrays: dict[str, np.ndarray] = {}
    summary = {"cases": {}, "exclude_bones": exclude_bones}
    for st in stats:
        summary["cases"][st["case"]] = _measures(st)
    # shape sets (image-right hip bones; sacra), template grids on the mean outline
    hips = [(st, b) for st in stats for b in ("LI", "RI") if b not in exclude_bones.get(st["case"], [])]
    sacra = [st for st in stats if "SA" not in exclude_bones.get(st["case"], [])]
    hip_keys = [f"{st['case']}_{b}" for st, b in hips]
    hip_all = np.stack([np.concatenate([b_["outline"], b_["obturator"], b_["joint"].reshape(-1, 2)])
                        for b_ in (st["bones"][b] for st, b in hips)])
    hip_z = np.stack([np.concatenate([b_["outline_z"], b_["obturator_z"], b_["joint_z"].ravel()])
                      for b_ in (st["bones"][b] for st, b in hips)])
    sac_all = np.stack([_sacrum_full(st) for st in sacra])
    def _sac_z(st: dict) -> np.ndarray:
        z = st["bones"]["SA"]["outline_z"]
        a, b, c, d = np.split(z, np.cumsum(N_SAC)[:-1])
        return np.concatenate([a, st["bones"]["LI"]["joint_z"][0], b, c, st["bones"]["RI"]["joint_z"][0][::-1], d])

    sac_z = np.stack([_sac_z(st) for st in sacra])
    arrays["hip_head"] = np.stack([st["bones"][b]["head"] for st, b in hips]).astype(np.float32)
    arrays.update(hip_points=hip_all.astype(np.float32), hip_z=hip_z.astype(np.float32),
                  sacrum_points=sac_all.astype(np.float32), sacrum_z=sac_z.astype(np.float32))
    for name, pts, members in (("hip", hip_all, hips), ("sacrum", sac_all, [(st, "SA") for st in sacra])):
        mean = pts.mean(axis=0)
        n_out = sum(N_HIP) + 1 if name == "hip" else len(mean)
        ctrl = np.r_[0:n_out:2, n_out:n_out + N_OBT:2] if name == "hip" else np.r_[0:len(mean):2]
        lo, hi = mean[:n_out].min(axis=0) - 4, mean[:n_out].max(axis=0) + 4
        xs = np.arange(lo[0], hi[0], TEMPLATE_MM) + TEMPLATE_MM / 2
        ys = np.arange(lo[1], hi[1], TEMPLATE_MM) + TEMPLATE_MM / 2
        gx, gy = np.meshgrid(xs, ys)
        temps = []
        for (st, b), p in zip(members, pts):
            sg = -1.0 if b == "RI" else 1.0
            ox, oy = st["origin_px"]
            src = np.stack([sg * p[ctrl, 0] + ox, p[ctrl, 1] + oy], 1)
            temps.append(warp_to(st["bones"][b]["M"], src, mean[ctrl], (gx, gy)))
        arrays[f"{name}_template"] = np.stack(temps).astype(np.float16)
        arrays[f"{name}_template_origin"] = np.array([xs[0], ys[0], TEMPLATE_MM], np.float32)
    summary["hip_members"] = hip_keys
    summary["sacrum_members"] = [st["case"] for st in sacra]
    summary["layout"] = {"N_HIP": N_HIP, "N_SAC": N_SAC, "N_JOINT": N_JOINT, "N_OBT": N_OBT}
    return arrays, summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ct-root", type=Path, required=True)
    ap.add_argument("--cases", nargs="+", default=["001", "002", "003"])
    ap.add_argument("--exclude", nargs="*", default=[], help="CASE_BONE entries left out of the shape sets (fractures)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    excl: dict[str, list[str]] = {}
    for e in args.exclude:
        c, b = e.split("_")
        excl.setdefault(c, []).append(b)
    arrays, summary = derive(args.ct_root, args.cases, excl)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "phantom_shapes.npz", **arrays)
    summary["provenance"] = {
        "source": "pengwin (FracSegNet test data, Liu et al. MICCAI 2023; MIT; see ../shared/real-ct/README.md)",
        "cases": args.cases,
        "command": "python tools/shape_stats.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "units": "mm in the phantom frame; M = bone line integral (mu 0.0206/mm x (1 + HU/1000))",
    }
    (args.out / "phantom_shapes.json").write_text(jsonio.dumps(summary, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
