"""``run_demo``: the embedded phantom study (``demo.yaml`` shipped inside the package)."""
from __future__ import annotations

import os
from importlib import resources
from typing import Iterable

from sijscan.study.config import StudyConfig, config_from_dict
from sijscan.study.run import StudyResult, run_study

DEMO_RESOURCE = "demo.yaml"
DEFAULT_OUT = "demo-out"


def demo_config_text() -> str:
    """The embedded demo configuration (YAML text)."""
    return resources.files("sijscan.study").joinpath(DEMO_RESOURCE).read_text(encoding="utf-8")


def demo_config() -> StudyConfig:
    import yaml

    return config_from_dict(yaml.safe_load(demo_config_text()), source=f"sijscan.study/{DEMO_RESOURCE} (embedded)")


def run_demo(*, out_dir: str | os.PathLike[str] = DEFAULT_OUT, force: Iterable[str] = (),
             progress: bool | None = None) -> StudyResult:
    """Run the demo study into ``out_dir`` (cached: a second run only rebuilds what changed)."""
    return run_study(demo_config(), out_dir=out_dir, force=force, progress=progress)
