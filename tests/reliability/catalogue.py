"""Bad input files for ``sijscan info`` (and ``predict``, which gives the same line as an error row).

Each entry builds one file under a folder and names what sijscan must answer: the exit code of
``sijscan info FILE`` and a fragment of its one-line message. ``test_rel_catalogue.py`` checks
every entry; ``python tests/reliability/catalogue.py`` prints the table of docs/reliability.md
from a real run (what each input gives, measured, not written by hand).
"""
from __future__ import annotations

import gzip
import io
import struct
import sys
import zlib
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Case:
    id: str
    what: str
    build: Callable[[Path], Path]
    code: int
    says: str


def _png(arr: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", arr)
    return data.tobytes()


def _ramp(h: int = 48, w: int = 64) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 251).astype(np.uint8)


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p
    return build


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _bomb(d: Path) -> Path:
    ihdr = struct.pack(">IIBBBBB", 200_000, 200_000, 8, 0, 0, 0, 0)
    p = d / "bomb.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                  + _png_chunk(b"IEND", b""))
    return p


def _tiff(name: str, arr: np.ndarray, **kw: object) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        import tifffile

        p = d / name
        tifffile.imwrite(p, arr, **kw)
        return p
    return build


def _nifti_volume(d: Path) -> Path:
    import nibabel as nib

    p = d / "volume.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((16, 16, 8)).astype(np.float32), np.eye(4)), str(p))
    return p


def _dicom(name: str, *, drop_pixels: bool = False, cut: float | None = None, **tags: object) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        import pydicom

        from rel_helpers import write_dicom

        p = write_dicom(d / name, **tags)
        if drop_pixels:
            ds = pydicom.dcmread(p)
            del ds.PixelData
            ds.save_as(p)
        if cut is not None:
            data = p.read_bytes()
            p.write_bytes(data[: int(len(data) * cut)])
        return p
    return build


def _multiframe(d: Path) -> Path:
    import pydicom

    from rel_helpers import write_dicom

    p = write_dicom(d / "multiframe.dcm", Modality="CT")
    ds = pydicom.dcmread(p)
    ds.NumberOfFrames = 3
    ds.PixelData = ds.PixelData * 3
    ds.save_as(p)
    return p


def _jp2k_cut(d: Path) -> Path:
    import pydicom.data

    src = Path(pydicom.data.__file__).parent / "test_files" / "MR_small_jp2klossless.dcm"
    data = src.read_bytes()
    p = d / "jp2k_truncated.dcm"
    p.write_bytes(data[: len(data) // 2])
    return p


def _transparent(mode: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        from PIL import Image

        g = _ramp()
        planes = [g] * (3 if mode == "RGBA" else 1) + [np.zeros_like(g)]
        p = d / f"transparent_{mode}.png"
        Image.fromarray(np.dstack(planes), mode).save(p)
        return p
    return build


def _link(name: str, target: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.symlink_to(d / target)
        return p
    return build


def _folder(d: Path) -> Path:
    (d / "a_folder.png").mkdir()
    return d / "a_folder.png"


CASES = [
    Case("empty", "empty file (0 bytes) named .png", _write("empty.png", b""), 1, "file is empty"),
    Case("text", "a text file named .png", _write("notes.png", b"hello, not an image\n"), 1, "not a DICOM, PNG"),
    Case("pdf_as_dcm", "a PDF named .dcm", _write("report.dcm", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n"), 1, "not a DICOM"),
    Case("gif", "a GIF image", _write("x.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"), 1, "not a DICOM, PNG"),
    Case("png_truncated", "PNG cut after its header", _write("cut.png", _png(_ramp())[:60]), 1, "cannot decode"),
    Case("png_garbage_idat", "PNG whose image data is garbage",
         _write("garbage.png", _png(_ramp())[:41] + b"\x00\x00\x00\x10IDAT" + b"\x13" * 20), 1, "PNG"),
    Case("jpeg_truncated", "JPEG cut after 100 bytes", _write("cut.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 96), 1, "JPEG"),
    Case("bomb", "PNG declaring 200000 x 200000 pixels (decompression bomb)", _bomb, 1, "megapixels"),
    Case("constant", "a constant image (every pixel the same)", _write("flat.png", _png(np.full((40, 40), 7, np.uint8))),
         1, "every pixel has the value"),
    Case("nan_tiff", "float TIFF with NaN pixels", _tiff("nan.tif", np.full((16, 16), np.nan, np.float32)), 1, "NaN"),
    Case("multipage_tiff", "3-page grey TIFF", _tiff("pages.tif", (np.arange(3 * 16 * 16) % 200).astype(np.uint8)
                                                     .reshape(3, 16, 16), photometric="minisblack"), 1, "stack of shape"),
    Case("five_channel_tiff", "TIFF with 5 samples per pixel",
         _tiff("five.tif", (np.random.default_rng(0).random((16, 16, 5)) * 255).astype(np.uint8), planarconfig="contig",
               photometric="minisblack"), 1, ""),
    Case("nifti_volume", "3-D NIfTI volume", _nifti_volume, 1, "not volumes"),
    Case("dicom_multiframe", "multi-frame DICOM (3 frames)", _multiframe, 1, "multi-frame"),
    Case("dicom_no_pixels", "DICOM without pixel data", _dicom("header_only.dcm", drop_pixels=True), 1, "no pixel data"),
    Case("dicom_truncated", "uncompressed DICOM cut in its pixel data", _dicom("cut.dcm", cut=0.6), 1, "less than expected"),
    Case("dicom_jp2k_truncated", "JPEG 2000 DICOM cut in half", _jp2k_cut, 1, "pixel data is truncated"),
    Case("dicom_ct", "DICOM with Modality CT", _dicom("ct.dcm", Modality="CT"), 1, "Modality 'CT'"),
    Case("dicom_mr", "DICOM with Modality MR", _dicom("mr.dcm", Modality="MR"), 1, "Modality 'MR'"),
    Case("dicom_photometric", "DICOM with photometric interpretation HSV",
         _dicom("hsv.dcm", PhotometricInterpretation="HSV"), 1, "photometric"),
    Case("dicom_garbage", "DICM marker followed by garbage",
         _write("garbage.dcm", b"\0" * 128 + b"DICM" + b"\xff" * 300), 1, "DICOM"),
    Case("rgba_transparent", "RGBA PNG, alpha 0 everywhere", _transparent("RGBA"), 1, "fully transparent"),
    Case("la_transparent", "grey+alpha PNG, alpha 0 everywhere", _transparent("LA"), 1, "fully transparent"),
    Case("missing", "a path that does not exist", lambda d: d / "missing.png", 1, "no such file"),
    Case("folder", "a folder given as a file", _folder, 1, "directory"),
    Case("symlink_loop", "a symbolic link to itself", _link("loop.png", "loop.png"), 1, "broken symbolic link"),
    Case("symlink_dangling", "a symbolic link to nothing", _link("dangling.dcm", "nowhere.dcm"), 1,
         "broken symbolic link"),
    Case("gz_not_nifti", "a gzip file that is not NIfTI", _write("x.nii.gz", gzip.compress(b"not nifti" * 50)), 1, ""),
]


def run_info(path: Path) -> tuple[int, list[str]]:
    """``sijscan info PATH`` in this process: exit code and the lines it wrote to stderr."""
    from sijscan.cli.main import main

    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        code = main(["info", str(path)])
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


def table(folder: Path) -> str:
    """The markdown table of every case, from a real run in ``folder``."""
    lines = ["| # | input | exit | what `sijscan info` says (predict: the same line in the row's `error`) |",
             "|---|---|---|---|"]
    for i, case in enumerate(CASES, 1):
        d = folder / case.id
        d.mkdir(parents=True, exist_ok=True)
        code, err = run_info(case.build(d))
        msg = " / ".join(e.replace(str(d) + "/", "").replace("|", "\\|") for e in err)
        lines.append(f"| F{i} | {case.what} | {code} | {msg} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - regenerates the table in docs/reliability.md
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with tempfile.TemporaryDirectory() as tmp:
        print(table(Path(tmp)))
