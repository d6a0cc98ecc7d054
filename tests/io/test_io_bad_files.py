"""A corpus of bad inputs, each made here: every one must raise its own InputError subclass with a
one-line message naming the file, and ``sijscan info`` must report them without a traceback."""
from __future__ import annotations

import gzip
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from sijscan import errors
from sijscan.io import read_radiograph


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def _jpeg_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(_jpeg_bytes(np.full((16, 16), 128, np.uint8)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gradient(shape: tuple[int, int] = (32, 48), high: int = 255, dtype: type = np.uint8) -> np.ndarray:
    return (np.linspace(0, 1, shape[0] * shape[1]).reshape(shape) * high).astype(dtype)


@pytest.fixture
def corpus(tmp_path: Path, make_dicom: Callable[..., Path], dicom_dataset: Callable[..., object]) -> dict[str, tuple[Path, type]]:
    """name -> (path, expected error class)."""
    import nibabel as nib
    import tifffile

    bad = tmp_path / "bad"
    bad.mkdir()
    cases: dict[str, tuple[Path, type]] = {}

    def put(name: str, data: bytes, expected: type) -> None:
        (bad / name).write_bytes(data)
        cases[name] = (bad / name, expected)

    cases["missing.png"] = (bad / "missing.png", errors.FileMissingError)
    (bad / "folder.dcm").mkdir()
    cases["folder.dcm"] = (bad / "folder.dcm", errors.NotAFileError)
    put("empty.png", b"", errors.EmptyFileError)
    put("notes.txt", b"patient list\nnothing to see here\n" * 5, errors.UnsupportedFormatError)
    put("page.png", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n", errors.UnsupportedFormatError)
    put("paper.png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + bytes(200), errors.UnsupportedFormatError)
    rng = np.random.default_rng(7)
    noise = b"\x7f" + rng.integers(0, 256, size=4095, dtype=np.uint8).tobytes()  # no magic can match
    put("noise.dcm", noise, errors.UnsupportedFormatError)
    put("archive.nii.gz", gzip.compress(b"not a nifti header at all" * 40), errors.UnsupportedFormatError)
    png = _png_bytes(_gradient((64, 64)))
    put("truncated.png", png[: len(png) // 2], errors.CorruptImageError)
    jpeg = _jpeg_bytes(_gradient((64, 64)))
    put("truncated.jpg", jpeg[: len(jpeg) // 2], errors.CorruptImageError)
    put("constant.png", _png_bytes(np.full((32, 48), 77, np.uint8)), errors.ConstantImageError)
    put("zero_width.png", _png_header_only(0, 40), errors.ZeroSizeImageError)
    put("huge.png", _png_header_only(20000, 20000), errors.ImageTooLargeError)
    put("huge.jpg", _jpeg_claiming(20000, 20000), errors.ImageTooLargeError)
    put("nan.tif", b"", errors.CorruptImageError)
    tifffile.imwrite(bad / "nan.tif", np.where(_gradient() > 100, np.nan, 1.0).astype(np.float32))
    tifffile.imwrite(bad / "stack.tif", np.stack([_gradient()] * 4), photometric="minisblack")
    cases["stack.tif"] = (bad / "stack.tif", errors.VolumeNotSupportedError)
    nib.save(nib.Nifti1Image(np.zeros((64, 64, 20), np.int16) + np.arange(20, dtype=np.int16), np.eye(4)), bad / "ct_volume.nii.gz")
    cases["ct_volume.nii.gz"] = (bad / "ct_volume.nii.gz", errors.VolumeNotSupportedError)

    arr12 = _gradient(high=4095, dtype=np.uint16)
    good = make_dicom(arr12, "good.dcm")
    data = good.read_bytes()
    put("truncated_pixels.dcm", data[:-1000], errors.CorruptImageError)
    put("garbage_after_marker.dcm", bytes(128) + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff" + bytes(40), errors.CorruptImageError)
    ds = dicom_dataset(arr12)
    del ds.PixelData
    ds.save_as(bad / "no_pixels.dcm", enforce_file_format=True)
    cases["no_pixels.dcm"] = (bad / "no_pixels.dcm", errors.NoPixelDataError)
    frames = np.stack([arr12] * 3)
    ds = dicom_dataset(frames[0], NumberOfFrames=3, Modality="CT")
    ds.PixelData = frames.tobytes()
    ds.save_as(bad / "multiframe.dcm", enforce_file_format=True)
    cases["multiframe.dcm"] = (bad / "multiframe.dcm", errors.VolumeNotSupportedError)
    ds = dicom_dataset(np.zeros((4, 4), np.uint16))
    ds.Rows, ds.Columns = 20000, 20000  # header says 400 megapixels, the data is 32 bytes
    ds.save_as(bad / "huge.dcm", enforce_file_format=True)
    cases["huge.dcm"] = (bad / "huge.dcm", errors.ImageTooLargeError)
    ds = dicom_dataset(np.dstack([_gradient()] * 3), photometric="HSV", bits_stored=8)
    ds.save_as(bad / "hsv.dcm", enforce_file_format=True)
    cases["hsv.dcm"] = (bad / "hsv.dcm", errors.UnsupportedPhotometricError)
    make_dicom(np.full((32, 48), 1000, np.uint16), "bad/constant.dcm")
    cases["constant.dcm"] = (bad / "constant.dcm", errors.ConstantImageError)
    make_dicom(arr12, "bad/window_above_data.dcm", WindowCenter=30000.0, WindowWidth=100.0)
    cases["window_above_data.dcm"] = (bad / "window_above_data.dcm", errors.ConstantImageError)
    return cases


def test_corpus_is_big_enough(corpus: dict[str, tuple[Path, type]]) -> None:
    assert len(corpus) >= 15
    assert len({expected for _, expected in corpus.values()}) >= 10


def test_each_bad_file_raises_its_own_error(corpus: dict[str, tuple[Path, type]]) -> None:
    for name, (path, expected) in corpus.items():
        with pytest.raises(errors.InputError) as caught:
            read_radiograph(path)
        assert type(caught.value) is expected, (name, type(caught.value).__name__, str(caught.value))
        message = str(caught.value)
        assert "\n" not in message and str(path) in message, (name, message)


def test_cli_info_json_reports_every_bad_file(corpus: dict[str, tuple[Path, type]], shared_dir: Path) -> None:
    paths = [str(path) for path, _ in corpus.values()]
    proc = subprocess.run(
        [sys.executable, "-m", "sijscan", "info", "--json", *paths], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stdout.splitlines()
    assert len(lines) == len(paths)
    objects = [json.loads(line) for line in lines]
    assert [o["path"] for o in objects] == paths
    for obj, (path, expected) in zip(objects, corpus.values()):
        assert obj["error_type"] == expected.__name__ and str(path) in obj["error"]


def test_cli_info_text_mode_per_file(corpus: dict[str, tuple[Path, type]], capsys: pytest.CaptureFixture[str]) -> None:
    from sijscan.cli.main import main

    for name, (path, _) in corpus.items():
        code = main(["info", str(path)])
        out, err = capsys.readouterr()
        assert code == 1, name
        assert out == "" and "Traceback" not in err
        reasons = [line for line in err.splitlines() if line.startswith("sijscan info: error:")]
        assert len(reasons) == 1 and str(path) in reasons[0], (name, err)


def test_cli_info_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from sijscan.cli.main import main

    assert main(["info"]) == 2
    assert main(["info", "--json"]) == 2
    assert main(["info", "--no-such-flag", "x.png"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_info_mixed_good_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from sijscan.cli.main import main

    Image.fromarray(_gradient()).save(tmp_path / "ok.png")
    assert main(["info", "--json", str(tmp_path / "ok.png")]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert (ok["width"], ok["height"], ok["bits_stored"], ok["format"]) == (48, 32, 8, "png")
    assert ok["min"] == 0.0 and ok["max"] == 1.0 and ok["spacing_mm"] is None
    assert main(["info", str(tmp_path / "ok.png"), str(tmp_path / "nope.png")]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"{tmp_path / 'ok.png'}: png 48x32 8-bit MONOCHROME2") and "nope.png: no such file" in err
