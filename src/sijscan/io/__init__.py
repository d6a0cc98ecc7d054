"""sijscan.io: read radiographs (DICOM, PNG, JPEG, TIFF, NIfTI) and manifests, say clearly why not.

``read_radiograph(path)`` returns a ``Radiograph``: float32 pixels in [0, 1], display orientation,
bone bright. ``read_manifest``/``write_manifest`` read and write the dataset CSV.
"""
from __future__ import annotations

from sijscan.io.manifest import MANIFEST_COLUMNS, read_manifest, validate_manifest, write_manifest
from sijscan.io.radiograph import MAX_PIXELS, Radiograph, display_radiograph, radiograph_from_array
from sijscan.io.reader import read_radiograph

__all__ = [
    "MANIFEST_COLUMNS",
    "MAX_PIXELS",
    "Radiograph",
    "display_radiograph",
    "radiograph_from_array",
    "read_manifest",
    "read_radiograph",
    "validate_manifest",
    "write_manifest",
]
