"""Speed of the phantom's anatomy renderer on one core at the default detector geometry.

Prints one JSON line: renders per second per core and milliseconds per render (median), for
2048 x 1536 pixels at 0.2 mm over varied cases (sex, severities, findings, gas).
Usage: python benchmarks/bench_render.py [--n 12] [--width 2048] [--height 1536] [--spacing 0.2]
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from sijscan.phantom.body_model import render_projection  # noqa: E402
from sijscan.phantom.spec import CaseSpec, Geometry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--height", type=int, default=1536)
    ap.add_argument("--spacing", type=float, default=0.2)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    geometry = Geometry(height=args.height, width=args.width, pixel_spacing_mm=args.spacing)
    rng = np.random.default_rng(0)
    specs = [
        CaseSpec(
            anatomy_seed=int(i),
            sex="F" if i % 2 else "M",
            severity_left=float(rng.uniform(0, 4.5)),
            severity_right=float(rng.uniform(0, 4.5)),
            enthesitis=float(rng.uniform(0, 1) > 0.7),
            syndesmophytes=float(rng.uniform(0, 1) > 0.7),
            bowel_gas=float(rng.uniform(0, 1)),
            axial_rotation_deg=float(rng.normal(0, 3)),
            inplane_rotation_deg=float(rng.normal(0, 2)),
        )
        for i in range(args.n)
    ]
    render_projection(specs[0], geometry)  # warm-up (imports, caches)
    times, cpu = [], []
    for spec in specs:
        t0, c0 = time.perf_counter(), time.process_time()
        render_projection(spec, geometry)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = float(np.median(times))
    print(
        json.dumps(
            {
                "bench": "phantom_anatomy_render",
                "geometry": [args.height, args.width, args.spacing],
                "n": args.n,
                "threads": 1,
                "ms_per_render_median": round(1000 * med, 1),
                "ms_per_render_max": round(1000 * max(times), 1),
                "cpu_ms_per_render_median": round(1000 * float(np.median(cpu)), 1),
                "renders_per_s_per_core": round(1.0 / med, 2),
                "load_avg_1min": round(os.getloadavg()[0], 2),
                "budget_ms": 120,
            }
        )
    )


if __name__ == "__main__":
    main()
