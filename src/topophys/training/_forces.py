"""The Lightning loop for potentials trained on energies and forces (internal).

Shared by :mod:`topophys.training.local_ph` (the atom-centred persistence potential) and
:mod:`topophys.training.force_baselines` (per-atom SOAP + NN and SchNet with forces), so that
the three are trained by one loop on one loss and compared on equal terms.

A *sample* is one labelled structure that knows how a model predicts it: ``predict(model,
create_graph)`` returns the total energy (eV, a 0-d tensor) and the forces on the atoms of its
``force_index`` (eV/Å), differentiable in the model's weights when ``create_graph``. The loss of
a batch is

    mean over structures of  ((E − E_ref) / N)² / σ_E²  +  w_F · mean((F − F_ref)²) / σ_F²,

σ_E and σ_F the spread of the training energies per atom and force components. Checkpoints
(``checkpoints/last.ckpt``, atomic), resume to the weights of an uninterrupted run, CSV logs and
early stopping on held-out structures work as in ``_loop``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._loop import EpochBatchSampler, EpochModule, train_epochs
from ._options import LoopSettings

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ["ForceSample", "LinearSample", "errors", "fit_forces", "label_scales"]


class ForceSample(Protocol):
    """One labelled structure and how a model predicts it."""

    n_atoms: int
    energy: float
    forces: torch.Tensor
    force_index: torch.Tensor

    def predict(
        self, model: torch.nn.Module, create_graph: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Total energy (0-d, eV) and forces ``(len(force_index), 3)`` (eV/Å)."""
        ...


class LinearSample(ForceSample, Protocol):
    """A sample a per-atom energy linear in its features can be fitted to exactly."""

    features: torch.Tensor
    species: torch.Tensor

    def force_jacobian(self) -> torch.Tensor:
        """Forces ``(3 · len(force_index),)`` as a linear map of a per-atom energy's weights:
        shape ``(3 · len(force_index), n_features)``."""
        ...


def label_scales(samples: Sequence[ForceSample]) -> tuple[float, float]:
    """σ_E (eV/atom) and σ_F (eV/Å) of the labels of ``samples`` (at least 1 meV each)."""
    e = np.array([s.energy / s.n_atoms for s in samples])
    f = torch.cat([s.forces.reshape(-1) for s in samples]).double().numpy()
    return max(float(e.std()), 1e-3), max(float(np.sqrt(np.mean(f * f))), 1e-3)


def errors(model: torch.nn.Module, samples: Sequence[ForceSample]) -> dict[str, float]:
    """RMSE of the energy per atom (meV/atom) and of the force components (meV/Å), and the
    number of structures and force components they are over."""
    de, df = [], []
    was = model.training
    model.eval()
    for s in samples:
        energy, forces = s.predict(model, False)
        de.append((float(energy.detach()) - s.energy) / s.n_atoms)
        df.append((forces.detach() - s.forces).reshape(-1).double().numpy())
    model.train(was)
    f = np.concatenate(df) if df else np.empty(0)
    return {
        "energy_rmse_meV": 1000.0 * float(np.sqrt(np.mean(np.square(de)))) if de else math.nan,
        "force_rmse_meV": 1000.0 * float(np.sqrt(np.mean(f * f))) if f.size else math.nan,
        "n_structures": len(de),
        "n_force_components": int(f.size),
    }


class _Indices(Dataset[np.ndarray]):
    """The batch sampler's list of structure indices, as an array."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: list[int]) -> np.ndarray:
        return np.asarray(idx, dtype=np.int64)


class _ForceModule(EpochModule):
    """Energies per atom and forces, each in units of its training spread, on
    :class:`EpochModule`'s loop."""

    def __init__(
        self,
        model: torch.nn.Module,
        samples: Sequence[ForceSample],
        optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
        settings: LoopSettings,
        force_weight: float,
        scales: tuple[float, float],
        monitors: Mapping[str, Callable[[], float]],
        identity: Any,
    ) -> None:
        columns = ("epoch", "lr", "train_loss", "train_energy_rmse_meV", "train_force_rmse_meV")
        super().__init__(model, optimizer, settings, monitors, identity, columns)
        self.samples, self.force_weight = samples, force_weight
        self.sigma_e, self.sigma_f = scales
        self._sums = np.zeros(5)  # energy², force², force components, structures, loss

    def on_train_epoch_start(self) -> None:
        self._sums[:] = 0.0
        super().on_train_epoch_start()

    def training_step(self, batch: np.ndarray, batch_idx: int) -> torch.Tensor:
        loss = torch.zeros((), dtype=torch.float64)
        for i in batch:
            s = self.samples[int(i)]
            energy, forces = s.predict(self.model, True)
            de = (energy - s.energy) / s.n_atoms
            df = forces - s.forces.to(forces.dtype)
            loss = loss + (de / self.sigma_e) ** 2
            if self.force_weight > 0 and df.numel():
                loss = loss + self.force_weight * torch.mean(df * df) / self.sigma_f**2
            self._sums[:4] += [
                float(de.detach()) ** 2,
                float((df.detach() ** 2).sum()),
                df.numel(),
                1,
            ]
        self._sums[4] += float(loss.detach())
        return loss / len(batch)

    def on_train_epoch_end(self) -> None:
        epoch = self.current_epoch + 1
        # Plain floats: the history goes into checkpoints read back with weights_only=True.
        e2, f2, nf, n, total = (float(x) for x in self._sums)
        loss = total / max(n, 1.0)
        if not math.isfinite(loss):
            raise FloatingPointError(f"training diverged at epoch {epoch} (loss {loss}); lower lr")
        row = {
            "epoch": float(epoch),
            "lr": self._lr,
            "train_loss": loss,
            "train_energy_rmse_meV": 1000.0 * math.sqrt(e2 / max(n, 1.0)),
            "train_force_rmse_meV": 1000.0 * math.sqrt(f2 / max(nf, 1.0)),
        }
        self._finish_epoch(row, "holdout_score")


def fit_forces(
    model: torch.nn.Module,
    samples: Sequence[ForceSample],
    *,
    optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
    settings: LoopSettings,
    force_weight: float,
    holdout: Sequence[ForceSample] = (),
    run_dir: Path | None = None,
    identity: Any = None,
    progress: bool | None = False,
) -> dict[str, list[float]]:
    """Train ``model`` in place on energies and forces of ``samples``; the per-epoch history.

    ``holdout`` structures are scored after every epoch (``holdout_energy_rmse_meV``,
    ``holdout_force_rmse_meV`` and their loss-weighted ``holdout_score``); with
    ``settings.patience > 0`` training stops when the score has not improved for that many
    epochs and the weights of its best epoch are restored.
    """
    scales = label_scales(samples)
    monitors: dict[str, Callable[[], float]] = {}
    if holdout:
        cache: dict[str, float] = {}

        def score() -> float:
            cache.update(errors(model, holdout))
            e = cache["energy_rmse_meV"] / 1000.0 / scales[0]
            f = cache["force_rmse_meV"] / 1000.0 / scales[1]
            return e * e + force_weight * f * f

        monitors["holdout_score"] = score
        monitors["holdout_energy_rmse_meV"] = lambda: cache["energy_rmse_meV"]
        monitors["holdout_force_rmse_meV"] = lambda: cache["force_rmse_meV"]
    elif settings.patience > 0:
        raise ValueError("early stopping (patience > 0) needs holdout structures")
    module = _ForceModule(
        model, samples, optimizer, settings, force_weight, scales, monitors, identity
    )
    n = len(samples)
    sampler = EpochBatchSampler(n, settings.batch_size, settings.seed)
    loader = DataLoader(_Indices(n), batch_size=None, sampler=sampler)
    return train_epochs(module, loader, settings, run_dir, progress)
