"""PNG, JPEG, TIFF, NIfTI and in-memory arrays: scaling, grey conversion and orientation."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from sijscan.io import radiograph_from_array, read_radiograph

H, W = 40, 64  # non-square on purpose
LUMA = np.array([0.2989, 0.5870, 0.1140])


def marked(dtype: type = np.uint8, high: int = 255) -> np.ndarray:
    """A dim gradient with a full-intensity marker in the top-left corner."""
    arr = (np.linspace(0.1, 0.5, H * W).reshape(H, W) * high).astype(dtype)
    arr[:5, :7] = high
    return arr


def assert_top_left(pixels: np.ndarray) -> None:
    assert pixels.shape == (H, W)
    assert pixels[:5, :7].min() > 0.9
    assert pixels[5:, 7:].max() < 0.6 and pixels[-5:, -7:].max() < 0.6


def test_png_8bit_grey(tmp_path: Path) -> None:
    from PIL import Image

    arr = marked()
    Image.fromarray(arr).save(tmp_path / "g.png")
    rad = read_radiograph(tmp_path / "g.png")
    np.testing.assert_allclose(rad.pixels, arr / 255.0, atol=1e-6)
    assert_top_left(rad.pixels)
    assert (rad.source_format, rad.bits_stored, rad.photometric) == ("png", 8, "MONOCHROME2")
    assert rad.pixel_spacing_mm is None and rad.modality is None


def test_png_16bit_grey_divides_by_65535(tmp_path: Path) -> None:
    from PIL import Image

    arr = marked(np.uint16, 65535)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    rad = read_radiograph(tmp_path / "g16.png")
    np.testing.assert_allclose(rad.pixels, arr / 65535.0, atol=1e-6)
    assert rad.bits_stored == 16


def test_png_16bit_with_12_significant_bits(tmp_path: Path) -> None:
    """sBIT = 12 and values below 4096: divide by 4095. Without sBIT: by 65535 (documented)."""
    import struct
    import zlib

    from PIL import Image

    arr = marked(np.uint16, 4095)
    Image.fromarray(arr).save(tmp_path / "plain.png")
    data = (tmp_path / "plain.png").read_bytes()
    chunk = struct.pack(">I", 1) + b"sBIT" + bytes([12]) + struct.pack(">I", zlib.crc32(b"sBIT" + bytes([12])))
    (tmp_path / "sbit.png").write_bytes(data[:33] + chunk + data[33:])
    with_sbit = read_radiograph(tmp_path / "sbit.png")
    without = read_radiograph(tmp_path / "plain.png")
    np.testing.assert_allclose(with_sbit.pixels, arr / 4095.0, atol=1e-6)
    np.testing.assert_allclose(without.pixels, arr / 65535.0, atol=1e-6)
    assert with_sbit.bits_stored == 12 and with_sbit.metadata["significant_bits"] == 12


def test_png_pixel_spacing_from_text_chunk_or_phys(tmp_path: Path) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from sijscan.phantom.writers import write_png16

    # the phantom's writer: tEXt PixelSpacing (mm) and pHYs; the text value wins (more digits)
    write_png16(tmp_path / "ph.png", np.linspace(0, 1, H * W).reshape(H, W), pixel_spacing_mm=0.139)
    rad = read_radiograph(tmp_path / "ph.png")
    assert rad.pixel_spacing_mm == pytest.approx(0.139, abs=1e-9)
    # pHYs alone (PIL writes dpi as pixels per metre): 1000 / ppm mm
    Image.fromarray(marked()).save(tmp_path / "dpi.png", dpi=(254, 254))
    ppm = round(254 / 0.0254)
    assert read_radiograph(tmp_path / "dpi.png").pixel_spacing_mm == pytest.approx(1000.0 / ppm, rel=1e-9)
    # unequal pHYs or a nonsense text value give no spacing, and the image still reads
    Image.fromarray(marked()).save(tmp_path / "aniso.png", dpi=(254, 127))
    assert read_radiograph(tmp_path / "aniso.png").pixel_spacing_mm is None
    info = PngInfo()
    info.add_text("PixelSpacing", "not-a-number")
    Image.fromarray(marked()).save(tmp_path / "bad.png", pnginfo=info)
    rad = read_radiograph(tmp_path / "bad.png")
    assert rad.pixel_spacing_mm is None
    assert_top_left(rad.pixels)


def test_png_rgb_rgba_palette_are_luminance(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    expected = rgb @ LUMA / 255.0
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    rgba = np.dstack([rgb, rng.integers(0, 256, size=(H, W), dtype=np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_allclose(read_radiograph(tmp_path / "rgb.png").pixels, expected, atol=1e-6)
    rad = read_radiograph(tmp_path / "rgba.png")
    np.testing.assert_allclose(rad.pixels, expected, atol=1e-6)  # alpha dropped, not blended
    assert rad.photometric == "RGBA"

    palette_rgb = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [30, 60, 90]], np.uint8)
    indices = (np.arange(H * W) % 4).reshape(H, W).astype(np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette_rgb.ravel().tolist() + [0] * (768 - 12))
    image.save(tmp_path / "pal.png")
    pal = read_radiograph(tmp_path / "pal.png")
    np.testing.assert_allclose(pal.pixels, (palette_rgb @ LUMA / 255.0)[indices], atol=1e-6)
    assert pal.photometric == "PALETTE COLOR"


def test_png_16bit_rgb_keeps_16_bits(tmp_path: Path) -> None:
    import cv2

    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 65536, size=(H, W, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb[:, :, ::-1])  # OpenCV writes BGR
    rad = read_radiograph(tmp_path / "rgb16.png")
    np.testing.assert_allclose(rad.pixels, rgb @ LUMA / 65535.0, atol=1e-6)


def test_jpeg_grey_and_rgb(tmp_path: Path) -> None:
    from PIL import Image

    arr = marked()
    Image.fromarray(arr).save(tmp_path / "g.jpg", quality=95)
    rad = read_radiograph(tmp_path / "g.jpg")
    assert_top_left(rad.pixels)
    assert np.abs(rad.pixels - arr / 255.0).mean() < 0.01
    assert (rad.source_format, rad.bits_stored) == ("jpeg", 8)
    Image.fromarray(np.dstack([arr] * 3)).save(tmp_path / "c.jpg", quality=95)
    colour = read_radiograph(tmp_path / "c.jpg")
    assert colour.photometric == "RGB" and np.abs(colour.pixels - rad.pixels).max() < 0.05


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    from PIL import Image

    arr = marked()
    stored = np.ascontiguousarray(np.rot90(arr, k=1))  # stored turned 90 deg counter-clockwise
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # EXIF Orientation 6: "rotate 90 deg clockwise to display"
    image.save(tmp_path / "o.jpg", quality=95, exif=exif.tobytes())
    rad = read_radiograph(tmp_path / "o.jpg")
    assert_top_left(rad.pixels)
    assert np.abs(rad.pixels - arr / 255.0).mean() < 0.01


def test_tiff_8_16_bit_minisblack_miniswhite_float(tmp_path: Path) -> None:
    import tifffile

    arr8, arr16 = marked(), marked(np.uint16, 65535)
    tifffile.imwrite(tmp_path / "a.tif", arr8)
    tifffile.imwrite(tmp_path / "b.tif", arr16)
    tifffile.imwrite(tmp_path / "w.tif", 65535 - arr16, photometric="miniswhite")
    floats = arr16.astype(np.float32) * 0.001 - 7.0
    tifffile.imwrite(tmp_path / "f.tif", floats)
    np.testing.assert_allclose(read_radiograph(tmp_path / "a.tif").pixels, arr8 / 255.0, atol=1e-6)
    b = read_radiograph(tmp_path / "b.tif")
    np.testing.assert_allclose(b.pixels, arr16 / 65535.0, atol=1e-6)
    assert_top_left(b.pixels)
    w = read_radiograph(tmp_path / "w.tif")
    np.testing.assert_allclose(w.pixels, b.pixels, atol=1e-6)  # inverted back: bone bright
    assert w.photometric == "MONOCHROME1" and w.windowing["inverted"] is True
    f = read_radiograph(tmp_path / "f.tif")
    np.testing.assert_allclose(f.pixels, (floats - floats.min()) / (floats.max() - floats.min()), atol=1e-5)


def test_tiff_rgb_and_lzw_through_pil(tmp_path: Path) -> None:
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_allclose(read_radiograph(tmp_path / "rgb.tif").pixels, rgb @ LUMA / 255.0, atol=1e-6)
    arr16 = marked(np.uint16, 65535)
    Image.fromarray(arr16).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    np.testing.assert_allclose(read_radiograph(tmp_path / "lzw.tif").pixels, arr16 / 65535.0, atol=1e-6)


def test_content_wins_over_extension(tmp_path: Path) -> None:
    from PIL import Image

    arr = marked()
    Image.fromarray(arr).save(tmp_path / "really_png.jpg", format="PNG")
    rad = read_radiograph(tmp_path / "really_png.jpg")
    assert rad.source_format == "png"
    np.testing.assert_allclose(rad.pixels, arr / 255.0, atol=1e-6)


@pytest.mark.parametrize("suffix,trailing", [(".nii", False), (".nii.gz", False), (".nii.gz", True)])
def test_nifti_2d_is_transposed_to_display_orientation(tmp_path: Path, suffix: str, trailing: bool) -> None:
    import nibabel as nib

    image = marked(np.int16, 1000)  # (row, column) as displayed
    data = image.T  # NIfTI stores x (columns) first
    if trailing:
        data = data[:, :, None]
    nii = nib.Nifti1Image(data, np.diag([-0.5, -0.7, 1.0, 1.0]))
    nii.header.set_xyzt_units("mm")
    nib.save(nii, tmp_path / f"crop{suffix}")
    rad = read_radiograph(tmp_path / f"crop{suffix}")
    assert_top_left(rad.pixels)
    np.testing.assert_allclose(rad.pixels, (image - image.min()) / (image.max() - image.min()), atol=1e-6)
    assert rad.source_format == "nifti" and rad.bits_stored == 16
    assert rad.pixel_spacing_mm == pytest.approx(0.6)  # mean of row 0.7 and column 0.5
    assert rad.metadata["spacing_row_col_mm"] == pytest.approx([0.7, 0.5])
    assert rad.metadata["axcodes"] == "LPS"


def test_nifti_cal_range_is_a_window(tmp_path: Path) -> None:
    import nibabel as nib

    image = np.linspace(-1000, 3000, H * W).reshape(H, W).astype(np.float32)
    nii = nib.Nifti1Image(image.T, np.eye(4))
    nii.header["cal_min"], nii.header["cal_max"] = 0.0, 2000.0
    nib.save(nii, tmp_path / "cal.nii")
    rad = read_radiograph(tmp_path / "cal.nii")
    np.testing.assert_allclose(rad.pixels, np.clip(image / 2000.0, 0, 1), atol=1e-6)
    assert rad.windowing["method"] == "window" and rad.windowing["center"] == 1000.0


def test_radiograph_from_array_matches_png_reading(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(4)
    for arr in (marked(), marked(np.uint16, 65535), rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)):
        Image.fromarray(arr).save(tmp_path / "x.png")
        from_file = read_radiograph(tmp_path / "x.png")
        from_memory = radiograph_from_array(arr, name="upload")
        np.testing.assert_array_equal(from_memory.pixels, from_file.pixels)
        assert from_memory.path is None and from_memory.name == "upload" and from_memory.source_format == "array"
    floats = rng.normal(size=(H, W))
    rad = radiograph_from_array(floats)
    np.testing.assert_allclose(rad.pixels, (floats - floats.min()) / (floats.max() - floats.min()), atol=1e-6)


def test_radiograph_is_frozen_and_typed(tmp_path: Path) -> None:
    import dataclasses

    rad = radiograph_from_array(marked())
    with pytest.raises(dataclasses.FrozenInstanceError):
        rad.width = 3  # type: ignore[misc]
    assert rad.pixels.dtype == np.float32 and (rad.height, rad.width) == (H, W)
    summary: Callable[[], dict] = rad.summary
    assert set(summary()) >= {"path", "format", "width", "height", "bits_stored", "photometric", "spacing_mm", "min", "max"}


@pytest.mark.parametrize("orientation", [None, 3])
def test_png_is_decoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, orientation: int | None) -> None:
    """A PNG read decodes its pixel data once, EXIF orientation or not (asking a fresh PIL image for a PNG's
    EXIF decodes the whole file: that doubled every read)."""
    from PIL import Image, ImageFile

    image = Image.fromarray(marked(np.uint16, 65535))
    kwargs = {}
    if orientation is not None:
        exif = image.getexif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    image.save(tmp_path / "p.png", **kwargs)
    decodes: list[int] = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):  # type: ignore[no-untyped-def]
        if self.tile:  # pixel data still to decode
            decodes.append(1)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    rad = read_radiograph(tmp_path / "p.png")
    assert len(decodes) == 1
    assert rad.metadata.get("exif_orientation", 1) == (orientation or 1)
    expected = marked(np.uint16, 65535) / 65535.0
    np.testing.assert_allclose(rad.pixels, expected[::-1, ::-1] if orientation == 3 else expected, atol=1e-6)
