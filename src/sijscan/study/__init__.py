"""sijscan.study: the paper's whole experiment from one YAML config, with cached stages and a report.

``run_study(config, *, out_dir, force=())`` (run.py), ``load_config`` / ``StudyConfig`` (config.py),
the stage list and cache (stages.py), what each stage returns (outputs.py: one dataclass per
stage), the stage context (context.py), what each stage does (stage_functions.py; run.py holds the table), the Grad-CAM share inside the true SIJ boxes
(where_models_look.py), the report (report.py) and the embedded demo (demo.py). Imported lazily
so ``import sijscan.study`` needs no torch.
"""
from __future__ import annotations

from sijscan._lazy import lazy_exports

_LAZY = {
    "run_study": "sijscan.study.run",
    "StudyResult": "sijscan.study.run",
    "load_config": "sijscan.study.config",
    "config_from_dict": "sijscan.study.config",
    "StudyConfig": "sijscan.study.config",
    "StudyConfigError": "sijscan.study.config",
    "StageFailedError": "sijscan.study.context",
    "STAGE_NAMES": "sijscan.study.stages",
    "run_demo": "sijscan.study.demo",
}
__getattr__, __all__ = lazy_exports(__name__, _LAZY)
