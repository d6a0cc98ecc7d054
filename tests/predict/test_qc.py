"""Input QC: what is not an AP pelvis radiograph is flagged and the decision withheld."""
from __future__ import annotations


import numpy as np
import pytest

from sijscan.anatomy.localize import locate_sij
from sijscan.predict.qc import WITHHOLD, assess, intensity_flags
from test_standins import draw_pelvis, make_models


@pytest.fixture(scope="module")
def phantom_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    from sijscan.phantom import simulate_case

    return [simulate_case(cohort="proof", index=i, seed=3, size=160, n=3)[:2] for i in range(3)]


def _qc(img: np.ndarray, lab: np.ndarray):
    img, lab = np.ascontiguousarray(img), np.ascontiguousarray(lab)
    return assess(img, labels=lab, location=locate_sij(lab))


def test_phantom_radiographs_pass(phantom_cases) -> None:
    for img, lab in phantom_cases:
        r = _qc(img, lab)
        assert r.passed, r.flags


def test_inverted_rotated_upside_down_and_sacrum_missing_fail(phantom_cases) -> None:
    for img, lab in phantom_cases:
        assert "inverted" in _qc(1 - img, lab).flags
        rot = _qc(np.rot90(img), np.rot90(lab))
        assert not rot.passed and "rotated_90" in rot.flags
        assert "upside_down" in _qc(img[::-1], lab[::-1]).flags
        no_sacrum = np.where(lab == 1, 0, lab).astype(np.uint8)
        r = _qc(img, no_sacrum)
        assert not r.passed and "no_sacrum" in r.flags and r.reasons


def test_blank_and_noise_are_flagged_from_pixels_alone() -> None:
    rng = np.random.default_rng(0)
    assert intensity_flags(np.full((80, 90), 0.4, np.float32))[0] == ["blank"]
    assert intensity_flags((0.4 + rng.normal(0, 0.002, (80, 90))).astype(np.float32))[0] == ["blank"]
    assert intensity_flags(rng.random((300, 200)).astype(np.float32))[0] == ["noise_like"]
    img, _ = draw_pelvis()
    assert intensity_flags(img)[0] == []


def test_every_withholding_flag_has_a_reason() -> None:
    from sijscan.predict.qc import REASONS

    assert WITHHOLD <= set(REASONS)


# --- through the pipeline, with the stand-in segmenter -------------------------------------------


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    from sijscan.predict.pipeline import Pipeline

    root = make_models(tmp_path_factory.mktemp("models"))
    return Pipeline.from_folder(root, device="cpu")


def _long_bone(h: int = 96, w: int = 128) -> np.ndarray:
    img = np.full((h, w), 0.3, np.float32)
    img[5:-5, int(0.45 * w):int(0.55 * w)] = 0.85  # a single vertical bone (a femur / forearm shaft)
    return img


def _no_sacrum() -> np.ndarray:
    img, lab = draw_pelvis()
    img[lab == 1] = 0.35
    return img


# (Rotation is tested above on phantom label maps: the stand-in segmenter labels by horizontal
# position, so it would call any rotated drawing a well-formed pelvis.)
CASES = {
    "near_constant": lambda: (np.full((96, 128), 100, np.uint8) + (np.arange(128) % 2).astype(np.uint8)),
    "noise": lambda: np.random.default_rng(1).random((96, 128)).astype(np.float32),
    "inverted": lambda: 1 - draw_pelvis()[0],
    "other_body_part": _long_bone,
    "sacrum_missing": _no_sacrum,
}


def test_drawn_pelvis_passes_and_gets_a_decision(pipeline) -> None:
    pred = pipeline.predict(draw_pelvis()[0], name="pelvis")
    assert pred.qc_passed, pred.qc_flags
    assert pred.decision in (0, 1) and pred.decision == int(pred.probability >= pred.cutoff)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inputs_are_withheld_with_a_reason(pipeline, case: str) -> None:
    pred = pipeline.predict(CASES[case](), name=case)
    assert not pred.qc_passed, (case, pred.qc_flags)
    assert pred.decision is None and pred.qc_reasons and pred.error is None


def test_bone_cut_by_a_white_collimator_edge_is_not_called_inverted() -> None:
    """The bone's surround excludes an unexposed (flat white) collimated border: bone that reaches the field's
    top edge borders the border, not soft tissue; a truly inverted radiograph is still flagged."""
    from sijscan.predict.qc import anatomy_flags

    rng = np.random.default_rng(0)
    img = (0.40 + rng.normal(0, 0.01, (100, 120))).astype(np.float32)
    lab = np.zeros(img.shape, np.uint8)
    lab[15:70, 20:100] = 2
    img[lab > 0] = 0.5
    img[:15] = 0.96 + rng.normal(0, 0.004, (15, 120)).astype(np.float32)
    flags, measures = anatomy_flags(img, lab)
    assert "inverted" not in flags and measures["bone_minus_surround"] > 0.05
    inv = img.copy()
    inv[15:] = 1 - inv[15:]  # the field inverted, the border left as the detector found it
    assert "inverted" in anatomy_flags(inv, lab)[0]
