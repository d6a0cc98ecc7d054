"""Smoke run of benchmarks/segmenter_mirror.py on a tiny stress_ct.py run, so it cannot rot."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CT_ROOT = REPO.parent / "shared" / "real-ct" / "pengwin"


@pytest.mark.slow
@pytest.mark.skipif(not (CT_ROOT / "001").is_dir() or not (CT_ROOT / "002").is_dir(),
                    reason="../shared/real-ct/pengwin not present")
def test_segmenter_mirror_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str], load_benchmark) -> None:
    assert load_benchmark("stress_ct").main(["--quick", "--cases", "001,002", "--holdout", "001",
                                             "--work", str(tmp_path)]) == 0
    capsys.readouterr()
    assert load_benchmark("segmenter_mirror").main(["--work", str(tmp_path), "--cases", "001",
                                                    "--train-seeds", "0"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 1  # ONE JSON line
    fold = json.loads(lines[0])["folds"]["001"]
    assert set(fold) == {"plain", "plain_mirror", "stress", "stress_mirror"}
    for row in fold.values():
        assert row["n_images"] == 2 and set(row["dice"]) == {"sacrum", "hip_image_left", "hip_image_right"}
    # a segmenter trained now carries the mirror in its card (sijscan_recipe)
    card = json.loads((tmp_path / "seg-transfer-without-001" / "model.json").read_text())
    assert card["recipe"]["inference"]["mirror"] is True
