"""sijscan.phantom.ct: labelled AP radiographs rendered from real CT volumes (the CT route).

Public API (imported lazily):

* ``load_ct_case(folder) -> CTCase`` (bone-volume, NIfTI + TotalSegmentator, DICOM + masks layouts)
* ``render_ct_radiograph(case, *, size, rng, profile, grades, device) -> CTRadiograph``
* ``render_ct_cohort(cases, out_dir, *, n, size, seed, profile, split, device, realism, variants, vary,
  workers) -> Path`` (manifest)
* ``CTRealism`` (one render's thick slices, metal, field of view, table, body), ``get_realism(preset)``

Files: ``case`` (loading), ``geometry`` (pose, cone beam), ``projector`` (ray sums), ``body``
(synthetic soft tissue and gas), ``joint`` (joint surfaces, 3-D sacroiliitis), ``slabs`` (the case as
slab stacks, lesion patches), ``render``, ``cohort``,
``batch`` (rendering and writing, in spawned workers too), ``proportions`` (anatomy variants);
realism (issue 24): ``realism`` (options, presets), ``thickslice``, ``metal``, ``table``, ``organs``, ``scene``.
"""
from __future__ import annotations

from sijscan._lazy import lazy_exports

_EXPORTS = {
    "CTCase": "sijscan.phantom.ct.case",
    "CTCaseError": "sijscan.phantom.ct.case",
    "load_ct_case": "sijscan.phantom.ct.case",
    "load_bone_volumes": "sijscan.phantom.ct.case",
    "load_nifti_with_masks": "sijscan.phantom.ct.case",
    "load_dicom_with_masks": "sijscan.phantom.ct.case",
    "Pose": "sijscan.phantom.ct.geometry",
    "CTRadiograph": "sijscan.phantom.ct.render",
    "render_ct_radiograph": "sijscan.phantom.ct.render",
    "render_ct_cohort": "sijscan.phantom.ct.cohort",
    "CTRealism": "sijscan.phantom.ct.realism",
    "RealismRanges": "sijscan.phantom.ct.realism",
    "get_realism": "sijscan.phantom.ct.realism",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
