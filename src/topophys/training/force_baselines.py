"""Per-atom baselines trained on energies and forces like the local PH potential.

The amorphous-carbon paper's SOAP + NN and SchNet predict one energy per structure from an
averaged descriptor and give no forces (:mod:`topophys.training.baselines`). Beside the atom-
centred persistence potential they are made per-atom, trained by the same loop on the same
loss and labels (``topophys.training._forces``):

- **SOAP + NN**: DScribe SOAP of every atom (the paper's settings by default) into the same
  :class:`~topophys.models.local_ph.AtomicNetwork` as the PH potential, E = Σᵢ ε(SOAPᵢ). The
  forces need ∂SOAPᵢ/∂x_j; DScribe's analytical derivatives exclude periodic cells, so they are
  central differences (h = 10⁻⁴ Å, error ~10⁻⁹ relative, checked against DScribe's own
  numerical ones in the tests), taken only for the atoms whose forces enter the loss, and only
  over the centres within ``r_cut + 5 σ`` of them (DScribe's Gaussians reach past ``r_cut``).
- **SchNet** (:class:`~topophys.models.schnet.SchNet`): distances recomputed in torch from the
  positions and periodic neighbour offsets, per-atom outputs summed to a total energy
  (:class:`AtomicSchNet`), forces ``−∂E/∂x`` by autograd (double backward in training).

:func:`fit_force_model` trains either on :func:`soap_samples` or :func:`schnet_samples`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import _validate
from ..config import Config
from ..data.structures import frame_energy
from ..descriptors.soap import SOAPConfig
from ..models.local_ph import AtomicNetwork
from ..models.schnet import SchNet
from ..parallel import pmap
from ._forces import ForceSample, fit_forces
from .local_ph import LocalPHFitConfig, force_labels, force_subset

__all__ = [
    "AtomicSchNet",
    "SOAPSample",
    "SchNetForceConfig",
    "SchNetSample",
    "fit_force_model",
    "schnet_samples",
    "soap_derivatives",
    "soap_samples",
]


def soap_derivatives(
    atoms: Any, config: SOAPConfig, atoms_of: np.ndarray, step: float = 1e-4
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Per-atom SOAP ``(n, F)`` and, for each atom *j* of ``atoms_of``, the centres *i* its
    position reaches and ``∂SOAP_i/∂x_j`` ``(len(centres), 3, F)`` by central differences."""
    from ase.neighborlist import neighbor_list

    soap = config.build(average=False)
    features = np.asarray(soap.create(atoms), dtype=np.float64)
    # DScribe looks for neighbours up to 5 σ beyond r_cut (the Gaussians' reach).
    i, j = neighbor_list("ij", atoms, config.r_cut + 5.0 * config.sigma + 0.1)
    blocks = []
    for atom in atoms_of:
        centres = np.unique(np.r_[atom, i[j == atom]])
        d = np.empty((len(centres), 3, features.shape[1]))
        moved = atoms.copy()
        for c in range(3):
            moved.positions[atom, c] += step
            plus = soap.create(moved, centers=centres.tolist())
            moved.positions[atom, c] -= 2.0 * step
            minus = soap.create(moved, centers=centres.tolist())
            moved.positions[atom, c] += step
            d[:, c] = (np.asarray(plus) - np.asarray(minus)) / (2.0 * step)
        blocks.append((centres, d))
    return features, blocks


class SOAPSample:
    """One labelled structure for the per-atom SOAP + NN potential (see :class:`PHSample
    <topophys.training.local_ph.PHSample>` for the interface)."""

    def __init__(
        self,
        atoms: Any,
        config: SOAPConfig,
        force_index: np.ndarray,
        energy_key: str = "energy",
    ) -> None:
        self.n_atoms = len(atoms)
        self.energy = frame_energy(atoms, energy_key)
        forces = force_labels(atoms)
        index = np.asarray(force_index, dtype=np.int64) if forces is not None else np.empty(0, int)
        features, blocks = soap_derivatives(atoms, config, index)
        self.features = torch.as_tensor(features)
        self.species = torch.zeros(self.n_atoms, dtype=torch.int64)
        self.force_index = torch.as_tensor(index)
        self.forces = torch.as_tensor(forces[index] if forces is not None else np.empty((0, 3)))
        rows = [np.full(len(c), k) for k, (c, _) in enumerate(blocks)]
        self.row = torch.as_tensor(np.concatenate(rows) if rows else np.empty(0, int))
        self.centre = torch.as_tensor(
            np.concatenate([c for c, _ in blocks]) if blocks else np.empty(0, int)
        )
        # float32 halves the memory of the derivative blocks; their error is far below that.
        self.d = torch.as_tensor(
            np.concatenate([d for _, d in blocks])
            if blocks
            else np.empty((0, 3, features.shape[1]))
        ).float()

    def predict(
        self, model: AtomicNetwork, create_graph: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features.clone().requires_grad_(True)
        with torch.enable_grad():
            energy = model(x, self.species).sum()
            if not len(self.force_index):
                return energy, torch.empty(0, 3, dtype=energy.dtype)
            (g,) = torch.autograd.grad(energy, x, create_graph=create_graph)
        contrib = torch.einsum("pf,pcf->pc", g[self.centre], self.d.to(g.dtype))
        out = torch.zeros(len(self.force_index), 3, dtype=contrib.dtype)
        return energy, -out.index_add(0, self.row, contrib)

    def force_jacobian(self) -> torch.Tensor:
        """The forces on ``force_index`` as a linear map ``F = J w`` of the weights of a
        per-atom energy ``ε(x) = w · x`` linear in SOAP (as :meth:`PHSample.force_jacobian
        <topophys.training.local_ph.PHSample.force_jacobian>`, which
        :func:`~topophys.training.local_ph.linear_start` fits with).

        Returns
        -------
        Tensor, shape (3 · len(force_index), n_features), float64
            Rows atom-major, as ``forces.reshape(-1)``.
        """
        n_features = self.features.shape[1]
        out = torch.zeros(len(self.force_index), 3, n_features, dtype=torch.float64)
        out.index_add_(0, self.row, self.d.double())
        return -out.reshape(-1, n_features)


class _SOAPJob:
    def __init__(self, config: SOAPConfig, force_atoms: int, seed: int, energy_key: str):
        self.config, self.force_atoms, self.seed = config, force_atoms, seed
        self.energy_key = energy_key

    def __call__(self, item: tuple[int, Any]) -> SOAPSample:
        index, atoms = item
        subset = force_subset(len(atoms), self.force_atoms, self.seed, index)
        return SOAPSample(atoms, self.config, subset, self.energy_key)


def soap_samples(
    frames: Sequence[Any],
    config: SOAPConfig | None = None,
    *,
    force_atoms: int = 0,
    seed: int = 0,
    energy_key: str = "energy",
    indices: Sequence[int] | None = None,
    n_jobs: int = 1,
) -> list[SOAPSample]:
    """Samples of labelled ``frames`` for the per-atom SOAP + NN potential (force subsets
    drawn as :func:`~topophys.training.local_ph.ph_samples` draws them)."""
    config = SOAPConfig() if config is None else config
    if len(config.species) != 1:
        raise ValueError("soap_samples handles one species (the papers' carbon)")
    indices = list(range(len(frames))) if indices is None else list(indices)
    job = _SOAPJob(config, force_atoms, seed, energy_key)
    return pmap(job, list(zip(indices, frames, strict=True)), workers=n_jobs, desc="SOAP")


@dataclass(frozen=True)
class SchNetForceConfig(Config):
    """SchNet's architecture for the force-trained baseline (defaults sized for a CPU).

    Parameters
    ----------
    n_features, n_interactions, n_gaussians
        As :class:`~topophys.models.schnet.SchNet`.
    cutoff
        Å.
    gamma
        Å⁻²: 10, the SchNet paper's (the amorphous-carbon paper's 0.1 did not learn here,
        see ``docs/baselines.md``).
    """

    n_features: int = 64
    n_interactions: int = 3
    n_gaussians: int = 50
    cutoff: float = 4.0
    gamma: float = 10.0

    def __post_init__(self) -> None:
        _validate.positive_int("n_features", self.n_features)
        _validate.positive_int("n_interactions", self.n_interactions)
        _validate.positive_int("n_gaussians", self.n_gaussians)
        _validate.positive("cutoff", self.cutoff)
        _validate.positive("gamma", self.gamma)


class AtomicSchNet(nn.Module):
    """SchNet whose per-atom outputs sum to a total energy (eV), differentiable in positions.

    Attributes
    ----------
    energy_shift, energy_scale : torch.Tensor, shape ()
        Buffers, eV: per-atom energy = output · scale + shift.
    """

    # Declared so the type checker sees tensors, not ``Tensor | Module`` from nn.Module.__getattr__.
    energy_shift: torch.Tensor
    energy_scale: torch.Tensor

    def __init__(self, config: SchNetForceConfig) -> None:
        super().__init__()
        self.schnet = SchNet(
            n_features=config.n_features,
            n_interactions=config.n_interactions,
            n_gaussians=config.n_gaussians,
            cutoff=config.cutoff,
            gamma=config.gamma,
        )
        self.register_buffer("energy_shift", torch.zeros(()))
        self.register_buffer("energy_scale", torch.ones(()))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-atom energies ``(N,)`` of a graph whose ``d`` may require grad."""
        atom = self.schnet.readout(self.schnet.representation(batch)).reshape(-1)
        return atom * self.energy_scale + self.energy_shift


class SchNetSample:
    """One labelled structure for :class:`AtomicSchNet`: neighbour pairs with their lattice
    offsets, so distances are recomputed from the positions (and differentiated)."""

    def __init__(
        self, atoms: Any, cutoff: float, force_index: np.ndarray, energy_key: str = "energy"
    ) -> None:
        from ase.neighborlist import neighbor_list

        self.n_atoms = len(atoms)
        self.energy = frame_energy(atoms, energy_key)
        forces = force_labels(atoms)
        index = np.asarray(force_index, dtype=np.int64) if forces is not None else np.empty(0, int)
        self.force_index = torch.as_tensor(index)
        self.forces = torch.as_tensor(forces[index] if forces is not None else np.empty((0, 3)))
        i, j, shift = neighbor_list("ijS", atoms, cutoff)
        self.i, self.j = torch.as_tensor(i), torch.as_tensor(j)
        self.offset = torch.as_tensor(shift.astype(np.float64) @ atoms.get_cell()[:])
        self.positions = torch.as_tensor(atoms.get_positions())
        self.z = torch.as_tensor(atoms.get_atomic_numbers().astype(np.int64))

    def predict(self, model: AtomicSchNet, create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = model.energy_shift.dtype
        x = self.positions.to(dtype).clone().requires_grad_(True)
        with torch.enable_grad():
            d = torch.linalg.vector_norm(x[self.j] + self.offset.to(dtype) - x[self.i], dim=1)
            batch = {"z": self.z, "i": self.i, "j": self.j, "d": d}
            energy = model(batch).sum()
            if not len(self.force_index):
                return energy, torch.empty(0, 3, dtype=dtype)
            (g,) = torch.autograd.grad(energy, x, create_graph=create_graph)
        return energy, -g[self.force_index]


def schnet_samples(
    frames: Sequence[Any],
    config: SchNetForceConfig | None = None,
    *,
    force_atoms: int = 0,
    seed: int = 0,
    energy_key: str = "energy",
    indices: Sequence[int] | None = None,
) -> list[SchNetSample]:
    """Samples of labelled ``frames`` for :class:`AtomicSchNet` (same force subsets)."""
    config = SchNetForceConfig() if config is None else config
    indices = list(range(len(frames))) if indices is None else list(indices)
    return [
        SchNetSample(a, config.cutoff, force_subset(len(a), force_atoms, seed, k), energy_key)
        for k, a in zip(indices, frames, strict=True)
    ]


def fit_force_model(
    model: AtomicNetwork | AtomicSchNet,
    samples: Sequence[ForceSample],
    config: LocalPHFitConfig,
    *,
    run_dir: Any = None,
    progress: bool | None = False,
) -> tuple[Any, dict[str, Any]]:
    """Train a per-atom baseline like :func:`~topophys.training.local_ph.fit_local_ph` does
    the PH potential: same loop, loss, schedule, held-out share and early stopping.

    ``model`` is an :class:`AtomicNetwork` (for :func:`soap_samples`; its input scaling is
    fitted here) or an :class:`AtomicSchNet` (for :func:`schnet_samples`). Returns the trained
    model (float64, eval mode) and the history. With ``config.linear_start`` the
    :class:`AtomicNetwork` (built with ``linear=True``) starts from the exact least-squares
    linear energy, its ridge chosen from ``config.linear_ridges`` on the held-out structures
    (:func:`~topophys.training.local_ph.linear_start`; the history's ``linear_start``), as
    :func:`~topophys.training.local_ph.fit_local_ph` does.
    """
    from ._loop import holdout_split
    from .local_ph import prepare_network

    samples = list(samples)
    train, held = holdout_split(len(samples), config.validation_fraction, config.seed)
    model = model.double()
    if isinstance(model, AtomicNetwork):
        if config.linear_start != model.linear:
            raise ValueError(
                f"config.linear_start is {config.linear_start} but the model was built with "
                f"linear={model.linear}; build AtomicNetwork(..., linear={config.linear_start})"
            )
    elif isinstance(model, AtomicSchNet):
        if config.linear_start:
            raise ValueError("config.linear_start needs an AtomicNetwork, not AtomicSchNet")
        energies = torch.tensor([samples[k].energy / samples[k].n_atoms for k in train])
        model.energy_shift.fill_(float(energies.mean()))
        model.energy_scale.fill_(max(float(energies.std(unbiased=False)), 1e-3))
    else:
        raise TypeError(
            f"model must be an AtomicNetwork or AtomicSchNet, got {type(model).__name__}"
        )
    start = time.perf_counter()
    first = None
    if isinstance(model, AtomicNetwork):
        first = prepare_network(
            model, [samples[k] for k in train], [samples[k] for k in held], config
        )
    history: dict[str, Any] = fit_forces(
        model,
        [samples[k] for k in train],
        optimizer=lambda p: torch.optim.Adam(p, lr=config.lr, weight_decay=config.weight_decay),
        settings=config.settings(),
        force_weight=config.force_weight,
        holdout=[samples[k] for k in held],
        run_dir=run_dir,
        identity={"model": type(model).__name__, "config": config.to_dict()},
        progress=progress,
    )
    history["fit_seconds"] = [time.perf_counter() - start]
    if first is not None:
        history["linear_start"] = first
    return model.eval(), history
