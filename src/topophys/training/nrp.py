r"""Training the Neural Reduced Potential: L_all = L_AE + λ·L_V, jointly, as in both NRP papers.

For a batch of consecutive snapshots of one run,

- ``L_AE = ‖x − D(E(x))‖`` over every snapshot in the batch;
- ``L_V = ‖dz/dt + ∂V/∂z (z, c)‖`` with ``z = E(x)`` and ``dz/dt`` estimated from consecutive
  encoded snapshots on the run's own (non-uniform) time grid:

  - ``"forward"`` (default): ``(z_{i+1} − z_i) / (t_{i+1} − t_i)`` paired with ∂V/∂z at
    ``(z_i, c_i)``, the explicit-Euler reading that the one-step prediction uses;
  - ``"central"``: the three-point non-uniform formula at ``t_i`` paired with ∂V/∂z at
    ``(z_i, c_i)`` (second-order accurate).

The papers write ``‖·‖₂``; ``loss_norm="l2"`` takes that literally (the Euclidean norm of each
sample's residual, averaged over the batch), ``loss_norm="mse"`` uses the mean squared residual.
Gradients flow through the encoder in both terms: the autoencoder is shaped by the potential.

Training runs in Lightning (CPU by default; ``accelerator``/``devices``/``strategy`` for GPUs and
DDP) with checkpoints, resume, CSV (and TensorBoard when installed) logs in the run directory.
"""

from __future__ import annotations

import json
import math
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .. import _validate
from .._warnings import TopophysWarning
from ..config import Config, atomic_write_text
from ..models.autoencoders import ConvAutoencoder, MLPAutoencoder
from ..models.nrp import ReducedPotentialModel
from ..models.potential import FieldCoupledPotential, PotentialNet
from ._lightning import quiet_lightning, want_progress

__all__ = [
    "NRPConfig",
    "Trajectories",
    "build_model",
    "fit_nrp",
    "fit_record",
    "load_model",
    "nrp_loss",
]


@dataclass(frozen=True)
class NRPConfig(Config):
    """Architecture and training of one reduced-potential model.

    Parameters
    ----------
    latent_dim
        Dimension of z (papers: 2).
    lambda_v
        Weight λ of L_V (papers: 0.1).
    loss_norm
        ``"l2"``: per-sample Euclidean norm, batch mean (the papers' ‖·‖₂); ``"mse"``.
    derivative
        Estimate of dz/dt: ``"forward"`` or ``"central"`` differences on the run's time grid.
    lv_steps
        Explicit-Euler steps over which L_V compares the flow with the data (forward
        differences only). 1 (default) is the papers' L_V; with k > 1 each window of k + 1
        snapshots is integrated from its first state along −∂V/∂z on the run's own times, and
        L_V averages the residuals ``(ẑ_{i+j} − z_{i+j}) / (t_{i+j} − t_i)``, j = 1…k: the
        integral form of the same equation, which for k = 1 is exactly the papers' residual.
        It penalizes a flow that leaves the data and runs away over several steps.
    residual
        How L_V weighs the residual r = dz/dt + ∂V/∂z of each window (see :func:`nrp_loss`):
        ``"velocity"`` (the papers) takes r as is; ``"step"`` multiplies it by the window's
        time step τ, so it is the latent error of one Euler step and late, slow steps of a
        geometric time grid count as much as early, fast ones; ``"relative"`` divides the
        ``"step"`` loss by the batch's mean latent displacement, which makes L_V the one-step
        latent error relative to no change, blind to the scale of z.
    early_stopping_patience
        With validation runs, stop after this many epochs without a lower ``val_loss`` and keep
        the weights of the best epoch; 0 (default) trains every epoch and keeps the last.
    epochs, batch_size, lr, weight_decay, seed
        Adam optimization; a batch is ``batch_size`` (pairs or triples of) snapshots.
    hidden
        Hidden widths of the MLP autoencoder (PD vectors).
    conv_channels, conv_hidden
        Channels of the convolutional autoencoder's stages and its fully connected width.
    potential_hidden, potential_activation
        The potential network V(z, α, h).
    potential_form
        ``"mlp"``: one network of (z, α, h), the papers' form (:class:`PotentialNet`);
        ``"field-coupled"``: V = U(z, α) − h·m(z), the field entering as in the TDGL energy
        (:class:`FieldCoupledPotential`; h must be the last condition).
    accelerator, devices, strategy
        Passed to ``lightning.Trainer`` (``"cpu"``, 1, ``"auto"`` by default; e.g. ``"gpu"``,
        4, ``"ddp"``).
    """

    latent_dim: int = 2
    lambda_v: float = 0.1
    loss_norm: Literal["l2", "mse"] = "l2"
    derivative: Literal["forward", "central"] = "forward"
    lv_steps: int = 1
    residual: Literal["velocity", "step", "relative"] = "velocity"
    early_stopping_patience: int = 0
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    hidden: tuple[int, ...] = (256, 64)
    conv_channels: tuple[int, ...] = (16, 32, 64, 64)
    conv_hidden: int = 128
    potential_hidden: tuple[int, ...] = (64, 64)
    potential_activation: Literal["softplus", "tanh", "silu"] = "softplus"
    potential_form: Literal["mlp", "field-coupled"] = "mlp"
    accelerator: str = "cpu"
    devices: int = 1
    strategy: str = "auto"

    def __post_init__(self) -> None:
        _validate.positive_int("latent_dim", self.latent_dim)
        _validate.nonnegative("lambda_v", self.lambda_v)
        _validate.choice("loss_norm", self.loss_norm, ("l2", "mse"))
        _validate.choice("derivative", self.derivative, ("forward", "central"))
        _validate.choice("residual", self.residual, ("velocity", "step", "relative"))
        _validate.positive_int("lv_steps", self.lv_steps)
        if self.lv_steps > 1 and (self.derivative != "forward" or self.residual != "velocity"):
            raise ValueError(
                f"lv_steps={self.lv_steps} integrates forward and compares velocities: it needs "
                f"derivative='forward' and residual='velocity', got {self.derivative!r} and "
                f"{self.residual!r}"
            )
        _validate.nonnegative_int("early_stopping_patience", self.early_stopping_patience)
        _validate.positive_int("epochs", self.epochs)
        _validate.positive_int("batch_size", self.batch_size)
        _validate.positive("lr", self.lr)
        _validate.nonnegative("weight_decay", self.weight_decay)
        _validate.nonnegative_int("seed", self.seed)
        _validate.positive_int("conv_hidden", self.conv_hidden)
        _validate.choice("potential_form", self.potential_form, ("mlp", "field-coupled"))
        _validate.positive_int("devices", self.devices)


@dataclass(frozen=True, eq=False)
class Trajectories:
    """Snapshots of several runs on their time grids, with the potential's conditions.

    Parameters
    ----------
    x : ndarray, shape (R, T, *shape)
        Snapshots: feature vectors ``(F,)`` or images ``(S, S)``; finite.
    t : ndarray, shape (R, T)
        Times of the snapshots, strictly increasing within each run.
    conditions : ndarray, shape (R, T, C)
        Physical parameters given to V beside z (e.g. α and h(t)); finite.
    condition_names : tuple of str, length C
        Their names.
    """

    x: np.ndarray
    t: np.ndarray
    conditions: np.ndarray
    condition_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float32)
        t = np.asarray(self.t, dtype=np.float64)
        c = np.asarray(self.conditions, dtype=np.float64)
        if x.ndim < 3:
            raise ValueError(f"x must have shape (runs, times, *shape), got {x.shape}")
        if t.shape != x.shape[:2]:
            raise ValueError(f"t must have shape {x.shape[:2]} (runs, times), got {t.shape}")
        if c.ndim != 3 or c.shape[:2] != x.shape[:2]:
            raise ValueError(
                f"conditions must have shape ({x.shape[0]}, {x.shape[1]}, C), got {c.shape}"
            )
        if x.shape[1] < 2:
            raise ValueError(f"each run needs at least 2 snapshots, got {x.shape[1]}")
        names = tuple(self.condition_names) or tuple(f"c{i}" for i in range(c.shape[2]))
        if len(names) != c.shape[2]:
            raise ValueError(f"condition_names has {len(names)} names for {c.shape[2]} conditions")
        bad = ~np.isfinite(x.reshape(*x.shape[:2], -1)).all(axis=2)
        if bad.any():
            r, i = np.argwhere(bad)[0]
            raise ValueError(f"x has non-finite values (first at run {r}, time index {i})")
        for name, arr in (("t", t), ("conditions", c)):
            if not np.isfinite(arr).all():
                r = int(np.argwhere(~np.isfinite(arr))[0][0])
                raise ValueError(f"{name} has non-finite values (first in run {r})")
        steps = np.diff(t, axis=1)
        if (steps <= 0).any():
            r, i = np.argwhere(steps <= 0)[0]
            raise ValueError(
                f"t must increase strictly within each run; run {r} has t[{i}]={t[r, i]:g} "
                f">= t[{i + 1}]={t[r, i + 1]:g}"
            )
        for name, array in (("x", x), ("t", t), ("conditions", c)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        object.__setattr__(self, "condition_names", names)

    @classmethod
    def from_runs(
        cls,
        xs: Sequence[Any],
        ts: Sequence[Any],
        conditions: Sequence[Any],
        condition_names: Sequence[str] = (),
    ) -> Trajectories:
        """Stack per-run arrays; every run must have the same number of snapshots."""
        if not (len(xs) == len(ts) == len(conditions)) or not xs:
            raise ValueError(
                f"xs, ts and conditions must list the same, non-zero number of runs; "
                f"got {len(xs)}, {len(ts)}, {len(conditions)}"
            )
        lengths = [len(x) for x in xs]
        if len(set(lengths)) != 1:
            raise ValueError(
                f"runs of different lengths are not supported: {lengths}; resample them to a "
                "common number of snapshots"
            )
        return cls(np.stack(xs), np.stack(ts), np.stack(conditions), tuple(condition_names))

    @property
    def n_runs(self) -> int:
        """Number of runs R."""
        return self.x.shape[0]

    @property
    def n_times(self) -> int:
        """Snapshots per run T."""
        return self.x.shape[1]

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one snapshot."""
        return tuple(self.x.shape[2:])

    def subset(self, runs: Any) -> Trajectories:
        """The trajectories of the runs selected by an index array or boolean mask."""
        idx = np.arange(self.n_runs)[np.asarray(runs)]
        if idx.size == 0:
            raise ValueError("subset selects no runs")
        return Trajectories(self.x[idx], self.t[idx], self.conditions[idx], self.condition_names)


def build_model(
    kind: Literal["mlp", "conv"], input_shape: Sequence[int], config: NRPConfig, n_conditions: int
) -> ReducedPotentialModel:
    """A freshly initialized model, seeded by ``config.seed``.

    Parameters
    ----------
    kind
        ``"mlp"`` for feature vectors of shape ``(F,)``, ``"conv"`` for square images ``(S, S)``.
    input_shape
        Shape of one snapshot.
    """
    kind = _validate.choice("kind", kind, ("mlp", "conv"))
    shape = tuple(int(s) for s in input_shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if kind == "mlp":
            if len(shape) != 1:
                raise ValueError(f"an 'mlp' model takes vectors (F,), got input_shape={shape}")
            ae: torch.nn.Module = MLPAutoencoder(shape[0], config.latent_dim, config.hidden)
        else:
            if len(shape) != 2 or shape[0] != shape[1]:
                raise ValueError(
                    f"a 'conv' model takes square images (S, S), got input_shape={shape}"
                )
            ae = ConvAutoencoder(
                shape[0], config.latent_dim, config.conv_channels, config.conv_hidden
            )
        args = (config.latent_dim, n_conditions, config.potential_hidden)
        potential: PotentialNet | FieldCoupledPotential = (
            PotentialNet(*args, config.potential_activation)
            if config.potential_form == "mlp"
            else FieldCoupledPotential(*args, config.potential_activation)
        )
    return ReducedPotentialModel(ae, potential)


def _norm(residual: torch.Tensor, kind: str) -> torch.Tensor:
    flat = residual.reshape(residual.shape[0], -1)
    if kind == "l2":
        # sqrt has an infinite derivative at 0; the epsilon keeps a perfect fit finite.
        return torch.sqrt((flat * flat).sum(dim=1) + 1e-12).mean()
    return (flat * flat).mean()


def time_derivative(z: torch.Tensor, t: torch.Tensor, derivative: str) -> torch.Tensor:
    """dz/dt at the anchor snapshot of each window.

    Parameters
    ----------
    z : Tensor, shape (B, m, L)
        Latent states of ``m`` consecutive snapshots (m = 2 forward, 3 central).
    t : Tensor, shape (B, m)
        Their times.

    Returns
    -------
    Tensor, shape (B, L)
        At ``t[:, 0]`` (forward) or ``t[:, 1]`` (central).
    """
    if derivative == "forward":
        return (z[:, 1] - z[:, 0]) / (t[:, 1] - t[:, 0])[:, None]
    h0 = (t[:, 1] - t[:, 0])[:, None]
    h1 = (t[:, 2] - t[:, 1])[:, None]
    return (
        -h1 / (h0 * (h0 + h1)) * z[:, 0]
        + (h1 - h0) / (h0 * h1) * z[:, 1]
        + h0 / (h1 * (h0 + h1)) * z[:, 2]
    )


def window_size(derivative: str, lv_steps: int = 1) -> int:
    """Consecutive snapshots one training sample spans: 1 + lv_steps (forward) or 3 (central)."""
    return 1 + lv_steps if derivative == "forward" else 3


def anchor(derivative: str) -> int:
    """Position in the window where dz/dt and ∂V/∂z are evaluated."""
    return 0 if derivative == "forward" else 1


def window_step(t: torch.Tensor, derivative: str) -> torch.Tensor:
    """Time step τ of each window: ``t₁ − t₀`` (forward) or ``(t₂ − t₀)/2`` (central); ``(B,)``."""
    if derivative == "forward":
        return t[:, 1] - t[:, 0]
    return 0.5 * (t[:, 2] - t[:, 0])


def nrp_loss(
    model: ReducedPotentialModel,
    x: torch.Tensor,
    t: torch.Tensor,
    conditions: torch.Tensor,
    config: NRPConfig,
) -> dict[str, torch.Tensor]:
    r"""The joint loss on a batch of windows of consecutive snapshots.

    With r_b = dz/dt + ∂V/∂z at the anchor of window b, τ_b its time step (:func:`window_step`)
    and ‖·‖ the chosen norm (``loss_norm``: per-sample Euclidean norm or squared error, batch
    mean), ``config.residual`` selects

    - ``"velocity"``: L_V = ‖r‖ (the papers);
    - ``"step"``: L_V = ‖τ r‖, the latent error of one explicit-Euler step;
    - ``"relative"``: L_V = ‖τ r‖ / ‖τ dz/dt‖, the one-step error relative to no change.

    Parameters
    ----------
    x : Tensor, shape (B, m, *shape)
        ``m`` consecutive snapshots of one run per row (m = 2 forward, 3 central).
    t : Tensor, shape (B, m)
        Their times.
    conditions : Tensor, shape (B, m, C)
        Conditions of V.

    Returns
    -------
    dict
        ``{"loss", "ae", "v"}``: ``L_AE + λ·L_V``, ``L_AE`` and ``L_V`` (scalars).
    """
    b, m = x.shape[:2]
    flat = x.reshape(b * m, *x.shape[2:])
    z_flat = model.encode(flat)
    loss_ae = _norm(model.decode(z_flat) - flat, config.loss_norm)
    z = z_flat.reshape(b, m, -1)
    t = t.to(z.dtype)
    if config.lv_steps > 1:
        loss_v = _multistep_residual(model, z, t, conditions, config)
        return {"loss": loss_ae + config.lambda_v * loss_v, "ae": loss_ae, "v": loss_v}
    k = anchor(config.derivative)
    dzdt = time_derivative(z, t, config.derivative)
    c = conditions[:, k].to(z.dtype) if conditions.shape[-1] else None
    grad = model.gradient(z[:, k], c, create_graph=True)
    if config.residual == "velocity":
        loss_v = _norm(dzdt + grad, config.loss_norm)
    else:
        tau = window_step(t, config.derivative)[:, None]
        loss_v = _norm(tau * (dzdt + grad), config.loss_norm)
        if config.residual == "relative":
            # The clamp only guards a batch in which nothing moves; the ratio is scale-free.
            loss_v = loss_v / _norm(tau * dzdt, config.loss_norm).clamp_min(1e-12)
    return {"loss": loss_ae + config.lambda_v * loss_v, "ae": loss_ae, "v": loss_v}


def _multistep_residual(
    model: ReducedPotentialModel,
    z: torch.Tensor,
    t: torch.Tensor,
    conditions: torch.Tensor,
    config: NRPConfig,
) -> torch.Tensor:
    """L_V in integral form: Euler-integrate from ``z[:, 0]`` and compare at every snapshot.

    ``z (B, k+1, L)``, ``t (B, k+1)``, ``conditions (B, k+1, C)``; the mean over j = 1…k of the
    norm of ``(ẑ_j − z_j) / (t_j − t_0)``. The graph runs through every step, so the encoder
    and the potential both learn from where the integrated flow ends up.
    """
    k = z.shape[1] - 1
    if k < 1:
        raise ValueError("the multi-step residual needs windows of at least 2 snapshots")
    c = conditions.to(z.dtype) if conditions.shape[-1] else None
    state = z[:, 0]
    terms = []
    for j in range(1, k + 1):
        cj = None if c is None else c[:, j - 1]
        step = (t[:, j] - t[:, j - 1])[:, None]
        state = state - step * model.gradient(state, cj, create_graph=True)
        terms.append(_norm((state - z[:, j]) / (t[:, j] - t[:, 0])[:, None], config.loss_norm))
    return torch.stack(terms).mean()


def _windows(data: Trajectories, derivative: str, lv_steps: int = 1) -> np.ndarray:
    """All ``(run, start)`` index pairs of windows: ``(R·(T−m+1), 2)`` int64."""
    m = window_size(derivative, lv_steps)
    if data.n_times < m:
        raise ValueError(
            f"derivative={derivative!r} with lv_steps={lv_steps} needs runs of ≥ {m} snapshots"
        )
    runs, starts = np.meshgrid(np.arange(data.n_runs), np.arange(data.n_times - m + 1))
    return np.stack([runs.ravel(), starts.ravel()], axis=1).astype(np.int64)


class _EpochShuffle(torch.utils.data.Sampler[int]):
    """A permutation drawn from ``(seed, epoch)`` alone (Lightning calls ``set_epoch``).

    The global RNG is not in Lightning's checkpoints, so a plain shuffling loader would replay
    epoch 0's order after a resume; this one gives a resumed fit the batches of an
    uninterrupted one, hence the same weights.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Any:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


def _lightning_module(
    model: ReducedPotentialModel,
    train: Trajectories,
    val: Trajectories | None,
    config: NRPConfig,
) -> Any:
    """The LightningModule of a fit: batches of windows, the joint loss, per-epoch logs.

    Defined inside a function (as are the callbacks) so that Lightning is imported only when
    something is trained.
    """
    import lightning.pytorch as pl

    class NRPModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.data = {"train": train}  # "val" only where there is one
            if val is not None:
                self.data["val"] = val
            self._tensors: dict[str, tuple[torch.Tensor, ...]] = {}

        def _tensors_of(self, split: str) -> tuple[torch.Tensor, ...]:
            if split not in self._tensors:
                d = self.data[split]
                # Times relative to each run's start keep float32 steps exact enough: an
                # absolute time of 1e8 would round neighbouring snapshots together.
                t32 = (d.t - d.t[:, :1]).astype(np.float32)
                if (np.diff(t32, axis=1) <= 0).any():
                    raise ValueError(
                        f"{split} times are too close for float32 training: some steps round to 0"
                    )
                self._tensors[split] = tuple(
                    torch.as_tensor(np.array(a), device=self.device)  # np.array: x is read-only
                    for a in (d.x, t32, d.conditions.astype(np.float32))
                )
            return self._tensors[split]

        def _loader(self, split: str, shuffle: bool) -> Any:
            idx = torch.as_tensor(_windows(self.data[split], config.derivative, config.lv_steps))
            return torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(idx),
                batch_size=config.batch_size,
                sampler=_EpochShuffle(len(idx), config.seed) if shuffle else None,
                num_workers=0,
            )

        def train_dataloader(self) -> Any:
            return self._loader("train", shuffle=True)

        def val_dataloader(self) -> Any:
            return self._loader("val", shuffle=False) if val is not None else []

        def _step(self, batch: Any, split: str, batch_idx: int) -> torch.Tensor:
            (idx,) = batch
            x, t, c = self._tensors_of(split)
            m = window_size(config.derivative, config.lv_steps)
            offs = torch.arange(m, device=idx.device)
            runs = idx[:, :1].expand(-1, m)
            times = idx[:, 1:] + offs
            losses = nrp_loss(self.model, x[runs, times], t[runs, times], c[runs, times], config)
            if not torch.isfinite(losses["loss"]):
                bad = [k for k in ("ae", "v") if not torch.isfinite(losses[k])]
                raise ValueError(
                    f"non-finite {split} loss (L_{'/L_'.join(bad).upper()}) at epoch "
                    f"{self.current_epoch}, batch {batch_idx}: training diverged; lower lr "
                    f"(now {config.lr:g}) or check the inputs' scale"
                )
            n = idx.shape[0]
            for key, value in losses.items():
                self.log(
                    f"{split}_{key}",
                    value,
                    on_step=False,
                    on_epoch=True,
                    batch_size=n,
                    sync_dist=True,
                )
            return losses["loss"]

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self._step(batch, "train", batch_idx)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            with torch.enable_grad():  # ∂V/∂z needs autograd even in validation
                self._step(batch, "val", batch_idx)

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(
                self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
            )

    return NRPModule()


def _history_callback() -> Any:
    import lightning.pytorch as pl

    class History(pl.Callback):
        """Epoch means of the logged losses; saved in checkpoints so resume keeps them."""

        def __init__(self) -> None:
            self.rows: list[dict[str, float]] = []

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            row = {"epoch": float(trainer.current_epoch)}
            for key, value in trainer.callback_metrics.items():
                row[key] = float(value)
            self.rows.append(row)

        def state_dict(self) -> dict[str, Any]:
            return {"rows": self.rows}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            self.rows = list(state_dict["rows"])

    return History()


def _best_epoch_callback(patience: int) -> Any:
    import lightning.pytorch as pl

    class BestEpoch(pl.Callback):
        """With ``patience > 0``, keeps the weights of the epoch with the lowest ``val_loss``
        and stops after ``patience`` epochs without improvement (0: does nothing). Its state,
        best weights included, travels in the checkpoint, so a resumed fit selects and stops
        as an uninterrupted one would."""

        def __init__(self) -> None:
            self.best = math.inf
            self.best_epoch = -1
            self.wait = 0
            self.weights: dict[str, torch.Tensor] | None = None

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if patience and self.wait >= patience:  # resumed after the stopping epoch
                trainer.should_stop = True

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            value = trainer.callback_metrics.get("val_loss")
            if not patience or value is None:
                return
            if float(value) < self.best:
                self.best, self.best_epoch, self.wait = float(value), trainer.current_epoch, 0
                self.weights = {
                    k: v.detach().cpu().clone() for k, v in pl_module.model.state_dict().items()
                }
            else:
                self.wait += 1
                if patience and self.wait >= patience:
                    trainer.should_stop = True

        def state_dict(self) -> dict[str, Any]:
            return {
                "best": self.best,
                "best_epoch": self.best_epoch,
                "wait": self.wait,
                "weights": self.weights,
            }

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            self.best = float(state_dict["best"])
            self.best_epoch = int(state_dict["best_epoch"])
            self.wait = int(state_dict["wait"])
            self.weights = state_dict["weights"]

    return BestEpoch()


def _last_checkpoint_callback(path: Path) -> Any:
    import lightning.pytorch as pl

    class LastCheckpoint(pl.Callback):
        """Writes ``path`` at the end of every training epoch, through a temporary file and a
        rename, so a kill at any moment leaves the previous epoch's checkpoint whole.

        (Lightning's ``ModelCheckpoint(save_top_k=0, save_last=True)`` writes ``last.ckpt``
        only when a top-k checkpoint is saved, that is, at the very end.)"""

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            tmp = path.with_name(path.name + ".tmp")
            trainer.save_checkpoint(tmp)
            if trainer.is_global_zero:
                tmp.replace(path)

    return LastCheckpoint()


_FIT_RECORD = "fit.json"


_HARDWARE = ("accelerator", "devices", "strategy")


def _without_hardware(config: Any) -> Any:
    """A config dict without the fields that do not change the result: where it ran."""
    if not isinstance(config, dict):
        return config
    return {k: v for k, v in config.items() if k not in _HARDWARE}


def fit_record(run_dir: str | Path) -> dict[str, Any] | None:
    """What :func:`fit_nrp` recorded about a finished fit in ``run_dir``, or None.

    Returns
    -------
    dict or None
        ``config`` (the :class:`NRPConfig` as a dict), ``epochs_run``, ``selected_epoch``
        (the epoch whose weights are in ``model.pt``) and ``stopped_early``.
    """
    path = Path(run_dir) / _FIT_RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _finished_fit(
    model: ReducedPotentialModel, config: NRPConfig, run_dir: Path
) -> dict[str, list[float]] | None:
    """The history of a finished fit of ``config`` in ``run_dir``, its weights loaded into
    ``model``; None when there is none to reuse."""
    record = fit_record(run_dir)
    weights, history = run_dir / "model.pt", run_dir / "history.json"
    if record is None or _without_hardware(record.get("config")) != _without_hardware(
        config.to_dict()
    ):
        return None
    if not (weights.is_file() and history.is_file()):
        return None
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    series: dict[str, list[float]] = json.loads(history.read_text())
    return series


def fit_nrp(
    model: ReducedPotentialModel,
    train: Trajectories,
    config: NRPConfig,
    run_dir: str | Path,
    *,
    val: Trajectories | None = None,
    resume: bool = True,
    progress: bool | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` in place with Lightning; write checkpoints, logs and the final weights.

    Parameters
    ----------
    model
        From :func:`build_model`; its potential's condition scaling is set from ``train``.
    train, val
        Training runs and (optionally) validation runs, whose losses are logged every epoch.
        With ``config.early_stopping_patience > 0`` they also stop the fit and select the
        weights kept (those of the epoch of lowest ``val_loss``): validation runs must then
        be kept apart from any runs used to test the model.
    run_dir
        Receives ``checkpoints/last.ckpt`` (written atomically every epoch), ``logs/`` (CSV,
        TensorBoard when installed), ``model.pt`` (the kept weights), ``history.json`` and
        ``fit.json`` (see :func:`fit_record`).
    resume
        Reuse a finished fit of the same config (no training, no new logs), or continue an
        unfinished one from ``checkpoints/last.ckpt`` to the same weights an uninterrupted
        fit reaches. Checkpoints are loaded with ``weights_only=True``: a planted pickle is
        refused, never executed.
    progress
        Lightning's progress bar: True, False, or None (only on a terminal).

    Returns
    -------
    dict
        Per-epoch series: ``epoch``, ``train_loss``, ``train_ae``, ``train_v`` and, with
        ``val``, ``val_loss``, ``val_ae``, ``val_v``.
    """
    import lightning.pytorch as pl

    if not isinstance(train, Trajectories):
        raise TypeError(f"train must be Trajectories, got {type(train).__name__}")
    if val is not None and val.shape != train.shape:
        raise ValueError(f"val snapshots have shape {val.shape}, train {train.shape}")
    if train.conditions.shape[2] != model.potential.n_conditions:
        raise ValueError(
            f"train has {train.conditions.shape[2]} conditions, the potential expects "
            f"{model.potential.n_conditions}"
        )
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        done = _finished_fit(model, config, run_dir)
        if done is not None:
            return done
    (run_dir / _FIT_RECORD).unlink(missing_ok=True)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    if model.potential.n_conditions:
        model.potential.set_condition_scaling(
            torch.tensor(train.conditions.reshape(-1, train.conditions.shape[2]))
        )
    module = _lightning_module(model, train, val, config)
    history = _history_callback()
    best = _best_epoch_callback(config.early_stopping_patience)
    last = run_dir / "checkpoints" / "last.ckpt"
    last.parent.mkdir(exist_ok=True)
    # History and BestEpoch update before LastCheckpoint saves their state.
    callbacks = [history, best, _last_checkpoint_callback(last)]
    trainer = _trainer(config, run_dir, callbacks, has_val=val is not None, progress=progress)
    ckpt_path = last if (resume and last.exists()) else None
    if ckpt_path is not None and (stale := _stale_checkpoint(ckpt_path, module)):
        warnings.warn(
            f"{ckpt_path} was written by another version of the model ({stale}); its weights "
            "and optimizer state cannot be resumed, so training restarts from epoch 0",
            TopophysWarning,
            stacklevel=2,
        )
        ckpt_path = None
    with quiet_lightning():
        try:
            trainer.fit(module, ckpt_path=ckpt_path, weights_only=True)
        except pickle.UnpicklingError as err:
            if ckpt_path is None:
                raise
            raise ValueError(
                f"{ckpt_path} holds objects other than weights; refusing to unpickle it (it "
                "was not written by fit_nrp). Delete it to train from the start."
            ) from err
    if best.weights is not None:
        model.load_state_dict(best.weights)
    rows = history.rows
    series = {key: [row.get(key, math.nan) for row in rows] for key in (rows[0] if rows else {})}
    if trainer.is_global_zero:  # under DDP every rank holds the same weights; one writes them
        selected = best.best_epoch if best.weights is not None else len(rows) - 1
        _write_fit(run_dir, model, series, config, selected)
    return series


def _stale_checkpoint(path: Path, module: Any) -> str | None:
    """Why ``path`` cannot resume ``module`` (its parameters differ), or ``None`` if it can.

    Lightning restores the optimizer by position, so a checkpoint with other parameters
    (e.g. the output biases older potentials carried) fails deep inside ``fit`` with a bare
    size mismatch. A file that is not weights-only is left to ``fit``, which refuses it.
    """
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        return None
    state = loaded.get("state_dict") if isinstance(loaded, dict) else None
    if not isinstance(state, dict):
        return "no state_dict in it"
    ours = module.state_dict()
    extra = sorted(set(state) - set(ours))
    missing = sorted(set(ours) - set(state))
    shapes = sorted(k for k in set(state) & set(ours) if state[k].shape != ours[k].shape)
    parts = [
        f"{what}: {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
        for what, keys in (("unknown", extra), ("missing", missing), ("other shape", shapes))
        if keys
    ]
    return "; ".join(parts) or None


def _trainer(
    config: NRPConfig, run_dir: Path, callbacks: list[Any], *, has_val: bool, progress: bool | None
) -> Any:
    """The Lightning trainer of :func:`fit_nrp`: CSV (and TensorBoard) logs in ``run_dir``."""
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger

    loggers: list[Any] = [CSVLogger(run_dir, name="logs")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(run_dir, name="logs", version=loggers[0].version))
    except ImportError:
        pass
    with quiet_lightning():
        return pl.Trainer(
            max_epochs=config.epochs,
            accelerator=config.accelerator,
            devices=config.devices,
            strategy=config.strategy,
            deterministic=config.accelerator == "cpu",
            logger=loggers,
            callbacks=callbacks,
            enable_checkpointing=False,
            enable_progress_bar=want_progress(progress),
            enable_model_summary=False,
            log_every_n_steps=1,
            num_sanity_val_steps=0,
            limit_val_batches=1.0 if has_val else 0,
            default_root_dir=run_dir,
        )


def _write_fit(
    run_dir: Path,
    model: ReducedPotentialModel,
    series: dict[str, list[float]],
    config: NRPConfig,
    selected_epoch: int,
) -> None:
    """``model.pt``, ``history.json`` and, last, ``fit.json``: a fit is finished once it exists."""
    tmp = run_dir / "model.pt.tmp"
    torch.save(model.state_dict(), tmp)
    tmp.replace(run_dir / "model.pt")
    atomic_write_text(run_dir / "history.json", json.dumps(series) + "\n")
    n = len(series.get("epoch", []))
    record = {
        "config": config.to_dict(),
        "epochs_run": n,
        "selected_epoch": selected_epoch,
        "stopped_early": n < config.epochs,
    }
    atomic_write_text(run_dir / _FIT_RECORD, json.dumps(record) + "\n")


def load_model(
    kind: Literal["mlp", "conv"],
    input_shape: Sequence[int],
    config: NRPConfig,
    n_conditions: int,
    path: str | Path,
) -> ReducedPotentialModel:
    """Rebuild a model and load weights saved by :func:`fit_nrp` (``model.pt``)."""
    model = build_model(kind, input_shape, config, n_conditions)
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model
