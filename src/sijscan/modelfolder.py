"""Self-describing model folders, shared by every sijscan network (segmenter and classifier).

A model folder holds::

    model.json           what rebuilds and uses the network, see ``ModelCard``
    weights.safetensors  tensors only (never a pickle)

``model.json`` carries the architecture name and its init args (rebuilt through a registry, so
no code is unpickled), label names, the preprocessing/inference recipe, the decision cut-off and
calibration temperature (classifiers), provenance (data, seed, epochs, git commit, metrics) and the
sha256 of the weights file, checked on load.

Architectures register themselves with :func:`register_arch` when their networks module is
imported (``sijscan.anatomy.networks``, ``sijscan.classify.networks``); the code that loads a kind
of model imports that module, so this low module names no higher package.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from sijscan import __version__, jsonio
from sijscan.errors import ModelError
from sijscan.files import atomic_path, atomic_write, file_digest

if TYPE_CHECKING:  # torch is imported lazily: reading a card needs no torch
    import torch

log = logging.getLogger(__name__)

FORMAT_NAME = "sijscan-model"
FORMAT_VERSION = 2
"""2: typed recipes (segmenter ``localize.method/on``, ``resize_back`` "nearest_torch" for the published
model; classifier ``crop``), cut-off required for classifiers. Version-1 cards migrate on load
(:func:`migrate_card`)."""
CARD_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"

ModelKind = Literal["segmenter", "classifier"]

_REGISTRY: dict[str, Callable[..., "torch.nn.Module"]] = {}
"""Filled by the networks modules as they are imported (``@register_arch``, timm's pattern): this low
module names no higher package; whoever loads a kind of model imports that kind's networks module
(the segmenter's and the classifier's loaders, training and export do)."""


def register_arch(name: str) -> Callable[[Callable[..., "torch.nn.Module"]], Callable[..., "torch.nn.Module"]]:
    """Decorator: register a factory ``f(**init_args) -> nn.Module`` under ``name``."""

    def deco(factory: Callable[..., "torch.nn.Module"]) -> Callable[..., "torch.nn.Module"]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"architecture {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def known_archs() -> list[str]:
    """The architectures registered so far (those of the networks modules imported)."""
    return sorted(_REGISTRY)


def build_network(arch: str, init_args: dict[str, Any] | None = None) -> "torch.nn.Module":
    """Build an (untrained) network from its registered name and init args."""
    if arch not in _REGISTRY:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(sorted(_REGISTRY)) or 'none'}")
    try:
        return _REGISTRY[arch](**(init_args or {}))
    except TypeError as exc:
        raise ModelError(f"architecture {arch!r} does not accept these init args: {exc}") from exc


@dataclass
class ModelCard:
    """The parsed ``model.json`` of a model folder."""

    kind: ModelKind
    arch: str
    init_args: dict[str, Any]
    labels: dict[str, str]
    recipe: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    cutoff: float | None = None
    temperature: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    weights_file: str = WEIGHTS_FILE
    sha256: str = ""
    path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, path: Path | None = None) -> "ModelCard":
        """Parse and validate a card (version 1 migrates; see :func:`migrate_card`); errors name the key."""
        where = f"{path or 'model card'}"
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            fmt = data.get("format") if isinstance(data, dict) else None
            raise ModelError(f"{where}: not a sijscan model card (format={fmt!r})")
        version = data.get("format_version", 0)
        if not isinstance(version, int) or version < 1:
            raise ModelError(f"{where}: format_version must be a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise ModelError(f"{where}: model format version {version} is newer than this sijscan "
                             f"understands ({FORMAT_VERSION}); upgrade sijscan")
        known = set(cls.__dataclass_fields__) - {"path"}
        unknown = sorted(set(data) - known - {"format", "format_version"})
        if unknown:
            raise ModelError(f"{where}: unknown key(s) in model.json: {', '.join(map(repr, unknown))}")
        fields = {k: data[k] for k in known if k in data}
        missing = {"kind", "arch", "init_args", "labels", "recipe", "sha256", "weights_file"} - set(fields)
        if missing:
            raise ModelError(f"{where}: model card lacks {', '.join(sorted(missing))}")
        if version < FORMAT_VERSION:
            fields = migrate_card(fields, version=version, where=where)
        _validate_fields(fields, where=where)
        fields["labels"] = {str(k): str(v) for k, v in fields["labels"].items()}
        return cls(**fields, path=path)


def _validate_fields(f: dict[str, Any], *, where: str) -> None:
    import math
    import re

    if f["kind"] not in ("segmenter", "classifier"):
        raise ModelError(f"{where}: kind must be 'segmenter' or 'classifier', got {f['kind']!r}")
    for key, typ in (("arch", str), ("init_args", dict), ("labels", dict), ("recipe", dict)):
        if not isinstance(f[key], typ):
            raise ModelError(f"{where}: {key} must be a {typ.__name__}, got {type(f[key]).__name__}")
    if not isinstance(f["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", f["sha256"]):
        raise ModelError(f"{where}: sha256 must be the 64 hex digits of the weights file, got {f['sha256']!r}")
    wf = f["weights_file"]
    if not isinstance(wf, str) or not wf or wf in (".", "..") or "/" in wf or "\\" in wf or wf != Path(wf).name:
        raise ModelError(f"{where}: weights_file must be a file name inside the model folder, got {wf!r}")
    cutoff, temp = f.get("cutoff"), f.get("temperature")
    if f["kind"] == "classifier" and cutoff is None:
        raise ModelError(f"{where}: a classifier card needs a cutoff (decision threshold in [0, 1])")
    if cutoff is not None and (isinstance(cutoff, bool) or not isinstance(cutoff, (int, float))
                               or not math.isfinite(cutoff) or not 0.0 <= cutoff <= 1.0):
        raise ModelError(f"{where}: cutoff must be a number in [0, 1], got {cutoff!r}")
    if temp is not None and (isinstance(temp, bool) or not isinstance(temp, (int, float))
                             or not math.isfinite(temp) or temp <= 0):
        raise ModelError(f"{where}: temperature must be a finite number > 0, got {temp!r}")
    for key in ("provenance", "extra"):
        if key in f and not isinstance(f[key], dict):
            raise ModelError(f"{where}: {key} must be a mapping, got {type(f[key]).__name__}")


def migrate_card(fields: dict[str, Any], *, version: int, where: str) -> dict[str, Any]:
    """Version-1 card fields -> version 2, explicitly (logged). Version 1 differs in:

    * segmenter recipes had no ``localize.method``/``on``: sijscan's method on the working map; the
      published import said ``resize_back: "area_truncate"`` (wrong: MONAI ``Invert`` resizes the
      labels back with nearest) and located on the working map; it becomes the published recipe's
      ``nearest_torch`` + the authors' localisation on the full-size map;
    * classifier recipes had no ``crop``: "box", or "authors_otsu" for the published import (whose
      ``crop`` key was prose); a missing cut-off meant 0.5.
    """
    out = dict(fields)
    recipe = dict(out["recipe"])
    published = bool((out.get("extra") or {}).get("published")) or str(recipe.get("source", "")).startswith("published")
    if out["kind"] == "segmenter":
        loc = dict(recipe.get("localize") or {})
        if published:
            recipe["resize_back"] = "nearest_torch"
            loc.update(method="authors", on="full", margin_frac=0.0)
        else:
            loc.setdefault("method", "sijscan")
            loc.setdefault("on", "working")
        recipe["localize"] = loc
    else:
        recipe["crop"] = "authors_otsu" if published else "box"
        if out.get("cutoff") is None:
            log.warning("%s: version-1 classifier card without a cut-off: using 0.5 (version 1's default)", where)
            out["cutoff"] = 0.5
    out["recipe"] = recipe
    log.info("%s: model card migrated from format version %d to %d (in memory; the file is unchanged)",
             where, version, FORMAT_VERSION)
    return out




def git_commit(cwd: str | os.PathLike[str] | None = None) -> str | None:
    """The source tree's git commit (with ``-dirty`` when modified), or None outside a checkout."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=where, capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def default_provenance(**extra: Any) -> dict[str, Any]:
    """Versions, commit, machine and time; ``extra`` (data, seed, epochs, metrics...) is merged in."""
    import torch

    prov: dict[str, Any] = {
        "sijscan_version": __version__,
        "git_commit": git_commit(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    prov.update(extra)
    return prov


def save_model(
    out_dir: str | os.PathLike[str],
    *,
    network: "torch.nn.Module",
    kind: ModelKind,
    arch: str,
    init_args: dict[str, Any],
    labels: dict[int | str, str],
    recipe: dict[str, Any],
    provenance: dict[str, Any] | None = None,
    cutoff: float | None = None,
    temperature: float | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``network``'s weights and its card to ``out_dir`` (created); return the folder."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in network.state_dict().items()}
    check_finite_weights(state, where=f"{out}: {arch} network")  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS_FILE) as tmp:  # created as open() would: the umask applies
        save_file(state, str(tmp), metadata={"format": FORMAT_NAME, "arch": arch})
    card = ModelCard(
        kind=kind, arch=arch, init_args=dict(init_args),
        labels={str(k): str(v) for k, v in labels.items()},
        recipe=dict(recipe), provenance=dict(provenance or default_provenance()),
        cutoff=None if cutoff is None else float(cutoff),
        temperature=None if temperature is None else float(temperature),
        extra=dict(extra or {}), weights_file=WEIGHTS_FILE, sha256=file_digest(out / WEIGHTS_FILE),
    )
    ModelCard.from_json(card.to_json(), path=out)  # never write a card that would not load
    atomic_write(out / CARD_FILE, jsonio.dumps(card.to_json(), indent=2, sort_keys=False) + "\n")
    log.info("saved %s model (%s) to %s", kind, arch, out)
    return out


def read_card(model_dir: str | os.PathLike[str]) -> ModelCard:
    """Parse ``model.json`` of a model folder without loading any weights."""
    folder = Path(model_dir)
    card_path = folder / CARD_FILE
    if not folder.is_dir():
        raise ModelError(f"model folder not found: {folder}")
    if not card_path.is_file():
        raise ModelError(f"{folder} is not a sijscan model folder (no {CARD_FILE})")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{card_path}: unreadable model card ({exc})") from exc
    return ModelCard.from_json(data, path=folder)


def update_card(model_dir: str | os.PathLike[str], **changes: Any) -> ModelCard:
    """Change card fields (e.g. ``cutoff``, ``temperature``, ``provenance``) in place; weights untouched."""
    card = read_card(model_dir)
    for key, value in changes.items():
        if key not in ModelCard.__dataclass_fields__ or key in {"path", "sha256", "weights_file"}:
            raise ValueError(f"cannot update model card field {key!r}")
        setattr(card, key, value)
    ModelCard.from_json(card.to_json(), path=Path(model_dir))  # the changed card must still be valid
    atomic_write(Path(model_dir) / CARD_FILE, jsonio.dumps(card.to_json(), indent=2) + "\n")
    return card


def load_model(
    model_dir: str | os.PathLike[str], *, map_location: str = "cpu", verify: bool = True
) -> tuple["torch.nn.Module", ModelCard]:
    """Rebuild the network from its card, load its weights (tensors only) and return it in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    card = read_card(model_dir)
    weights = Path(model_dir) / card.weights_file
    if not weights.is_file():
        raise ModelError(f"{model_dir}: weights file {card.weights_file} is missing")
    if weights.is_symlink() or weights.resolve().parent != Path(model_dir).resolve():
        raise ModelError(f"{model_dir}: weights file {card.weights_file} must be a plain file inside the model folder")
    if verify and file_digest(weights) != card.sha256:
        raise ModelError(f"{weights}: sha256 does not match model.json (file changed or corrupt)")
    network = build_network(card.arch, card.init_args)
    try:
        state = load_file(str(weights), device=map_location)
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{weights}: unreadable weights ({exc})") from exc
    check_finite_weights(state, where=str(weights))
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"{weights}: weights do not fit architecture {card.arch!r}: {first}") from exc
    network.eval()
    return network, card


def check_finite_weights(state: dict[str, "torch.Tensor"], *, where: str) -> None:
    """Raise ``ModelError`` naming the first floating tensor holding NaN or infinity (and how many do).

    A NaN weight makes every output NaN, and ``NaN >= cutoff`` is False: each image would come out
    a confident negative. Checked on load and before saving (a diverged training writes no model).
    """
    import torch

    bad = [name for name, t in state.items()
           if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        more = f" (and {len(bad) - 1} more tensor(s))" if len(bad) > 1 else ""
        raise ModelError(f"{where}: weights tensor {bad[0]!r} holds NaN or infinite values{more}; "
                         "the model is unusable (training diverged or the file is damaged)")
