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


def test_every_packages_lazy_exports_resolve():
    """Each name a package's ``__all__`` promises is there on use (a name whose module moved is caught)."""
    import importlib
    import pkgutil

    import sijscan

    broken = []
    names = ["sijscan", *(m.name for m in pkgutil.walk_packages(sijscan.__path__, "sijscan.") if m.ispkg)]
    for name in names:
        try:
            pkg = importlib.import_module(name)
        except ImportError:  # an optional extra (e.g. gradio) not installed: that package is not checked
            continue
        for attr in getattr(pkg, "__all__", []):
            try:
                getattr(pkg, attr)
            except AttributeError:
                try:  # an __all__ may name submodules (sijscan.evaluate lists its modules)
                    importlib.import_module(f"{name}.{attr}")
                except ImportError as exc:
                    broken.append(f"{name}.{attr}: {exc}")
            except ImportError as exc:
                broken.append(f"{name}.{attr}: {exc}")
    assert len(names) > 5 and not broken, broken
