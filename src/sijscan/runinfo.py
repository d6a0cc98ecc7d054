"""``run.json``: every output folder names the models, the sijscan version and the arguments that made it.

Like nnU-Net's prediction folders, a sijscan output folder (``predict``, ``segment``, study stages)
says what produced it. ``identity`` is the part that decides the results (the models' sha256s and
the settings that change outputs, e.g. backend or --fast); a resume into a folder whose
``run.json`` has another identity is refused in one line, because rows of two models must never
end up in one table. ``arguments`` (batch size, workers...) are recorded but do not block a resume.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from sijscan import __version__, jsonio
from sijscan.errors import InputError
from sijscan.files import atomic_write

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


class RunMismatchError(InputError):
    """The output folder was made by other models or other result-changing settings."""


def model_identity(card: Any) -> dict[str, Any]:
    """What identifies a loaded model: folder, kind, arch and the weights' sha256 (ONNX file's too)."""
    onnx = (getattr(card, "extra", None) or {}).get("onnx") or {}
    out = {"path": str(card.path) if card.path else None, "kind": card.kind, "arch": card.arch, "sha256": card.sha256}
    if onnx.get("sha256"):
        out["onnx_sha256"] = onnx["sha256"]
    return out


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs += _differences(a, b, f"{prefix}{key}.")
        elif a != b and not key.endswith("path"):  # a moved model folder with the same weights is the same model
            diffs.append(f"{prefix}{key} {a!r} -> {b!r}")
    return diffs


def check_and_write_run(out_dir: str | os.PathLike[str], *, command: str, identity: Mapping[str, Any],
                        arguments: Mapping[str, Any], resume: bool) -> bool:
    """Write ``out_dir/run.json``; when one exists and ``resume``, refuse unless its identity matches.

    ``resume=False`` (``--overwrite``): a different earlier run is set aside as ``run.previous-<UTC time>.json``.
    Returns True when an earlier run of another identity was set aside (the caller sets its results
    aside too: nothing is lost, nothing is mixed).
    """
    out = Path(out_dir)
    path = out / RUN_FILE
    old: dict[str, Any] | None = None
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            old = None
            log.warning("%s is unreadable; it is replaced", path)
    ident = json.loads(jsonio.dumps(identity, default=str))
    diffs = _differences(old.get("identity") or {}, ident) if old is not None else []
    same = old is not None and not diffs
    if old is not None and not same:
        if resume:
            raise RunMismatchError(
                f"{out} holds results of another run ({old.get('command', '?')}: {'; '.join(diffs[:3])}); "
                "use another --out, or --overwrite to start afresh")
        path.replace(out / f"run.previous-{_dt.datetime.now(_dt.timezone.utc).strftime('%Y%m%dT%H%M%S')}.json")
        log.warning("%s: an earlier run with other models/settings (%s) is set aside (*.previous)", out, diffs[0])
    record = {"command": command, "sijscan_version": __version__,
              "created_utc": (old or {}).get("created_utc") if same else _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "updated_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "identity": ident, "arguments": json.loads(jsonio.dumps(dict(arguments), default=str))}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(path, jsonio.dumps(record, indent=2) + "\n")  # created as open() would: the umask applies
    return old is not None and not same
