"""Every bad input file of ``catalogue.CASES``: one line, the documented exit code, never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalogue import CASES, run_info


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_file_gives_one_line(case, tmp_path: Path) -> None:
    code, err = run_info(case.build(tmp_path))
    assert code == case.code, err
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert case.says in err[0], err
