r"""Births and deaths recomputed in torch from the positions, with their derivatives.

Each value ``v`` of a :class:`~.pairs.LocalPairs` is a function of at most six atom positions:
the four corners of its giver simplex, its farthest atom and the centre. :func:`slot_geometry`
gathers those positions per value ("slot") as one leaf tensor, evaluates all values in torch and
takes one backward pass of their sum: since every value depends on its own slot only, the
gradient of the sum is each value's own gradient, ``∂v/∂x`` for its six atoms. Everything
downstream (persistence images, the network) depends on the positions only through the values,
so with ``g = ∂E/∂v``

.. math::

    F_a = -\sum_{\text{slots } s} g_s
          \sum_{q:\ \mathrm{atom}(s, q) = a} \partial v_s / \partial x_{s,q},

which :func:`slot_forces` assembles. The values do not depend on the network, so a training
loop computes the slot gradients once per structure and gets forces that depend on the weights
through ``g`` alone; the virial ``Σ_s g_s Σ_q x_{s,q} ⊗ ∂v_s/∂x_{s,q}`` (each value depends on
relative positions only) gives the stress.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._geometry import circumradius2_torch
from .config import entrance_torch
from .pairs import LocalPairs

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["SlotGeometry", "slot_forces", "slot_geometry", "slot_virial"]


@dataclass
class SlotGeometry:
    """The values of a :class:`LocalPairs` and their derivatives at one configuration.

    Attributes
    ----------
    values : torch.Tensor, shape (2, P)
        Births (row 0) and deaths (row 1), Å².
    atoms : torch.Tensor, shape (2, P, 6) int64
        Atom of each slot corner (giver corners, farthest atom, centre); −1 where unused.
    grads : torch.Tensor, shape (2, P, 6, 3)
        ``∂value/∂position`` of each corner, Å²/Å (zero where unused).
    corners : torch.Tensor, shape (2, P, 6, 3)
        Image positions of the corners, Å (for the virial).
    """

    values: torch.Tensor
    atoms: torch.Tensor
    grads: torch.Tensor
    corners: torch.Tensor


def _values(
    corners: torch.Tensor, size: torch.Tensor, essential: torch.Tensor, config
) -> torch.Tensor:
    """Values of slots from their corners ``(S, 6, 3)`` and giver sizes ``(S,)``."""
    import torch

    alpha = torch.zeros(corners.shape[0], dtype=corners.dtype, device=corners.device)
    for k in (2, 3, 4):
        at = torch.nonzero(size == k).reshape(-1)
        if len(at):
            alpha = alpha.index_put((at,), circumradius2_torch(corners[at, :k]))
    r = torch.linalg.vector_norm(corners[:, 4] - corners[:, 5], dim=-1)
    value = torch.clamp(torch.maximum(alpha, entrance_torch(r, config)), max=config.t_max)
    return torch.where(essential, torch.full_like(value, config.t_max), value)


def slot_geometry(
    pairs: LocalPairs,
    positions: np.ndarray | torch.Tensor,
    cell: np.ndarray | torch.Tensor | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> SlotGeometry:
    """Values of ``pairs`` at ``positions`` and their per-slot gradients.

    Parameters
    ----------
    pairs : LocalPairs
        From :func:`~.pairs.local_pairs` of the same structure (same atom order).
    positions : array or Tensor, shape (n_atoms, 3)
        Å; the positions the pairs were computed at, or positions close to them (the pairing
        is then held fixed).
    cell : array or Tensor, shape (3, 3), optional
        Lattice vectors as rows, Å (needed for periodic structures).
    dtype : torch.dtype, optional
        Default float64.

    Returns
    -------
    SlotGeometry
    """
    import torch

    dtype = torch.float64 if dtype is None else dtype
    x = torch.as_tensor(
        np.asarray(positions) if not isinstance(positions, torch.Tensor) else positions
    )
    x = x.detach().to(dtype)
    if x.shape != (pairs.n_atoms, 3):
        raise ValueError(f"positions must have shape ({pairs.n_atoms}, 3), got {tuple(x.shape)}")
    shift = torch.as_tensor(pairs.image_shift, dtype=dtype)
    images = x[torch.as_tensor(pairs.image_atom)]
    if bool(shift.abs().max() > 0) if len(shift) else False:
        if cell is None:
            raise ValueError("cell is needed: the pairs use periodic images")
        c = torch.as_tensor(np.asarray(cell) if not isinstance(cell, torch.Tensor) else cell)
        images = images + shift @ c.detach().to(dtype)
    giver = torch.as_tensor(pairs.giver)
    far = torch.as_tensor(pairs.far)
    origin = torch.as_tensor(pairs.origin).expand(2, -1)
    essential = far < 0
    index = torch.cat(
        [giver, torch.where(essential, origin, far)[..., None], origin[..., None]], dim=-1
    )  # (2, P, 6)
    used = index >= 0
    used[..., 4] &= ~essential
    used[..., 5] &= ~essential
    corners = images[index.clamp(min=0)].reshape(-1, 6, 3).clone().requires_grad_(True)
    size = (giver >= 0).sum(-1).reshape(-1)
    with torch.enable_grad():
        values = _values(corners, size, essential.reshape(-1), pairs.config)
        (grads,) = torch.autograd.grad(values.sum(), corners)
    image_atom = torch.as_tensor(pairs.image_atom)
    atoms = torch.where(used, image_atom[index.clamp(min=0)], torch.full_like(index, -1))
    grads = grads.reshape(2, -1, 6, 3) * used[..., None]
    return SlotGeometry(
        values=values.detach().reshape(2, -1),
        atoms=atoms,
        grads=grads,
        corners=corners.detach().reshape(2, -1, 6, 3),
    )


def slot_forces(d_values: torch.Tensor, geometry: SlotGeometry, n_atoms: int) -> torch.Tensor:
    """Forces ``(n_atoms, 3)`` in eV/Å from ``d_values = ∂E/∂values`` ``(2, P)`` in eV/Å².

    Differentiable in ``d_values`` (a training loss on forces reaches the network through it).
    """
    import torch

    contrib = d_values[..., None, None] * geometry.grads  # (2, P, 6, 3)
    atoms = geometry.atoms.clamp(min=0).reshape(-1)
    out = torch.zeros(n_atoms, 3, dtype=contrib.dtype, device=contrib.device)
    return -out.index_add(0, atoms, contrib.reshape(-1, 3))


def slot_virial(d_values: torch.Tensor, geometry: SlotGeometry) -> torch.Tensor:
    """``∂E/∂ε`` ``(3, 3)`` in eV for a homogeneous strain ε: ``Σ_s g_s Σ_q x_{s,q} ⊗
    ∂v_s/∂x_{s,q}``, which is ``volume · stress`` (ASE's sign convention)."""
    import torch

    return torch.einsum("sp,spqi,spqj->ij", d_values, geometry.corners, geometry.grads)
