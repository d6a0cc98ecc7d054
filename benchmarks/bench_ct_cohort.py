"""CT-route cohort rendering time: ``render_ct_cohort`` as it renders (radiographs that share a resampled CT
next to each other) against plain index order, on one case and one realism preset. Both write the same
images (tests/phantom/test_ct_realism.py); this measures what the order saves. Prints ONE JSON line.

    PYTHONPATH=src python benchmarks/bench_ct_cohort.py --case ../shared/real-ct/pengwin/001 --n 100 --size 256 --realism varied
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--realism", default="varied", choices=("off", "varied", "stress"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    import sijscan.phantom.ct.cohort as cohort
    from sijscan.phantom.ct import load_ct_case

    grouped_order = cohort.render_order
    out: dict[str, object] = {"bench": "ct_cohort", "case": Path(a.case).name, "n": a.n, "size": a.size,
                              "realism": a.realism, "cpu_count": os.cpu_count(),
                              "load_avg_1min_before": round(os.getloadavg()[0], 2)}
    for label, order in (("index_order", lambda drawn: list(drawn)), ("grouped", grouped_order)):
        case = load_ct_case(a.case)  # a fresh case each time: no resampled CT cached from the other run
        cohort.render_order = order
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            cohort.render_ct_cohort([case], tmp, n=a.n, size=a.size, seed=a.seed, realism=a.realism)
            out[f"{label}_wall_s"] = round(time.perf_counter() - t, 1)
    cohort.render_order = grouped_order
    out["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
