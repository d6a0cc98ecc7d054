"""DICOM reading: windowing, modality LUT, MONOCHROME1, colour, compression, metadata.

Expected values are computed here by hand from the DICOM formulas (PS3.3 C.11.2.1.2.1 for the
LINEAR window), not with the code under test.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from sijscan.io import read_radiograph

H, W = 48, 64  # non-square on purpose: a transpose would change the shape


def linear_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM LINEAR VOI function, output in [0, 1]."""
    x = x.astype(np.float64)
    low = center - 0.5 - (width - 1) / 2
    high = center - 0.5 + (width - 1) / 2
    out = (x - (center - 0.5)) / (width - 1) + 0.5
    out[x <= low] = 0.0
    out[x > high] = 1.0
    return out


def ramp(low: int, high: int, dtype: type) -> np.ndarray:
    values = np.linspace(low, high, H * W).round().astype(np.int64).reshape(H, W)
    return values.astype(dtype)


def test_16bit_monochrome1_reads_bone_bright_with_window(make_dicom: Callable[..., Path]) -> None:
    arr = ramp(0, 60000, np.uint16)
    arr[4:12, 4:16] = 3000  # bone in MONOCHROME1 is a LOW stored value
    center, width = 25000.0, 30000.0
    path = make_dicom(arr, photometric="MONOCHROME1", bits_stored=16, WindowCenter=center, WindowWidth=width)
    rad = read_radiograph(path)
    expected = 1.0 - linear_window(arr, center, width)
    np.testing.assert_allclose(rad.pixels, expected, atol=1e-6)
    assert rad.pixels[4:12, 4:16].min() == pytest.approx(1.0)  # the square is bright ...
    assert rad.pixels[-4:, -4:].max() == pytest.approx(0.0)  # ... high stored values are dark
    assert rad.windowing["method"] == "window" and rad.windowing["inverted"] is True
    assert (rad.windowing["center"], rad.windowing["width"]) == (center, width)
    assert rad.photometric == "MONOCHROME1" and rad.bits_stored == 16 and rad.pixels.dtype == np.float32


def test_12bit_signed_rescale_then_window(make_dicom: Callable[..., Path]) -> None:
    arr = ramp(-2048, 2047, np.int16)
    slope, intercept, center, width = 2.0, -1000.0, 0.0, 2000.0
    path = make_dicom(
        arr, bits_stored=12, signed=True, RescaleSlope=slope, RescaleIntercept=intercept,
        WindowCenter=center, WindowWidth=width,
    )
    rad = read_radiograph(path)
    expected = linear_window(arr.astype(np.float64) * slope + intercept, center, width)
    np.testing.assert_allclose(rad.pixels, expected, atol=1e-6)
    # without the rescale the same window would put the value 0 at 0.5 in stored units instead
    assert not np.allclose(rad.pixels, linear_window(arr, center, width), atol=1e-2)


def test_negative_slope_flips_a_full_range_image(make_dicom: Callable[..., Path]) -> None:
    arr = ramp(100, 4000, np.uint16)
    plain = read_radiograph(make_dicom(arr, "plain.dcm"))
    flipped = read_radiograph(make_dicom(arr, "flip.dcm", RescaleSlope=-1.0, RescaleIntercept=0.0))
    np.testing.assert_allclose(plain.pixels, (arr - 100.0) / 3900.0, atol=1e-6)
    np.testing.assert_allclose(flipped.pixels, 1.0 - plain.pixels, atol=1e-6)
    assert plain.windowing["method"] == "full_range"
    assert (flipped.windowing["low"], flipped.windowing["high"]) == (-4000.0, -100.0)


def test_first_of_several_windows_is_used(make_dicom: Callable[..., Path]) -> None:
    arr = ramp(0, 4095, np.uint16)
    rad = read_radiograph(make_dicom(arr, WindowCenter=[1000.0, 3000.0], WindowWidth=[500.0, 2000.0]))
    np.testing.assert_allclose(rad.pixels, linear_window(arr, 1000.0, 500.0), atol=1e-6)
    assert rad.windowing["count"] == 2 and rad.windowing["center"] == 1000.0


def test_voi_lut_sequence_is_preferred_over_window(make_dicom: Callable[..., Path]) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    arr = ramp(0, 4095, np.uint16)
    lut = np.sqrt(np.linspace(0, 1, 2048)) * 60000  # 2048 entries starting at stored value 1000
    item = Dataset()
    item.add_new(0x00283002, "US", [2048, 1000, 16])  # LUT Descriptor
    item.add_new(0x00283006, "US", lut.round().astype(int).tolist())  # LUT Data
    item.LUTExplanation = "sqrt test"
    path = make_dicom(arr, WindowCenter=2000.0, WindowWidth=100.0, VOILUTSequence=Sequence([item]))
    rad = read_radiograph(path)
    table = lut.round()
    expected = (table[np.clip(arr.astype(int) - 1000, 0, 2047)] - table[0]) / (table[-1] - table[0])
    np.testing.assert_allclose(rad.pixels, expected, atol=1e-6)
    assert rad.windowing["method"] == "voi_lut" and rad.windowing["explanation"] == "sqrt test"


def test_full_range_when_no_window_and_marker_stays_top_left(make_dicom: Callable[..., Path]) -> None:
    arr = np.full((H, W), 500, np.uint16)
    arr[:6, :6] = 3500
    arr[-1, -1] = 100
    rad = read_radiograph(make_dicom(arr))
    np.testing.assert_allclose(rad.pixels, (arr - 100.0) / 3400.0, atol=1e-6)
    assert rad.pixels[:6, :6].min() == 1.0 and rad.pixels[6:, 6:].max() < 0.2
    assert (rad.height, rad.width) == (H, W)


def test_presentation_lut_inverse_inverts_monochrome2(make_dicom: Callable[..., Path]) -> None:
    arr = ramp(0, 4095, np.uint16)
    normal = read_radiograph(make_dicom(arr, "a.dcm"))
    inverse = read_radiograph(make_dicom(arr, "b.dcm", PresentationLUTShape="INVERSE"))
    np.testing.assert_allclose(inverse.pixels, 1.0 - normal.pixels, atol=1e-6)


def _compressors() -> list[tuple[str, int, bool]]:
    return [(name, bits, signed) for name in ("RLELossless", "JPEG2000Lossless", "JPEGLSLossless") for bits, signed in ((12, False), (16, True))]


@pytest.mark.parametrize("syntax,bits,signed", _compressors())
def test_compressed_equals_uncompressed(make_dicom: Callable[..., Path], syntax: str, bits: int, signed: bool) -> None:
    import pydicom.uid
    from pydicom.pixels import get_encoder

    uid = getattr(pydicom.uid, syntax)
    try:
        available = get_encoder(uid).is_available
    except NotImplementedError:
        available = False
    if not available:
        pytest.skip(f"no {syntax} encoder in this environment (decoding is covered by pydicom's bundled files)")
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    arr = ramp(low, high, np.int16 if signed else np.uint16)
    arr[5:15, 5:15] = high
    plain = read_radiograph(make_dicom(arr, "plain.dcm", bits_stored=bits, signed=signed, WindowCenter=0.0 if signed else 1500.0, WindowWidth=3000.0))
    packed = read_radiograph(make_dicom(arr, "packed.dcm", bits_stored=bits, signed=signed, compress=uid, WindowCenter=0.0 if signed else 1500.0, WindowWidth=3000.0))
    np.testing.assert_array_equal(packed.pixels, plain.pixels)
    assert packed.metadata["TransferSyntax"] == uid.name


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm"]
)
def test_pydicom_bundled_lossless_files_equal_uncompressed(pydicom_test_file: Callable[[str], Path], name: str) -> None:
    # MR files: decoding is what is tested here (predicting on them is refused by Modality)
    reference = read_radiograph(pydicom_test_file("MR_small.dcm"), any_modality=True)
    other = read_radiograph(pydicom_test_file(name), any_modality=True)
    np.testing.assert_array_equal(other.pixels, reference.pixels)
    assert reference.windowing["method"] == "window"


@pytest.mark.parametrize(
    "name", ["SC_rgb_jpeg_dcmtk.dcm", "SC_ybr_full_422_uncompressed.dcm", "SC_rgb_jls_lossy_line.dcm", "SC_rgb_small_odd.dcm"]
)
def test_pydicom_bundled_colour_files_match_rgb_rle(pydicom_test_file: Callable[[str], Path], name: str) -> None:
    """JPEG baseline (YBR_FULL_422), uncompressed YBR 4:2:2 and lossy JPEG-LS decode to the same picture."""
    reference = read_radiograph(pydicom_test_file("SC_rgb_rle.dcm"))
    other = read_radiograph(pydicom_test_file(name))
    if other.pixels.shape != reference.pixels.shape:
        assert name == "SC_rgb_small_odd.dcm"  # a 3 x 3 file: just read it
        return
    assert np.abs(other.pixels - reference.pixels).max() < 0.02


def test_pydicom_bundled_palette_and_12bit_jpeg(pydicom_test_file: Callable[[str], Path]) -> None:
    palette = read_radiograph(pydicom_test_file("examples_palette.dcm"), any_modality=True)
    assert palette.photometric == "PALETTE COLOR" and palette.pixels.max() > palette.pixels.min()
    extended = read_radiograph(pydicom_test_file("JPGExtended.dcm"), any_modality=True)
    assert extended.bits_stored == 12 and (extended.height, extended.width) == (1024, 256)


def test_ybr_full_becomes_the_same_grey_as_rgb(make_dicom: Callable[..., Path]) -> None:
    from pydicom.pixels import convert_color_space

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    rad = read_radiograph(make_dicom(ybr, photometric="YBR_FULL", bits_stored=8))
    expected = rgb.astype(np.float64) @ np.array([0.2989, 0.5870, 0.1140]) / 255.0
    assert np.abs(rad.pixels - expected).max() < 2.5 / 255  # YBR round trip costs ~1 grey level


def test_rgb_dicom_is_luminance(make_dicom: Callable[..., Path]) -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    rgb[0, 0] = (255, 255, 255)
    rad = read_radiograph(make_dicom(rgb, photometric="RGB", bits_stored=8))
    assert rad.pixels[1, 1] == pytest.approx((0.2989 * 200 + 0.5870 * 100 + 0.1140 * 50) / 255, abs=1e-6)


def test_palette_color_dicom(make_dicom: Callable[..., Path]) -> None:
    indices = (np.arange(H * W) % 4).reshape(H, W).astype(np.uint8)
    red, green, blue = [0, 65535, 0, 30000], [0, 0, 65535, 30000], [0, 0, 0, 30000]
    tags = {}
    for colour, data in (("Red", red), ("Green", green), ("Blue", blue)):
        tags[f"{colour}PaletteColorLookupTableDescriptor"] = [4, 0, 16]
        tags[f"{colour}PaletteColorLookupTableData"] = np.asarray(data, np.uint16).tobytes()
    rad = read_radiograph(make_dicom(indices, photometric="PALETTE COLOR", bits_stored=8, **tags))
    lut = np.stack([red, green, blue], axis=1).astype(np.float64) @ np.array([0.2989, 0.5870, 0.1140]) / 65535
    np.testing.assert_allclose(rad.pixels, lut[indices], atol=1e-6)


def test_jpeg_baseline_encapsulated(tmp_path: Path, make_dicom: Callable[..., Path]) -> None:
    from PIL import Image
    from pydicom import dcmread
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    grey = ramp(0, 255, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="JPEG", quality=95)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float64) / 255
    path = make_dicom(grey, bits_stored=8)
    ds = dcmread(path)
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"
    ds.save_as(path, enforce_file_format=True)
    rad = read_radiograph(path)
    # full range of the decoded data (no window): compare after the same min-max
    expected = (decoded - decoded.min()) / (decoded.max() - decoded.min())
    assert np.abs(rad.pixels - expected).max() < 2 / 255


def test_spacing_from_pixel_spacing_then_imager_pixel_spacing(make_dicom: Callable[..., Path]) -> None:
    arr = ramp(0, 4095, np.uint16)
    assert read_radiograph(make_dicom(arr, "a.dcm", PixelSpacing=[0.139, 0.139], ImagerPixelSpacing=[0.15, 0.15])).pixel_spacing_mm == pytest.approx(0.139)
    assert read_radiograph(make_dicom(arr, "b.dcm", ImagerPixelSpacing=[0.15, 0.15])).pixel_spacing_mm == pytest.approx(0.15)
    assert read_radiograph(make_dicom(arr, "c.dcm")).pixel_spacing_mm is None


def test_metadata_holds_no_phi(make_dicom: Callable[..., Path]) -> None:
    arr = ramp(0, 4095, np.uint16)
    phi = {
        "PatientName": "Doe^Jane", "PatientID": "MRN998877", "PatientBirthDate": "19710203",
        "StudyDate": "20240102", "StudyTime": "101112", "AcquisitionDateTime": "20240102101112",
        "InstitutionName": "Saint Example Hospital", "AccessionNumber": "ACC55443", "ReferringPhysicianName": "Who^Dr",
        "StudyInstanceUID": "1.2.3.4.5.6.7.8.9", "SeriesInstanceUID": "1.2.3.4.5.6.7.8.10", "OtherPatientIDs": "XYZ123",
    }
    path = make_dicom(arr, **phi)
    rad = read_radiograph(path)
    text = json.dumps({"metadata": rad.metadata, "summary": rad.summary()})
    for value in phi.values():
        assert value not in text
    from pydicom import dcmread

    assert dcmread(path).SOPInstanceUID not in text
    assert rad.metadata["Modality"] == "DX" and rad.metadata["BitsStored"] == 12


def test_dicom_without_preamble_is_read_with_force(tmp_path: Path, dicom_dataset: Callable[..., object]) -> None:
    arr = ramp(0, 4095, np.uint16)
    ds = dicom_dataset(arr)
    path = tmp_path / "raw.dcm"
    ds.save_as(path, enforce_file_format=False)  # no preamble, no DICM marker
    assert path.read_bytes()[128:132] != b"DICM"
    rad = read_radiograph(path)
    np.testing.assert_allclose(rad.pixels, arr / 4095.0, atol=1e-6)


LOOKUP_CASES = {
    "12-bit, window": dict(bits_stored=12, WindowCenter=2000, WindowWidth=3000),
    "16-bit, full range": dict(bits_stored=16),
    "16-bit MONOCHROME1, sigmoid window": dict(bits_stored=16, photometric="MONOCHROME1", WindowCenter=30000,
                                               WindowWidth=20000, VOILUTFunction="SIGMOID"),
    "12-bit signed, rescale, linear exact": dict(bits_stored=12, signed=True, RescaleSlope=2.5, RescaleIntercept=-100,
                                                 WindowCenter=0, WindowWidth=4000, VOILUTFunction="LINEAR_EXACT"),
    "16-bit, negative slope, full range": dict(bits_stored=16, RescaleSlope=-1, RescaleIntercept=0),
    "8-bit, inverse presentation": dict(bits_stored=8, PresentationLUTShape="INVERSE"),
}


@pytest.mark.parametrize("case", sorted(LOOKUP_CASES))
def test_lookup_table_path_equals_direct_pydicom_arithmetic(dicom_dataset: Callable[..., object], case: str) -> None:
    """The table look-up (the fast default) gives exactly what pydicom's functions give on the image."""
    from sijscan.io.dicom import monochrome_to_unit

    kw = dict(LOOKUP_CASES[case])
    bits, signed = kw["bits_stored"], kw.get("signed", False)
    dtype = (np.int16 if signed else np.uint16) if bits > 8 else np.uint8
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    rng = np.random.default_rng(bits)
    arr = rng.integers(lo, hi + 1, size=(H, W)).astype(dtype)
    ds = dicom_dataset(arr, **kw)
    fast, info_fast = monochrome_to_unit(ds.pixel_array, ds, label="x")
    slow, info_slow = monochrome_to_unit(ds.pixel_array, ds, label="x", lookup=False)
    assert fast.dtype == slow.dtype == np.float32
    np.testing.assert_array_equal(fast, slow)
    assert info_fast == info_slow
