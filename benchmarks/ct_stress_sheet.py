"""Contact sheet of CT-route renders under the ``stress`` realism preset beside real reference films.

Renders ``--n`` radiographs per shared CT (``../shared/real-ct/pengwin``) with
``render_ct_cohort(..., realism="stress")`` into ``--work`` and writes
``docs/img/ct_stress_sheet.png`` with ``sijscan.phantom.ct.sheet.ct_route_sheet`` (for eyes, not models).

    PYTHONPATH=src python benchmarks/ct_stress_sheet.py --work /tmp/ct_stress_sheet
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main(argv: list[str] | None = None) -> int:
    from sijscan.phantom.ct import render_ct_cohort
    from sijscan.phantom.ct.sheet import ct_route_sheet

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="001,002,003")
    ap.add_argument("--n", type=int, default=2, help="renders per CT")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ct_stress_sheet"))
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "ct_stress_sheet.png")
    a = ap.parse_args(argv)
    cases = [SHARED / "real-ct" / "pengwin" / c.strip() for c in a.cases.split(",")]
    manifest = render_ct_cohort(cases, a.work, n=a.n, size=a.size, seed=24, realism="stress", split="test")
    ct_route_sheet(manifest, a.out, reference_dir=SHARED / "reference-radiographs" / "jpg", max_images=len(cases) * a.n,
                   thumb=200, columns=4, max_references=2)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
