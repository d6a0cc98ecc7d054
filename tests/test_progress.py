"""Progress bars: shown in a terminal, quiet in CI and logs, overridable; the shared training callback."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest

from sijscan._progress import progress_bar, progress_enabled


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_detection_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.stderr", _Tty())
    assert progress_enabled() is True  # a terminal
    monkeypatch.setenv("CI", "true")
    assert progress_enabled() is False  # CI, even on a terminal
    assert progress_enabled(True) is True  # --progress wins
    monkeypatch.delenv("CI")
    assert progress_enabled(False) is False  # --no-progress wins
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress_enabled() is False  # a log file


def test_counter_writes_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    for enabled in (False, True):
        err = io.StringIO()
        monkeypatch.setattr("sys.stderr", err)
        with progress_bar(total=3, desc="cohort proof", enabled=enabled, unit="image") as bar:
            for _ in range(3):
                bar.update(1)
        assert ("cohort proof" in err.getvalue() and "3/3" in err.getvalue()) is enabled


def test_cli_flags_parse() -> None:
    import argparse

    from sijscan._progress import add_progress_flag

    p = argparse.ArgumentParser()
    add_progress_flag(p)
    assert p.parse_args([]).progress is None
    assert p.parse_args(["--progress"]).progress is True
    assert p.parse_args(["--no-progress"]).progress is False


@pytest.mark.slow
def test_classifier_training_bar_follows_the_flag(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """One shared Lightning callback: steps, epoch, loss and val metric when on; nothing when off; and no
    third-party deprecation warning reaches the user."""
    import torch

    from sijscan.classify.recipe import Stage
    from sijscan.classify.synthetic import write_synthetic_cohort
    from sijscan.classify.train import quick_recipe_with, train_classifier

    torch.set_num_threads(1)
    cohort = write_synthetic_cohort(tmp_path / "syn", n=12, height=48, width=64, seed=1)
    recipe = quick_recipe_with(arch="tiny-resnet", stages=(Stage(32, 48, 4, 0, 1e-2, 2, 1e-3),))
    for flag in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train_classifier(manifest=cohort, view="full", out_dir=tmp_path / f"m{flag}", recipe=recipe,
                             init="random", accelerator="cpu", progress=flag)
        err = capfd.readouterr().err
        shown = "classifier full phase 1/1" in err
        assert shown is flag, err[-500:]
        if flag:
            assert "epoch=2/2" in err and "loss=" in err and "val_mcc=" in err and "step" in err
        assert not [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))
                    and "LeafSpec" in str(w.message)]
