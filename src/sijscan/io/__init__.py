"""sijscan.io: read radiographs (DICOM, PNG, JPEG, TIFF, NIfTI) and manifests, say clearly why not.

``read_radiograph(path)`` returns a ``Radiograph``: float32 pixels in [0, 1], display orientation,
bone bright. ``read_manifest``/``write_manifest`` read and write the dataset CSV.
Imported lazily, so ``import sijscan.io.<module>`` costs only that module (the manifest's pandas
is not loaded by reading a radiograph).
"""
from __future__ import annotations

from sijscan._lazy import lazy_exports

_LAZY = {
    "MANIFEST_COLUMNS": "sijscan.io.manifest",
    "read_manifest": "sijscan.io.manifest",
    "validate_manifest": "sijscan.io.manifest",
    "write_manifest": "sijscan.io.manifest",
    "MAX_PIXELS": "sijscan.io.radiograph",
    "Radiograph": "sijscan.io.radiograph",
    "display_radiograph": "sijscan.io.radiograph",
    "radiograph_from_array": "sijscan.io.radiograph",
    "read_radiograph": "sijscan.io.reader",
}
__getattr__, __all__ = lazy_exports(__name__, _LAZY)
