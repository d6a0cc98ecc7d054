"""Pipeline folders: one folder that ``predict``, ``serve`` and ``export-onnx`` take as ``--model``.

``pipeline.json`` names the two model folders by paths relative to it::

    {"format": "sijscan-pipeline", "classifier": ".", "segmenter": "segmenter"}

``classifier`` is required, ``segmenter`` optional (the whole-radiograph classifier runs without
one; the SIJ-crop classifier then needs ``--segmenter`` or the user's own masks). Other keys are
ignored by readers. ``train-classifier`` (and so every study) makes its output folder a pipeline
folder: ``model.json`` of the classifier at the top, a copy of the segmenter it was trained with in
``segmenter/`` (model card, weights and exported ONNX files; hard links where the file system allows),
so the folder can be moved, archived or served on its own. :func:`pipeline_dirs` reads any such folder
(or a bare classifier folder); :func:`write_pipeline_folder` writes a ``pipeline.json`` that only points
at two folders elsewhere (nothing copied).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from sijscan import jsonio
from sijscan.errors import ModelError
from sijscan.modelfolder import CARD_FILE, read_card

log = logging.getLogger(__name__)

PIPELINE_FILE = "pipeline.json"
PIPELINE_FORMAT = "sijscan-pipeline"
SEGMENTER_SUBFOLDER = "segmenter"


class PipelineConfigError(ModelError):
    """A pipeline folder or the pair of model folders cannot be used together."""


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_model_folder(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy a model folder's card, weights and ``onnx/`` (not its training checkpoints) to ``dst``."""
    source, target = Path(src), Path(dst)
    card = read_card(source)  # checks the card; the weights are checked by sha256 when loaded
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    _link_or_copy(source / CARD_FILE, target / CARD_FILE)
    _link_or_copy(source / card.weights_file, target / card.weights_file)
    if (source / "onnx").is_dir():
        for f in (source / "onnx").rglob("*"):
            if f.is_file():
                _link_or_copy(f, target / "onnx" / f.relative_to(source / "onnx"))
    return target


def make_pipeline_folder(classifier_dir: str | os.PathLike[str], *,
                         segmenter: str | os.PathLike[str] | None) -> Path:
    """Make a classifier folder a pipeline folder (see the module docstring); return ``classifier_dir``."""
    root = Path(classifier_dir)
    if read_card(root).kind != "classifier":
        raise ModelError(f"{root} is not a classifier folder")
    spec = {"format": PIPELINE_FORMAT, "classifier": "."}
    if segmenter is not None:
        inside = root / SEGMENTER_SUBFOLDER
        if Path(segmenter).resolve() != inside.resolve():
            copy_model_folder(segmenter, inside)
        spec["segmenter"] = SEGMENTER_SUBFOLDER
    elif (root / SEGMENTER_SUBFOLDER / CARD_FILE).is_file():  # a copy left by an earlier run into this folder
        shutil.rmtree(root / SEGMENTER_SUBFOLDER)
    tmp = root / f".{PIPELINE_FILE}.tmp"
    tmp.write_text(jsonio.dumps(spec, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, root / PIPELINE_FILE)
    log.info("%s is a pipeline folder (%s)", root, ", ".join(f"{k}: {v}" for k, v in spec.items() if k != "format"))
    return root


def pipeline_dirs(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """``{"classifier": .., "segmenter": ..}`` from ``pipeline.json`` (relative paths) or a classifier folder."""
    root = Path(folder)
    if not root.is_dir():
        raise PipelineConfigError(f"model folder not found: {root}")
    spec_file = root / PIPELINE_FILE
    if spec_file.is_file():
        try:
            spec = json.loads(spec_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PipelineConfigError(f"{spec_file}: unreadable ({exc})") from exc
        if not isinstance(spec, dict) or "classifier" not in spec:
            raise PipelineConfigError(f"{spec_file}: must name at least 'classifier' (and usually 'segmenter')")
        return {k: (root / str(spec[k])).resolve() for k in ("classifier", "segmenter") if spec.get(k)}
    if not (root / "model.json").is_file():
        subs = [d.name for d in sorted(root.iterdir()) if (d / "model.json").is_file()]
        hint = f" (it holds model folders {', '.join(subs)}: give one with --classifier/--segmenter)" if subs else ""
        raise PipelineConfigError(f"{root} is not a sijscan model folder: no model.json or {PIPELINE_FILE}{hint}")
    card = read_card(root)
    if card.kind != "classifier":
        raise PipelineConfigError(f"{root} is a {card.kind} folder; give a classifier folder or one with {PIPELINE_FILE}")
    return {"classifier": root}


def write_pipeline_folder(folder: str | os.PathLike[str], *, classifier: str | os.PathLike[str],
                          segmenter: str | os.PathLike[str] | None) -> Path:
    """Write ``pipeline.json`` naming the two model folders by paths relative to ``folder``."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    spec: dict[str, str] = {"classifier": os.path.relpath(Path(classifier).resolve(), root.resolve())}
    if segmenter is not None:
        spec["segmenter"] = os.path.relpath(Path(segmenter).resolve(), root.resolve())
    (root / PIPELINE_FILE).write_text(jsonio.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return root
