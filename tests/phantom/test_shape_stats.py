"""The CT statistics derivation on tiny synthetic volumes (the real CTs are not needed)."""
from __future__ import annotations

import numpy as np

from tools import shape_stats as ss  # the build-time tool (repository root on sys.path)


def test_projection_is_the_bone_line_integral_on_a_1mm_grid() -> None:
    hu = np.zeros((20, 30, 40), np.float32)  # z, y (anterior -> posterior), x
    hu[5:15, 10:20, 8:28] = 1000.0  # a 10 mm (y) slab of HU 1000 at 1 mm voxels
    p = ss.project(hu, (1.0, 1.0, 1.0))
    assert p["M"].shape == (20, 40)
    # mu = 0.0206 x (1 + 1000/1000) per mm, 10 mm deep
    np.testing.assert_allclose(p["M"][10, 15], 0.0206 * 2 * 10, rtol=1e-5)
    np.testing.assert_allclose(p["T"][10, 15], 10.0)
    np.testing.assert_allclose(p["Y"][10, 15], 14.5)  # mean depth index of rows 10..19
    assert p["M"][2, 15] == 0.0  # rows run superior -> inferior: z index 17 (no bone)


def test_head_centre_finds_the_centre_of_a_socket() -> None:
    # a hemispherical cup (inner radius 24 mm, 6 mm wall) opening towards +x, at 2 mm voxels
    z, y, x = np.mgrid[0:60, 0:60, 0:60].astype(np.float32) * 2.0
    c = np.array([60.0, 60.0, 70.0])  # z, y, x (mm)
    r = np.sqrt((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2)
    cup = (r > 24) & (r < 30) & (x < c[2] + 4)
    plate = (x < 30) & (x > 20) & (np.abs(z - 60) < 50) & (np.abs(y - 60) < 50)  # a wall medially
    hu = np.where(cup | plate, 800.0, 0.0).astype(np.float32)
    centre, dist = ss.head_centre(hu, (2.0, 2.0, 2.0), lateral=1.0)
    assert np.linalg.norm(centre - c[::-1]) < 6.0, (centre, np.linalg.norm(centre - c[::-1]))
    # the fit is coarse (2 mm grid, candidates every 4 mm): the socket distance comes out a few mm short
    assert 24.0 - 5.0 < dist < 24.0 + 2.0, dist


def test_resample_keeps_the_ends_and_spaces_points_evenly() -> None:
    path = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    q = ss._resample(path, 5)
    np.testing.assert_allclose(q[0], path[0])
    np.testing.assert_allclose(q[-1], path[-1])
    np.testing.assert_allclose(np.hypot(*np.diff(q, axis=0).T), 5.0)
