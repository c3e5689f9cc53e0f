r"""SchNet (Schütt et al. 2017), compact, for the energy per atom of periodic structures.

The amorphous-carbon paper (Minamitani et al., Sec. 2.4) trains SchNet (through SchNetPack)
with 100 features per atom and distances expanded on 60 Gaussians
:math:`e_k(r) = \exp(-\gamma (r - \mu_k)^2)`, centres :math:`\mu_k` evenly spaced on 0–5 Å,
:math:`\gamma = 0.1` Å⁻². This module is our own implementation of the same architecture, not
SchNetPack (whose 2.x releases do not import on the torch this project uses):

- an embedding of the atomic number into ``n_features``;
- ``n_interactions`` interaction blocks, each ``x ← x + v(x)``, with
  ``v = Dense∘ssp∘Dense(cfconv(Dense(x)))``: the continuous-filter convolution
  :math:`\sum_j x_j \circ W(r_{ij})\, f_c(r_{ij})`, where the filter network
  :math:`W = \mathrm{Dense}\circ\mathrm{ssp}\circ\mathrm{Dense}` acts on the Gaussian expansion
  and :math:`f_c` is the cosine cutoff at ``cutoff`` (SchNetPack's default);
- an atom-wise readout (``n_features → n_features / 2 → 1`` with a shifted softplus) whose
  per-atom outputs are averaged over each structure: the model predicts the mean energy per
  atom, the papers' target.

``ssp(x) = softplus(x) − ln 2``. Inputs are neighbour graphs (:func:`neighbor_graph`, a periodic
neighbour list from ASE) batched by :func:`collate`; only distances enter, so the energy is
invariant under rotation, translation, permutation and wrapping atoms into the cell. Forces are
not needed here, so distances are precomputed once per structure rather than differentiated.

Examples
--------
>>> import torch
>>> from ase.build import bulk
>>> torch.manual_seed(0) and None
>>> model = SchNet(n_features=8, n_interactions=1, n_gaussians=6)
>>> batch = collate([neighbor_graph(bulk("C", "diamond", cubic=True), 5.0)])
>>> model(batch).shape
torch.Size([1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import _validate

__all__ = ["SchNet", "collate", "neighbor_graph"]


def neighbor_graph(atoms: Any, cutoff: float) -> dict[str, np.ndarray]:
    """Directed neighbour pairs within ``cutoff`` (periodic where ``atoms.pbc`` is).

    Parameters
    ----------
    atoms : ase.Atoms
    cutoff : float
        Å; every periodic image closer than this counts (several images of one atom may).

    Returns
    -------
    dict
        ``z (N,)`` int64 atomic numbers, ``i (E,)``, ``j (E,)`` int64 pair indices and
        ``d (E,)`` float32 distances in Å.
    """
    from ase.neighborlist import neighbor_list

    cutoff = _validate.positive("cutoff", cutoff)
    if not hasattr(atoms, "get_atomic_numbers"):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError("atoms holds no atoms")
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    return {
        "z": atoms.get_atomic_numbers().astype(np.int64),
        "i": i.astype(np.int64),
        "j": j.astype(np.int64),
        "d": d.astype(np.float32),
    }


def collate(graphs: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """One batch of graphs: indices offset, plus ``batch (N,)`` and ``n_structures``."""
    if not graphs:
        raise ValueError("graphs must hold at least one graph, got none")
    z, i, j, d, b = [], [], [], [], []
    offset = 0
    for k, g in enumerate(graphs):
        n = len(g["z"])
        z.append(g["z"])
        i.append(g["i"] + offset)
        j.append(g["j"] + offset)
        d.append(g["d"])
        b.append(np.full(n, k, dtype=np.int64))
        offset += n
    return {
        "z": torch.from_numpy(np.concatenate(z)),
        "i": torch.from_numpy(np.concatenate(i)),
        "j": torch.from_numpy(np.concatenate(j)),
        "d": torch.from_numpy(np.concatenate(d)),
        "batch": torch.from_numpy(np.concatenate(b)),
        "n_structures": torch.tensor(len(graphs)),
    }


def _ssp(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.softplus(x) - math.log(2.0)


class _SSP(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ssp(x)


class _Interaction(nn.Module):
    def __init__(self, n_features: int, n_gaussians: int) -> None:
        super().__init__()
        self.filter = nn.Sequential(
            nn.Linear(n_gaussians, n_features), _SSP(), nn.Linear(n_features, n_features)
        )
        self.in2f = nn.Linear(n_features, n_features, bias=False)
        self.f2out = nn.Sequential(
            nn.Linear(n_features, n_features), _SSP(), nn.Linear(n_features, n_features)
        )

    def forward(
        self, x: torch.Tensor, rbf: torch.Tensor, fc: torch.Tensor, i: torch.Tensor, j: torch.Tensor
    ) -> torch.Tensor:
        w = self.filter(rbf) * fc.unsqueeze(1)
        messages = self.in2f(x)[j] * w
        conv = torch.zeros_like(x).index_add_(0, i, messages)
        return x + self.f2out(conv)


class SchNet(nn.Module):
    """SchNet regressor of the mean energy per atom of each structure in a batch.

    Parameters
    ----------
    n_features : int, default 100
        Features per atom (the paper's 100); also the filter width.
    n_interactions : int, default 3
        Interaction blocks (SchNetPack's default; the paper does not say).
    n_gaussians : int, default 60
        Gaussians of the distance expansion (the paper's 60).
    cutoff : float, default 5.0
        Å: the neighbour cutoff and the upper end of the Gaussian centres (the paper's 0–5 Å).
    gamma : float, default 0.1
        Å⁻², the Gaussians' coefficient as the paper states it.
    max_z : int, default 100
        Size of the embedding table (atomic numbers below it).

    Attributes
    ----------
    target_mean, target_scale : torch.Tensor, shape ()
        Buffers: output = network output · ``target_scale`` + ``target_mean``.
    """

    def __init__(
        self,
        n_features: int = 100,
        n_interactions: int = 3,
        n_gaussians: int = 60,
        cutoff: float = 5.0,
        gamma: float = 0.1,
        max_z: int = 100,
    ) -> None:
        super().__init__()
        self.n_features = _validate.positive_int("n_features", n_features)
        self.n_interactions = _validate.positive_int("n_interactions", n_interactions)
        n_gaussians = _validate.positive_int("n_gaussians", n_gaussians)
        self.cutoff = _validate.positive("cutoff", cutoff)
        self.gamma = _validate.positive("gamma", gamma)
        max_z = _validate.positive_int("max_z", max_z)
        self.embedding = nn.Embedding(max_z, self.n_features)
        self.register_buffer("centers", torch.linspace(0.0, self.cutoff, n_gaussians))
        self.interactions = nn.ModuleList(
            _Interaction(self.n_features, n_gaussians) for _ in range(self.n_interactions)
        )
        half = max(1, self.n_features // 2)
        self.readout = nn.Sequential(nn.Linear(self.n_features, half), _SSP(), nn.Linear(half, 1))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_scale", torch.ones(()))

    def set_target_scaling(self, y: torch.Tensor | Sequence[float]) -> None:
        """Set ``target_mean``/``target_scale`` to the mean and standard deviation of ``y (n,)``."""
        t = torch.as_tensor(y, dtype=self.target_mean.dtype).reshape(-1)
        if t.numel() == 0 or not torch.isfinite(t).all():
            raise ValueError("y must hold at least one finite target value")
        std = float(t.std(unbiased=False))
        self.target_mean.fill_(float(t.mean()))
        self.target_scale.fill_(std if std > 0 else 1.0)

    def representation(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-atom features ``(N, n_features)`` after the last interaction block.

        The paper's SchNet descriptor of a structure is their mean over its atoms.
        """
        z, i, j, d = batch["z"], batch["i"], batch["j"], batch["d"]
        if z.ndim != 1 or i.shape != j.shape or i.shape != d.shape:
            raise ValueError("batch must hold z (N,), and i, j, d of one shape (E,)")
        keep = d < self.cutoff
        i, j, d = i[keep], j[keep], d[keep]
        rbf = torch.exp(-self.gamma * (d.unsqueeze(1) - self.centers) ** 2)
        fc = 0.5 * (torch.cos(d * (math.pi / self.cutoff)) + 1.0)
        x = self.embedding(z)
        for block in self.interactions:
            x = block(x, rbf, fc, i, j)
        return x

    @staticmethod
    def _structure_mean(values: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean over each structure's atoms of per-atom ``values`` ``(N, ...)`` → ``(B, ...)``."""
        b = batch["batch"]
        n = int(batch["n_structures"])
        total = torch.zeros((n, *values.shape[1:]), dtype=values.dtype, device=values.device)
        total.index_add_(0, b, values)
        ones = torch.ones(values.shape[0], dtype=values.dtype, device=values.device)
        count = torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(0, b, ones)
        return total / count.reshape(n, *([1] * (values.ndim - 1)))

    def standardized(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-structure mean of the atom-wise outputs ``(B,)``, in units of ``target_scale``."""
        return self._structure_mean(self.readout(self.representation(batch)).squeeze(1), batch)

    def evaluate(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy per atom ``(B,)`` (as :meth:`forward`) and the SchNet descriptor ``(B, F)``
        (the last interaction's features averaged over atoms), from one pass."""
        x = self.representation(batch)
        energy = self._structure_mean(self.readout(x).squeeze(1), batch)
        return energy * self.target_scale + self.target_mean, self._structure_mean(x, batch)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Predicted energy per atom ``(B,)`` of each structure in the batch (:func:`collate`)."""
        return self.standardized(batch) * self.target_scale + self.target_mean
