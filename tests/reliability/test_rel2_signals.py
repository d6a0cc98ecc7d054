"""Issue 26 item 4: SIGTERM / SIGINT during the long commands exit 143 / 130 with one line.

Each command runs in a child process on a tiny phantom cohort with many epochs; the signal is sent
once Lightning has said (at ``-v``) that it is setting up training, so it arrives inside
``Trainer.fit`` where Lightning's own SIGTERM handler used to turn it into exit 0.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from sijscan.phantom.simulate import simulate_cohort

    return simulate_cohort("proof", n=8, seed=1, out_dir=tmp_path_factory.mktemp("tiny"), size=64, fmt="png",
                           followup=False, workers=1, progress=False)


def _run_and_signal(args: list[str], sig: int, *, marker: str = "lightning", timeout: float = 240) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "CI": "1"}
    child = subprocess.Popen([sys.executable, "-m", "sijscan", "-v", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", env=env)
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in child.stderr:
            lines.append(line)
            if marker in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not seen.wait(timeout):
        child.kill()
        pytest.fail("the command never reached training: " + "".join(lines[-5:]))
    time.sleep(0.5)
    child.send_signal(sig)
    try:
        child.wait(timeout=120)
    finally:
        child.kill()
    reader.join(10)
    ours = [ln.strip() for ln in lines if ln.startswith("sijscan ")]
    return child.returncode, "\n".join(ours) + ("\n--- stderr tail:\n" + "".join(lines[-8:]))


def _check(code: int, text: str, *, command: str, sig: int) -> None:
    want = 143 if sig == signal.SIGTERM else 130
    assert code == want, text
    ours = text.split("\n--- stderr tail:")[0].splitlines()
    assert len(ours) == 1 and ours[0].startswith(f"sijscan {command}: "), text
    assert ("terminated by SIGTERM" if sig == signal.SIGTERM else "interrupted (SIGINT)") in ours[0]
    assert "Traceback" not in text


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_row4_train_segmenter(tiny: Path, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "seg"
    code, text = _run_and_signal(["train-segmenter", "--manifest", str(tiny), "--out", str(out), "--epochs", "500",
                                  "--size", "32", "--batch-size", "4", "--no-progress"], sig)
    _check(code, text, command="train-segmenter", sig=sig)
    assert not (out / "model.json").exists()


def test_row4_train_classifier_sigterm(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "clf"
    code, text = _run_and_signal(["train-classifier", "--manifest", str(tiny), "--view", "full", "--recipe", "cpu",
                                  "--arch", "tiny-resnet", "--init", "random", "--out", str(out), "--no-progress"],
                                 signal.SIGTERM)
    _check(code, text, command="train-classifier", sig=signal.SIGTERM)
    assert not (out / "model.json").exists()


def test_row4_study_sigterm(tmp_path: Path) -> None:
    conf = {"study": {"name": "t", "seed": 1, "device": "cpu", "workers": 1},
            "cohorts": {"proof": {"role": "train", "phantom": {"n": 8, "size": 64}},
                        "optiref": {"phantom": {"n": 6, "size": 64}}},
            "segmenter": {"train": {"epochs": 500, "size": 32}},
            "classifiers": {"recipe": "quick", "arch": "tiny-resnet", "init": "random"},
            "predict": {"batch_size": 4, "gradcam_examples": 0}, "evaluate": {"n_bootstrap": 10}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(conf))
    code, text = _run_and_signal(["study", str(path), "--out", str(tmp_path / "s")], signal.SIGTERM)
    _check(code, text, command="study", sig=signal.SIGTERM)
    assert not (tmp_path / "s" / "report").exists() or not any((tmp_path / "s" / "report").iterdir())
