"""Segmentation architectures, registered by name for :mod:`sijscan.modelfolder`.

Both are MONAI ``UNet`` with 4 output classes (0 background, 1 sacrum, 2 hip bone on the image's
left, 3 hip bone on the image's right).

``unet-paper``    the published network (channels 64-128-256-512, strides 2-2-2, 3 residual units),
                  trained and run at 512 x 512 (published: sliding window over 768 x 768).
``unet-default``  a light network for sijscan's own models (channels 16-32-64-128, strides 2-2-2,
                  1 residual unit), run in one pass at 256 x 256: a mask only has to locate the
                  joints, and this meets the CPU speed target (benchmarks/bench_segment.py).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from sijscan.modelfolder import register_arch

LABELS = {0: "background", 1: "sacrum", 2: "hip_image_left", 3: "hip_image_right"}

PAPER_INIT: dict[str, Any] = {
    "spatial_dims": 2, "in_channels": 1, "out_channels": 4,
    "channels": [64, 128, 256, 512], "strides": [2, 2, 2], "num_res_units": 3,
}
DEFAULT_INIT: dict[str, Any] = {
    "spatial_dims": 2, "in_channels": 1, "out_channels": 4,
    "channels": [16, 32, 64, 128], "strides": [2, 2, 2], "num_res_units": 1,
}
ARCH_INIT = {"unet-paper": PAPER_INIT, "unet-default": DEFAULT_INIT}


def _unet(*, spatial_dims: int, in_channels: int, out_channels: int, channels: Sequence[int],
          strides: Sequence[int], num_res_units: int) -> torch.nn.Module:
    from monai.networks.nets import UNet

    return UNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
                channels=tuple(channels), strides=tuple(strides), num_res_units=num_res_units)


@register_arch("unet-paper")
def unet_paper(**init_args: Any) -> torch.nn.Module:
    """MONAI UNet with the published defaults; any field may be overridden via ``init_args``."""
    return _unet(**{**PAPER_INIT, **init_args})


@register_arch("unet-default")
def unet_default(**init_args: Any) -> torch.nn.Module:
    """The light sijscan UNet; any field may be overridden via ``init_args``."""
    return _unet(**{**DEFAULT_INIT, **init_args})
