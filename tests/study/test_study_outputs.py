"""Typed stage outputs: a JSON round trip per stage, the format written before they were typed, stale
caches, and a stage that reads an upstream stage it does not declare."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sijscan import jsonio
from sijscan.study.context import StageContext, StageFailedError, UndeclaredUpstreamError
from sijscan.study.outputs import (OUTPUT_TYPES, ClassifierModel, ClassifiersOutput, Cohort, CohortsOutput,
                                   CTRenders, EvaluateOutput, GradcamExample, OutputFormatError, PredictCounts,
                                   PredictOutput, Record, SeedPredictions, SegmenterOutput, SetMetrics)
from sijscan.study.run import STAGE_FUNCTIONS, run_study
from sijscan.study.stages import STAGE_NAMES, STAGES
from tests.study.study_fakes import fake_output

V1 = Path(__file__).parent / "golden" / "done_outputs_v1.json"
"""Every stage's ``outputs`` from the done.json files of the micro study (tests/study/test_study_e2e.py)
run by main at b9466fd, before the outputs were typed (paths shortened to /study)."""


def _with_every_optional_field() -> dict[str, Record]:
    ct = CTRenders(cases=("/ct/001",), skipped=("/ct/absent",), n_per_case=3, size=96, n_images=3, manifest="/ct.csv")
    model = ClassifierModel(model="/m/a", view="sij", cutoff=0.42, seed=3, warnings=("tiny_validation: x",),
                            degenerate=True)
    return {
        "cohorts": CohortsOutput(entries={"gone": Cohort(manifest=None, role="test", n=0, source="ct",
                                                         skipped=("/ct/absent",))}),
        "segmenter": SegmenterOutput(model="/m/seg", trained=True, arch="unet", augment="strong", val_dice=0.29,
                                     ct_route=ct),
        "classifiers": ClassifiersOutput(recipe="quick", arch="tiny-resnet", crop="joints", augment={"p_hflip": 0.5},
                                         standard=model, anatomy=model, anatomy_seeds={"3": "/m/a", "4": "/m/b"},
                                         ct_route=ct),
        "predict": PredictOutput(
            sets={"s": "/s.csv"}, predictions={"standard": {"s": "/p.csv"}, "anatomy": {"s": "/q.csv"}},
            combined={"standard": "/p.csv", "anatomy": "/q.csv"},
            failed={"s": PredictCounts(n=3, n_paired=2, standard=1, anatomy=0, standard_qc_withheld=0,
                                       anatomy_qc_withheld=2)},
            gradcam=(GradcamExample(set="s", model="anatomy", image="/i.png", label=None, probability=0.7,
                                    png="/g.png"),),
            anatomy_seeds=SeedPredictions(first="3", other={"4": {"s": "/r.csv"}})),
        "evaluate": EvaluateOutput(standard={"s": SetMetrics(dir="/e", auc=None, auc_ci=None, roc="/e/roc.png")},
                                   anatomy={"s": SetMetrics(dir="/e", auc=0.75, auc_ci=(0.5, 1.0), roc="/e/roc.png")},
                                   grades={"anatomy": {"s": {"available": False, "reason": "x"}}}, camshare={},
                                   anatomy_seed_auc={"s": {"3": {"auc": 0.75}, "spread": 0.0}}),
    }


def _samples() -> list[Record]:
    v1 = json.loads(V1.read_text())
    out = [OUTPUT_TYPES[name].from_json(v1[name]) for name in STAGE_NAMES]
    out += [fake_output(name, "/study/x") for name in STAGE_NAMES]
    return out + list(_with_every_optional_field().values())


def test_every_stage_has_one_output_dataclass() -> None:
    assert list(OUTPUT_TYPES) == list(STAGE_NAMES)
    assert {type(o) for o in _samples()} == set(OUTPUT_TYPES.values())


@pytest.mark.parametrize("output", _samples(), ids=lambda o: type(o).__name__)
def test_every_stage_output_round_trips_through_json(output: Record) -> None:
    text = jsonio.dumps(output.to_json())  # what done.json holds
    back = type(output).from_json(json.loads(text))
    assert back == output and type(back) is type(output)
    assert back.to_json() == output.to_json()


def test_the_format_written_before_the_outputs_were_typed_reads_back_unchanged() -> None:
    """An old cache is read, not rerun: each stage's old JSON gives a dataclass that writes the same JSON."""
    v1 = json.loads(V1.read_text())
    assert list(v1) != [] and set(v1) == set(STAGE_NAMES)
    for name in STAGE_NAMES:
        assert OUTPUT_TYPES[name].from_json(v1[name]).to_json() == v1[name], name
    pred = OUTPUT_TYPES["predict"].from_json(v1["predict"])
    assert isinstance(pred, PredictOutput) and pred.failed["gespic"].anatomy_qc_withheld == 12
    assert pred.gradcam[0].set == "proof-val" and pred.predictions["anatomy"]["gespic"].endswith("gespic.csv")


def test_fields_are_normalised_so_a_value_read_back_equals_the_one_returned() -> None:
    m = SetMetrics(dir=Path("/e"), auc=np.float64(0.75), auc_ci=[0.5, np.float32(1.0)], roc="/e/roc.png")
    assert m.dir == "/e" and type(m.auc) is float and m.auc_ci == (0.5, 1.0)
    assert SetMetrics.from_json(json.loads(jsonio.dumps(m.to_json()))) == m
    c = PredictCounts(n=np.int64(4), n_paired=4, standard=0, anatomy=0)
    assert type(c.n) is int and "standard_qc_withheld" not in c.to_json()  # optional and None: left out


@pytest.mark.parametrize("data, says", [
    ({"model": "/m", "trained": True, "arch": "unet", "epochs": 3}, "unknown key(s) ['epochs']"),
    ({"model": "/m", "trained": True}, "missing key(s) ['arch']"),
    ({"model": "/m", "trained": "yes", "arch": "unet"}, "SegmenterOutput.trained: str"),
    ({"model": None, "trained": True, "arch": "unet"}, "SegmenterOutput.model: null"),
    ({"model": "/m", "trained": True, "arch": "unet", "ct_route": {"cases": []}}, "ct_route: unknown key(s) []"),
    (["/m"], "expected an object"),
])
def test_json_that_does_not_fit_is_refused_in_one_line(data, says: str) -> None:
    with pytest.raises(OutputFormatError) as err:
        SegmenterOutput.from_json(data)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_cache_that_does_not_fit_reruns_its_stage_and_those_below(tmp_path: Path, cfg, fake_stages: list[str]) -> None:
    run_study(cfg, out_dir=tmp_path / "s")
    done = tmp_path / "s" / "predict" / "done.json"
    record = json.loads(done.read_text())
    record["outputs"] = {"sets": {}, "a_key_of_another_version": 1}  # same cache key, other format
    done.write_text(json.dumps(record))
    fake_stages.clear()
    res = run_study(cfg, out_dir=tmp_path / "s")
    assert fake_stages == ["predict", "evaluate", "compare", "progression", "report"]
    assert res.skipped == ["cohorts", "segmenter", "classifiers"]
    assert isinstance(res.typed["predict"], PredictOutput)
    assert "a_key_of_another_version" not in json.loads(done.read_text())["outputs"]


def test_a_stage_cannot_read_an_undeclared_upstream(tmp_path: Path, cfg, fake_stages: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """compare declares classifiers and predict; reading the segmenter's output fails the stage."""
    declared = {s.name: s.upstream for s in STAGES}["compare"]
    assert "segmenter" not in declared and "predict" in declared
    seen = []

    def compare(ctx: StageContext) -> Record:
        seen.append(ctx.predict.sets)  # declared: readable
        return fake_output("compare", ctx.segmenter.model)  # not declared

    monkeypatch.setitem(STAGE_FUNCTIONS, "compare", compare)
    with pytest.raises(StageFailedError) as err:
        run_study(cfg, out_dir=tmp_path / "s")
    assert err.value.stage == "compare" and seen == [{"proof-val": str(tmp_path.resolve() / "s/predict/out.txt")}]
    assert isinstance(err.value.__cause__, UndeclaredUpstreamError)
    assert str(err.value) == ("stage 'compare' failed: upstream stage 'segmenter' is not declared by this stage "
                              "(its context holds: classifiers, predict)")
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path, upstream={})
    with pytest.raises(UndeclaredUpstreamError):
        ctx.cohorts


def test_a_stage_function_must_return_its_stage_dataclass(tmp_path: Path, cfg, fake_stages: list[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STAGE_FUNCTIONS, "evaluate", lambda ctx: {"standard": {}})
    with pytest.raises(StageFailedError) as err:
        run_study(cfg, out_dir=tmp_path / "s")
    assert str(err.value) == "stage 'evaluate' failed: TypeError: the stage function returned dict, not EvaluateOutput"
    assert not (tmp_path / "s" / "evaluate" / "done.json").exists()
