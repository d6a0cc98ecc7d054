"""The statistics stages and the report on synthetic predictions (real evaluate calls, no torch)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sijscan.study import stage_functions as work
from sijscan.study.config import config_from_dict
from sijscan.study import report as study_report
from sijscan.study.report import table1_row
from sijscan.study.context import StageContext
from sijscan.study.outputs import (Cohort, CohortsOutput, Comparison, CompareOutput, GradcamExample, PredictCounts,
                                   PredictOutput, Progression, ProgressionOutput, Record)
from tests.study.study_fakes import classifiers_with, evaluate_with, given_segmenter


def _manifest(path: Path, *, cohort: str, n: int, seed: int, followup: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = np.array([1] * (n // 2) + [0] * (n - n // 2))
    gl = np.where(label == 1, rng.integers(2, 5, n), rng.integers(0, 2, n))
    gr = np.where(label == 1, rng.integers(2, 5, n), rng.integers(0, 2, n))
    df = pd.DataFrame({"image": [str(path.parent / f"{cohort}_{i:03d}.png") for i in range(n)],
                       "patient_id": [f"{cohort}-{i}" for i in range(n)], "cohort": cohort,
                       "split": "test", "label": label, "grade_left": gl, "grade_right": gr,
                       "sex": rng.choice(["F", "M"], n), "age": rng.integers(20, 60, n), "site": cohort,
                       "kvp": 80.0, "width": 256, "height": 192, "pixel_spacing_mm": 1.6})
    if followup:
        fu = label.copy()
        fu[(label == 0) & (rng.random(n) < 0.4)] = 1
        df["followup_label"] = fu
    df.to_csv(path, index=False)
    return df


def _predictions(path: Path, df: pd.DataFrame, *, strength: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.clip(0.5 + strength * (df["label"].to_numpy() - 0.5) + rng.normal(0, 0.25, len(df)), 0, 1)
    pd.DataFrame({"image": df["image"], "probability": p}).to_csv(path, index=False)


@pytest.fixture
def ctx(tmp_path: Path, minimal) -> StageContext:
    cfg = config_from_dict(minimal(cohorts__gespic={"phantom": {"n": 40}}, evaluate__n_bootstrap=50,
                                   evaluate__progression_bootstrap=50, evaluate__confident=0.6))
    sets, preds = {}, {"standard": {}, "anatomy": {}}
    cohorts = {}
    for i, (name, n, fu) in enumerate((("proof-val", 30, False), ("optiref", 40, False), ("gespic", 60, True))):
        man = tmp_path / f"{name}.csv"
        df = _manifest(man, cohort=name, n=n, seed=i, followup=fu)
        sets[name] = str(man)
        cohorts[name.removesuffix("-val")] = Cohort(manifest=str(man), role="train" if i == 0 else "test", n=n,
                                                    source="phantom")
        for j, (model, strength) in enumerate((("standard", 0.2), ("anatomy", 0.5))):
            path = tmp_path / f"{model}_{name}.csv"
            _predictions(path, df, strength=strength, seed=10 * i + j)
            preds[model][name] = str(path)
    combined = {}
    for model in preds:
        combined[model] = str(tmp_path / f"{model}_all.csv")
        pd.concat([pd.read_csv(p) for p in preds[model].values()]).to_csv(combined[model], index=False)
    no_model = str(tmp_path / "no-model-folder")
    upstream = {"cohorts": CohortsOutput(entries=cohorts), "segmenter": given_segmenter("x"),
                "classifiers": classifiers_with(standard=no_model, anatomy=no_model),
                "predict": PredictOutput(sets=sets, predictions=preds, combined=combined, gradcam=(),
                                         failed={k: PredictCounts(n=1, n_paired=1, standard=0, anatomy=0) for k in sets})}
    return StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path, upstream=upstream)


def _stage(ctx: StageContext, name: str) -> Record:
    ctx.stage_dir = ctx.out_dir / name
    ctx.stage_dir.mkdir(exist_ok=True)
    out = getattr(work, f"run_{name}")(ctx)
    ctx.upstream[name] = out  # type: ignore[index]
    ctx.records[name] = {"seconds": 1.5, "key": "abcdef0123456789", "outputs": out.to_json()}
    return out


def _fixed_cutoffs(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model folders here: fix both cut-offs at 0.5 instead of reading the model cards."""
    from sijscan.stats import cutoff as cutoff_mod

    real = cutoff_mod.resolve_cutoff

    def fixed(**kw):
        kw["model_dir"], kw["method"] = None, None
        kw["cutoff"] = 0.5
        return real(**kw)

    for mod in ("sijscan.stats.cutoff", "sijscan.evaluate.api", "sijscan.evaluate.comparison",
                "sijscan.evaluate.followup"):
        monkeypatch.setattr(f"{mod}.resolve_cutoff", fixed)


def test_report_sections_without_figures(ctx: StageContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast: real comparison/progression numbers (no figures written), then the report."""
    from sijscan.evaluate.comparison import compare_models, table2_rows
    from sijscan.evaluate.followup import progression_report, progression_rows

    _fixed_cutoffs(monkeypatch)
    pred = ctx.predict
    res = compare_models(predictions_a=pred.combined["standard"], predictions_b=pred.combined["anatomy"],
                         manifests=list(pred.sets.values()), name_a="standard", name_b="anatomy-aware",
                         n_bootstrap=20)
    none = ctx.out_dir / "none"  # no comparison.json: no summary figure
    ctx.upstream["compare"] = CompareOutput(  # type: ignore[index]
        comparison=str(none / "comparison.json"), table2_md=str(none / "table2.md"), dir=str(none),
        table2_rows=table2_rows(res), warnings=(),
        summary={c: Comparison(n=b["n"], auc_standard=b["auc_a"], auc_anatomy=b["auc_b"], delong_p=b["delong_p"],
                               auc_difference_ci=b["auc_difference_ci"], mcnemar_p=b["mcnemar_p"])
                 for c, b in res["cohorts"].items()})
    prog = progression_report(predictions=pred.predictions["standard"]["gespic"],
                              predictions_b=pred.predictions["anatomy"]["gespic"], manifest=pred.sets["gespic"],
                              confident=0.6, n_bootstrap=20)
    ctx.upstream["progression"] = ProgressionOutput(entries={"gespic": Progression(  # type: ignore[index]
        dir=str(none), json=str(none / "progression.json"), rows=progression_rows(prog), confident=0.6,
        paper_ratio={"standard": prog["paper_ratio"], "anatomy": prog["b"]["paper_ratio"]},
        paper_ratio_ci={"standard": prog["paper_ratio_ci"], "anatomy": prog["b"]["paper_ratio_ci"]},
        paper_ratio_reason={"standard": None, "anatomy": None})})
    rep = _stage(ctx, "report")
    md = Path(rep.markdown).read_text()
    for section in ("## Findings", "## Table 1: cohorts", "## Table 2: standard vs anatomy-aware model",
                    "## Progression of confident false positives", "## Provenance",
                    "## ROC curves and Grad-CAM examples per evaluation set"):
        assert section in md
    assert "<h2>Table 2: standard vs anatomy-aware model</h2>" in Path(rep.html).read_text()
    # Table 1 has one row per configured cohort; Table 2 one row per model and evaluation set
    assert md.count("| proof (phantom) | train") == 1 and "| optiref (phantom) | test | 40 |" in md
    blk = res["cohorts"]["optiref"]
    assert f"{blk['auc_b']:.3f}" in md and f"{blk['auc_a']:.3f}" in md
    ratio = prog["b"]["paper_ratio"]
    assert any(f"anatomy-aware model = {ratio:.2f}" in line for line in rep.findings)


@pytest.mark.slow
def test_statistics_stages_and_report(ctx: StageContext, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed_cutoffs(monkeypatch)
    withheld_csv = ctx.predict.predictions["anatomy"]["gespic"]  # QC withheld 5 of its decisions (issue 25 item 7)
    df = pd.read_csv(withheld_csv)
    df["qc_passed"] = ["false"] * 5 + ["true"] * (len(df) - 5)
    df.to_csv(withheld_csv, index=False)
    ev = _stage(ctx, "evaluate")
    cmp_ = _stage(ctx, "compare")
    prog = _stage(ctx, "progression")
    rep = _stage(ctx, "report")

    # evaluate: AUC per model and set equals an independent computation
    from sklearn.metrics import roc_auc_score

    for model in ("standard", "anatomy"):
        for name, man in ctx.predict.sets.items():
            y = pd.read_csv(man)["label"]
            p = pd.read_csv(ctx.predict.predictions[model][name])["probability"]
            assert ev.metrics(model)[name].auc == pytest.approx(roc_auc_score(y, p))
            q = ev.metrics(model)[name].qc_excluded
            if (model, name) == ("anatomy", "gespic"):  # all images above; beside it the 55 QC passed
                assert q["n"] == len(y) - 5 and q["n_qc_withheld_excluded"] == 5
                assert q["auc"] == pytest.approx(roc_auc_score(y[5:], p[5:])) != pytest.approx(roc_auc_score(y, p))
            else:
                assert q["n"] == len(y) and q["n_qc_withheld_excluded"] == 0 and q["auc"] == pytest.approx(roc_auc_score(y, p))
    assert set(cmp_.summary) == {"proof-val", "optiref", "gespic", "all"}
    assert cmp_.summary["gespic"].auc_anatomy == pytest.approx(ev.anatomy["gespic"].auc)
    assert list(prog.entries) == ["gespic"]  # the only set with follow-up labels
    md = Path(rep.markdown).read_text()
    page = Path(rep.html).read_text()
    for section in ("## Findings", "## Table 1: cohorts", "## Table 2: standard vs anatomy-aware model",
                    "## ROC curves and Grad-CAM examples per evaluation set", "## Progression of confident false positives",
                    "## Provenance"):
        assert section in md
    assert "## QC-withheld images: all images vs excluded" in md and "Rule (sijscan evaluate and the study alike)" in md
    qa = ev.anatomy["gespic"]
    assert f"| gespic | anatomy-aware | {qa.auc:.3f} | {qa.qc_excluded['auc']:.3f} | 55 | 5 |" in md
    assert "<h2>Table 1: cohorts</h2>" in page and "<h2>Table 2: standard vs anatomy-aware model</h2>" in page
    assert "data:image/png;base64," in page  # ROC figures embedded
    auc_b = cmp_.summary["optiref"].auc_anatomy
    assert f"{auc_b:.3f}" in md
    assert any(line.startswith("optiref (n=40): AUC standard") and "DeLong p " in line for line in rep.findings)
    assert any("progression ratio" in line for line in rep.findings)
    prov = json.loads(Path(rep.provenance).read_text())
    assert prov["seeds"]["study"] == 1 and "torch" in prov["versions"] and prov["stage_seconds"]["evaluate"] == 1.5


def test_table1_row_counts(tmp_path: Path) -> None:
    df = _manifest(tmp_path / "m.csv", cohort="c", n=10, seed=0, followup=True)
    row = table1_row("c", "test", df)
    assert row[2] == "10" and row[3] == "50.0%"
    female = (df["sex"] == "F").mean() * 100
    assert row[4] == f"{female:.1f}%"
    g = np.maximum(df["grade_left"], df["grade_right"])
    assert row[6] == "/".join(f"{100 * (g == k).mean():.0f}" for k in range(5))
    assert "80 kVp" in row[7] and "256x192 px" in row[7]
    assert row[8] == "10"
    real = pd.DataFrame({"image": ["a.png", "b.png"], "label": [1, 0]})  # a real manifest: few columns
    assert table1_row("real", "test", real)[4:7] == ["n/a", "n/a", "n/a"]


def _png(path: Path, value: int) -> Path:
    from PIL import Image

    Image.fromarray(np.full((48, 64, 3), value, dtype=np.uint8)).save(path)
    return path


@pytest.mark.slow
def test_report_renders_figure_first_in_chromium(ctx: StageContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """report.html in headless Chromium: summary figure first, every figure decoded, ROC and Grad-CAM side by side."""
    import os
    import shutil

    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if chromium is None or sync_playwright is None:
        if in_ci:
            pytest.fail("chromium or playwright is missing in CI")
        pytest.skip("chromium or playwright is not installed")
    _fixed_cutoffs(monkeypatch)
    ctx.upstream["predict"] = dataclasses.replace(ctx.predict, gradcam=[  # type: ignore[index]
        GradcamExample(set=name, model=model, image=f"{name}_{model}.png", label=1, probability=0.8,
                       png=str(_png(ctx.out_dir / f"cam_{name}_{model}.png", 60 + 40 * j)))
        for name in ctx.predict.sets for j, model in enumerate(("standard", "anatomy"))])
    for name in ("evaluate", "compare", "progression"):
        _stage(ctx, name)
    rep = _stage(ctx, "report")
    assert rep.summary_figure and Path(rep.summary_figure).is_file()
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(Path(rep.html).resolve().as_uri(), wait_until="load")
        images = page.evaluate("""() => Array.from(document.images).map(i => ({alt: i.alt, w: i.naturalWidth,
            top: i.getBoundingClientRect().top, left: i.getBoundingClientRect().left}))""")
        order = page.evaluate("""() => Array.from(document.querySelectorAll('h2, img')).map(
            e => e.tagName === 'IMG' ? 'img:' + e.alt.slice(0, 7) : e.textContent)""")
        rows = page.evaluate("""() => Array.from(document.querySelectorAll('div.row')).map(
            r => Array.from(r.querySelectorAll('img')).map(i => [i.getBoundingClientRect().top,
                                                               i.getBoundingClientRect().left]))""")
        browser.close()
    assert images and all(i["w"] > 0 for i in images)  # every embedded PNG decoded
    assert order[0] == "img:Summary" and order.index("Findings") < order.index("Table 1: cohorts")
    # 3 evaluation sets with a ROC + two Grad-CAM panels, laid out in one line each; then the pooled ROC
    assert [len(r) for r in rows] == [3, 3, 3, 1]
    for r in rows[:3]:
        assert len({round(top) for top, _ in r}) == 1 and len({round(left) for _, left in r}) == 3


def test_findings_name_the_real_anatomy_cohort_and_each_seed(tmp_path: Path, minimal) -> None:
    s = Comparison(n=60, auc_standard=0.6, auc_anatomy=0.8, auc_difference_ci=[0.05, 0.35], delong_p=0.01,
                   mcnemar_p=None)
    ctx = StageContext(config=config_from_dict(minimal()), out_dir=tmp_path, stage_dir=tmp_path, upstream={
        "compare": CompareOutput(comparison="", table2_md="", dir="", summary={"ct003": s, "optiref": s},
                                 table2_rows=(), warnings=()),
        "cohorts": CohortsOutput(entries={"ct003": Cohort(manifest="a.csv", role="test", n=60, source="ct"),
                                          "optiref": Cohort(manifest="b.csv", role="test", n=60, source="phantom")}),
        "evaluate": evaluate_with(anatomy_seed_auc={"ct003": {"0": {"auc": 0.8}, "1": {"auc": 0.78}, "spread": 0.02}}),
    })
    lines = study_report.findings(ctx)
    ct = next(line for line in lines if line.startswith("ct003"))
    assert "(real CT anatomy, CT route)" in ct and "0.800 (seed 0), 0.780 (seed 1); spread 0.020" in ct
    assert "real CT" not in next(line for line in lines if line.startswith("optiref"))
