"""``read_radiograph``: one call for every supported file, dispatching on the file's content."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from sijscan.errors import (
    CorruptImageError,
    EmptyFileError,
    FileMissingError,
    FileUnreadableError,
    ImageTooLargeError,
    InputError,
    NotAFileError,
    UnsupportedFormatError,
    one_line,
)
from sijscan.io import raster
from sijscan.io.detect import HEAD_BYTES, describe_unknown, format_from_extension, sniff_format
from sijscan.io.dicom import read_dicom
from sijscan.io.nifti import read_nifti
from sijscan.io.radiograph import Radiograph

logger = logging.getLogger(__name__)

SUPPORTED = "DICOM, PNG, JPEG, TIFF or NIfTI"


def _open_checks(path: Path, *, label: str) -> bytes:
    """Existence, type, emptiness and readability; returns the first bytes of the file."""
    try:
        if not path.exists():
            if path.is_symlink():
                raise FileMissingError(f"{label}: broken symbolic link (its target is missing, or a link loop)")
            raise FileMissingError(f"{label}: no such file")
        if path.is_dir():
            raise NotAFileError(f"{label}: is a directory, not an image file")
        if not path.is_file():
            raise NotAFileError(f"{label}: is not a regular file")
        if path.stat().st_size == 0:
            raise EmptyFileError(f"{label}: file is empty (0 bytes)")
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as exc:
        raise FileUnreadableError(f"{label}: cannot read file ({exc.strerror or one_line(exc)})") from exc


def read_radiograph(path: str | os.PathLike[str], *, any_modality: bool = False) -> Radiograph:
    """Read one radiograph file into a ``Radiograph`` (float32 [0, 1], display orientation, bone bright).

    The format is recognised from the content (DICOM ``DICM`` marker, PNG/JPEG/TIFF signatures,
    NIfTI header, gzip-wrapped NIfTI; a DICOM data set without preamble is read with pydicom's
    ``force`` only when it holds pixel data). Raises a specific ``sijscan.errors.InputError``
    subclass with a one-line message naming the file for any input that cannot be used; decoder
    failures never escape as other exception types. A DICOM file whose Modality is not a
    radiograph's (CT, MR, ...) is refused unless ``any_modality`` (for decoder tests on such files).
    """
    p = Path(path)
    label = str(path)
    head = _open_checks(p, label=label)
    kind = sniff_format(p, head)
    if kind is None:
        raise UnsupportedFormatError(f"{label}: not a {SUPPORTED} image (content looks like {describe_unknown(head)})")
    expected = format_from_extension(p)
    if expected is not None and not kind.startswith(expected):
        logger.warning("%s: the name says %s but the content is %s; reading it as %s", label, expected, kind, kind)
    try:
        if kind in ("dicom", "dicom-raw"):
            return read_dicom(p, label=label, raw=kind == "dicom-raw", any_modality=any_modality)
        if kind in ("nifti", "nifti-gz"):
            return read_nifti(p, label=label, gz=kind == "nifti-gz")

        reader = {"png": raster.read_png, "jpeg": raster.read_jpeg, "tiff": raster.read_tiff}[kind]
        return reader(p, label=label, head=head)
    except InputError:
        raise
    except MemoryError as exc:
        raise ImageTooLargeError(f"{label}: not enough memory to decode this {kind} image") from exc
    except Exception as exc:  # noqa: BLE001 - last guard: a decoder failure is bad input, not a crash
        logger.debug("unexpected decoder failure", exc_info=True)
        raise CorruptImageError(f"{label}: cannot decode {kind} data: {one_line(exc)}") from exc
