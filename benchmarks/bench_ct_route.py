"""CT-route rendering speed: AP radiographs/s at one size from one CT case (prints ONE JSON line).

    python benchmarks/bench_ct_route.py --case ../shared/real-ct/pengwin/003 --size 1024 --n 10 [--device cpu]
        [--realism off|varied|stress]

Loads the case and warms it up (slab stack, joints, femora, the lesion blocks of every grade: a
one-off per case), then renders ``--n`` radiographs with random grades, poses and profiles in
memory (no file writing) and reports wall and process-CPU seconds per image, the projection's
share, and the machine's load average before and after (the machine may be shared: CPU seconds
per image are the load-independent figure; images/s on two free cores is at best 2 / cpu_s).
``--realism``: each timed render draws its options from that preset (``sijscan.phantom.ct.realism``)
as ``render_ct_cohort`` does; the warm-up stays plain, so what a preset builds once per case (the
lumbar spine, each new slice thickness's slab stack) falls in the timed renders: the MEAN per image
(and ``wall_s_total``) carries it, the median does not.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", required=True)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--realism", default="off", choices=("off", "varied", "stress"))
    args = ap.parse_args()
    from sijscan.phantom.ct.case import load_ct_case
    from sijscan.phantom.ct.realism import get_realism
    from sijscan.phantom.ct.render import render_ct_radiograph

    ranges = get_realism(args.realism)

    t0 = time.perf_counter()
    case = load_ct_case(args.case)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    for g in range(5):
        render_ct_radiograph(case, size=args.size, rng=g, grades={"left": g, "right": g}, device=args.device)
    t_warm = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    wall, cpu, proj = [], [], []
    for k in range(args.n):
        w, c = time.perf_counter(), time.process_time()
        opts = None if ranges is None else ranges.sample(np.random.default_rng([1000 + k, 24]))
        r = render_ct_radiograph(case, size=args.size, rng=1000 + k, device=args.device, realism=opts)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
        proj.append(r.meta["projection_s"])
    print(json.dumps({
        "bench": "ct_route", "case": case.name, "size": args.size, "n": args.n, "device": args.device,
        "realism": args.realism,
        "height": int(r.image.shape[0]), "cpu_count": os.cpu_count(),
        "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2),
        "wall_s_per_image_median": round(float(np.median(wall)), 3),
        "wall_s_per_image_mean": round(float(np.mean(wall)), 3), "wall_s_total": round(float(np.sum(wall)), 1),
        "cpu_s_per_image_mean": round(float(np.mean(cpu)), 3),
        "cpu_s_per_image_median": round(float(np.median(cpu)), 3),
        "projection_wall_s_median": round(float(np.median(proj)), 3),
        "images_per_s_wall": round(args.n / float(np.sum(wall)), 3),
        "images_per_s_bound_2_free_cores": round(2.0 / float(np.median(cpu)), 2),
        "case_load_s": round(t_load, 2), "warmup_s": round(t_warm, 2),
    }))


if __name__ == "__main__":
    main()
