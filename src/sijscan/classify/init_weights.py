"""Initial weights: torchvision's ImageNet ResNet-50 (download/cache or a local file) or none."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from sijscan.classify.errors import InitWeightsError
from sijscan.classify.networks import SIJResNet, load_imagenet_backbone
from sijscan.safeload import safe_torch_load

log = logging.getLogger(__name__)

INITS = ("imagenet", "random")


def read_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A torchvision state_dict from ``.safetensors`` or a torch file (allow-list loader, no code runs)."""
    p = Path(path)
    if not p.is_file():
        raise InitWeightsError(f"--init-weights file not found: {p}")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except (SafetensorError, OSError) as exc:
            raise InitWeightsError(f"{p}: unreadable safetensors file ({exc})") from exc

    obj, _ = safe_torch_load(p, strict=True)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InitWeightsError(f"{p}: expected a state_dict (name -> tensor)")
    return dict(obj)


def imagenet_state() -> dict[str, torch.Tensor]:
    """torchvision's ResNet50 IMAGENET1K_V1 weights (downloaded once into torch's cache)."""
    from torchvision.models import ResNet50_Weights

    try:
        return ResNet50_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except (OSError, RuntimeError, ValueError) as exc:
        raise InitWeightsError(
            "cannot download torchvision's ImageNet ResNet-50 weights (offline?): pass --init-weights FILE "
            f"(a torchvision resnet50 state_dict) or use --init random ({type(exc).__name__})") from exc


def initialise(net: SIJResNet, *, init: str, init_weights: str | Path | None = None) -> dict[str, object]:
    """Apply the initialisation in place; return what was done (for the model card's provenance)."""
    if init not in INITS:
        raise InitWeightsError(f"--init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "random":
        if init_weights:
            raise InitWeightsError("--init-weights only makes sense with --init imagenet")
        return {"init": "random"}
    state = read_state_file(init_weights) if init_weights else imagenet_state()
    skipped = load_imagenet_backbone(net, state)
    log.info("initialised backbone from %s (skipped %d keys: head)", init_weights or "torchvision IMAGENET1K_V1",
             len(skipped))
    return {"init": "imagenet", "init_weights": str(init_weights) if init_weights else "torchvision:IMAGENET1K_V1"}
