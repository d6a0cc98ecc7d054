"""Fixtures for the reader tests: synthetic DICOM, pydicom's bundled files, the shared folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest


def _shared_dir() -> Path | None:
    env = os.environ.get("SIJSCAN_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    found = _shared_dir()
    if found is None:
        pytest.skip("shared folder not found (set SIJSCAN_SHARED or place it beside the repo)")
    return found


def build_dicom(
    arr: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    signed: bool = False,
    **tags: Any,
) -> Any:
    """An in-memory single-frame DX data set holding ``arr`` (2-D grey or (H, W, 3) colour)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray, For Presentation
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = int(arr.shape[0]), int(arr.shape[1])
    ds.SamplesPerPixel = 1 if arr.ndim == 2 else int(arr.shape[2])
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 if bits_stored <= 8 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)
    if arr.ndim == 3:
        ds.PlanarConfiguration = 0
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    return ds


@pytest.fixture
def dicom_dataset() -> Callable[..., Any]:
    """``build_dicom`` as a fixture (test modules must not import conftest)."""
    return build_dicom


@pytest.fixture
def make_dicom(tmp_path: Path) -> Callable[..., Path]:
    """Write ``build_dicom(arr, **kw)`` to ``tmp_path/name``, optionally compressed with ``compress=UID``."""

    def make(arr: np.ndarray, name: str = "image.dcm", *, compress: Any = None, **kwargs: Any) -> Path:
        ds = build_dicom(arr, **kwargs)
        if compress is not None:
            ds.compress(compress)
        path = tmp_path / name
        ds.save_as(path, enforce_file_format=True)
        return path

    return make


@pytest.fixture
def pydicom_test_file() -> Callable[[str], Path]:
    """A DICOM file bundled with pydicom (real files from several vendors and encoders)."""
    import pydicom.data

    folder = Path(pydicom.data.__file__).parent / "test_files"

    def get(name: str) -> Path:
        path = folder / name
        if not path.is_file():
            pytest.skip(f"pydicom does not bundle {name} in this version")
        return path

    return get
