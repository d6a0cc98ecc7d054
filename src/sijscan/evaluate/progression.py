"""Do confident 'false positives' at baseline progress more often? (paper section 3.5)

Population: baseline-negative patients (``label == 0``) with a follow-up label. A confident
false positive (FP) has ``probability >= confident`` (0.7 in the paper). The 2 x 2 table:

=================  ===========  ===============
                   progressed   not progressed
=================  ===========  ===============
confident FP       a            b
rest (not conf.)   c            d
=================  ===========  ===============

Three measures, each named for what it is:

* ``paper_ratio`` = [a / (a + b)] / [(a + c) / N]: progression rate among confident FPs over the
  rate among ALL baseline negatives (what the paper calls an "odds ratio": 12/30 over 25/135 = 2.16).
* ``odds_ratio`` = ad / bc with Woolf's log CI, SE = sqrt(1/a + 1/b + 1/c + 1/d).
* ``relative_risk`` = [a / (a + b)] / [c / (c + d)] with Katz's log CI,
  SE = sqrt(1/a - 1/(a + b) + 1/c - 1/(c + d)).

When a cell is zero, 0.5 is added to all four cells (Haldane-Anscombe) for the OR and RR and
their CIs; ``haldane_correction`` says so. Fisher's exact p (two-sided) uses the uncorrected table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from sijscan.stats.bootstrap import percentile_ci
from sijscan.evaluate.errors import NoFollowupError

NAN = float("nan")


@dataclass
class RatioCi:
    value: float
    ci: tuple[float, float]
    reason: str | None = None


def _log_ci(value: float, se: float, level: float) -> tuple[float, float]:
    z = stats.norm.ppf(0.5 + level / 2.0)
    return (math.exp(math.log(value) - z * se), math.exp(math.log(value) + z * se))


def odds_ratio_woolf(*, a: float, b: float, c: float, d: float, level: float = 0.95) -> RatioCi:
    """OR = ad/bc with Woolf's (log) CI; cells as given (apply any correction before)."""
    if min(a, b, c, d) <= 0:
        return RatioCi(NAN, (NAN, NAN), "a cell is zero")
    value = a * d / (b * c)
    return RatioCi(value, _log_ci(value, math.sqrt(1 / a + 1 / b + 1 / c + 1 / d), level))


def relative_risk_katz(*, a: float, b: float, c: float, d: float, level: float = 0.95) -> RatioCi:
    """RR = [a/(a+b)] / [c/(c+d)] with Katz's log CI; cells as given."""
    if a <= 0 or c <= 0:
        return RatioCi(NAN, (NAN, NAN), "no progression in one of the groups")
    value = (a / (a + b)) / (c / (c + d))
    se = math.sqrt(max(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d), 0.0))
    return RatioCi(value, _log_ci(value, se, level))


def fisher_exact_p(*, a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p: sum of hypergeometric tables no more probable than the observed one."""
    dist = stats.hypergeom(a + b + c + d, a + c, a + b)
    support = np.arange(max(0, (a + b) - (b + d)), min(a + b, a + c) + 1)
    pmf = dist.pmf(support)
    p_obs = dist.pmf(a)
    return float(min(1.0, pmf[pmf <= p_obs * (1 + 1e-7)].sum()))


@dataclass
class ProgressionResult:
    confident: float
    n_baseline_negative: int
    """baseline negatives with a follow-up label (the analysed population)"""
    n_baseline_negative_without_followup: int
    n_confident_fp: int
    n_progressed_fp: int
    n_progressed: int
    """progressed among all analysed baseline negatives"""
    table: dict[str, int]
    paper_ratio: float
    odds_ratio: float
    odds_ratio_ci: tuple[float, float]
    relative_risk: float
    relative_risk_ci: tuple[float, float]
    fisher_p: float
    haldane_correction: bool
    reasons: dict[str, str] = field(default_factory=dict)
    bootstrap: dict[str, object] | None = None


def _cells(conf: np.ndarray, prog: np.ndarray) -> tuple[int, int, int, int]:
    return (int((conf & prog).sum()), int((conf & ~prog).sum()), int((~conf & prog).sum()), int((~conf & ~prog).sum()))


def progression_analysis(*, probability: np.ndarray, label: np.ndarray, followup_label: np.ndarray,
                         confident: float = 0.7, n_bootstrap: int = 0, seed: int = 0,
                         level: float = 0.95) -> ProgressionResult:
    """The confident-FP analysis; ``followup_label`` uses NaN (or a masked/NA value) for 'no follow-up'.

    Raises :class:`NoFollowupError` when no baseline-negative case has a follow-up label.
    """
    p = np.asarray(probability, dtype=float)
    y0 = np.asarray(label, dtype=float)
    y1 = np.asarray(followup_label, dtype=float)
    neg = y0 == 0
    has_fu = np.isfinite(y1)
    pop = neg & has_fu
    if not pop.any():
        raise NoFollowupError(f"no baseline-negative case (label 0) has a follow-up label "
                              f"({int(neg.sum())} baseline negatives, {int(has_fu.sum())} cases with follow-up)")
    conf = p[pop] >= confident
    prog = y1[pop] == 1
    a, b, c, d = _cells(conf, prog)
    n = a + b + c + d
    reasons: dict[str, str] = {}
    if a + b == 0:
        reasons["paper_ratio"] = f"no confident false positive (probability >= {confident})"
    elif a + c == 0:
        reasons["paper_ratio"] = "no baseline negative progressed"
    paper_ratio = NAN if "paper_ratio" in reasons else (a / (a + b)) / ((a + c) / n)
    haldane = min(a, b, c, d) == 0
    k = 0.5 if haldane else 0.0
    if a + b == 0 or c + d == 0:
        why = "no confident false positive" if a + b == 0 else "every baseline negative is a confident false positive"
        odds = rr = RatioCi(NAN, (NAN, NAN), why)
    else:
        odds = odds_ratio_woolf(a=a + k, b=b + k, c=c + k, d=d + k, level=level)
        rr = relative_risk_katz(a=a + k, b=b + k, c=c + k, d=d + k, level=level)
    for name, r in (("odds_ratio", odds), ("relative_risk", rr)):
        if r.reason:
            reasons[name] = r.reason
    if haldane and a + b and c + d:
        reasons["haldane_correction"] = "a cell of the 2x2 table is zero: 0.5 added to every cell for OR and RR"
    result = ProgressionResult(
        confident=float(confident), n_baseline_negative=n,
        n_baseline_negative_without_followup=int((neg & ~has_fu).sum()),
        n_confident_fp=a + b, n_progressed_fp=a, n_progressed=a + c,
        table={"confident_fp_progressed": a, "confident_fp_not_progressed": b,
               "rest_progressed": c, "rest_not_progressed": d},
        paper_ratio=paper_ratio, odds_ratio=odds.value, odds_ratio_ci=odds.ci, relative_risk=rr.value,
        relative_risk_ci=rr.ci, fisher_p=fisher_exact_p(a=a, b=b, c=c, d=d), haldane_correction=haldane,
        reasons=reasons)
    if n_bootstrap > 0:
        result.bootstrap = _bootstrap(conf, prog, n_bootstrap=n_bootstrap, seed=seed, level=level)
    return result


def _bootstrap(conf: np.ndarray, prog: np.ndarray, *, n_bootstrap: int, seed: int, level: float) -> dict[str, object]:
    """Percentile CIs from resampling the analysed baseline negatives (Haldane per resample if needed)."""
    rng = np.random.default_rng(seed)
    n = conf.size
    idx = rng.integers(0, n, size=(n_bootstrap, n))
    cf, pg = conf[idx], prog[idx]
    a = (cf & pg).sum(1).astype(float)
    b = (cf & ~pg).sum(1).astype(float)
    c = (~cf & pg).sum(1).astype(float)
    d = (~cf & ~pg).sum(1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        paper = (a / (a + b)) / ((a + c) / n)
        k = np.where(np.minimum.reduce([a, b, c, d]) == 0, 0.5, 0.0)
        valid = (a + b > 0) & (c + d > 0)
        odds = np.where(valid, (a + k) * (d + k) / ((b + k) * (c + k)), np.nan)
        rr = np.where(valid, ((a + k) / (a + b + 2 * k)) / ((c + k) / (c + d + 2 * k)), np.nan)
    out: dict[str, object] = {"n_resamples": n_bootstrap, "seed": seed, "method": "percentile, resampling baseline negatives"}
    for name, s in (("paper_ratio", paper), ("odds_ratio", odds), ("relative_risk", rr)):
        ci = percentile_ci(np.where(np.isfinite(s), s, np.nan), level=level)
        out[f"{name}_ci"] = [ci.low, ci.high]
        if ci.reason:
            out[f"{name}_ci_reason"] = ci.reason
    return out
