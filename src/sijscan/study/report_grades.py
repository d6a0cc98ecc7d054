"""Report sections on the grade head (agreement tables, confusion matrices) and on the training seed."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sijscan.evaluate.report import write_json
from sijscan.study.context import StageContext

TITLES = {"standard": "standard", "anatomy": "anatomy-aware"}


def fmt(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals, "n/a" for anything missing or not finite."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "n/a"
    return f"{f:.{digits}f}" if math.isfinite(f) else "n/a"


def grades_section(rep: Any, ctx: StageContext, out: Path) -> None:
    from sijscan.evaluate.grades import HEADERS, MNY_HEADERS, grade_rows, mny_row  # lazy: pandas

    rep.heading("Grade head: per-side grade agreement")
    res = (ctx.evaluate.grades if ctx.has("evaluate") else None) or {}
    rows, mny, reasons = [], [], set()
    titles = TITLES
    for model, sets in res.items():
        for name, sec in sets.items():
            if not sec.get("available"):
                reasons.add(str(sec.get("reason")))
                continue
            rows += [[name, titles.get(model, model), *r] for r in grade_rows(sec)]
            mny.append([name, titles.get(model, model), *mny_row(sec)])
    if not rows:
        rep.para(f"(not computed: {'; '.join(sorted(reasons)) or 'no evaluation output'})")
        return
    write_json(out / "grade_agreement.json", res)
    rep.table(["Evaluation set", "Model", *HEADERS], rows)
    rep.table(["Evaluation set", "Model", *MNY_HEADERS], mny)
    rep.para("The classifiers' ordinal grade head (trained with the binary head when the training manifest has "
             "grades) predicts each side's modified New York grade 0-4. Exact and within-one agreement with "
             "Wilson 95% CIs; kappa with quadratic weights; the mNY criterion applied to the two predicted grades "
             "vs the label.")
    for name, sec in (res.get("anatomy") or {}).items():
        conf = (sec.get("sides") or {}).get("both", {}).get("confusion") if sec.get("available") else None
        if conf:
            rep.table([f"{name}: true grade \\ predicted", *[str(g) for g in range(5)]],
                      [[str(g), *[str(int(v)) for v in row]] for g, row in enumerate(conf)])
    rep.para("Confusion matrices of the anatomy-aware model's grade head, both sides pooled (rows: the true "
             "grade, columns: the predicted one).")


def seeds_section(rep: Any, ctx: StageContext) -> None:
    """The anatomy-aware model's AUC per training seed and evaluation set (classifiers.seeds)."""
    res = ctx.evaluate.anatomy_seed_auc if ctx.has("evaluate") else None
    if not res:
        return
    rep.heading("Anatomy-aware model: AUC per training seed")
    seeds = [k for k, v in next(iter(res.values())).items() if isinstance(v, dict)]  # not spread(_reason)
    rows = []
    for name, per in res.items():
        cells = []
        for seed in seeds:
            v = per.get(seed) or {}
            ci = v.get("auc_ci") or [None, None]
            cells.append(f"{fmt(v.get('auc'))} ({fmt(ci[0])}-{fmt(ci[1])})")
        rows.append([name, *cells, fmt(per.get("spread"))])
    rep.table(["Evaluation set", *[s if s == "ensemble" else f"seed {s}" for s in seeds],
               "spread of the seeds (max - min)"], rows)
    who = ("the ensemble of the seeds (their logits averaged)" if seeds[0] == "ensemble"
           else f"seed {seeds[0]}'s; the others were trained on the same data with another seed")
    rep.para(f"The study's anatomy-aware model is {who}. Every model runs on the same crops (AUC with DeLong "
             "95% CI). The spread is how far a single model's result moves with the training seed (and, on "
             "another machine, with its float kernels).")
