r"""Topological charge (winding number) of the plaquettes of a periodic square lattice of angles.

Lattice convention
------------------
A field is an array ``theta[..., i, j]`` of angles on an ``L×L`` periodic lattice, with the
row index ``i`` read as the coordinate ``y`` and the column index ``j`` as ``x`` (so site
``(i, j)`` sits at ``(x, y) = (j, i)``). Plaquette ``(i, j)`` is the unit square whose corners
are, in order,

    (i, j) → (i, j+1) → (i+1, j+1) → (i+1, j)        (indices mod L)

which runs counter-clockwise in the ``(x, y)`` plane (right, up, left, down) around the
centre ``(x, y) = (j + ½, i + ½)``. With this orientation the vortex
``θ = atan2(y − y₀, x − x₀)`` has charge +1 and the antivortex ``θ = −atan2(y − y₀, x − x₀)``
has charge −1. Drawn with
``imshow(..., origin="lower")`` the loop is counter-clockwise on screen too (``origin="upper"``,
matplotlib's default, mirrors it).

Exact charge (the paper's eq. 2)
--------------------------------
:math:`k = \frac{1}{2\pi}\sum_{\text{bonds}} \mathrm{saw}(\theta_b - \theta_a)` over the four
bonds ``a → b`` of the loop, with :math:`\mathrm{saw}(x) = x - 2\pi\,\mathrm{round}(x/2\pi)`, the
difference wrapped into ``[-π, π]``. (The paper prints ``x + sgn(x)·2π`` for ``|x| ≥ π``; the
wrapping needs ``x − sgn(x)·2π``.) The sum of the four wrapped differences is an exact multiple of
2π, so the charge is an integer in {−2, −1, 0, 1, 2} (±2 is impossible unless a difference sits
exactly at ±π). A difference exactly at ±π is a tie; ``round`` breaks it half-to-even, so
``saw(±π) = ±π``. Adding 2π to any angle never changes a charge.

Approximate charge (the paper's eq. 3)
--------------------------------------
:math:`k \approx \frac14\sum_{\text{bonds}} S_a \times S_b = \frac14\sum \sin(\theta_b - \theta_a)`
with unit spins :math:`S = (\cos\theta, \sin\theta)`, differentiable everywhere. It is 1 on the
ideal lattice vortex (each difference π/2) but smaller on real fields: on equilibrated fields at
T = 0.1 it reads about 0.65 on a defect and up to about 0.6 on defect-free plaquettes, so it is a
weak, smooth proxy, not a counter.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "angles_to_spins",
    "plaquette_charge",
    "soft_charge",
    "spins_to_angles",
    "total_charge",
    "vorticity",
    "wrap_angle",
]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

_TWO_PI = 2.0 * math.pi
# Multiplying by the reciprocal (not dividing by 2π) is the exact same IEEE operation in numpy and
# torch on every device, so the sampler's constraint and these functions round ties identically.
_INV_TWO_PI = 1.0 / _TWO_PI
# Largest spin component accepted: products of two stay far from overflow.
_MAX_SPIN = 1e100


def _check_lattice(name: str, x: np.ndarray | torch.Tensor, min_ndim: int = 2) -> None:
    if x.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions (..., L, L), got shape "
            f"{tuple(x.shape)}"
        )
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{name} must be square in its last two axes, got {tuple(x.shape)}")
    if x.shape[-1] < 2:
        raise ValueError(f"{name} needs L >= 2 sites per side, got {tuple(x.shape)}")


def _as_float(name: str, x: ArrayT) -> ArrayT:
    """A floating array/tensor view of ``x``: torch stays torch, everything else becomes numpy.

    (Typed for the arrays and tensors the public functions declare; lists work too.)
    """
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"{name} must be real, got a {x.dtype} tensor")
        return x if x.is_floating_point() else x.to(torch.float64)
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x)}") from exc
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    # float32 stays float32 so that stored float32 fields give the charges the sampler held.
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


def _check_spins(spins: np.ndarray | torch.Tensor) -> None:
    _check_lattice("spins", spins, min_ndim=3)
    if spins.shape[-3] != 2:
        raise ValueError(
            f"spins must have 2 channels (cos, sin) at axis -3, got shape {tuple(spins.shape)}"
        )
    # A tensor in a training graph is not inspected: that would wait for the device each step.
    if isinstance(spins, torch.Tensor) and spins.requires_grad:
        return
    _finite("spins", spins)
    magnitude = spins.abs() if isinstance(spins, torch.Tensor) else np.abs(spins)
    largest = float(magnitude.max()) if math.prod(spins.shape) else 0.0
    if largest > _MAX_SPIN:
        raise ValueError(f"spins must be of order 1 (unit vectors), got a component {largest:g}")


def _roll(x: ArrayT, shift: int, axis: int) -> ArrayT:
    if isinstance(x, torch.Tensor):
        return torch.roll(x, shifts=shift, dims=axis)
    return np.roll(x, shift, axis=axis)


def _round(x: ArrayT) -> ArrayT:
    return torch.round(x) if isinstance(x, torch.Tensor) else np.round(x)


def _int64(x: ArrayT) -> ArrayT:
    return x.to(torch.int64) if isinstance(x, torch.Tensor) else x.astype(np.int64)


def wrap_angle(x: ArrayT) -> ArrayT:
    """Wrap angles into ``[-π, π]``: saw(x) = x − 2π·round(x / 2π), same kind and shape as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(wrap_angle(np.array([0.5, 3.5, -3.5, 7.0])), 4)
    array([ 0.5   , -2.7832,  2.7832,  0.7168])
    """
    x = _as_float("x", x)
    _finite("x", x)
    return _wrap(x)


def _wrap(x: ArrayT) -> ArrayT:
    return x - _TWO_PI * _round(x * _INV_TWO_PI)


def _finite(name: str, x: np.ndarray | torch.Tensor) -> None:
    ok = bool(torch.isfinite(x).all()) if isinstance(x, torch.Tensor) else np.isfinite(x).all()
    if not ok:
        raise ValueError(f"{name} contains NaN or infinite values")


def plaquette_charge(theta: ArrayT) -> ArrayT:
    """Exact topological charge of every plaquette of periodic ``L×L`` angle fields.

    Parameters
    ----------
    theta
        ``(..., L, L)`` angles in radians (any real dtype; any range, 2π-periodic), numpy array
        or torch tensor. See the module notes for the plaquette convention.

    Returns
    -------
    ``(..., L, L)`` int64 array (or tensor on ``theta``'s device): entry ``[..., i, j]`` is the
    winding number around plaquette ``(i, j)``, whose lower-left corner is site ``(i, j)``. Each
    field's charges sum to zero (the lattice is a torus).

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:8, 0:8]
    >>> k = plaquette_charge(np.arctan2(y - 3.5, x - 3.5))  # a vortex at the centre of (3, 3)
    >>> int(k[3, 3]), int(k[1:7, 1:7].sum()), int(k.sum())
    (1, 1, 0)
    """
    theta = _as_float("theta", theta)
    _check_lattice("theta", theta)
    _finite("theta", theta)
    # Wrapped bond differences along +x (dx[i, j]: (i,j) → (i,j+1)), +y (dy: (i,j) → (i+1,j)).
    dx = _wrap(_roll(theta, -1, -1) - theta)
    dy = _wrap(_roll(theta, -1, -2) - theta)
    # Counter-clockwise loop: +dx[i,j] + dy[i,j+1] − dx[i+1,j] − dy[i,j]; saw is odd, so the
    # reversed bonds are exactly the negated forward ones.
    circulation = dx + _roll(dy, -1, -1) - _roll(dx, -1, -2) - dy
    return _int64(_round(circulation * _INV_TWO_PI))


def total_charge(charges: ArrayT) -> ArrayT:
    """Net charge of each map: ``(..., L, L)`` → ``(...)``; zero for every field on a torus.

    ``charges`` are integer maps (as :func:`plaquette_charge` gives) or real ones, finite.
    """
    if not (isinstance(charges, torch.Tensor) and not charges.is_complex()):
        charges = _as_float("charges", charges) if not _is_int_array(charges) else charges
    _check_lattice("charges", charges)
    _finite("charges", charges)
    if isinstance(charges, torch.Tensor):
        return charges.sum(dim=(-2, -1))
    return np.asarray(charges).sum(axis=(-2, -1))


def _is_int_array(x: object) -> bool:
    return isinstance(x, np.ndarray) and x.dtype != bool and np.issubdtype(x.dtype, np.integer)


def vorticity(theta: ArrayT) -> ArrayT:
    """Number of defects (vortices plus antivortices) of each field: Σ |k| over plaquettes.

    This is the paper's vorticity ν as we read it: a field with one vortex–antivortex pair has
    ν = 2, a defect-free field ν = 0. Divide by ``L²`` for a density.

    Parameters
    ----------
    theta
        ``(..., L, L)`` angles, numpy or torch.

    Returns
    -------
    ``(...)`` int64, same kind as ``theta``.

    Examples
    --------
    >>> import numpy as np
    >>> int(vorticity(np.zeros((4, 4))))
    0
    """
    k = plaquette_charge(theta)
    if isinstance(k, torch.Tensor):
        return k.abs().sum(dim=(-2, -1))
    return np.abs(k).sum(axis=(-2, -1))


def soft_charge(spins: ArrayT) -> ArrayT:
    r"""The paper's differentiable charge approximation (eq. 3) of every plaquette.

    :math:`k \approx \frac14 (S_a\times S_b + S_b\times S_c + S_c\times S_d + S_d\times S_a)` over
    the corners ``a = (i, j)``, ``b = (i, j+1)``, ``c = (i+1, j+1)``, ``d = (i+1, j)``: the same
    counter-clockwise loop as :func:`plaquette_charge`, ``×`` the z component of the cross
    product. The spins are used as given (not normalized).

    Parameters
    ----------
    spins
        ``(..., 2, L, L)``: channel 0 is :math:`S_x = \cos\theta`, channel 1 :math:`S_y =
        \sin\theta`. A torch tensor keeps its autograd graph.

    Returns
    -------
    ``(..., L, L)``, same kind, dtype and device as ``spins``; in ``[-1, 1]`` for unit spins.

    Examples
    --------
    >>> import torch
    >>> y, x = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    >>> theta = torch.atan2(y - 3.5, x - 3.5)
    >>> s = torch.stack([theta.cos(), theta.sin()], dim=0)
    >>> round(float(soft_charge(s)[3, 3]), 4)
    1.0
    """
    if not isinstance(spins, torch.Tensor):
        spins = _as_float("spins", spins)
    elif not spins.is_floating_point():
        raise TypeError(f"spins must be a floating tensor, got {spins.dtype}")
    _check_spins(spins)
    sx, sy = spins[..., 0, :, :], spins[..., 1, :, :]
    # Cross products along +x and +y bonds; the loop reverses two of them (a × b = −b × a).
    cx = sx * _roll(sy, -1, -1) - _roll(sx, -1, -1) * sy
    cy = sx * _roll(sy, -1, -2) - _roll(sx, -1, -2) * sy
    return 0.25 * (cx + _roll(cy, -1, -1) - _roll(cx, -1, -2) - cy)


def angles_to_spins(theta: ArrayT) -> ArrayT:
    """Unit spins ``(..., 2, L, L)`` (channels cos θ, sin θ) of angles ``(..., L, L)``."""
    theta = _as_float("theta", theta)
    _check_lattice("theta", theta)
    _finite("theta", theta)
    if isinstance(theta, torch.Tensor):
        return torch.stack([torch.cos(theta), torch.sin(theta)], dim=-3)
    theta = np.asarray(theta)
    return np.stack([np.cos(theta), np.sin(theta)], axis=-3)


def spins_to_angles(spins: ArrayT) -> ArrayT:
    """Angles in ``(-π, π]`` ``(..., L, L)`` of spins ``(..., 2, L, L)`` (any positive length)."""
    spins = _as_float("spins", spins)
    _check_spins(spins)
    if isinstance(spins, torch.Tensor):
        return torch.atan2(spins[..., 1, :, :], spins[..., 0, :, :])
    spins = np.asarray(spins)
    return np.arctan2(spins[..., 1, :, :], spins[..., 0, :, :])
