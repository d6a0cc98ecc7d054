"""Package imports stay light: lazy re-exports resolve on use and reject unknown names."""
from __future__ import annotations

import subprocess
import sys

import pytest

from sijscan._lazy import lazy_exports


def test_lazy_exports_resolve_and_reject():
    getattr_, all_ = lazy_exports("pkg", {"sqrt": "math"})
    import math

    assert getattr_("sqrt") is math.sqrt and all_ == ["sqrt"]
    with pytest.raises(AttributeError, match="'pkg' has no attribute 'nope'"):
        getattr_("nope")


def test_importing_the_packages_does_not_import_torch():
    code = "import sys, sijscan, sijscan.phantom, sijscan.predict, sijscan.study, sijscan.classify, sijscan.app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False"
