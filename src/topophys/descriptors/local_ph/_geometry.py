"""Squared circumradii of simplices in numpy and torch, and periodic covers (internal).

The two circumradius functions are the same closed forms, relative to the first vertex, so the
values torch recomputes for autograd are those the pairing was decided on.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["circumradius2", "circumradius2_torch", "face_gaps", "periodic_cover"]


def circumradius2(corners: np.ndarray) -> np.ndarray:
    """Squared radius of the smallest circumsphere of simplices ``(m, k+1, 3)``, k = 1, 2, 3.

    Flat triangles and tetrahedra (no finite circumsphere) give ``inf``.
    """
    k = corners.shape[1] - 1
    e = corners[:, 1:] - corners[:, :1]
    n2 = np.einsum("mkd,mkd->mk", e, e)
    with np.errstate(divide="ignore", invalid="ignore"):
        if k == 1:
            return 0.25 * n2[:, 0]
        if k == 2:
            a, b = e[:, 0], e[:, 1]
            axb = np.cross(a, b)
            num = np.cross(n2[:, :1] * b - n2[:, 1:] * a, axb)
            den = 2.0 * np.einsum("md,md->m", axb, axb)
        else:
            a, b, c = e[:, 0], e[:, 1], e[:, 2]
            num = (
                n2[:, :1] * np.cross(b, c)
                + n2[:, 1:2] * np.cross(c, a)
                + n2[:, 2:] * np.cross(a, b)
            )
            den = 2.0 * np.einsum("md,md->m", a, np.cross(b, c))
        offset = num / den[:, None]
    r2 = np.einsum("md,md->m", offset, offset)
    return np.where(np.isfinite(r2), r2, np.inf)


def circumcenters(corners: np.ndarray) -> np.ndarray:
    """Centres ``(m, 3)`` of the smallest circumspheres of simplices ``(m, k+1, 3)``."""
    k = corners.shape[1] - 1
    e = corners[:, 1:] - corners[:, :1]
    n2 = np.einsum("mkd,mkd->mk", e, e)
    with np.errstate(divide="ignore", invalid="ignore"):
        if k == 1:
            return corners[:, 0] + 0.5 * e[:, 0]
        a, b = e[:, 0], e[:, 1]
        axb = np.cross(a, b)
        num = np.cross(n2[:, :1] * b - n2[:, 1:] * a, axb)
        den = 2.0 * np.einsum("md,md->m", axb, axb)
        return corners[:, 0] + num / den[:, None]


def circumradius2_torch(corners: torch.Tensor) -> torch.Tensor:
    """:func:`circumradius2` of ``(m, k+1, 3)`` in torch, differentiable in the corners."""
    import torch

    k = corners.shape[1] - 1
    e = corners[:, 1:] - corners[:, :1]
    n2 = (e * e).sum(-1)
    if k == 1:
        return 0.25 * n2[:, 0]
    if k == 2:
        a, b = e[:, 0], e[:, 1]
        axb = torch.linalg.cross(a, b)
        num = torch.linalg.cross(n2[:, :1] * b - n2[:, 1:] * a, axb)
        den = 2.0 * (axb * axb).sum(-1)
    else:
        a, b, c = e[:, 0], e[:, 1], e[:, 2]
        cross = torch.linalg.cross
        num = n2[:, :1] * cross(b, c) + n2[:, 1:2] * cross(c, a) + n2[:, 2:] * cross(a, b)
        den = 2.0 * (a * cross(b, c)).sum(-1)
    offset = num / den[:, None]
    return (offset * offset).sum(-1)


def face_gaps(cell: np.ndarray) -> np.ndarray:
    """Distances ``(3,)`` between opposite faces of a cell (rows are lattice vectors)."""
    volume = abs(float(np.linalg.det(cell)))
    areas = [np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    return volume / np.asarray(areas)


def periodic_cover(
    positions: np.ndarray, cell: np.ndarray, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images of the atoms within ``margin`` (Å) of the cell.

    Returns the image positions ``(M, 3)``, their atoms ``(M,)`` and their lattice shifts
    ``(M, 3)`` relative to the given (unwrapped) positions. Images ``0 … n−1`` are the atoms
    wrapped into the cell, in order.
    """
    frac = np.linalg.solve(cell.T, positions.T).T
    floor = np.floor(frac)
    wrapped = frac - floor
    reach = margin / face_gaps(cell)
    ranges = [np.arange(-math.ceil(r), math.ceil(r) + 1) for r in reach]
    shifts = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    shifts = shifts[np.argsort(np.abs(shifts).sum(1), kind="stable")]  # (0, 0, 0) first
    f = wrapped[None, :, :] + shifts[:, None, :]
    inside = np.all((f >= -reach) & (f < 1.0 + reach), axis=-1)
    inside[0] = True
    s_idx, a_idx = np.nonzero(inside)
    lattice = shifts[s_idx] - floor[a_idx]
    xyz = positions[a_idx] + lattice @ cell
    return xyz, a_idx.astype(np.int64), lattice
