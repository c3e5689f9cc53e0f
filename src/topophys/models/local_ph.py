r"""An interatomic potential from atom-centred persistence: E = Σᵢ ε(dᵢ), forces by autograd.

:class:`AtomicNetwork` maps per-atom features ``dᵢ`` to per-atom energies with one small
network per species (Behler–Parrinello style), on standardized inputs; it knows nothing of
persistence and serves the SOAP baseline too. :class:`LocalPHPotential` joins it to the
atom-centred persistence images of :mod:`topophys.descriptors.local_ph`: for a structure it
computes the pairs (GUDHI), their values in torch, the images, the energies, and from
``∂E/∂values`` the forces ``F = −∂E/∂x`` and the stress. :class:`LocalPHModel` is the saved
energy model of kind ``local_ph`` (:mod:`topophys.potentials`: ``save``,
``load_energy_model``, ``predict`` with range checks); its ``calculator()`` gives ASE the
energy, per-atom energies, forces and stress, so it drives ASE molecular dynamics.

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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import _validate
from ..descriptors.local_ph import (
    LocalPairs,
    LocalPHConfig,
    check_structure,
    local_pairs,
    slot_forces,
    slot_geometry,
    slot_virial,
)
from ..descriptors.local_ph.images import atom_images, image_factors, value_gradients
from ..potentials import EnergyModel

__all__ = ["ACTIVATIONS", "AtomicNetwork", "LocalPHModel", "LocalPHPotential"]

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
    linear : bool, default False
        A fixed linear term beside each network (buffer ``linear_weight``): the per-atom
        energy is ``energy_scale · (net(x) + linear_weight · x) + energy_shift``, x the
        standardized features. Set by a fit (``LocalPHFitConfig(linear_start=True)``: the exact
        least-squares linear energy, the networks trained on what it leaves).

    Attributes
    ----------
    input_mean, input_scale : torch.Tensor, shape (n_features,)
        Buffers: the networks see ``(d − input_mean) / input_scale``.
    linear_weight : torch.Tensor, shape (n_species, n_features)
        Buffer, only with ``linear``: the fixed linear term, per species.
    energy_shift : torch.Tensor, shape (n_species,)
        Buffer, eV: per-atom reference energy of each species.
    energy_scale : torch.Tensor, shape ()
        Buffer, eV: the networks' output unit.
    """

    # Declared so the type checker sees tensors, not ``Tensor | Module`` from nn.Module.__getattr__.
    nets: nn.ModuleList
    input_mean: torch.Tensor
    input_scale: torch.Tensor
    energy_shift: torch.Tensor
    energy_scale: torch.Tensor
    linear_weight: torch.Tensor

    def __init__(
        self,
        n_features: int,
        species: Sequence[str] = ("C",),
        hidden: Sequence[int] = (64, 64),
        activation: str = "silu",
        linear: bool = False,
    ) -> None:
        super().__init__()
        self.n_features = _validate.positive_int("n_features", n_features)
        if not isinstance(linear, bool):
            raise TypeError(f"linear must be True or False, got {linear!r}")
        self.linear = linear
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
        if linear:
            self.register_buffer("linear_weight", torch.zeros(len(self.species), self.n_features))

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
        floor: float = 0.1,
    ) -> None:
        """Set the buffers from training data.

        Inputs are centred and divided by their spread, floored at ``floor`` times the largest
        spread: a pixel the training atoms hardly populate has derivatives as large as any
        other's, and dividing it by its own tiny spread would turn its poorly constrained
        weights into large spurious forces.
        The per-species shift is the least-squares fit of the total energies on the counts,
        the scale the standard deviation of the residual per atom (at least 1 meV).

        Parameters
        ----------
        features : Tensor, shape (n, F)
            Per-atom features of the training structures (all their atoms, F features).
        species_counts : Tensor, shape (m, S)
            Atoms of each of the S species in each of the m structures.
        energies : Tensor, shape (m,)
            Total energies, eV.
        floor : float, default 0.1
            Smallest input scale, as a fraction of the largest spread (0 < floor ≤ 1).
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
        _validate.in_range("floor", floor, 1e-12, 1.0)
        std = x.std(0, unbiased=False)
        self.input_mean.copy_(x.mean(0))
        self.input_scale.copy_(torch.clamp(std, min=max(float(std.max()) * floor, 1e-12)))
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
                y = net(x[at]).reshape(-1)
                if self.linear:
                    y = y + x[at] @ self.linear_weight[s]
                out = out.index_put((at,), y)
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

    def compute(
        self,
        atoms: Any,
        *,
        forces: bool = True,
        stress: bool = False,
        by_block: bool = False,
        pairs: LocalPairs | None = None,
    ) -> dict[str, Any]:
        """Energy and its derivatives for one structure.

        Parameters
        ----------
        atoms : ase.Atoms
            Periodic with a cell wider than ``2 · r_cut``, or not periodic.
        forces, stress : bool
            What to compute besides the energy (stress needs a periodic cell).
        by_block : bool
            Also the forces split by the image their values feed (they sum to the forces).
        pairs : LocalPairs, optional
            The pairs to evaluate (default: those of ``atoms``). Those of a nearby
            configuration of the same atoms hold its recipes fixed: the smooth continuation
            of that configuration's energy surface to ``atoms``, so that the difference from
            the default shows what the recipe changes in between did to the energy and forces.
            The positions must continue those the pairs were computed at, not be wrapped
            back into the cell (the pairs' periodic images are lattice shifts from them).

        Returns
        -------
        dict
            ``energy`` (float, eV), ``energies`` ``(n,)`` (eV per atom), ``features``
            ``(n, n_features)`` (the persistence images), and when asked
            ``forces`` ``(n, 3)`` (eV/Å), ``forces_by_block`` ``(n_blocks, n, 3)`` (eV/Å) and
            ``stress`` ``(3, 3)`` (eV/Å³, ASE's sign).
        """
        if pairs is None:
            pairs = local_pairs(atoms, self.config)
        else:
            check_structure(atoms, self.config)
            if pairs.n_atoms != len(atoms):
                raise ValueError(f"pairs must be of {len(atoms)} atoms, got {pairs.n_atoms}")
            if pairs.config != self.config:
                raise ValueError("pairs must be computed with the potential's descriptor settings")
        dtype = self.network.input_mean.dtype
        cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)
        geometry = slot_geometry(pairs, atoms.get_positions(), cell, dtype=dtype)
        species = self.network.species_index(atoms.get_chemical_symbols())
        centre, block = torch.as_tensor(pairs.centre), torch.as_tensor(pairs.block)
        birth, death = geometry.values
        factors = image_factors(birth, death, self.config)
        features = atom_images(
            centre, block, birth, death, pairs.n_atoms, self.config, blocks=factors.blocks()
        )
        x = features.requires_grad_(forces or stress)
        with torch.enable_grad():
            energies = self.network(x, species)
            energy = energies.sum()
            out: dict[str, Any] = {
                "energy": float(energy.detach()),
                "energies": energies.detach().numpy().copy(),
                "features": features.detach().numpy().copy(),
            }
            if forces or stress or by_block:
                (d_features,) = torch.autograd.grad(energy, x)
        if forces or stress or by_block:
            d_values = value_gradients(d_features, centre, block, factors, self.config)
        if forces:
            out["forces"] = slot_forces(d_values, geometry, len(atoms)).numpy().copy()
        if by_block:
            out["forces_by_block"] = np.stack(
                [
                    slot_forces(d_values * (block == k), geometry, len(atoms)).numpy()
                    for k in range(self.config.n_blocks)
                ]
            )
        if stress:
            volume = abs(float(np.linalg.det(cell)))
            if volume < 1e-9:
                raise ValueError("stress needs a periodic cell with a volume")
            virial = slot_virial(d_values, geometry).numpy()
            out["stress"] = 0.5 * (virial + virial.T) / volume
        return out

    def predict(self, frames: Sequence[Any]) -> np.ndarray:
        """Energy per atom ``(n_frames,)`` in eV/atom of each structure (no range checks:
        :class:`LocalPHModel` adds them)."""
        return np.array([self.compute(a, forces=False)["energy"] / len(a) for a in frames])


class _FrameJob:
    """Picklable: energy per atom and mean features of one frame (for ``pmap``)."""

    def __init__(self, potential: LocalPHPotential) -> None:
        self.potential = potential

    def __call__(self, atoms: Any) -> tuple[float, np.ndarray]:
        out = self.potential.compute(atoms, forces=False)
        return out["energy"] / len(atoms), out["features"].mean(axis=0)


class LocalPHModel(EnergyModel):
    """The local PH potential as a saved energy model (kind ``local_ph``), with forces.

    :func:`topophys.potentials.load_energy_model` reads it back; ``predict`` gives energies per
    atom with the out-of-range warnings of every saved model (the training domain is judged on
    the structure-averaged persistence images); ``calculator()`` gives ASE the energy, per-atom
    energies, forces and stress, so it drives molecular dynamics.

    Parameters
    ----------
    potential : LocalPHPotential
        Trained.
    **common
        See :class:`topophys.potentials.EnergyModel` (``training`` must hold
        ``energy_range``).
    """

    kind = "local_ph"
    implemented_properties = ("energy", "free_energy", "energies", "forces", "stress")

    def __init__(self, potential: LocalPHPotential, **common: Any) -> None:
        if not isinstance(potential, LocalPHPotential):
            raise TypeError(f"potential must be a LocalPHPotential, got {type(potential).__name__}")
        common.setdefault("species", potential.config.species)
        super().__init__(**common)
        if tuple(self.species) != tuple(potential.config.species):
            raise ValueError(
                f"species {self.species} differ from the descriptor's {potential.config.species}"
            )
        self.potential = potential.eval()

    @property
    def config(self) -> LocalPHConfig:
        """The descriptor settings."""
        return self.potential.config

    def _inputs(self, frames: list[Any], workers: int, progress: bool | None) -> Any:
        from ..parallel import pmap

        return pmap(
            _FrameJob(self.potential), frames, workers=workers, progress=progress, desc="local PH"
        )

    def _evaluate(self, inputs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        energies = np.array([e for e, _ in inputs], dtype=np.float64)
        return energies, np.stack([row for _, row in inputs])

    def _calculate(self, atoms: Any, properties: Sequence[str]) -> dict[str, Any]:
        from ase.stress import full_3x3_to_voigt_6_stress

        self.check_frames([atoms])
        stress = "stress" in properties
        out = self.potential.compute(atoms, forces=True, stress=stress)
        results = {
            "energy": out["energy"],
            "free_energy": out["energy"],
            "energies": out["energies"],
            "forces": out["forces"],
        }
        if stress:
            results["stress"] = full_3x3_to_voigt_6_stress(out["stress"])
        return results

    def _settings(self) -> dict[str, Any]:
        net = self.potential.network
        return {
            "descriptor": self.config.to_dict(),
            "network": {
                "n_features": net.n_features,
                "species": list(net.species),
                "hidden": list(net.hidden),
                "activation": net.activation,
                "linear": net.linear,
            },
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {f"network.{k}": v for k, v in self.potential.network.state_dict().items()}

    @classmethod
    def _restore(
        cls, settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], **common: Any
    ) -> LocalPHModel:
        net = settings["network"]
        network = AtomicNetwork(
            net["n_features"],
            net["species"],
            net["hidden"],
            net["activation"],
            bool(net.get("linear", False)),  # saved before the option: no linear term
        )
        state = {
            k.removeprefix("network."): v for k, v in tensors.items() if k.startswith("network.")
        }
        network.double().load_state_dict(state)
        config = LocalPHConfig.from_dict(settings["descriptor"])
        return cls(LocalPHPotential(config, network), **common)
