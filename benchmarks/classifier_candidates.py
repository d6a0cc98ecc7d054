"""The classifier transfer benchmark's recipes (benchmarks/classifier_transfer.py), each fixed with its
reason before the run that first measured it (docs/performance.md, "Classifier transfer").

Keys of a candidate: ``extra_weight`` (share of each epoch's draws from the CT-route renders; None:
procedural only), ``appearance`` / ``elastic`` (augmentation), ``crop`` (the anatomy-aware view),
``joint_mix``, ``ct_renders_x`` (CT-route renders per training CT, times the mode's count),
``ct_variants`` / ``ct_vary`` (anatomy variants), ``domain_weight`` (anatomy-adversarial head), ``arch``
(the classifier network; default the ``cpu`` recipe's ``tiny-resnet``), ``epochs`` (all-layer epochs instead
of the ``cpu`` recipe's 10; a quick-mode run keeps its own), ``vendor_spread`` (the procedural training
cohort's ``vendor_spread``, sijscan.phantom.vendor; default 0), ``grade_pool`` (what the grade head reads
per side, sijscan.classify.networks; default "global"), ``ct_size`` (the CT-route training renders' size in
px; default the mode's; the held-out CT's test renders keep the mode's size), ``view_hw`` (the classifier
input's height and width; default the ``cpu`` recipe's 96 x 144).
"""
from __future__ import annotations

from typing import Any

CANDIDATES: dict[str, dict[str, Any]] = {
    "procedural_only": dict(extra_weight=None, appearance=False, elastic=False, crop="box"),
    "mixed": dict(extra_weight=0.5, appearance=False, elastic=False, crop="box"),
    "mixed_appearance": dict(extra_weight=0.5, appearance=True, elastic=False, crop="box"),
    "joints": dict(extra_weight=0.5, appearance=False, elastic=False, crop="joints"),
    "joints_appearance": dict(extra_weight=0.5, appearance=True, elastic=False, crop="joints"),
    "joints_elastic": dict(extra_weight=0.5, appearance=True, elastic=True, crop="joints"),
    "joints_mix": dict(extra_weight=0.5, appearance=False, elastic=False, crop="joints", joint_mix=True),
    # three times the CT-route renders per training CT (more poses and lesion draws of the same anatomy)
    "joints_n300": dict(extra_weight=0.5, appearance=False, elastic=False, crop="joints", ct_renders_x=3),
    # run 3: the same renders of 10 anatomy variants per CT (sijscan.phantom.ct.proportions), other
    # proportions; run 4: other bone densities
    "joints_prop": dict(extra_weight=0.5, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                        ct_variants=10, ct_vary=("proportions",)),
    "joints_density": dict(extra_weight=0.5, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                           ct_variants=10, ct_vary=("density",)),
    # run 5: the incumbent's data with 80% (not 50%) of each epoch's draws from the CT-route renders
    # (the issue measured a CT-only model at AUC 0.89 on CT 003, mixed 0.84: procedural normals may
    # teach the model that real anatomy is abnormal)
    "joints_ct80": dict(extra_weight=0.8, appearance=False, elastic=False, crop="joints", ct_renders_x=3),
    # run 6: the incumbent's data, each joint's tile scaled by the span between the joints instead of the
    # joint's height (CT 002's joints are 0.78 times as tall as the others', their span 0.88 times; a
    # grade's lesions, sized in mm, then look larger on 002, which had the highest grade-0 probability)
    "joints_span": dict(extra_weight=0.5, appearance=False, elastic=False, crop="joints_span", ct_renders_x=3),
    # run 7: the incumbent with anatomy-adversarial training (sijscan.classify.domain; DANN's weight 1 and
    # ramp): the features are pushed to hide which anatomy (each real CT, the procedural phantom) a view
    # shows, against learning each training anatomy's normal joint as a template
    "joints_dann": dict(extra_weight=0.5, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                        domain_weight=1.0),
    # run 8: the other side of run 5: 30% of each epoch's draws from the CT-route renders (80% lost every
    # inner fold: the procedural phantom's varied anatomy may be what generalises)
    "joints_ct30": dict(extra_weight=0.3, appearance=False, elastic=False, crop="joints", ct_renders_x=3),
    # run 9: the incumbent's data and draws with a network that cannot see a whole joint: tiny-resnet cut
    # after its second stage (``local-resnet``, receptive field 51 px, about 5 cm of the ~1 mm-per-pixel
    # joint view). The mNY grades are defined by the joint margin's local appearance (erosions, sclerosis,
    # joint-space width, bridging); what differs between real anatomies, and what a classifier trained
    # on two CTs can learn as "normal", is the shape of the whole joint. Its standard arm reuses the
    # incumbent's full-view models (the question is the anatomy-aware view's network).
    "joints_local": dict(extra_weight=0.3, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                         arch="local-resnet"),
    # run 11: the incumbent trained 20 epochs instead of 10 (one-cycle over 20). The cpu recipe's 10 epochs
    # were a CPU-time choice, never measured; the demo's segmenter gained from twice its epochs in every
    # held-out fold and seed (session 11), and 7 of the incumbent's 9 held-out models had their best
    # validation MCC in their last epoch
    "joints_ct30_e20": dict(extra_weight=0.3, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                            epochs=20),
    # run 12: the incumbent's recipe on a procedural training cohort whose patients each have their own
    # imaging chain (``vendor_spread`` 1: detector dose, blur and noise, kVp, display curve, edge
    # enhancement, dynamic range compression), as a cohort from many centres has; the processing diagnostic
    # (benchmarks/processing_shift.py, session 12) traced the grade-0 offset to vendor processing, and the
    # demo trained on such a cohort agreed better with the readers' grades on every external phantom cohort
    "joints_ct30_vendor": dict(extra_weight=0.3, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                               vendor_spread=1.0),
    # run 13: the incumbent with each side's grade read from its own half of the last feature map
    # (``grade_pool: sides``) instead of from features pooled over both joints. Issue 22 item 5 asks for a
    # per-side kappa >= 0.6 on every external cohort; with a global pool, one feature vector has to carry
    # both joints' grades (the binary head keeps the global pool, as the paper's)
    "joints_ct30_sides": dict(extra_weight=0.3, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                              grade_pool="sides"),
    # run 15: the incumbent with its CT-route training renders made at 512 px instead of 1024 (the held-out
    # CT's test renders stay at 1024). Issue 22 item 4 (demo <= 10 min): the classifier stage's 600 renders
    # at 1024 px cost ~141 s of the demo's ~936 s; the joint-pair view samples the joints at about 1 mm per
    # pixel (96 x 144), which a 512 px render (~0.8 mm per pixel) still resolves, so the view should carry
    # the same lesions. The question is whether the models notice the lower source resolution (noise
    # grain, blur) as a shift; rule in docs/performance.md, written before the run
    "joints_ct30_r512": dict(extra_weight=0.3, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                             ct_size=512),
    # run 16: the incumbent with its input at 192 x 288 instead of 96 x 144 (about 0.5 mm per pixel of the joint
    # view instead of 1 mm). At 1 mm per pixel a grade-2 CT-route erosion spans 1.8 px and a grade-3 one
    # 2.6 px (docs/phantom.md, lesion contrast table), and the label's boundary (grade 2 on both sides) rests
    # on them; the paper's own recipe ends at 416 x 628. A model that sees the lesions should need the
    # anatomy's shape (what differs between real pelves) less. Rule written before the run:
    # benchmarks/results/classifier_transfer-2026-12-07-run16-hr-rule.txt
    "joints_ct30_hr": dict(extra_weight=0.3, appearance=False, elastic=False, crop="joints", ct_renders_x=3,
                           view_hw=(192, 288)),
    # run 17: the incumbent with each joint's tile 1.8 instead of 1.3 times the joints' height (crop
    # "joints_wide"), its input grown to keep about 1 mm per pixel (132 x 198). Runs 9 (a network that sees
    # 5 cm) and 16 (half the pixel size: the same network sees half the anatomy) both lost AUC on unseen
    # anatomy, so the call rests on context; a reader judges sclerosis and joint-space width against the same
    # bone away from the joint, whose density differs between people (CT 002, the densest pelvis, has the
    # highest grade-0 probability held out), and the 1.3 tile holds about 24 mm of bone beside a 75 mm joint.
    # Rule: benchmarks/results/classifier_transfer-2026-12-07-run17-wide-rule.txt
    "joints_wide": dict(extra_weight=0.3, appearance=False, elastic=False, crop="joints_wide", ct_renders_x=3,
                        view_hw=(132, 198)),
}
INCUMBENT = "joints_ct30"
"""Run 8's choice in two folds of three, the demo's recipe since (``joints_n300`` in runs 3-8, run 2's
choice in every fold; ``joints`` in runs 1-2)."""
DEFAULT_CANDIDATES = ("joints_ct30", "joints_n300")
"""What a run without ``--candidates`` compares: the incumbent against the one before it. Each run of
record names its candidates with ``--candidates``, fixed before it (docs/performance.md)."""
