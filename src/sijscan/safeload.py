"""Loading foreign torch pickles (``.pt`` / Lightning ``.ckpt``) without running their code.

A torch checkpoint is a pickle, and unpickling can execute arbitrary code. sijscan never unpickles
blindly. torch's own ``weights_only`` unpickler is too narrow for Lightning checkpoints (it cannot
rebuild the ``AttributeDict`` that holds hyper-parameters), so sijscan hands ``torch.load`` its own
restricted ``pickle`` module: torch still reads the zip container and the tensor storages, while
every global the pickle asks for passes through :meth:`_RestrictedUnpickler.find_class`, which
allows only tensor-rebuild helpers, dtypes and plain containers.

Anything else is refused by name. In ``strict`` mode the load fails; otherwise the refused object
is replaced by an inert :class:`RefusedObject` placeholder (its constructor only records its
arguments; no foreign code runs), so tensors can still be extracted, and the refused names are
returned for the caller to report.

``inert`` names globals that are expected in a file and replaced by placeholders even in strict mode
(never imported, never called): :data:`CHECKPOINT_INERT` is the short list of what real Lightning /
torch training checkpoints carry besides tensors (scheduler and optimizer objects, numpy scalars,
paths in hyper-parameters). A global outside both lists in a strict load is a tampered or foreign
file: refused by name.
"""
from __future__ import annotations

import builtins
import collections
import logging
import os
import pickle
import types
import zipfile
from pathlib import Path
from typing import Any

from sijscan.errors import InputError, ModelError, UnsafeCheckpointError

log = logging.getLogger(__name__)


class RefusedObject:
    """Stand-in for a pickled object whose class or function is not on the allow-list."""

    refused_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<refused {self.refused_name}>"


class AttrDictStandIn(dict):
    """Plain-dict stand-in for Lightning's ``AttributeDict`` (a dict with attribute access)."""


CHECKPOINT_INERT: tuple[str, ...] = (
    # An entry ending in "." covers a module's members. None of these is ever imported or called here:
    # each becomes a RefusedObject placeholder; the list only says which placeholders are EXPECTED.
    "torch.optim.lr_scheduler.",          # scheduler objects/annealing functions in lr_schedulers
    "torch.optim.",                        # optimizer classes referenced by hyper-parameters
    "builtins.getattr",                    # how pickle stores a bound method (e.g. a scheduler's anneal_func)
    "functools.partial",                   # partial-wrapped lr lambdas / optimizer factories in hparams
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",  # numpy scalars (metrics, hparams)
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
    "numpy.dtypes.",
    "_codecs.encode",                      # bytes of numpy scalars under protocol 2
    "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.Path",  # paths in hyper-parameters
    "argparse.Namespace",                  # hyper-parameters saved from argparse
    "torch.torch_version.TorchVersion",
)


def is_listed(full_name: str, names: "tuple[str, ...] | list[str] | set[str] | frozenset[str]") -> bool:
    """True when ``module.name`` is in ``names`` (exactly, or under an entry ending with ".")."""
    return any(full_name == n or (n.endswith(".") and full_name.startswith(n)) for n in names)


_DICT_STANDINS = {
    ("lightning.fabric.utilities.data", "AttributeDict"),
    ("lightning_fabric.utilities.data", "AttributeDict"),
    ("pytorch_lightning.utilities.parsing", "AttributeDict"),
}


def _allowed_global(module: str, name: str) -> Any | None:
    import torch

    if (module, name) in _DICT_STANDINS:
        return AttrDictStandIn
    if module == "collections" and name in {"OrderedDict", "defaultdict", "Counter"}:
        return getattr(collections, name)
    if module in {"builtins", "__builtin__"} and name in {"set", "frozenset", "slice", "complex", "bytearray", "list", "dict", "tuple"}:
        return getattr(builtins, name)
    if module == "torch._utils" and name in {"_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_tensor_v3"}:
        return getattr(torch._utils, name)
    if module == "torch" and (name == "Size" or isinstance(getattr(torch, name, None), torch.dtype)):
        return getattr(torch, name)
    if module == "torch" and name == "device":
        return torch.device
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    strict = True
    refused: list[str]
    inert: tuple[str, ...] = ()

    def find_class(self, module: str, name: str) -> Any:
        allowed = _allowed_global(module, name)
        if allowed is not None:
            return allowed
        full = f"{module}.{name}"
        if self.strict and not is_listed(full, self.inert):
            raise pickle.UnpicklingError(f"refused global {full}")
        self.refused.append(full)
        return type(name, (RefusedObject,), {"refused_name": full})


def _pickle_module(*, strict: bool, refused: list[str], inert: tuple[str, ...] = ()) -> types.ModuleType:
    """A stand-in ``pickle`` module whose Unpickler is restricted (torch.load subclasses it)."""

    class Unpickler(_RestrictedUnpickler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.strict = strict
            self.refused = refused
            self.inert = inert

    mod = types.ModuleType("sijscan_restricted_pickle")
    mod.Unpickler = Unpickler  # type: ignore[attr-defined]
    mod.load = lambda fh, **kw: Unpickler(fh, **kw).load()  # type: ignore[attr-defined]
    mod.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    return mod


def safe_torch_load(path: str | os.PathLike[str], *, strict: bool = True,
                    inert: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
    """Load a torch-saved object through the allow-list; return ``(object, placeholder_names)``.

    ``strict=True`` raises ``UnsafeCheckpointError`` naming the first refused global that is not
    in ``inert`` (see :data:`CHECKPOINT_INERT`); ``strict=False`` replaces every refused object by
    an inert placeholder. The names of all placeholders are returned.
    Missing/empty files raise ``InputError``; unreadable ones ``ModelError``.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty")
    refused: list[str] = []
    module = _pickle_module(strict=strict, refused=refused, inert=tuple(inert))
    try:
        # weights_only=False is required to pass our own pickle module; the allow-list above is
        # what makes this safe: no global outside it is ever imported or called.
        obj = torch.load(p, map_location="cpu", weights_only=False, pickle_module=module)
    except pickle.UnpicklingError as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else "unpickling failed"
        if msg.startswith("refused global "):
            raise UnsafeCheckpointError(
                f"{p}: refused to load '{msg.removeprefix('refused global ')}' (not on sijscan's allow-list "
                "of safe types; nothing from the file was executed)"
            ) from exc
        raise ModelError(f"{p}: not a readable torch checkpoint ({msg[:200]})") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{p}: not a readable torch checkpoint ({first})") from exc
    if refused and not (strict and all(is_listed(r, tuple(inert)) for r in refused)):
        log.warning("%s: replaced %d object(s) not on the allow-list by inert placeholders: %s",
                    p, len(refused), ", ".join(sorted(set(refused))))
    return obj, refused
