"""sijscan.anatomy: pelvis/sacrum segmentation, sacroiliac-joint localisation and crop.

Light, torch-free entry points are re-exported here; the network side lives in submodules:
``networks`` (registered architectures), ``segment`` (recipe-driven inference of any segmenter
model folder; ``Segmenter.run(radiograph)`` is the one way to segment), ``train`` (Lightning
training), ``published`` (import of the authors' weights), ``run`` (batch segmentation behind
``sijscan segment``), ``api`` (``segment``, the typed call behind the command: ``sijscan.segment``),
``metrics`` (Dice, SIJ-box hit rate).
"""
from __future__ import annotations

from sijscan.anatomy.crop import SIJNotFoundError, crop_sij, scale_box
from sijscan.anatomy.localize import SIJLocation, locate_sij

__all__ = ["SIJLocation", "SIJNotFoundError", "crop_sij", "locate_sij", "scale_box"]
