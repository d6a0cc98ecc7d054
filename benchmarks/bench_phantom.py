"""Phantom speed: radiographs per second per core at the default size (2048 px long side).

Runs in ONE process (so the figure is per core), OpenCV limited to one thread. Prints one JSON line:
render (anatomy) and acquire wall times, radiographs/s/core without file writing, and with PNG or
DICOM writing added; also radiographs per CPU-second (process time) and the load average, since
wall times on a shared machine are inflated by other processes. Usage: python benchmarks/bench_phantom.py [--n 6] [--size 2048] [--cohort proof]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from sijscan.phantom import writers  # noqa: E402
from sijscan.phantom.acquisition import acquire  # noqa: E402
from sijscan.phantom.cohorts import sample_cohort  # noqa: E402
from sijscan.phantom.profiles import get_profile  # noqa: E402
from sijscan.phantom.body_model import render_projection  # noqa: E402
from sijscan.phantom.simulate import geometry_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--cohort", default="proof")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    _, records = sample_cohort(args.cohort, n=args.n + 1, seed=0, followup=False)
    t_render, t_acq, t_png, t_dcm = [], [], [], []
    cpu_core = []  # CPU seconds (process_time) of render + acquire: robust when the machine is shared
    with tempfile.TemporaryDirectory() as tmp:
        for i, rec in enumerate(records):
            prof = get_profile(rec.site)
            c0 = time.process_time()
            t0 = time.perf_counter()
            proj = render_projection(rec.spec, geometry_for(prof, args.size))
            t1 = time.perf_counter()
            acq = acquire(proj, profile=prof, spec=rec.spec, seed=rec.acquisition_seed)
            t2 = time.perf_counter()
            c2 = time.process_time()
            writers.write_png16(Path(tmp) / "a.png", acq.display, pixel_spacing_mm=acq.meta["pixel_spacing_mm"])
            writers.write_labels(Path(tmp) / "a_labels.png", proj.labels)
            t3 = time.perf_counter()
            writers.write_dicom(Path(tmp) / "a.dcm", acq.stored, meta={**acq.meta, "study_number": "1"},
                                patient_id=rec.patient_id, cohort=rec.cohort, uid_entropy=[0, i], age=rec.spec.age,
                                sex=rec.spec.sex, modality=prof.modality, manufacturer_model=prof.manufacturer_model)
            t4 = time.perf_counter()
            if i == 0:
                continue  # warm-up (imports, caches)
            cpu_core.append(c2 - c0)
            t_render.append(t1 - t0)
            t_acq.append(t2 - t1)
            t_png.append(t3 - t2)
            t_dcm.append(t4 - t3)
    core = float(np.mean(t_render) + np.mean(t_acq))
    print(json.dumps({
        "bench": "phantom", "size": args.size, "n": args.n, "cohort": args.cohort,
        "height_width": list(proj.labels.shape),
        "render_s": round(float(np.mean(t_render)), 4), "acquire_s": round(float(np.mean(t_acq)), 4),
        "png_write_s": round(float(np.mean(t_png)), 4), "dicom_write_s": round(float(np.mean(t_dcm)), 4),
        "radiographs_per_s_per_core": round(1.0 / core, 3),
        "radiographs_per_s_per_core_with_png_write": round(1.0 / (core + float(np.mean(t_png))), 3),
        "radiographs_per_s_per_core_with_dicom_write": round(1.0 / (core + float(np.mean(t_dcm))), 3),
        "radiographs_per_cpu_s": round(1.0 / float(np.mean(cpu_core)), 3),
        "load_average_1min": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
        "target_per_s_per_core": 5.0,
    }))


if __name__ == "__main__":
    main()
