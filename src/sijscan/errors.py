"""Exception hierarchy. Every error a user can cause is an ``InputError`` subclass with a one-line reason.

The CLI turns ``SijscanError`` into a one-line message and an exit code; it never shows a traceback
for these. Library code raises, it never calls ``sys.exit`` or prints.
"""
from __future__ import annotations


class SijscanError(Exception):
    """Base class of every error sijscan raises on purpose."""


def one_line(exc: BaseException, *, name_foreign: bool = False, limit: int = 300) -> str:
    """An exception as one short line: whitespace (decoder messages span lines) collapsed, the class
    name when the message is empty, at most ``limit`` characters. ``name_foreign``: put the class
    name in front of an exception sijscan did not raise on purpose (``ValueError: ...``)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if name_foreign and not isinstance(exc, SijscanError):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class InputError(SijscanError):
    """The user's input (file, CSV, argument) cannot be used. The message is one line."""


class ManifestError(InputError):
    """A manifest CSV is malformed; the message lists the bad rows and why."""


class ModelError(SijscanError):
    """A model folder or weights file is missing, corrupt, or does not match its description."""


class UnsafeCheckpointError(ModelError):
    """A checkpoint holds objects outside the allow-list; nothing from it was executed."""


# --- Reading radiographs (sijscan.io). Each is an InputError whose message is one line naming the file.


class FileMissingError(InputError):
    """The path does not exist."""


class NotAFileError(InputError):
    """The path exists but is a directory or another non-regular file."""


class FileUnreadableError(InputError):
    """The file exists but the operating system refused to read it (permissions, I/O error)."""


class EmptyFileError(InputError):
    """The file has zero bytes."""


class UnsupportedFormatError(InputError):
    """The content is not DICOM, PNG, JPEG, TIFF or NIfTI (whatever the file name says)."""


class CorruptImageError(InputError):
    """The format was recognised but its data is truncated or cannot be decoded."""


class VolumeNotSupportedError(InputError):
    """A 3-D volume, multi-frame series or multi-page file: sijscan reads single 2-D radiographs."""


class ZeroSizeImageError(InputError):
    """The image has zero rows or zero columns."""


class ConstantImageError(InputError):
    """Every pixel has the same value (before or after windowing): nothing to see."""


class ImageTooLargeError(InputError):
    """The header declares more pixels than sijscan accepts (checked before decoding)."""


class UnsupportedPhotometricError(InputError):
    """The photometric interpretation / colour model cannot be turned into a grey radiograph."""


class NoPixelDataError(InputError):
    """A DICOM file without an image (a report, a structured document, a header-only file)."""


class ModalityNotSupportedError(InputError):
    """A DICOM object of another modality (CT, MR, ...): sijscan reads projection radiographs (CR, DX)."""


# --- Downloading (sijscan.io.download)


class DownloadError(SijscanError):
    """A download failed (HTTP error, truncated body, size mismatch); a partial file is kept to resume."""


class OfflineError(DownloadError):
    """The server cannot be reached at all (no network, DNS failure, connection refused, timeout)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected size or sha256; the partial file was removed."""
