"""Small typed stage outputs for the study tests (fake stages and hand-built contexts)."""
from __future__ import annotations

from typing import Any

from sijscan.study.outputs import (ClassifierModel, ClassifiersOutput, Cohort, CohortsOutput, CompareOutput,
                                   EvaluateOutput, PredictOutput, ProgressionOutput, Record, ReportOutput,
                                   SegmenterOutput)


def fake_output(name: str, path: str) -> Record:
    """A small output of stage ``name`` naming ``path`` (the one file its fake wrote)."""
    def model(view: str) -> ClassifierModel:
        return ClassifierModel(model=path, view=view, cutoff=0.5, seed=1, warnings=(), degenerate=False)

    per_model = {"standard": {"proof-val": path}, "anatomy": {"proof-val": path}}
    made = {
        "cohorts": lambda: CohortsOutput(entries={"proof": Cohort(manifest=None, role="train", n=0, source="ct",
                                                                  skipped=(path,))}),
        "segmenter": lambda: SegmenterOutput(model=path, trained=False, arch="fake"),
        "classifiers": lambda: ClassifiersOutput(recipe="quick", arch="fake", crop="box", augment={},
                                                 standard=model("full"), anatomy=model("sij"),
                                                 anatomy_seeds={"1": path}),
        "predict": lambda: PredictOutput(sets={"proof-val": path}, predictions=per_model,
                                         combined={"standard": path, "anatomy": path}, failed={}, gradcam=()),
        "evaluate": lambda: EvaluateOutput(standard={}, anatomy={}, grades={}, camshare={}),
        "compare": lambda: CompareOutput(comparison=path, table2_md=path, dir=path, summary={}, table2_rows=(),
                                         warnings=()),
        "progression": lambda: ProgressionOutput(entries={}),
        "report": lambda: ReportOutput(html=path, markdown=path, provenance=path, findings=("a finding",),
                                       summary_figure=None),
    }
    return made[name]()


def cohorts_with(**manifests: str) -> CohortsOutput:
    """A cohorts-stage output: the first cohort trains, the others test (given manifests)."""
    return CohortsOutput(entries={name: Cohort(manifest=m, role="train" if i == 0 else "test", n=0, source="manifest")
                                  for i, (name, m) in enumerate(manifests.items())})


def given_segmenter(model: str) -> SegmenterOutput:
    return SegmenterOutput(model=model, trained=False, arch="unet")


def classifiers_with(*, standard: str, anatomy: str) -> ClassifiersOutput:
    """A classifiers-stage output naming the two model folders (seed 1, no warnings)."""
    def entry(folder: str, view: str) -> ClassifierModel:
        return ClassifierModel(model=folder, view=view, cutoff=None, seed=1, warnings=(), degenerate=False)

    return ClassifiersOutput(recipe="quick", arch="tiny-resnet", crop="box", augment={},
                             standard=entry(standard, "full"), anatomy=entry(anatomy, "sij"),
                             anatomy_seeds={"1": anatomy})


def evaluate_with(**fields: Any) -> EvaluateOutput:
    """An evaluate-stage output with no per-set metrics and the given blocks (grades, camshare, ...)."""
    return EvaluateOutput(**{"standard": {}, "anatomy": {}, "grades": {}, "camshare": {}, **fields})
