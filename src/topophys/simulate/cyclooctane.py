r"""Cyclo-octane ring conformers: eight carbon atoms with fixed bond lengths and bond angles.

The letter's Fig. 2 (after Martin et al.'s cyclo-octane set) uses the carbon skeletons of
cyclo-octane conformations with bond length b = 1.52 Å and bond angle θ = 115°. Fixing every
bond length and every angle is the same as fixing 16 distances of the ring,

.. math::

    |x_i - x_{i+1}| = b, \qquad |x_i - x_{i+2}| = 2 b \sin(\theta / 2) \quad (i \bmod 8),

16 equations on 24 coordinates less the 6 rigid motions: the conformation space is a
2-dimensional variety (a sphere and a Klein bottle glued along two rings).

We sample it by projection: a random ring (a regular octagon of circumradius
:math:`b / (2\sin(\pi/8))` with every coordinate moved by a Gaussian of standard deviation
``noise``·b) is moved onto the variety by ``scipy.optimize.least_squares`` on the 16 distance
residuals, with their exact Jacobian. A start whose projection does not reach ``tol`` (a local
minimum of the residual) is dropped and another drawn. The samples cover the whole variety but
are not uniform on it (their density is that of the projection); this is ours, the papers say
only how their set was constrained.

Examples
--------
>>> x = cyclooctane_conformers(3, seed=0)
>>> x.shape
(3, 8, 3)
>>> bool(np.abs(ring_residuals(x)).max() < 1e-6)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _validate

__all__ = [
    "BOND_ANGLE",
    "BOND_LENGTH",
    "RING_SIZE",
    "NotConvergedError",
    "cyclooctane_conformers",
    "ring_residuals",
]

BOND_LENGTH = 1.52
"""C–C bond length of the cyclo-octane set (Å)."""

BOND_ANGLE = 115.0
"""C–C–C bond angle of the cyclo-octane set (degrees)."""

RING_SIZE = 8
"""Atoms in the ring."""

# Pairs (i, j) of the 16 constraints: 8 bonds, then 8 1-3 distances.
_I = np.concatenate([np.arange(RING_SIZE), np.arange(RING_SIZE)])
_J = np.concatenate(
    [(np.arange(RING_SIZE) + 1) % RING_SIZE, (np.arange(RING_SIZE) + 2) % RING_SIZE]
)


def _targets(bond_length: float, bond_angle: float) -> np.ndarray:
    d13 = 2.0 * bond_length * math.sin(math.radians(bond_angle) / 2.0)
    return np.concatenate([np.full(RING_SIZE, bond_length), np.full(RING_SIZE, d13)])


def ring_residuals(
    coords: Any, bond_length: float = BOND_LENGTH, bond_angle: float = BOND_ANGLE
) -> np.ndarray:
    """Distance residuals of rings: actual minus target, for the 8 bonds and 8 1-3 pairs.

    Parameters
    ----------
    coords : array_like, shape (n, 8, 3) or (8, 3)
        Ring atoms in ring order (Å).
    bond_length : float
        Target bond length b (Å).
    bond_angle : float
        Target bond angle θ (degrees, in (0, 180)); the 1-3 distance is 2 b sin(θ/2).

    Returns
    -------
    numpy.ndarray, shape (n, 16) or (16,)
        Residuals (Å): columns 0–7 the bonds (i, i+1), 8–15 the pairs (i, i+2).
    """
    x = _validate.real_array("coords", coords)
    if x.shape[-2:] != (RING_SIZE, 3) or x.ndim not in (2, 3):
        raise ValueError(f"coords must have shape (n, 8, 3) or (8, 3), got {x.shape}")
    target = _targets(*_check_geometry(bond_length, bond_angle))
    with np.errstate(over="ignore", invalid="ignore"):
        residuals = np.linalg.norm(x[..., _I, :] - x[..., _J, :], axis=-1) - target
    if not np.isfinite(residuals).all():
        raise ValueError("coords are too far apart: their distances overflow float64")
    return residuals


# Bonds accepted (Å): far beyond any molecule either way, far from where squared lengths
# overflow or the least-squares problem becomes subnormal.
_MIN_BOND, _MAX_BOND = 1e-6, 1e6


# Most conformers per call (each is a least-squares projection of about a millisecond).
_MAX_CONFORMERS = 100_000


class NotConvergedError(ValueError, RuntimeError):
    """Too few starts converged within ``max_attempts`` (raise it, or ``tol``).

    A ValueError, as a consequence of the arguments, and a RuntimeError for older callers.
    """


def _check_geometry(bond_length: float, bond_angle: float) -> tuple[float, float]:
    bond_length = _validate.positive("bond_length (Å)", bond_length)
    if not _MIN_BOND <= bond_length <= _MAX_BOND:
        raise ValueError(
            f"bond_length must be a bond in Å, from {_MIN_BOND:g} to {_MAX_BOND:g}, got "
            f"{bond_length}"
        )
    bond_angle = _validate.real("bond_angle (degrees)", bond_angle)
    # Below 90° the 1-3 distance drops under b; at 135° a planar octagon is the only ring,
    # beyond it none closes.
    if not 90.0 <= bond_angle < 135.0:
        raise ValueError(
            f"bond_angle must lie in [90, 135) degrees for an 8-ring to close with room to "
            f"pucker, got {bond_angle}"
        )
    return bond_length, bond_angle


def _project(start: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    from scipy.optimize import least_squares

    def residuals(flat: np.ndarray) -> np.ndarray:
        x = flat.reshape(RING_SIZE, 3)
        return np.linalg.norm(x[_I] - x[_J], axis=1) - target

    def jacobian(flat: np.ndarray) -> np.ndarray:
        x = flat.reshape(RING_SIZE, 3)
        d = x[_I] - x[_J]
        u = d / np.linalg.norm(d, axis=1, keepdims=True)
        jac = np.zeros((_I.size, RING_SIZE, 3))
        rows = np.arange(_I.size)
        jac[rows, _I] = u
        jac[rows, _J] = -u
        return jac.reshape(_I.size, -1)

    fit = least_squares(
        residuals, start.ravel(), jac=jacobian, method="dogbox", xtol=1e-12, ftol=1e-12, gtol=1e-12
    )
    x = fit.x.reshape(RING_SIZE, 3)
    return x - x.mean(axis=0), float(np.abs(residuals(fit.x)).max())


def cyclooctane_conformers(
    n: int,
    *,
    seed: int = 0,
    bond_length: float = BOND_LENGTH,
    bond_angle: float = BOND_ANGLE,
    noise: float = 0.5,
    tol: float = 1e-8,
    max_attempts: int | None = None,
    return_attempts: bool = False,
) -> np.ndarray | tuple[np.ndarray, int]:
    """``n`` cyclo-octane carbon rings satisfying the 16 distance constraints.

    Parameters
    ----------
    n : int
        Conformers to return, ≥ 1.
    seed : int
        Seed of the random starts; the same seed gives the same rings.
    bond_length : float
        Bond length b (Å), default 1.52.
    bond_angle : float
        Bond angle θ (degrees), in [90, 135); default 115.
    noise : float
        Standard deviation of the start's displacement from the regular octagon, in units of
        b (> 0). Small values keep the samples near the crown family; 0.5 reaches the whole
        variety.
    tol : float
        Largest accepted |residual| of a projected ring (Å).
    max_attempts : int, optional
        Starts drawn at most (default ``10 n + 100``); :class:`NotConvergedError` beyond.
    return_attempts : bool
        Also return the number of starts drawn (convergence rate = n / attempts).

    Returns
    -------
    coords : numpy.ndarray, shape (n, 8, 3)
        Ring atoms in ring order (Å), each ring centred on its centroid, in the orientation
        the projection left it (align before comparing coordinates).
    attempts : int
        Only with ``return_attempts``.

    Raises
    ------
    ValueError, TypeError
        On bad arguments.
    NotConvergedError
        If fewer than ``n`` starts converge within ``max_attempts`` (a ValueError and a
        RuntimeError).
    """
    n = _validate.positive_int("n", n)
    if n > _MAX_CONFORMERS:
        raise ValueError(
            f"n={n} conformers would take hours (about 1 ms each); ask for at most "
            f"{_MAX_CONFORMERS} per call"
        )
    seed = _validate.seed("seed", seed)
    bond_length, bond_angle = _check_geometry(bond_length, bond_angle)
    noise = _validate.positive("noise", noise)
    if noise > 10:
        raise ValueError(f"noise must be at most 10 bond lengths, got {noise}")
    tol = _validate.positive("tol (Å)", tol)
    if max_attempts is None:
        max_attempts = 10 * n + 100
    max_attempts = _validate.positive_int("max_attempts", max_attempts)
    if not isinstance(return_attempts, bool):
        raise TypeError(f"return_attempts must be True or False, got {return_attempts!r}")

    target = _targets(bond_length, bond_angle)
    phi = 2.0 * np.pi * np.arange(RING_SIZE) / RING_SIZE
    radius = bond_length / (2.0 * math.sin(math.pi / RING_SIZE))
    octagon = radius * np.stack([np.cos(phi), np.sin(phi), np.zeros(RING_SIZE)], axis=1)
    rng = np.random.default_rng(seed)
    out = np.empty((n, RING_SIZE, 3))
    kept = attempts = 0
    while kept < n:
        if attempts == max_attempts:
            raise NotConvergedError(
                f"only {kept} of {n} starts converged to |residual| ≤ {tol} Å within "
                f"max_attempts={max_attempts}; raise max_attempts or tol"
            )
        attempts += 1
        start = octagon + rng.normal(scale=noise * bond_length, size=octagon.shape)
        ring, worst = _project(start, target)
        if worst <= tol:
            out[kept] = ring
            kept += 1
    return (out, attempts) if return_attempts else out
