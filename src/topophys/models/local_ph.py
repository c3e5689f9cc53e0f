r"""An interatomic potential from atom-centred persistence: E = Σᵢ ε(dᵢ), forces by autograd.

:class:`AtomicNetwork` maps per-atom features ``dᵢ`` to per-atom energies with one small
network per species (Behler–Parrinello style), on standardized inputs; it knows nothing of
persistence and serves the SOAP baseline too. :class:`LocalPHPotential` joins it to the
atom-centred persistence images of :mod:`topophys.descriptors.local_ph`: for a structure it
computes the pairs (GUDHI), their values in torch, the images, the energies, and from
``∂E/∂values`` the forces ``F = −∂E/∂x`` and the stress. Its :meth:`~LocalPHPotential.calculator`
gives ASE energy, per-atom energies, forces and stress, so it drives ASE molecular dynamics.

The activation is smooth (SiLU by default): with ReLU the forces would jump wherever a hidden
unit switches, which spoils energy conservation in molecular dynamics.

Examples
--------
>>> import torch
>>> from ase.build import bulk
>>> from topophys.descriptors.local_ph import LocalPHConfig
>>> torch.manual_seed(0) and None
>>> config = LocalPHConfig(max_dim=1, resolution=(4, 4))
>>> potential = LocalPHPotential(config, AtomicNetwork(config.n_features, hidden=(8,)))
>>> atoms = bulk("C", "diamond", cubic=True).repeat(3)
>>> atoms.rattle(0.05, seed=0)
>>> out = potential.compute(atoms)
>>> out["forces"].shape, bool(abs(out["forces"].sum(0)).max() < 1e-9)
((216, 3), True)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from ase.calculators.calculator import Calculator
from torch import nn

from .. import _validate
from ..descriptors.local_ph import (
    LocalPHConfig,
    local_pairs,
    slot_forces,
    slot_geometry,
    slot_virial,
)
from ..descriptors.local_ph.images import atom_images, image_blocks, value_gradients

__all__ = [
    "ACTIVATIONS",
    "FORMAT",
    "AtomicNetwork",
    "LocalPHCalculator",
    "LocalPHPotential",
    "load_local_ph",
]

FORMAT = 1
"""Version of the saved model directory (``model.json`` + ``weights.pt``)."""

ACTIVATIONS = {"silu": nn.SiLU, "tanh": nn.Tanh, "softplus": nn.Softplus}
"""Smooth activations the per-atom networks may use."""


class AtomicNetwork(nn.Module):
    """Per-atom energies from per-atom features, one fully connected network per species.

    Parameters
    ----------
    n_features : int
        Features per atom.
    species : sequence of str, default ("C",)
        Chemical symbols; ``species_index`` arguments index this tuple.
    hidden : sequence of int, default (64, 64)
        Hidden widths.
    activation : {"silu", "tanh", "softplus"}, default "silu"

    Attributes
    ----------
    input_mean, input_scale : torch.Tensor, shape (n_features,)
        Buffers: the networks see ``(d − input_mean) / input_scale``.
    energy_shift : torch.Tensor, shape (n_species,)
        Buffer, eV: per-atom reference energy of each species.
    energy_scale : torch.Tensor, shape ()
        Buffer, eV: the networks' output unit.
    """

    def __init__(
        self,
        n_features: int,
        species: Sequence[str] = ("C",),
        hidden: Sequence[int] = (64, 64),
        activation: str = "silu",
    ) -> None:
        super().__init__()
        self.n_features = _validate.positive_int("n_features", n_features)
        if isinstance(species, str) or not species:
            raise ValueError(f"species must be a non-empty sequence of symbols, got {species!r}")
        self.species = tuple(species)
        if isinstance(hidden, (str, bytes)):
            raise TypeError(f"hidden must be a sequence of ints, got {hidden!r}")
        self.hidden = tuple(_validate.positive_int(f"hidden[{k}]", h) for k, h in enumerate(hidden))
        self.activation = _validate.choice("activation", activation, tuple(ACTIVATIONS))
        self.nets = nn.ModuleList(self._net() for _ in self.species)
        self.register_buffer("input_mean", torch.zeros(self.n_features))
        self.register_buffer("input_scale", torch.ones(self.n_features))
        self.register_buffer("energy_shift", torch.zeros(len(self.species)))
        self.register_buffer("energy_scale", torch.ones(()))

    def _net(self) -> nn.Sequential:
        layers: list[nn.Module] = []
        width = self.n_features
        for h in self.hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[self.activation]()]
            width = h
        layers.append(nn.Linear(width, 1))
        return nn.Sequential(*layers)

    @torch.no_grad()
    def fit_scaling(
        self,
        features: torch.Tensor,
        species_counts: torch.Tensor,
        energies: torch.Tensor,
    ) -> None:
        """Set the buffers from training data.

        Parameters
        ----------
        features : Tensor, shape (n_atoms_total, n_features)
            Per-atom features of the training structures.
        species_counts : Tensor, shape (n_structures, n_species)
            Atoms of each species in each structure.
        energies : Tensor, shape (n_structures,)
            Total energies, eV.

        Inputs are centred and divided by their spread, floored at 1 % of the largest spread.
        The per-species shift is the least-squares fit of the total energies on the counts,
        the scale the standard deviation of the residual per atom (at least 1 meV).
        """
        x = torch.as_tensor(features, dtype=self.input_mean.dtype)
        if x.ndim != 2 or x.shape[1] != self.n_features or not len(x):
            raise ValueError(f"features must have shape (n ≥ 1, {self.n_features})")
        counts = torch.as_tensor(species_counts, dtype=self.input_mean.dtype)
        e = torch.as_tensor(energies, dtype=self.input_mean.dtype).reshape(-1)
        if counts.shape != (len(e), len(self.species)) or not len(e):
            raise ValueError(
                f"species_counts must have shape ({len(e)}, {len(self.species)}), "
                f"got {tuple(counts.shape)}"
            )
        if not (torch.isfinite(x).all() and torch.isfinite(e).all()):
            raise ValueError("features and energies must be finite")
        std = x.std(0, unbiased=False)
        # A feature the training atoms hardly populate (a pixel in a Gaussian's tail) must not
        # be blown up on new structures: scales are floored at 1 % of the largest.
        floor = max(float(std.max()) * 1e-2, 1e-12)
        self.input_mean.copy_(x.mean(0))
        self.input_scale.copy_(torch.clamp(std, min=floor))
        shift = torch.linalg.lstsq(counts, e[:, None]).solution[:, 0]
        self.energy_shift.copy_(shift)
        residual = (e - counts @ shift) / counts.sum(1)
        self.energy_scale.fill_(
            max(float(residual.std(unbiased=False)), 1e-3) if len(e) > 1 else 1.0
        )

    def forward(self, features: torch.Tensor, species_index: torch.Tensor) -> torch.Tensor:
        """Per-atom energies ``(n,)`` in eV of features ``(n, n_features)``."""
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(
                f"features must have shape (n, {self.n_features}), got {tuple(features.shape)}"
            )
        x = (features - self.input_mean) / self.input_scale
        out = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for s, net in enumerate(self.nets):
            at = torch.nonzero(species_index == s).reshape(-1)
            if len(at):
                out = out.index_put((at,), net(x[at]).reshape(-1))
        return out * self.energy_scale + self.energy_shift[species_index]

    def species_index(self, symbols: Sequence[str]) -> torch.Tensor:
        """Indices into :attr:`species` of ``symbols``; a ValueError names unknown ones."""
        lookup = {s: k for k, s in enumerate(self.species)}
        unknown = sorted(set(symbols) - set(lookup))
        if unknown:
            raise ValueError(f"species {unknown} are not among the model's {list(self.species)}")
        return torch.tensor([lookup[s] for s in symbols], dtype=torch.int64)


class LocalPHPotential(nn.Module):
    """Atom-centred persistence images + :class:`AtomicNetwork`: energies, forces, stress.

    Parameters
    ----------
    config : LocalPHConfig
        The descriptor; ``config.species`` must equal the network's.
    network : AtomicNetwork
        With ``n_features = config.n_features``; converted to float64.
    """

    def __init__(self, config: LocalPHConfig, network: AtomicNetwork) -> None:
        super().__init__()
        if not isinstance(config, LocalPHConfig):
            raise TypeError(f"config must be a LocalPHConfig, got {type(config).__name__}")
        if not isinstance(network, AtomicNetwork):
            raise TypeError(f"network must be an AtomicNetwork, got {type(network).__name__}")
        if network.n_features != config.n_features:
            raise ValueError(
                f"network takes {network.n_features} features, the descriptor gives "
                f"{config.n_features}"
            )
        if tuple(network.species) != tuple(config.species):
            raise ValueError(
                f"network species {network.species} differ from the descriptor's {config.species}"
            )
        # Float64 throughout: molecular dynamics needs the energy conserved to many digits.
        self.config, self.network = config, network.double()
        self.training_summary: dict[str, Any] = {}

    def compute(self, atoms: Any, *, forces: bool = True, stress: bool = False) -> dict[str, Any]:
        """Energy and its derivatives for one structure.

        Parameters
        ----------
        atoms : ase.Atoms
            Periodic with a cell wider than ``2 · r_cut``, or not periodic.
        forces, stress : bool
            What to compute besides the energy (stress needs a periodic cell).

        Returns
        -------
        dict
            ``energy`` (float, eV), ``energies`` ``(n,)`` (eV per atom), and when asked
            ``forces`` ``(n, 3)`` (eV/Å) and ``stress`` ``(3, 3)`` (eV/Å³, ASE's sign).
        """
        pairs = local_pairs(atoms, self.config)
        dtype = self.network.input_mean.dtype
        cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)
        geometry = slot_geometry(pairs, atoms.get_positions(), cell, dtype=dtype)
        species = self.network.species_index(atoms.get_chemical_symbols())
        centre, dim = torch.as_tensor(pairs.centre), torch.as_tensor(pairs.dim)
        birth, death = geometry.values
        _, d_birth, d_death = image_blocks(birth, death, self.config)
        features = atom_images(centre, dim, birth, death, pairs.n_atoms, self.config)
        x = features.requires_grad_(forces or stress)
        with torch.enable_grad():
            energies = self.network(x, species)
            energy = energies.sum()
            out: dict[str, Any] = {
                "energy": float(energy.detach()),
                "energies": energies.detach().numpy().copy(),
            }
            if forces or stress:
                (d_features,) = torch.autograd.grad(energy, x)
        if forces or stress:
            d_values = value_gradients(d_features, centre, dim, d_birth, d_death, self.config)
        if forces:
            out["forces"] = slot_forces(d_values, geometry, len(atoms)).numpy().copy()
        if stress:
            volume = abs(float(np.linalg.det(cell)))
            if volume < 1e-9:
                raise ValueError("stress needs a periodic cell with a volume")
            virial = slot_virial(d_values, geometry).numpy()
            out["stress"] = 0.5 * (virial + virial.T) / volume
        return out

    def predict(self, frames: Sequence[Any]) -> np.ndarray:
        """Energy per atom ``(n_frames,)`` in eV/atom of each structure.

        Warns (:class:`~topophys._warnings.TopophysWarning`) when a prediction lies outside
        the range of the training energies per atom by more than a tenth of its width.
        """
        import warnings

        from .._warnings import TopophysWarning

        out = np.array([self.compute(a, forces=False)["energy"] / len(a) for a in frames])
        bounds = self.training_summary.get("energy_per_atom_range")
        if bounds is not None and len(out):
            low, high = bounds
            slack = 0.1 * (high - low)
            outside = np.flatnonzero((out < low - slack) | (out > high + slack))
            if len(outside):
                warnings.warn(
                    f"{len(outside)} of {len(out)} frames (first: {int(outside[0])}) are "
                    f"predicted outside the training energies [{low:.3f}, {high:.3f}] eV/atom",
                    TopophysWarning,
                    stacklevel=2,
                )
        return out

    def save(self, path: str | Path) -> Path:
        """Write the model directory: ``model.json`` (kind, format, package version,
        descriptor settings, network shape, training summary) and ``weights.pt`` (the
        network's tensors: weights and fitted standardization). Atomic per file."""
        from .. import __version__
        from ..config import atomic_write_text

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "weights.pt.tmp"
        torch.save(self.network.state_dict(), tmp)
        tmp.replace(folder / "weights.pt")
        meta = {
            "kind": "local_ph",
            "format": FORMAT,
            "topophys_version": __version__,
            "descriptor": self.config.to_dict(),
            "network": {
                "n_features": self.network.n_features,
                "species": list(self.network.species),
                "hidden": list(self.network.hidden),
                "activation": self.network.activation,
            },
            "training": self.training_summary,
        }
        atomic_write_text(folder / "model.json", json.dumps(meta, indent=1) + "\n")
        return folder

    def calculator(self) -> LocalPHCalculator:
        """An ASE calculator: energy, free energy, per-atom energies, forces, stress."""
        return LocalPHCalculator(self)


class LocalPHCalculator(Calculator):
    """ASE calculator of a :class:`LocalPHPotential` (energy, energies, forces, stress).

    Parameters
    ----------
    potential : LocalPHPotential
    """

    implemented_properties: ClassVar[list[str]] = [
        "energy",
        "free_energy",
        "energies",
        "forces",
        "stress",
    ]

    def __init__(self, potential: LocalPHPotential, **kwargs: Any) -> None:
        if not isinstance(potential, LocalPHPotential):
            raise TypeError(f"potential must be a LocalPHPotential, got {type(potential).__name__}")
        super().__init__(**kwargs)
        self.potential = potential

    def calculate(
        self,
        atoms: Any = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = (),
    ) -> None:
        from ase.calculators.calculator import all_changes
        from ase.stress import full_3x3_to_voigt_6_stress

        super().calculate(atoms, properties, system_changes or all_changes)
        want_stress = "stress" in properties
        out = self.potential.compute(self.atoms, forces=True, stress=want_stress)
        self.results = {
            "energy": out["energy"],
            "free_energy": out["energy"],
            "energies": out["energies"],
            "forces": out["forces"],
        }
        if want_stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"])


def load_local_ph(path: str | Path) -> LocalPHPotential:
    """Load a model directory written by :meth:`LocalPHPotential.save`.

    Weights are read with ``torch.load(..., weights_only=True)``: a file planted in the
    directory cannot run code.

    Raises
    ------
    FileNotFoundError
        If ``path`` lacks ``model.json`` or ``weights.pt``.
    ValueError
        If the directory holds another kind of model or a newer format.
    """
    folder = Path(path)
    meta_path, weights = folder / "model.json", folder / "weights.pt"
    for p in (meta_path, weights):
        if not p.is_file():
            raise FileNotFoundError(f"{folder} is no local PH model directory: {p.name} missing")
    meta = json.loads(meta_path.read_text())
    if meta.get("kind") != "local_ph":
        raise ValueError(f"{folder} holds a model of kind {meta.get('kind')!r}, not 'local_ph'")
    if int(meta.get("format", 0)) > FORMAT:
        raise ValueError(
            f"{folder} has format {meta['format']}; this topophys reads up to {FORMAT}"
        )
    config = LocalPHConfig.from_dict(meta["descriptor"])
    net = meta["network"]
    network = AtomicNetwork(net["n_features"], net["species"], net["hidden"], net["activation"])
    network.double().load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    potential = LocalPHPotential(config, network.eval())
    potential.training_summary = dict(meta.get("training", {}))
    return potential
