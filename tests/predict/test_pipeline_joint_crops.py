"""The pipeline cuts the joint-pair crop its classifier's card names ("joints" or "joints_span")."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from test_standins import draw_pelvis, make_models


def test_pipeline_cuts_the_joint_pair_crop_of_its_card(tmp_path: Path) -> None:
    from sijscan import Pipeline
    from sijscan.anatomy.crop import JOINT_SPAN_SCALE

    img, _ = draw_pelvis(seed=3)
    shapes = {}
    for crop in ("joints", "joints_span"):
        models = make_models(tmp_path / crop, crop=crop)
        pipe = Pipeline.from_dirs(segmenter=models / "segmenter", classifier=models / "classifier", device="cpu")
        pred = pipe.predict(img, name="x")
        assert pred.error is None and pred.images is not None and pred.images.tiles is not None
        (left, _), (right, _) = pred.images.tiles
        h = left[3] - left[1]
        span = float(np.hypot((right[0] + right[2]) / 2 - (left[0] + left[2]) / 2,
                              (right[1] + right[3]) / 2 - (left[1] + left[3]) / 2))
        assert pred.images.crop.shape == (h, 2 * (left[2] - left[0]))
        assert (abs(h - JOINT_SPAN_SCALE * span) <= 2) == (crop == "joints_span")
        shapes[crop] = pred.images.crop.shape
    assert shapes["joints"] != shapes["joints_span"]
