"""Issue 26 item 3: every DICOM LUT path against pydicom's own rendering (and the standard's).

Windows: the reference is pydicom (``apply_modality_lut``, ``apply_voi_lut``) applied to the
decoded stored values, scaled from pydicom's ``y_min..y_max`` (the nominal range of the stored
values, after the rescale when there is one; of the Modality LUT's entries when that is a
sequence). VOI LUT Sequences: every input becomes one of the LUT's entries (PS3.3 C.11.2.1.1:
inputs before the first mapped value take the first entry, after the last the last), scaled from
the entries' range; the reference is that look-up in the table the test wrote, and pydicom's
``apply_voi_lut`` where it agrees (it computes the index in the entries' dtype, so an 8-bit LUT with
more than 256 entries, or an input 65536 past the first mapped value, wraps round there).
MONOCHROME1 is inverted after that. sijscan must give exactly this image.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from sijscan.io import read_radiograph


def _lut_item(table: np.ndarray, *, first: int, bits: int, ow: bool = False) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    n = len(table)
    item.add_new(0x00283002, "US", [0 if n == 65536 else n, first, bits])  # LUT Descriptor
    data = np.asarray(table).round().astype(np.uint16 if bits > 8 else np.uint16)
    if ow:
        item.add_new(0x00283006, "OW", data.astype("<u2").tobytes())
    else:
        item.add_new(0x00283006, "US", data.tolist())
    return item


def _nominal(ds: Any) -> tuple[float, float]:
    """pydicom's y_min, y_max of a window (see ``pydicom.pixels.processing.apply_windowing``)."""
    bits = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if ds.PixelRepresentation else (0, 2**bits - 1)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        s, i = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = sorted((lo * s + i, hi * s + i))
    return float(lo), float(hi)


def pydicom_rendering(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(path)
    values = np.asarray(apply_modality_lut(ds.pixel_array, ds))
    seq = ds.get("VOILUTSequence")
    if seq:
        table, first = _table_of(seq[0])
        out = table[np.clip(np.rint(values) - first, 0, len(table) - 1).astype(int)]
        lo, hi = table.min(), table.max()
        wraps = int(seq[0].LUTDescriptor[2]) == 8 or np.abs(values - first).max() >= 65536
        if not wraps and seq[0]["LUTData"].VR != "UN":  # pydicom's index does not wrap; it can read the data
            np.testing.assert_array_equal(out, np.asarray(apply_voi_lut(np.rint(values).astype(np.int64), ds)))
    else:
        out = np.asarray(apply_voi_lut(values.astype(np.float64), ds), dtype=np.float64)
        lo, hi = _nominal(ds)
    img = np.clip((out - lo) / (hi - lo), 0, 1)
    return 1 - img if ds.PhotometricInterpretation == "MONOCHROME1" else img


def _table_of(item) -> tuple[np.ndarray, int]:
    """The entries as written (US list or little-endian OW/UN words) and the first mapped value."""
    raw = item["LUTData"].value
    n = int(item.LUTDescriptor[0]) or 65536
    data = np.frombuffer(raw, "<u2") if isinstance(raw, bytes) else np.asarray(raw)
    return data[:n].astype(np.float64), int(item.LUTDescriptor[1])


def _ramp(lo: int, hi: int, dtype: Any, shape: tuple[int, int] = (32, 48)) -> np.ndarray:
    return np.linspace(lo, hi, shape[0] * shape[1]).round().astype(dtype).reshape(shape)


SQRT = np.sqrt(np.linspace(0, 1, 4096))
CASES: dict[str, tuple[Callable[[], np.ndarray], dict[str, Any]]] = {
    # --- VOI LUT Sequence (every one of these was refused: "the VOI LUT maps every value to 0")
    "voi-lut 16-bit entries from 0": (lambda: _ramp(0, 4095, np.uint16),
                                      dict(VOILUTSequence=[_lut_item(SQRT * 65535, first=0, bits=16)])),
    "voi-lut 8-bit entries": (lambda: _ramp(0, 4095, np.uint16),
                              dict(VOILUTSequence=[_lut_item(SQRT * 255, first=0, bits=8)])),
    "voi-lut 12-bit entries in 16 bits": (lambda: _ramp(0, 4095, np.uint16),
                                          dict(VOILUTSequence=[_lut_item(SQRT * 4095, first=0, bits=16)])),
    "voi-lut first entry at 1000, inputs on both sides": (
        lambda: _ramp(0, 4095, np.uint16), dict(VOILUTSequence=[_lut_item(SQRT[:2048] * 60000, first=1000, bits=16)])),
    "voi-lut decreasing table": (lambda: _ramp(0, 4095, np.uint16),
                                 dict(VOILUTSequence=[_lut_item((1 - SQRT) * 65535, first=0, bits=16)])),
    "voi-lut as OW bytes": (lambda: _ramp(0, 4095, np.uint16),
                            dict(VOILUTSequence=[_lut_item(SQRT * 65535, first=0, bits=16, ow=True)])),
    "voi-lut 65536 entries (descriptor 0)": (
        lambda: _ramp(0, 65535, np.uint16), dict(bits_stored=16,
                                                 VOILUTSequence=[_lut_item(np.linspace(0, 1, 65536) ** 2 * 65535,
                                                                           first=0, bits=16, ow=True)])),
    "voi-lut LUT Data written as UN (65536 US entries, over 64 kB)": (
        lambda: _ramp(0, 65535, np.uint16), dict(bits_stored=16,
                                                 VOILUTSequence=[_lut_item(np.linspace(0, 1, 65536) ** 0.5 * 65535,
                                                                           first=0, bits=16)])),
    "voi-lut 8-bit entries, 256 entries, 12-bit image": (
        lambda: _ramp(0, 4095, np.uint16), dict(VOILUTSequence=[_lut_item(np.linspace(0, 255, 256), first=1000, bits=8)])),
    "voi-lut on MONOCHROME1": (lambda: _ramp(0, 4095, np.uint16),
                               dict(photometric="MONOCHROME1", VOILUTSequence=[_lut_item(SQRT * 65535, first=0, bits=16)])),
    "voi-lut after rescale (slope 2, intercept -100)": (
        lambda: _ramp(50, 2000, np.uint16),
        dict(RescaleSlope=2, RescaleIntercept=-100, VOILUTSequence=[_lut_item(SQRT * 65535, first=0, bits=16)])),
    "voi-lut inputs 65536+ above its first entry (pydicom's uint16 wrap)": (
        lambda: _ramp(0, 65535, np.uint16),
        dict(bits_stored=16, RescaleIntercept=1000, RescaleSlope=1,
             VOILUTSequence=[_lut_item(SQRT * 65535, first=0, bits=16)])),
    "voi-lut preferred over a window": (lambda: _ramp(0, 4095, np.uint16),
                                        dict(WindowCenter=100, WindowWidth=10,
                                             VOILUTSequence=[_lut_item(SQRT * 65535, first=0, bits=16)])),
    # --- windows, each VOI LUT function
    "window LINEAR 12-bit": (lambda: _ramp(0, 4095, np.uint16), dict(WindowCenter=2000, WindowWidth=1500)),
    "window LINEAR_EXACT 12-bit": (lambda: _ramp(0, 4095, np.uint16),
                                   dict(WindowCenter=2000, WindowWidth=1500, VOILUTFunction="LINEAR_EXACT")),
    "window SIGMOID 12-bit": (lambda: _ramp(0, 4095, np.uint16),
                              dict(WindowCenter=2000, WindowWidth=1500, VOILUTFunction="SIGMOID")),
    "window wider than the data (LINEAR)": (lambda: _ramp(1000, 2000, np.uint16),
                                            dict(WindowCenter=1500, WindowWidth=4000)),
    "window wider than the data (LINEAR_EXACT)": (lambda: _ramp(1000, 2000, np.uint16),
                                                  dict(WindowCenter=1500, WindowWidth=4000, VOILUTFunction="LINEAR_EXACT")),
    "window wider than the data (SIGMOID)": (lambda: _ramp(1000, 2000, np.uint16),
                                             dict(WindowCenter=1500, WindowWidth=4000, VOILUTFunction="SIGMOID")),
    "window signed 16-bit after rescale, MONOCHROME1": (
        lambda: _ramp(-3000, 3000, np.int16),
        dict(bits_stored=16, signed=True, photometric="MONOCHROME1", RescaleSlope=0.5, RescaleIntercept=100,
             WindowCenter=0, WindowWidth=2000)),
    "window SIGMOID on MONOCHROME1": (lambda: _ramp(0, 4095, np.uint16),
                                      dict(photometric="MONOCHROME1", WindowCenter=1000, WindowWidth=3000,
                                           VOILUTFunction="SIGMOID")),
    "window after a Modality LUT Sequence": (
        lambda: _ramp(0, 4095, np.uint16),
        dict(WindowCenter=30000, WindowWidth=40000,
             ModalityLUTSequence=[_lut_item(np.linspace(0, 1, 4096) ** 1.5 * 65535, first=0, bits=16)])),
    "window 8-bit data": (lambda: _ramp(0, 255, np.uint8), dict(bits_stored=8, WindowCenter=128, WindowWidth=100)),
    # --- no VOI at all: the data's own range
    "modality LUT sequence only": (
        lambda: _ramp(0, 4095, np.uint16),
        dict(ModalityLUTSequence=[_lut_item(np.linspace(0, 1, 4096) ** 2 * 65535, first=0, bits=16)])),
}


def _modality_lut_fix(kwargs: dict[str, Any]) -> dict[str, Any]:
    from pydicom.sequence import Sequence

    for key in ("VOILUTSequence", "ModalityLUTSequence"):
        if key in kwargs:
            kwargs[key] = Sequence(kwargs[key])
            if key == "ModalityLUTSequence":
                kwargs[key][0].ModalityLUTType = "US"
    return kwargs


@pytest.mark.parametrize("case", sorted(CASES))
def test_row3_every_lut_path_equals_pydicoms_rendering(make_dicom: Callable[..., Path], case: str) -> None:
    make, tags = CASES[case]
    arr = make()
    tags = _modality_lut_fix(dict(tags))
    if "no VOI" in case or case == "modality LUT sequence only":
        path = make_dicom(arr, **tags)
        got = read_radiograph(path).pixels
        import pydicom
        from pydicom.pixels import apply_modality_lut

        ds = pydicom.dcmread(path)
        v = np.asarray(apply_modality_lut(ds.pixel_array, ds), dtype=np.float64)
        np.testing.assert_allclose(got, (v - v.min()) / (v.max() - v.min()), atol=1e-6)
        return
    path = make_dicom(arr, **tags)
    got = read_radiograph(path).pixels
    want = pydicom_rendering(path)
    np.testing.assert_allclose(got, want, atol=1e-5, err_msg=case)
    assert 0.0 <= got.min() and got.max() <= 1.0


def test_row3_a_window_wider_than_the_data_keeps_the_window_scale(make_dicom: Callable[..., Path]) -> None:
    """Not stretched to the data's range: a viewer shows this image mid-grey, low contrast."""
    arr = _ramp(1000, 2000, np.uint16)
    rad = read_radiograph(make_dicom(arr, WindowCenter=1500, WindowWidth=4000))
    lo, hi = float(rad.pixels.min()), float(rad.pixels.max())
    assert 0.1 < lo < 0.4 and 0.4 < hi < 0.7 and hi - lo < 0.3, (lo, hi)


def test_row3_voi_lut_records_what_was_applied(make_dicom: Callable[..., Path]) -> None:
    from pydicom.sequence import Sequence

    rad = read_radiograph(make_dicom(_ramp(0, 4095, np.uint16),
                                     VOILUTSequence=Sequence([_lut_item(SQRT * 255, first=0, bits=8)])))
    assert rad.windowing["method"] == "voi_lut" and rad.windowing["output_range"] == [0, 255]
    assert rad.pixels.min() == 0.0 and rad.pixels.max() == 1.0
