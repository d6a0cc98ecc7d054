"""A CT as a thick-slice scanner would have reconstructed it: resampled to thick slices and back.

A reconstructed slice of thickness T is (to first order) the object averaged over T along z (its
slice sensitivity profile, a box here), sampled every T mm; a renderer that reads such a CT
interpolates linearly between slice centres. Both are done here on the thin CT: a box average of
width T along z, samples at the slice centres, then linear interpolation back to the CT's own z
grid. What this leaves is the look of thick-slice CTs: edges blurred along z over ~T and
oblique surfaces (the iliac crest, the sacral ala, the joint) in stair-steps of T. In-plane, a
coarser pixel p is modelled as a Gaussian blur of a p-wide box's variance (p^2 - s^2) / 12. Label
maps are NOT resampled: the anatomy is the truth, only its CT picture is coarse.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def _box_kernel(width_vox: float) -> np.ndarray:
    """A box of ``width_vox`` voxels (fractional ends weighted), normalised to 1."""
    half = width_vox / 2.0
    n = int(np.ceil(half - 0.5))
    k = np.ones(2 * n + 1, np.float64)
    k[[0, -1]] = min(1.0, half - (n - 0.5)) if n > 0 else 1.0
    return (k / k.sum()).astype(np.float32)


def resample_thick(vol: np.ndarray, spacing_zyx, *, slice_mm: float | None, pixel_mm: float | None = None,
                   z_offset: int = 0) -> np.ndarray:
    """``vol`` (z, y, x) as a CT of ``slice_mm`` slices and ``pixel_mm`` pixels would hold it, on its own grid.

    ``z_offset``: the index of ``vol``'s first slice in the whole volume, so that blocks cut from
    one volume share its slice grid (slices start at index 0 of the whole volume). Float32 out.
    """
    out = np.asarray(vol, np.float32)
    sz, sy, sx = (float(v) for v in spacing_zyx)
    if pixel_mm is not None and pixel_mm > min(sy, sx):
        sig = [np.sqrt(max(pixel_mm ** 2 - s ** 2, 0.0) / 12.0) / s for s in (sy, sx)]
        out = ndimage.gaussian_filter(out, sigma=(0.0, sig[0], sig[1]), mode="nearest")
    if slice_mm is None or slice_mm <= sz:
        return out if out is not vol else out.copy()
    width = slice_mm / sz  # slice thickness in voxels
    box = ndimage.convolve1d(out, _box_kernel(width), axis=0, mode="nearest")
    z = np.arange(out.shape[0]) + z_offset  # voxel index in the whole volume
    first = np.floor((z[0] - (width - 1) / 2.0) / width) - 1
    centres = (first + np.arange(int(np.ceil(len(z) / width)) + 3)) * width + (width - 1) / 2.0
    local = np.clip(centres - z_offset, 0, out.shape[0] - 1)
    lo = np.floor(local).astype(int)
    hi = np.minimum(lo + 1, out.shape[0] - 1)
    f = (local - lo).astype(np.float32)[:, None, None]
    slices = box[lo] * (1 - f) + box[hi] * f  # the thick slices, at their centres
    pos = (z - centres[0]) / width  # each thin slice's place between thick slice centres
    i0 = np.clip(np.floor(pos).astype(int), 0, len(centres) - 2)
    w = np.clip(pos - i0, 0.0, 1.0).astype(np.float32)[:, None, None]
    return np.ascontiguousarray(slices[i0] * (1 - w) + slices[i0 + 1] * w, np.float32)
