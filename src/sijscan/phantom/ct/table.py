"""The table under the patient: a curved carbon-fibre top with aluminium side rails.

The table is fixed to the room, not to the patient, so it is placed in the OBJECT frame (the posed
patient's isocentre frame of :mod:`sijscan.phantom.ct.geometry`): its top touches the patient's
back and curves up at the sides (a cradle, as CT tables and many radiography tables are), a rail
runs along each edge. For an AP beam most rays cross the top almost at right angles (a near-uniform
plate); rays tangent to its upturned sides and the rails draw faint long lines where the table's
edges fall inside the field (wide fields, big patients, off-centre positioning). Attenuation at
~60 keV in water units (1/mm): carbon-fibre composite ~0.029 (1.55 g/cm3), aluminium ~0.075.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sijscan.phantom.ct.geometry import Detector, Pose, room_ray_directions

MU_CARBON, MU_ALUMINIUM = 0.029, 0.075


@dataclass(frozen=True)
class Table:
    """``y_top`` (object-frame mm, + towards the detector) of the top's centre; ``radius`` of its curve;
    ``thickness``; ``half_width`` to the rails; ``rail`` (width, height) of each rail."""

    y_top: float
    radius_mm: float = 800.0
    thickness_mm: float = 5.0
    half_width_mm: float = 230.0
    rail_mm: tuple[float, float] = (25.0, 12.0)


def sample_table(y_back: float, rng: np.random.Generator) -> Table:
    """A table whose top touches a back at object-frame ``y_back`` mm."""
    return Table(y_top=float(y_back + rng.uniform(0.0, 15.0)), radius_mm=float(rng.uniform(600.0, 1500.0)),
                 thickness_mm=float(rng.uniform(3.0, 8.0)), half_width_mm=float(rng.uniform(190.0, 250.0)),
                 rail_mm=(float(rng.uniform(20.0, 30.0)), float(rng.uniform(8.0, 15.0))))


def _mu_at(table: Table, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Attenuation (1/mm, water-like units) at object-frame (x, y) mm of the table's cross-section."""
    surface = table.y_top - x * x / (2.0 * table.radius_mm)  # the top rises (anteriorly) at the sides
    inside = (np.abs(x) <= table.half_width_mm) & (y >= surface) & (y <= surface + table.thickness_mm)
    edge_y = table.y_top - table.half_width_mm ** 2 / (2.0 * table.radius_mm)
    rail = (np.abs(x) > table.half_width_mm) & (np.abs(x) <= table.half_width_mm + table.rail_mm[0]) \
        & (y >= edge_y) & (y <= edge_y + table.rail_mm[1])
    return np.where(rail, MU_ALUMINIUM, np.where(inside, MU_CARBON, 0.0))


def table_line_integral(table: Table, *, pose: Pose, det: Detector, step: int = 4, samples: int = 240) -> np.ndarray:
    """(H, W) float32 line integral through the table along each pixel's ray (numerical, ``samples``
    points over the table's depth, every ``step``-th pixel then interpolated)."""
    d = room_ray_directions(pose, det, step=step)  # the table is fixed to the room: no patient rotation
    src_y = -pose.sod_mm
    y_lo = table.y_top - (table.half_width_mm + table.rail_mm[0]) ** 2 / (2.0 * table.radius_mm) - 1.0
    y_hi = table.y_top + table.thickness_mm + 1.0
    ys = np.linspace(y_lo, y_hi, samples)
    dy = (y_hi - y_lo) / (samples - 1)
    t = (ys[None, None, :] - src_y) / d[..., 1:2]  # ray parameter where it crosses each depth
    x = t * d[..., 0:1]
    mu = _mu_at(table, x, np.broadcast_to(ys, x.shape))
    line = (mu.sum(-1) * dy / d[..., 1]).astype(np.float32)  # path length = dy / cos
    return cv2.resize(line, (det.width, det.height), interpolation=cv2.INTER_LINEAR) if step > 1 else line
