"""Recognise an image file by its content (never by its name) and read sizes from headers.

Content decides: a PNG named ``.jpg`` is read as PNG, an HTML error page named ``.png`` is
rejected as HTML. Sizes come from the headers so that oversized images are refused before any
pixel is decoded.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from sijscan.errors import CorruptImageError

HEAD_BYTES = 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# JPEG start-of-frame markers (all except DHT C4, JPG C8, DAC CC) carry the image size.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_EXTENSIONS = {
    ".dcm": "dicom", ".dicom": "dicom", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg",
    ".tif": "tiff", ".tiff": "tiff", ".nii": "nifti", ".gz": "nifti", ".hdr": "nifti",
}


def _nifti_version(head: bytes) -> int | None:
    """1 or 2 when ``head`` starts a NIfTI-1/NIfTI-2 header (either byte order), else None."""
    if len(head) >= 348:
        sizeof_hdr = {struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]}
        if 348 in sizeof_hdr and head[344:347] in (b"n+1", b"ni1"):
            return 1
    if len(head) >= 8:
        sizeof_hdr = {struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]}
        if 540 in sizeof_hdr and head[4:7] in (b"n+2", b"ni2"):
            return 2
    return None


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A DICOM data set written without the 128-byte preamble starts with group 0002 or 0008."""
    if len(head) < 8:
        return False
    group_le, element_le = struct.unpack("<HH", head[:4])
    group_be = struct.unpack(">H", head[:2])[0]
    return (group_le in (0x0002, 0x0008) and element_le < 0x0100) or group_be in (0x0002, 0x0008)


def sniff_format(path: Path, head: bytes) -> str | None:
    """``"dicom"``, ``"dicom-raw"`` (no preamble), ``"png"``, ``"jpeg"``, ``"tiff"``, ``"nifti"``,
    ``"nifti-gz"`` or None when the content is none of these."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in _TIFF_MAGICS:
        return "tiff"
    if _nifti_version(head) is not None:
        return "nifti"
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as f:
                inner = f.read(HEAD_BYTES)
        except (OSError, EOFError, zlib.error):
            return None
        return "nifti-gz" if _nifti_version(inner) is not None else None
    if _looks_like_raw_dicom(head):
        return "dicom-raw"
    return None


def describe_unknown(head: bytes) -> str:
    """A short guess at what a non-image file is, for the error message."""
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive that does not hold a NIfTI image"
    if head[:4] == b"PK\x03\x04":
        return "a ZIP archive"
    if head[:5] == b"%PDF-":
        return "a PDF document"
    sample = head[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and sum(ch.isprintable() or ch in "\r\n\t" for ch in text) >= 0.95 * len(text):
        lowered = text.lstrip().lower()
        if lowered.startswith(("<!doctype html", "<html")) or "<html" in lowered:
            return "an HTML page (a failed download?)"
        return "a text file"
    return "unrecognised binary data"


def format_from_extension(path: Path) -> str | None:
    return _EXTENSIONS.get(path.suffix.lower())


def png_header(head: bytes, *, label: str) -> tuple[int, int, int, int]:
    """(width, height, bit_depth, colour_type) from the IHDR chunk."""
    if len(head) < 29 or head[12:16] != b"IHDR":
        raise CorruptImageError(f"{label}: PNG header is truncated or has no IHDR chunk")
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", head[16:26])
    return width, height, bit_depth, colour_type


def png_ancillary(f: BinaryIO) -> dict[str, Any]:
    """Ancillary chunks before the image data: ``significant_bits`` (max of ``sBIT``) and
    ``pixel_spacing_mm`` (a ``tEXt`` ``PixelSpacing`` in mm, else square ``pHYs`` in pixels per metre).

    Missing or malformed chunks are simply absent from the result (they never stop the read).
    """
    found: dict[str, Any] = {}
    phys: float | None = None
    f.seek(len(PNG_SIGNATURE))
    while True:
        header = f.read(8)
        if len(header) < 8:
            break
        length, kind = struct.unpack(">I4s", header)
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"sBIT":
            data = f.read(min(length, 4))
            if data:
                found["significant_bits"] = max(data[:3] if len(data) >= 3 else data[:1])
            f.seek(length - len(data) + 4, 1)
            continue
        if kind == b"pHYs" and length == 9:
            x_ppu, y_ppu, unit = struct.unpack(">IIB", f.read(9))
            if unit == 1 and x_ppu == y_ppu and x_ppu > 0:
                phys = 1000.0 / x_ppu
            f.seek(4, 1)
            continue
        if kind == b"tEXt" and length <= 256:
            key, _, value = f.read(length).partition(b"\x00")
            if key == b"PixelSpacing":
                try:
                    spacing = float(value.decode("latin-1"))
                except ValueError:
                    spacing = 0.0
                if 0.0 < spacing < 10.0:
                    found["pixel_spacing_mm"] = spacing
            f.seek(4, 1)
            continue
        f.seek(length + 4, 1)
    if "pixel_spacing_mm" not in found and phys is not None and phys < 10.0:
        found["pixel_spacing_mm"] = phys
    return found


def jpeg_header(f: BinaryIO) -> tuple[int, int, int] | None:
    """(width, height, precision) from the first start-of-frame marker, or None if none is found."""
    f.seek(2)
    while True:
        byte = f.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            continue
        marker = f.read(1)
        while marker == b"\xff":
            marker = f.read(1)
        if not marker:
            return None
        code = marker[0]
        if code == 0x01 or 0xD0 <= code <= 0xD8 or code == 0x00:
            continue
        if code in (0xD9, 0xDA):
            return None
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if code in _JPEG_SOF:
            data = f.read(5)
            if len(data) < 5:
                return None
            precision, height, width = struct.unpack(">BHH", data)
            return width, height, precision
        f.seek(length - 2, 1)
