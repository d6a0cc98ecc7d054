"""Smoke run of benchmarks/sim_to_real.py on the shared real CTs (tiny sizes), so it cannot rot."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CT_ROOT = REPO.parent / "shared" / "real-ct" / "pengwin"


@pytest.mark.slow
@pytest.mark.skipif(not (CT_ROOT / "001").is_dir() or not (CT_ROOT / "002").is_dir(),
                    reason="../shared/real-ct/pengwin not present")
def test_sim_to_real_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str], load_benchmark) -> None:
    bench = load_benchmark("sim_to_real")
    assert bench.main(["--quick", "--cases", "001,002", "--holdout", "001", "--work", str(tmp_path),
                       "--train-seeds", "0,1"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 1  # ONE JSON line
    out = json.loads(lines[0])
    fold = out["folds"]["001"]
    assert fold["trained_on_ct"] == ["002"]
    for arm in ("phantom_only", "phantom_strong", "transfer"):
        ev = fold[arm]
        # 1 radiograph x 2 profiles of the held-out CT (the transfer arm: per seed, pooled below)
        assert ev["n_images"] == (4 if arm == "transfer" else 2)
        assert set(ev["dice"]) == set(ev["dice_visible"]) == {"sacrum", "hip_image_left", "hip_image_right"}
        for side in ("image_left", "image_right"):
            m = ev["sij_inside_crop"][side]["mean"]
            assert math.isnan(m) or 0.0 <= m <= 1.0
        assert isinstance(out["targets_met"]["001"][arm], bool)
    # two training seeds: each seed's figures, and the pooled ones the target is judged on
    per_seed = fold["transfer_per_seed"]
    assert sorted(per_seed) == ["0", "1"] and out["data"]["transfer_train_seeds"] == [0, 1]
    assert {"seg-transfer-without-001", "seg-transfer-without-001-seed1"} <= set(out["models"])
    for k in ("sacrum", "hip_image_left", "hip_image_right"):
        pooled = fold["transfer"]["dice"][k]
        means = [per_seed[s]["dice"][k]["mean"] for s in ("0", "1")]
        assert pooled["seed_means"] == means
        assert pooled["mean"] == pytest.approx(sum(means) / 2, abs=1e-4)
        assert pooled["worst_seed_mean"] == pytest.approx(min(means), abs=1e-4)
        assert pooled["min"] == min(per_seed[s]["dice"][k]["min"] for s in ("0", "1"))
    assert fold["transfer"]["n_images"] == 4
    # the held-out CT's renders never entered training: the transfer model's extra data is case 002 only
    extra = (tmp_path / "ct-train-without-001.csv").read_text()
    assert "ct_002_" in extra and "ct_001_" not in extra
    assert out["models"]["seg-transfer-without-001"]["n_train_extra"] > 0
    assert out["models"]["seg-phantom-only-without-001"]["n_train_extra"] == 0
    # the fold's phantom mixes the training CT's bones only (the held-out CT's never)
    assert json.loads((tmp_path / "phantom-002" / "cohort.json").read_text())["cohort"]["ct_members"] == ["002"]
