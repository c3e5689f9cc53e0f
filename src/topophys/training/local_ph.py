"""Training the atom-centred persistence potential on energies and forces (Lightning).

:func:`fit_local_ph` computes each training structure's pairs once (GUDHI), their values and
per-slot gradients (:func:`topophys.descriptors.local_ph.slot_geometry`), and trains an
:class:`~topophys.models.local_ph.AtomicNetwork` on total energies and, where the frames carry
them, forces: the forces of a structure are ``−Σ_s (∂E/∂v_s) ∂v_s/∂x``, where only ``∂E/∂v``
depends on the weights, so an epoch never recomputes persistence. The loop is the one the
force-trained baselines use (``topophys.training._forces``): checkpoints and resume, CSV logs,
early stopping on held-out structures.

Examples
--------
A short fit on two rattled diamond cells (energies and forces from ASE's Tersoff would come
from real labels; here any finite numbers do):

>>> import numpy as np
>>> from ase.build import bulk
>>> from ase.calculators.singlepoint import SinglePointCalculator
>>> from topophys.descriptors.local_ph import LocalPHConfig
>>> frames = []
>>> for seed in range(2):
...     a = bulk("C", "diamond", cubic=True).repeat(3)
...     a.rattle(0.05, seed=seed)
...     a.calc = SinglePointCalculator(a, energy=-7.0 * len(a) + seed, forces=np.zeros((216, 3)))
...     frames.append(a)
>>> descriptor = LocalPHConfig(max_dim=1, resolution=(4, 4))
>>> fit = LocalPHFitConfig(hidden=(8,), epochs=2, batch_size=2, validation_fraction=0.0)
>>> model, history = fit_local_ph(frames, descriptor, fit)
>>> len(history["epoch"]), model.kind, model.calculator().implemented_properties[-2:]
(2, 'local_ph', ['forces', 'stress'])
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _validate
from ..config import Config
from ..data.structures import frame_energy
from ..descriptors.local_ph import LocalPairs, LocalPHConfig, local_pairs, slot_geometry
from ..descriptors.local_ph.images import atom_images, image_blocks
from ..models.local_ph import ACTIVATIONS, AtomicNetwork, LocalPHModel, LocalPHPotential
from ..parallel import pmap
from ..potentials import TrainingDomain
from ._forces import LinearSample
from ._options import LoopSettings, check_early_stopping, check_milestones

__all__ = [
    "LINEAR_RIDGES",
    "LocalPHFitConfig",
    "PHSample",
    "fit_local_ph",
    "force_labels",
    "force_subset",
    "linear_start",
    "ph_samples",
    "prepare_network",
]


LINEAR_RIDGES = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""The ridges a linear start chooses from by default: below 1e-8 the least squares are ill
conditioned on the benchmark's images (``benchmarks/local_ph_ridge.py``)."""


@dataclass(frozen=True)
class LocalPHFitConfig(Config):
    """How the per-atom networks are trained.

    Parameters
    ----------
    hidden
        Hidden widths of each species' network.
    activation
        ``"silu"``, ``"tanh"`` or ``"softplus"`` (smooth: forces must not jump).
    epochs, batch_size
        Passes over the training structures; structures per optimizer step.
    lr, milestones, gamma
        Adam's learning rate, multiplied by ``gamma`` at each milestone epoch.
    weight_decay
        Adam's L2 penalty.
    input_floor
        Smallest input scale as a fraction of the largest feature spread
        (:meth:`~topophys.models.local_ph.AtomicNetwork.fit_scaling`).
    force_weight
        Weight of the force term of the loss (both terms in units of their label spread).
        0 trains on energies only.
    force_atoms
        Atoms per structure whose forces enter the loss, drawn from ``(seed, structure)``
        (0: all). The same subset is used by the force-trained baselines, so all models see
        the same labels.
    validation_fraction, patience
        Held-out share of the training structures, scored every epoch; with ``patience`` > 0,
        early stopping on their loss-weighted error.
    linear_start
        First fit a per-atom energy linear in the standardized features exactly (least
        squares on the loss's energy and force terms, its ridge chosen on the held-out
        structures), keep it fixed beside the networks (``AtomicNetwork(linear=True)``), and
        train the networks on what it leaves, from zero (their last layers start at zero).
        The fit then starts where the linear ceiling is instead of at the mean energy. One
        species only.
    linear_ridges
        The ridges the linear start chooses from (:func:`linear_start`); by default every
        decade from 1e-8 to 1 (``docs/local_ph.md``, "The linear start's ridge").
    seed
        Weights, batch order, held-out and force subsets.
    checkpoint_every, device
        Checkpoint interval (epochs) and torch device.
    """

    hidden: tuple[int, ...] = (64, 64)
    activation: str = "silu"
    epochs: int = 300
    batch_size: int = 8
    lr: float = 2e-3
    milestones: tuple[int, ...] = (150, 250)
    gamma: float = 0.3
    weight_decay: float = 0.0
    input_floor: float = 0.1
    force_weight: float = 1.0
    force_atoms: int = 0
    validation_fraction: float = 0.1
    patience: int = 0
    linear_start: bool = False
    linear_ridges: tuple[float, ...] = LINEAR_RIDGES
    seed: int = 0
    checkpoint_every: int = 10
    device: str = "cpu"

    def __post_init__(self) -> None:
        for k, h in enumerate(self.hidden):
            _validate.positive_int(f"hidden[{k}]", h)
        _validate.choice("activation", self.activation, tuple(ACTIVATIONS))
        _validate.positive_int("epochs", self.epochs)
        _validate.positive_int("batch_size", self.batch_size)
        _validate.positive("lr", self.lr)
        check_milestones(self.milestones)
        _validate.positive("gamma", self.gamma)
        _validate.nonnegative("weight_decay", self.weight_decay)
        _validate.in_range("input_floor", self.input_floor, 1e-12, 1.0)
        _validate.nonnegative("force_weight", self.force_weight)
        _validate.nonnegative_int("force_atoms", self.force_atoms)
        check_early_stopping(self.validation_fraction, self.patience)
        _validate.nonnegative_int("seed", self.seed)
        _validate.positive_int("checkpoint_every", self.checkpoint_every)
        _check_ridges(self.linear_ridges, "linear_ridges")

    def settings(self) -> LoopSettings:
        """The loop's view of this config."""
        return LoopSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            milestones=tuple(self.milestones),
            gamma=self.gamma,
            checkpoint_every=self.checkpoint_every,
            patience=self.patience,
            device=self.device,
        )


def force_labels(atoms: Any) -> np.ndarray | None:
    """The reference forces ``(n, 3)`` (eV/Å) of a frame, or None if it has none."""
    results = getattr(atoms.calc, "results", None) or {}
    forces = results.get("forces", atoms.arrays.get("forces"))
    if forces is None:
        return None
    forces = np.asarray(forces, dtype=np.float64)
    if forces.shape != (len(atoms), 3) or not np.isfinite(forces).all():
        raise ValueError(f"forces must be finite with shape ({len(atoms)}, 3), got {forces.shape}")
    return forces


def force_subset(n_atoms: int, k: int, seed: int, index: int) -> np.ndarray:
    """Sorted atoms ``(min(k, n),)`` of structure ``index`` whose forces enter the loss
    (``k = 0``: all), drawn from ``(seed, index)``.

    >>> force_subset(5, 0, 0, 3).tolist()
    [0, 1, 2, 3, 4]
    """
    if k == 0 or k >= n_atoms:
        return np.arange(n_atoms)
    return np.sort(np.random.default_rng([seed, 7, index]).choice(n_atoms, k, replace=False))


class PHSample:
    """One labelled structure for :func:`fit_local_ph`: its pairs, values and the gradients of
    the values with respect to the atoms whose forces enter the loss.

    Parameters
    ----------
    pairs : LocalPairs
    atoms : ase.Atoms
        The structure the pairs are of, labelled.
    species : sequence of str
        The network's species.
    force_index : array of int
        Atoms whose forces are predicted (empty: energy only).
    energy_key : str
        Where the energy label is (see :func:`topophys.data.structures.frame_energy`).
    """

    def __init__(
        self,
        pairs: LocalPairs,
        atoms: Any,
        species: Sequence[str],
        force_index: np.ndarray,
        energy_key: str = "energy",
    ) -> None:
        lookup = {s: k for k, s in enumerate(species)}
        self.n_atoms = len(atoms)
        self.energy = frame_energy(atoms, energy_key)
        self.config = pairs.config
        self.species = torch.tensor([lookup[s] for s in atoms.get_chemical_symbols()])
        geometry = slot_geometry(pairs, atoms.get_positions(), atoms.get_cell()[:])
        birth, death = geometry.values
        blocks, d_birth, d_death = image_blocks(birth, death, self.config)
        centre, block = torch.as_tensor(pairs.centre), torch.as_tensor(pairs.block)
        # float32 storage: the network sees float64 again; the rounding is far below the labels'.
        images = atom_images(centre, block, birth, death, self.n_atoms, self.config, blocks=blocks)
        self.features = images.float()
        forces = force_labels(atoms)
        index = np.asarray(force_index, dtype=np.int64) if forces is not None else np.empty(0, int)
        self.force_index = torch.as_tensor(index)
        self.forces = torch.as_tensor(forces[index] if forces is not None else np.empty((0, 3)))
        # Only the values that move the atoms whose forces are predicted: their corners'
        # gradients, and the derivatives of their pair's image block.
        row = np.full(self.n_atoms + 1, -1, dtype=np.int64)
        row[index] = np.arange(len(index))
        corner_atoms = geometry.atoms.reshape(-1).numpy()
        rows = row[np.where(corner_atoms >= 0, corner_atoms, self.n_atoms)]
        keep = np.flatnonzero(rows >= 0)
        slots, local = np.unique(keep // 6, return_inverse=True)
        n_pairs = len(pairs)
        pair, which = slots % n_pairs, slots // n_pairs
        self.pair_centre = centre[pair]
        self.pair_block = block[pair]
        self.block_grad = torch.where(
            torch.as_tensor(which == 0)[:, None], d_birth[pair], d_death[pair]
        ).float()
        self.corner_slot = torch.as_tensor(local.reshape(-1))
        self.corner_row = torch.as_tensor(rows[keep])
        self.corner_grad = geometry.grads.reshape(-1, 3)[torch.as_tensor(keep)]

    def predict(
        self, model: AtomicNetwork, create_graph: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Total energy (eV) and forces on ``force_index`` (eV/Å) by ``model``."""
        dtype = model.input_mean.dtype
        x = self.features.to(dtype).requires_grad_(True)
        with torch.enable_grad():
            energy = model(x, self.species).sum()
            if not len(self.force_index):
                return energy, torch.empty(0, 3, dtype=dtype)
            (g,) = torch.autograd.grad(energy, x, create_graph=create_graph)
        size = self.config.resolution[0] * self.config.resolution[1]
        rows = g.reshape(self.n_atoms, self.config.n_blocks, size)[
            self.pair_centre, self.pair_block
        ]
        d_values = (rows * self.block_grad.to(dtype)).sum(1)
        contrib = d_values[self.corner_slot, None] * self.corner_grad.to(dtype)
        forces = torch.zeros(len(self.force_index), 3, dtype=dtype)
        return energy, -forces.index_add(0, self.corner_row, contrib)

    def force_jacobian(self) -> torch.Tensor:
        """The forces on ``force_index`` as a linear map of a per-atom energy's weights.

        For a per-atom energy linear in the features, ``ε(d) = w · d`` with the same ``w``
        for every atom, the forces are linear in ``w``: ``F = J w`` (eV/Å for ``w`` in eV
        per feature unit). With ``J`` a linear model is fitted to energies *and* forces by
        least squares, without an optimizer: the ceiling of what the features give linearly,
        in seconds (``benchmarks/local_ph_study.py`` compares the networks with it).

        Returns
        -------
        Tensor, shape (3 · len(force_index), n_features), float64
            Rows atom-major (atom 0's x, y, z, then atom 1's …), as ``forces.reshape(-1)``.

        Notes
        -----
        Only one species: with several, each species has its own ``w`` and ``J`` would
        have to be split by the species of the centres; a ValueError says so.
        """
        if len(torch.unique(self.species)) > 1:
            raise ValueError("force_jacobian needs a structure of one species")
        size = self.config.resolution[0] * self.config.resolution[1]
        n_features = self.config.n_features
        out = torch.zeros(len(self.force_index), 3, n_features, dtype=torch.float64)
        corner_block = self.pair_block[self.corner_slot]
        for d in range(self.config.n_blocks):
            at = torch.nonzero(corner_block == d).reshape(-1)
            for chunk in torch.split(at, 20000):  # bounds the (corners, 3, pixels) product
                block = self.block_grad[self.corner_slot[chunk]].double()
                contrib = self.corner_grad[chunk].double()[:, :, None] * block[:, None, :]
                out[:, :, d * size : (d + 1) * size].index_add_(0, self.corner_row[chunk], contrib)
        return -out.reshape(-1, n_features)


class _SampleJob:
    """Picklable: pairs and sample of one frame (for :func:`topophys.parallel.pmap`)."""

    def __init__(self, config: LocalPHConfig, force_atoms: int, seed: int, energy_key: str):
        self.config, self.force_atoms, self.seed = config, force_atoms, seed
        self.energy_key = energy_key

    def __call__(self, item: tuple[int, Any]) -> PHSample:
        index, atoms = item
        pairs = local_pairs(atoms, self.config)
        subset = force_subset(len(atoms), self.force_atoms, self.seed, index)
        return PHSample(pairs, atoms, self.config.species, subset, self.energy_key)


def ph_samples(
    frames: Sequence[Any],
    config: LocalPHConfig,
    *,
    force_atoms: int = 0,
    seed: int = 0,
    energy_key: str = "energy",
    indices: Sequence[int] | None = None,
    n_jobs: int = 1,
) -> list[PHSample]:
    """Samples of labelled ``frames`` for :func:`fit_local_ph` or for scoring.

    ``indices`` (default ``0 … len(frames) − 1``) are the structures' numbers in the draw of
    their force subsets, so a structure keeps its subset wherever it is listed.
    """
    indices = list(range(len(frames))) if indices is None else list(indices)
    if len(indices) != len(frames):
        raise ValueError(
            f"indices must have one entry per frame ({len(frames)}), got {len(indices)}"
        )
    job = _SampleJob(config, force_atoms, seed, energy_key)
    return pmap(job, list(zip(indices, frames, strict=True)), workers=n_jobs, desc="local pairs")


def _identity(
    descriptor: LocalPHConfig, config: LocalPHConfig | Any, frames: Sequence[Any]
) -> dict[str, Any]:
    from ._loop import RESUMABLE, fingerprint

    arrays = []
    for a in frames:
        arrays += [a.get_positions(), a.get_cell()[:], np.array([frame_energy(a)])]
    fit = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE}
    if not fit.get("linear_start", False):
        fit.pop("linear_ridges", None)  # without a linear start the ridges change nothing
    return {
        "descriptor": _without_earlier_behaviour(descriptor.to_dict(), "descriptor"),
        "config": _without_earlier_behaviour(fit, "config"),
        "data": fingerprint(*arrays),
    }


_ADDED_LATER: dict[str, dict[str, Any]] = {
    "descriptor": {"graph_cycles": False, "image_axes": "squared", "graph_summary": "persistence"},
    "config": {"linear_start": False, "linear_ridges": [1e-6, 1e-4, 1e-2, 1.0]},
}
"""Settings added after fits were recorded, with the value that does what the code did
before them (for ``linear_ridges``, the grid ``linear_start`` had then)."""


def _without_earlier_behaviour(fields: dict[str, Any], part: str) -> dict[str, Any]:
    """``fields`` without the settings added later that hold their earlier behaviour, so a
    run directory written before them keeps its identity (and one of other values not)."""
    later = _ADDED_LATER[part]
    return {k: v for k, v in fields.items() if not (k in later and _plain(v) == later[k])}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def fit_local_ph(
    frames: Sequence[Any],
    descriptor: LocalPHConfig | None = None,
    config: LocalPHFitConfig | None = None,
    run_dir: str | Path | None = None,
    *,
    samples: Sequence[PHSample] | None = None,
    energy_key: str = "energy",
    n_jobs: int = 1,
    progress: bool | None = False,
) -> tuple[LocalPHModel, dict[str, Any]]:
    """Train an atom-centred persistence potential on labelled structures.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Training structures with energies (``energy_key``) and, for the force term, forces
        (from their calculator, e.g. LAMMPS frames or extended XYZ files).
    descriptor : LocalPHConfig, optional
    config : LocalPHFitConfig, optional
    run_dir : path, optional
        Receives ``identity.json``, ``checkpoints/last.ckpt``, ``logs/``, then the saved model
        (``model/``, read by :func:`topophys.potentials.load_energy_model`) and
        ``history.json``; a finished fit of the same settings and data is loaded, an
        unfinished one resumed, one of others refused.
    samples : sequence of PHSample, optional
        Precomputed :func:`ph_samples` of ``frames`` (same order, same settings).
    energy_key : str
    n_jobs : int
        Processes computing the pairs.
    progress : bool or None
        Lightning's progress bar.

    Returns
    -------
    model : LocalPHModel
        Its ``potential`` computes energies, forces and stress; ``training`` holds the energy
        range, the structures, the label potential and the fit's time.
    history : dict
        Per epoch (lists): ``epoch``, ``lr``, ``train_loss``, ``train_energy_rmse_meV``,
        ``train_force_rmse_meV``, ``seconds``, and with held-out structures
        ``holdout_energy_rmse_meV``, ``holdout_force_rmse_meV``, ``holdout_score``. With
        ``linear_start``, also ``linear_start``: what :func:`linear_start` returned (the
        ridge kept and every ridge's held-out loss).
    """
    from ..potentials import load_energy_model
    from ._forces import fit_forces
    from ._loop import claim_run_dir, holdout_split

    descriptor = LocalPHConfig() if descriptor is None else descriptor
    config = LocalPHFitConfig() if config is None else config
    if not isinstance(descriptor, LocalPHConfig):
        raise TypeError(f"descriptor must be a LocalPHConfig, got {type(descriptor).__name__}")
    if not isinstance(config, LocalPHFitConfig):
        raise TypeError(f"config must be a LocalPHFitConfig, got {type(config).__name__}")
    frames = list(frames)
    if len(frames) < 1:
        raise ValueError("frames must hold at least one structure")
    folder = None if run_dir is None else Path(run_dir)
    identity = _identity(descriptor, config, frames)
    if folder is not None:
        claim_run_dir(folder, identity, "local PH potential")
        done = folder / "model" / "model.json"
        if done.exists() and (folder / "history.json").exists():
            model = load_energy_model(folder / "model")
            if not isinstance(model, LocalPHModel):
                raise ValueError(
                    f"run_dir {folder} holds a finished model of kind "
                    f"{type(model).__name__}, not a local PH potential"
                )
            return model, json.loads((folder / "history.json").read_text())
    t0 = time.perf_counter()
    if samples is None:
        samples = ph_samples(
            frames,
            descriptor,
            force_atoms=config.force_atoms,
            seed=config.seed,
            energy_key=energy_key,
            n_jobs=n_jobs,
        )
    elif len(samples) != len(frames):
        raise ValueError(f"samples must hold one sample per frame ({len(frames)})")
    train, held = holdout_split(len(frames), config.validation_fraction, config.seed)
    torch.manual_seed(config.seed)
    if config.linear_start and len(descriptor.species) > 1:
        raise ValueError(
            f"linear_start fits one linear energy for one species; the descriptor has "
            f"{len(descriptor.species)} ({list(descriptor.species)})"
        )
    network = AtomicNetwork(
        descriptor.n_features,
        descriptor.species,
        config.hidden,
        config.activation,
        linear=config.linear_start,
    ).double()
    start = prepare_network(
        network, [samples[i] for i in train], [samples[i] for i in held], config
    )
    history: dict[str, Any] = fit_forces(
        network,
        [samples[i] for i in train],
        optimizer=lambda p: torch.optim.Adam(p, lr=config.lr, weight_decay=config.weight_decay),
        settings=config.settings(),
        force_weight=config.force_weight,
        holdout=[samples[i] for i in held],
        run_dir=folder,
        identity=identity,
        progress=progress,
    )
    if start is not None:
        history["linear_start"] = start
    train_samples = [samples[i] for i in train]
    # The range checks judge a structure by its atom-averaged persistence images.
    rows = np.stack([s.features.double().mean(0).numpy() for s in train_samples])
    model = LocalPHModel(
        LocalPHPotential(descriptor, network.cpu()),
        training=_summary(frames, train_samples, energy_key, t0),
        pbc=tuple(bool(p) for p in frames[0].pbc),
        domain=TrainingDomain.fit(rows) if len(rows) > 1 else None,
    )
    if folder is not None:
        from ..config import atomic_write_text

        model.save(folder / "model")
        atomic_write_text(folder / "history.json", json.dumps(history) + "\n")
    return model, history


def linear_start(
    network: AtomicNetwork,
    train: Sequence[LinearSample],
    holdout: Sequence[LinearSample] = (),
    force_weight: float = 1.0,
    ridges: Sequence[float] = LINEAR_RIDGES,
) -> dict[str, Any]:
    """Set ``network``'s fixed linear term to the exact least-squares per-atom energy linear
    in its standardized inputs, and its networks' outputs to zero.

    The fit minimizes the loss of :func:`fit_local_ph` (per structure, the squared energy
    error per atom over σ_E² plus ``force_weight`` times the mean squared force error over
    σ_F², σ the labels' spreads) plus a ridge ``λ · n · |w|²`` (n structures), with λ the
    one of ``ridges`` that scores best on ``holdout`` (the smallest without it). The
    intercept goes to the last layer's bias, which stays trainable.

    Parameters
    ----------
    network : AtomicNetwork
        With ``linear=True``, one species, and its scaling already fitted
        (:meth:`~topophys.models.local_ph.AtomicNetwork.fit_scaling`).
    train, holdout : sequence of PHSample or SOAPSample
        Anything with ``features`` ``(n_atoms, n_features)``, ``energy``, ``n_atoms``,
        ``forces`` and ``force_jacobian()`` (:class:`~topophys.training._forces.LinearSample`).
    force_weight : float
    ridges : sequence of float

    Returns
    -------
    dict
        ``ridge`` (the λ kept), ``holdout_score`` (its loss on ``holdout``; None without
        held-out structures) and ``scores``: ``[λ, held-out loss]`` for every λ, in the
        order of ``ridges`` (empty without held-out structures: only the smallest is fitted).
    """
    from ._forces import label_scales

    if not network.linear or len(network.species) != 1:
        raise ValueError("network must have linear=True and one species")
    if not len(train):
        raise ValueError("train must hold at least one sample")
    _check_ridges(ridges, "ridges")
    sigma_e, sigma_f = label_scales(train)
    mean, scale = network.input_mean.double(), network.input_scale.double()
    unit, shift = float(network.energy_scale), float(network.energy_shift[0])
    n = network.n_features

    def rows(s: LinearSample) -> tuple[torch.Tensor, torch.Tensor]:
        x = ((s.features.double() - mean) / scale).mean(0)
        e_row = torch.cat([x, torch.ones(1, dtype=x.dtype)])[None] * (unit / sigma_e)
        e_y = torch.tensor([(s.energy / s.n_atoms - shift) / sigma_e], dtype=x.dtype)
        if not s.forces.numel() or force_weight == 0.0:
            return e_row, e_y
        j = s.force_jacobian() * (unit / scale)  # forces of a weight in standardized units
        w = math.sqrt(force_weight / j.shape[0]) / sigma_f
        f_rows = torch.cat([j, torch.zeros(len(j), 1, dtype=j.dtype)], 1) * w
        return torch.cat([e_row, f_rows]), torch.cat([e_y, s.forces.reshape(-1).double() * w])

    gram = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    rhs = torch.zeros(n + 1, dtype=torch.float64)
    for s in train:
        a, y = rows(s)
        gram += a.T @ a
        rhs += a.T @ y
    held = [rows(s) for s in holdout]
    best: dict[str, Any] = {}
    scores: list[list[float]] = []
    for lam in ridges if held else [min(ridges)]:
        reg = lam * len(train) * torch.eye(n + 1, dtype=torch.float64)
        reg[-1, -1] = 0.0  # the intercept is not shrunk
        solution = torch.linalg.solve(gram + reg, rhs)
        if not held:
            best = {"ridge": float(lam), "holdout_score": None, "solution": solution}
            break
        score = sum(float(((a @ solution - y) ** 2).sum()) for a, y in held) / len(held)
        scores.append([float(lam), score])
        if not best or score < best["holdout_score"]:
            best = {"ridge": float(lam), "holdout_score": score, "solution": solution}
    head = network.nets[0]
    assert isinstance(head, torch.nn.Sequential)
    last = head[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        network.linear_weight[0] = best["solution"][:n].to(network.linear_weight.dtype)
        last.weight.zero_()
        last.bias.fill_(float(best["solution"][n]))
    return {"ridge": best["ridge"], "holdout_score": best["holdout_score"], "scores": scores}


def prepare_network(
    network: AtomicNetwork,
    train: Sequence[LinearSample],
    holdout: Sequence[LinearSample],
    config: LocalPHFitConfig,
) -> dict[str, Any] | None:
    """Fit ``network``'s input scaling to ``train`` and, with ``config.linear_start``, its
    fixed linear term (:func:`linear_start`, ridge chosen on ``holdout``): what a fit does
    before its first epoch. Returns what :func:`linear_start` returned, or None."""
    _fit_scaling(network, train, config.input_floor)
    if not config.linear_start:
        return None
    return linear_start(network, train, holdout, config.force_weight, config.linear_ridges)


def _check_ridges(ridges: Sequence[float], name: str) -> None:
    if isinstance(ridges, (str, bytes)) or not isinstance(ridges, Sequence):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(ridges).__name__}")
    if not all(isinstance(r, numbers.Real) and not isinstance(r, bool) for r in ridges):
        raise TypeError(f"{name} must hold real numbers, got {ridges!r}")
    if not len(ridges) or not all(math.isfinite(r) and r >= 0 for r in ridges):
        raise ValueError(
            f"{name} must be finite non-negative numbers, at least one, got {ridges!r}"
        )


def _fit_scaling(network: AtomicNetwork, samples: Sequence[LinearSample], floor: float) -> None:
    with torch.no_grad():
        features = torch.cat([s.features for s in samples]).double()
    counts = torch.stack(
        [torch.bincount(s.species, minlength=len(network.species)) for s in samples]
    ).double()
    network.fit_scaling(features, counts, torch.tensor([s.energy for s in samples]), floor)


def _summary(
    frames: Sequence[Any], train: Sequence[PHSample], energy_key: str, t0: float
) -> dict[str, Any]:
    e = np.array([s.energy / s.n_atoms for s in train])
    labels = {a.info.get("potential") for a in frames} - {None}
    return {
        "energy_range": [float(e.min()), float(e.max())],
        "frames": len(train),
        "n_atoms": sorted({len(a) for a in frames}),
        "energy_key": energy_key,
        "label_potential": labels.pop() if len(labels) == 1 else None,
        "force_components": int(sum(s.forces.numel() for s in train)),
        "fit_seconds": time.perf_counter() - t0,
    }
