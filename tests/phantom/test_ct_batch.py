"""CT-route renders in spawned worker processes: the same files and manifest as in one process."""
from __future__ import annotations

import pytest

from sijscan.phantom.ct import batch
from sijscan.phantom.ct.cohort import render_ct_cohort
from sijscan.phantom.ct.synthetic import toy_case


@pytest.mark.slow
def test_two_spawned_workers_write_the_same_cohort_as_one_process(tmp_path, monkeypatch, caplog):
    import logging

    toy = toy_case(spacing=2.0, gap_mm=2.0)
    monkeypatch.setattr(batch, "MIN_PER_WORKER", 3)  # a tiny cohort still goes to the workers
    caplog.set_level(logging.INFO, logger=batch.__name__)
    one = render_ct_cohort([toy], tmp_path / "one", n=6, size=96, seed=4, variants=2, workers=1)
    assert "spawned workers" not in caplog.text
    two = render_ct_cohort([toy], tmp_path / "two", n=6, size=96, seed=4, variants=2, workers=2)
    assert "toy: 6 renders in 2 spawned workers" in caplog.text
    a, b = (p.read_text().replace(str(p.parent), "") for p in (one, two))
    assert a == b
    for img in sorted((tmp_path / "one" / "images").iterdir()):
        assert (tmp_path / "two" / "images" / img.name).read_bytes() == img.read_bytes()
    for m in sorted((tmp_path / "one" / "masks").iterdir()):
        assert (tmp_path / "two" / "masks" / m.name).read_bytes() == m.read_bytes()


def test_small_cohorts_and_gpu_renders_stay_in_this_process(monkeypatch):
    calls = []
    monkeypatch.setattr(batch, "render_indices", lambda case, order, drawn, job: calls.append(len(order)) or {})
    job = batch.Job(out=None, seed=0, size=64, profile=None, prevalence=0.5, device="cpu", split="train",
                    realism_name=None, variants=1, vary=("density",))
    batch.render_all(None, list(range(2 * batch.MIN_PER_WORKER - 1)), {}, job, workers=2)  # too few for two
    batch.render_all(None, list(range(40)), {}, batch.Job(**{**job.__dict__, "device": "cuda"}), workers=4)
    assert calls == [2 * batch.MIN_PER_WORKER - 1, 40]
