"""Import the authors' published classifier (Lightning ``classification_model.ckpt``) as a model folder.

The checkpoint is loaded through sijscan's allow-list unpickler: tensors, containers and Lightning's
``AttributeDict`` load; the objects real Lightning checkpoints carry besides
(:data:`sijscan.safeload.CHECKPOINT_INERT`: schedulers, optimizers, numpy scalars, paths) become inert
placeholders; any other global refuses the import by name (a tampered or foreign file) unless
``allow_unknown_objects`` (then it is a placeholder too; nothing from the file ever runs). The
``state_dict`` keys lose their ``model.`` prefix and load 1:1 into ``resnet50-sij``. The recipe
reproduces the authors' preprocessing: mirrored crop, CLAHE with scikit-image's semantics, longest side
628, pad to 416 x 628, cut-off 0.59.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

import torch

import sijscan.classify.networks  # noqa: F401 - registers the architecture build_network makes
from sijscan.classify.card import classifier_recipe
from sijscan.classify.errors import PublishedCheckpointError
from sijscan.classify.preprocess import PreprocessSpec
from sijscan.errors import UnsafeCheckpointError
from sijscan.files import file_digest
from sijscan.modelfolder import build_network, default_provenance, save_model
from sijscan.safeload import CHECKPOINT_INERT, safe_torch_load

log = logging.getLogger(__name__)

PUBLISHED_CUTOFF = 0.59
ARCH = "resnet50-sij"


def _hparams(obj: dict[str, Any]) -> dict[str, Any]:
    hp = obj.get("hyper_parameters") or obj.get("hparams") or {}
    return {str(k): v for k, v in hp.items() if isinstance(v, (int, float, str, bool))} if isinstance(hp, dict) else {}


def import_published_classifier(ckpt_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                                allow_unknown_objects: bool = False,
                                download: Mapping[str, Any] | None = None) -> Path:
    """Turn the authors' checkpoint into a sijscan model folder at ``out_dir``; return it.

    Raises ``UnsafeCheckpointError`` naming the first global outside the allow-list and
    :data:`~sijscan.safeload.CHECKPOINT_INERT` (unless ``allow_unknown_objects``).
    """
    try:
        obj, refused = safe_torch_load(ckpt_path, strict=not allow_unknown_objects, inert=CHECKPOINT_INERT)
    except UnsafeCheckpointError as exc:
        raise UnsafeCheckpointError(f"{exc}; a genuine checkpoint carries no such object: import refused "
                                    "(--allow-unknown-objects to accept it as an inert placeholder)") from exc
    if refused:
        log.info("%s: refused %d object(s) (kept as inert placeholders, not needed): %s", ckpt_path, len(refused),
                 ", ".join(sorted(set(refused))))
    state = obj.get("state_dict") if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise PublishedCheckpointError(f"{ckpt_path}: no 'state_dict' in the checkpoint")
    weights = {k.removeprefix("model."): v for k, v in state.items()
               if k.startswith("model.") and isinstance(v, torch.Tensor)}
    if not weights:
        raise PublishedCheckpointError(f"{ckpt_path}: state_dict has no 'model.' keys")
    hp = _hparams(obj)
    dropout = float(hp.get("dropout", 0.5)) if isinstance(hp.get("dropout", 0.5), (int, float)) else 0.5
    init_args = {"grade_head": False, "dropout": dropout}
    net = build_network(ARCH, init_args)
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise PublishedCheckpointError(f"{ckpt_path}: weights do not fit the paper's ResNet-50: {first}") from exc
    spec = PreprocessSpec(height=416, width=628, mirror=True, clahe_impl="exact")

    recipe = classifier_recipe(
        view="sij", spec=spec, crop="authors_otsu", grade_head=False,
        output="softmax over 2 logits; index 1 = definite radiographic sacroiliitis",
        source="published (Dorfner et al., RMD Open 2024; Zenodo 11116990)")
    return save_model(out_dir, network=net, kind="classifier", arch=ARCH, init_args=init_args,
                      labels={0: "no definite radiographic sacroiliitis", 1: "definite radiographic sacroiliitis"},
                      recipe=recipe, cutoff=PUBLISHED_CUTOFF, temperature=None,
                      provenance=default_provenance(imported_from=Path(ckpt_path).name, source_sha256=file_digest(ckpt_path),
                                                    placeholder_objects=sorted(set(refused)), hyper_parameters=hp,
                                                    **({"download": dict(download)} if download else {})))
