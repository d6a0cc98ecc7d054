"""Import the authors' ``segmentation_model.pt`` into a sijscan model folder.

The file is a torch pickle: a dict whose key ``network`` holds the state_dict of MONAI
``UNet(2, 1, 4, (64, 128, 256, 512), (2, 2, 2), num_res_units=3)``. It is read through
:func:`sijscan.safeload.safe_torch_load` (allow-list: tensors, dtypes, plain containers); any
object outside the list is refused by name and, here, fails the import. The folder's recipe
(:func:`sijscan.anatomy.recipes.published_recipe`) reproduces the authors' inference exactly.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

from sijscan.anatomy.networks import LABELS, PAPER_INIT
from sijscan.anatomy.recipes import published_recipe
from sijscan.errors import ModelError
from sijscan.files import file_digest
from sijscan.modelfolder import build_network, default_provenance, save_model
from sijscan.safeload import safe_torch_load

log = logging.getLogger(__name__)

PUBLISHED_LABELS = {0: "background", 1: "sacrum", 2: "pelvis_left_transposed", 3: "pelvis_right_transposed"}
SOURCE = "Dorfner et al., RMD Open 2024; Zenodo record 11116990 (segmentation_model.pt)"


def import_published_segmenter(pt_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                               download: Mapping[str, Any] | None = None) -> Path:
    """Convert the published segmentation file into a sijscan model folder; return the folder.

    ``download``: where the file came from (``fetch-published``: url, size, sha256), kept in provenance.
    Raises ``UnsafeCheckpointError`` (names the refused global) when the pickle holds anything
    beyond tensors and containers, ``ModelError`` when the content does not fit the architecture.
    """
    import torch

    src = Path(pt_path)
    obj, _refused = safe_torch_load(src, strict=True)
    if not isinstance(obj, dict) or "network" not in obj:
        keys = ", ".join(map(str, list(obj)[:8])) if isinstance(obj, dict) else type(obj).__name__
        raise ModelError(f"{src}: expected a dict with key 'network' (the authors' format), found {keys}")
    state = obj["network"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{src}: 'network' is not a state_dict of tensors")
    network = build_network("unet-paper", PAPER_INIT)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"{src}: weights do not fit the published UNet: {first}") from exc
    # Classes 2/3 are "left/right pelvis" in the authors' transposed frame; localisation assigns
    # image sides from geometry, so the names only document where they come from.
    labels = dict(PUBLISHED_LABELS)
    out = save_model(
        out_dir, network=network, kind="segmenter", arch="unet-paper", init_args=dict(PAPER_INIT),
        labels=labels, recipe=published_recipe(),
        provenance=default_provenance(source=SOURCE, imported_from=src.name, source_sha256=file_digest(src),
                                      **({"download": dict(download)} if download else {})),
        extra={"published": True, "sijscan_labels": {str(k): v for k, v in LABELS.items()}},
    )
    log.info("imported %s into %s", src, out)
    return out
