"""Lightning DDP on CPU: 2 processes (gloo), launched as a subprocess like a user would."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sijscan.classify.synthetic import write_synthetic_cohort


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    manifest = write_synthetic_cohort(tmp_path / "data", n=12, height=48, width=64, seed=3)
    out = tmp_path / "model"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    # -v: the Lightning INFO lines naming the processes and the backend follow the CLI log level
    cmd = [sys.executable, "-m", "sijscan", "-v", "train-classifier", "--manifest", str(manifest), "--view", "full",
           "--recipe", "quick", "--arch", "tiny-resnet", "--out", str(out), "--devices", "2",
           "--accelerator", "cpu", "--init", "random"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Starting with 2 processes" in proc.stderr + proc.stdout
    assert "distributed_backend=gloo" in proc.stderr + proc.stdout
    card = json.loads((out / "model.json").read_text())
    assert card["provenance"]["devices"] == 2 and card["cutoff"] is not None
    progress = json.loads((out / "training" / "progress.json").read_text())
    assert [c["phase"] for c in progress["completed"]] == ["head", "all", "head", "all"]
    # 8 training images, global batch 8 = 4 per process: one optimizer step per epoch
    assert all(c["global_step"] == 1 for c in progress["completed"])
