"""Benchmark: bootstrap CIs and DeLong on synthetic scores. Prints one JSON line.

Data: synthetic binormal scores (seed 0), n = 500 cases (250/250) for the bootstrap and DeLong,
n = 100,000 for DeLong at scale. Not clinical data.
"""
from __future__ import annotations

import json
import platform
import statistics
import time

import numpy as np

from sijscan.stats.bootstrap import Resampler
from sijscan.stats.delong import delong_test


def _median_seconds(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(250, int), np.zeros(250, int)]
    pa = 1 / (1 + np.exp(-(rng.normal(size=500) + 1.2 * y)))
    pb = 1 / (1 + np.exp(-(rng.normal(size=500) + 1.0 * y)))

    def boot() -> None:
        rs = Resampler(y_true=y, n_resamples=1000, seed=0)
        rs.auc(pa)
        rs.at_cutoff(pa, 0.5)

    big_y = rng.integers(0, 2, 100_000)
    big_a = rng.normal(size=100_000) + big_y
    big_b = rng.normal(size=100_000) + 0.8 * big_y
    print(json.dumps({
        "benchmark": "evaluate",
        "machine": f"{platform.machine()} CPU",
        "data": "synthetic binormal scores, seed 0",
        "bootstrap_1000_n500_s": round(_median_seconds(boot), 4),
        "delong_n500_s": round(_median_seconds(lambda: delong_test(y_true=y, scores_a=pa, scores_b=pb)), 5),
        "delong_n100000_s": round(_median_seconds(lambda: delong_test(y_true=big_y, scores_a=big_a, scores_b=big_b), 3), 4),
    }))


if __name__ == "__main__":
    main()
