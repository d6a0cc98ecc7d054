"""render_ct_cohort(workers=2): the same images and manifest as one process, rendered in two."""
from __future__ import annotations

import os
import sys

import pytest

from sijscan.phantom.ct.synthetic import toy_case

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the render workers fork (Linux)")


def test_two_workers_render_the_same_cohort_in_two_processes(tmp_path, monkeypatch):
    import sijscan.phantom.ct.cohort as cohort

    toy = toy_case(spacing=1.0)
    pids = tmp_path / "pids.txt"
    one = cohort._render_one

    def spy(case, j, opts, job):
        with open(pids, "a") as f:  # appended from whichever process renders j
            f.write(f"{os.getpid()}\n")
        return one(case, j, opts, job)

    monkeypatch.setattr(cohort, "_render_one", spy)
    serial = cohort.render_ct_cohort([toy], tmp_path / "serial", n=7, size=96, seed=5)
    pids.unlink()
    forked = cohort.render_ct_cohort([toy], tmp_path / "forked", n=7, size=96, seed=5, workers=2)
    who = pids.read_text().split()
    assert len(who) == 7 and len(set(who)) == 3  # the parent's first render, then two workers
    a, b = (p.read_text().replace(str(p.parent), "") for p in (serial, forked))
    assert a == b  # the same rows, in index order
    for name in sorted((tmp_path / "serial" / "images").iterdir()):
        assert (tmp_path / "forked" / "images" / name.name).read_bytes() == name.read_bytes()
