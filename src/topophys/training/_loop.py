"""The Lightning loop shared by the energy regressors (internal): PD-CNN, SOAP MLP, SchNet.

One :func:`fit_regression` trains any model with a ``standardized(inputs)`` method on the mean
squared error of standardized targets, with the learning rate multiplied by ``gamma`` at fixed
epochs. It brings what the cWGAN and NRP trainings have: Lightning's device handling, an atomic
``checkpoints/last.ckpt`` every ``checkpoint_every`` epochs and resume from it, CSV logs, and,
as an option, early stopping on a held-out validation split of the training rows.

Determinism: the weights come from the caller (seeded), the order of epoch ``e`` from
``(seed, e)`` alone (:class:`EpochBatchSampler`; Lightning calls its ``set_epoch``), and the
optimizer, schedule, history and early-stopping state are in the checkpoint, so a resumed fit
ends with the weights of an uninterrupted one (bit for bit with one thread on the CPU).
Checkpoints are read with ``weights_only=True``: a file planted in a run directory cannot run
code.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint
from torch.utils.data import DataLoader, Dataset, Sampler

from ..config import atomic_write_text
from ._lightning import quiet_lightning, want_progress
from ._options import LoopSettings

RESUMABLE = ("epochs", "checkpoint_every", "device")
"""Config fields that may change between a fit and its resumption (more epochs, elsewhere)."""

__all__ = [
    "RESUMABLE",
    "EpochBatchSampler",
    "EpochModule",
    "LastCheckpoint",
    "claim_run_dir",
    "fingerprint",
    "fit_regression",
    "holdout_split",
    "lightning_device",
    "load_finished",
    "save_finished",
    "train_epochs",
]


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of a permutation seeded by ``(seed, epoch)``; Lightning calls ``set_epoch``.

    With ``drop_last``, a last partial batch is dropped unless it is the only one.
    """

    def __init__(self, n: int, batch_size: int, seed: int, *, drop_last: bool = False) -> None:
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0
        self.drop_last = drop_last and n >= batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        for b in range(len(self)):
            yield order[b * self.batch_size : (b + 1) * self.batch_size].tolist()


class LastCheckpoint(Checkpoint):
    """Write ``last.ckpt`` atomically every ``every`` epochs and after the last one.

    Being a ``Checkpoint``, Lightning runs it after the module's ``on_train_epoch_end``, so the
    saved state includes the epoch just finished.
    """

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every = path, every

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = trainer.current_epoch + 1
        if done % self.every == 0 or done >= (trainer.max_epochs or 0) or trainer.should_stop:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            trainer.save_checkpoint(tmp, weights_only=False)
            tmp.replace(self.path)


def lightning_device(device: str) -> tuple[str, Any]:
    """``accelerator`` and ``devices`` of ``lightning.Trainer`` for a torch device string.

    Examples
    --------
    >>> lightning_device("cpu"), lightning_device("cuda"), lightning_device("cuda:1")
    (('cpu', 1), ('gpu', 1), ('gpu', [1]))
    """
    kind, _, index = str(device).partition(":")
    if kind == "cpu":
        return "cpu", 1
    if kind == "cuda":
        return "gpu", [int(index)] if index else 1
    if kind == "mps":
        return "mps", 1
    raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:<index>' or 'mps', got {device!r}")


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out indices (sorted) of ``n`` rows; ``round(n · fraction)`` held out,
    drawn from ``(seed, 1)`` (none for ``fraction = 0``, at least 1 training row).

    Examples
    --------
    >>> train, held = holdout_split(10, 0.2, 0)
    >>> len(train), len(held), sorted([*train, *held]) == list(range(10))
    (8, 2, True)
    """
    k = min(round(n * fraction), n - 1) if fraction > 0 else 0
    order = np.random.default_rng([seed, 1]).permutation(n)
    return np.sort(order[k:]), np.sort(order[:k])


class _Batches(Dataset[Any]):
    """Indexed by a list of sample indices (the batch sampler's), returns the whole batch."""

    def __init__(self, n: int, batch: Callable[[np.ndarray], tuple[Any, torch.Tensor]]) -> None:
        self.n, self.batch = n, batch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: list[int]) -> tuple[Any, torch.Tensor]:
        return self.batch(np.asarray(idx, dtype=np.int64))


class EpochModule(L.LightningModule):
    """What the regression and force loops share.

    The optimizer with its step schedule, the per-epoch history with its monitors, early
    stopping on ``row[score]`` of a held-out monitor, and that state inside each checkpoint
    (plain floats and tensors, so a weights-only load restores it). Subclasses compute the
    loss and call :meth:`_finish_epoch` with the epoch's row.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
        settings: LoopSettings,
        monitors: Mapping[str, Callable[[], float]],
        identity: Any,
        columns: tuple[str, ...],
    ) -> None:
        super().__init__()
        self.model, self.settings = model, settings
        self._optimizer, self.monitors, self.identity = optimizer, dict(monitors), identity
        self.history: dict[str, list[float]] = {
            k: [] for k in (*columns, "seconds", *self.monitors)
        }
        self.best_score = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self._t0 = 0.0
        self._lr = 0.0

    def configure_optimizers(self) -> Any:
        optimizer = self._optimizer(self.model.parameters())
        milestones, gamma = tuple(self.settings.milestones), self.settings.gamma

        def factor(epoch: int) -> float:  # MultiStepLR's schedule; its state holds no Counter
            return gamma ** bisect.bisect_right(milestones, epoch)

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return [optimizer], [{"scheduler": schedule, "interval": "epoch"}]

    def on_train_epoch_start(self) -> None:
        self._t0 = time.perf_counter()
        self._lr = float(self.trainer.optimizers[0].param_groups[0]["lr"])
        self.model.train()

    def _finish_epoch(self, row: dict[str, float], score: str) -> None:
        """Add the monitors and the time to ``row``, record and log it, decide on stopping."""
        epoch = int(row["epoch"])
        was = self.model.training
        for key, monitor in self.monitors.items():
            row[key] = float(monitor())
        self.model.train(was)
        row["seconds"] = time.perf_counter() - self._t0
        for key, value in row.items():
            self.history[key].append(int(value) if key == "epoch" else value)
        self.log_dict({k: v for k, v in row.items() if k != "epoch"}, on_epoch=True)
        if self.settings.patience > 0:
            if row[score] < self.best_score:
                self.best_score, self.best_epoch = row[score], epoch
                self.best_state = copy.deepcopy(self.model.state_dict())
            elif epoch - self.best_epoch >= self.settings.patience:
                self.trainer.should_stop = True

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["topophys"] = {
            "identity": self.identity,
            "history": self.history,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["topophys"]
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.best_score = float(state["best_score"])
        self.best_epoch = int(state["best_epoch"])
        self.best_state = state["best_state"]


def train_epochs(
    module: EpochModule,
    loader: DataLoader[Any],
    settings: LoopSettings,
    run_dir: str | Path | None,
    progress: bool | None,
) -> dict[str, list[float]]:
    """Fit ``module`` on ``loader`` with Lightning; its model ends in eval mode, with the
    best held-out epoch's weights under early stopping. Returns the per-epoch history.

    With ``run_dir``: ``checkpoints/last.ckpt`` written atomically every
    ``settings.checkpoint_every`` epochs and resumed from (weights only), CSV logs in ``logs/``.
    """
    model = module.model
    accelerator, devices = lightning_device(settings.device)
    ckpt: Path | None = None
    callbacks: list[Any] = []
    logger: Any = False
    if run_dir is not None:
        from lightning.pytorch.loggers import CSVLogger

        ckpt = Path(run_dir) / "checkpoints" / "last.ckpt"
        callbacks.append(LastCheckpoint(ckpt, settings.checkpoint_every))
        logger = CSVLogger(run_dir, name="logs")
    show = want_progress(progress)
    with warnings.catch_warnings(), quiet_lightning(not show):
        # The data live in memory: loader workers would only add process start-up.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
        trainer = L.Trainer(
            max_epochs=settings.epochs,
            accelerator=accelerator,
            devices=devices,
            logger=logger,
            callbacks=callbacks,
            enable_checkpointing=run_dir is not None,
            default_root_dir=run_dir,
            enable_progress_bar=show,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        resume = ckpt is not None and ckpt.exists()
        trainer.fit(module, loader, ckpt_path=ckpt if resume else None, weights_only=True)
    if settings.patience > 0 and module.best_state is not None:
        model.load_state_dict(module.best_state)
    model.eval()
    return module.history


class _RegressionModule(EpochModule):
    """MSE of standardized targets, on :class:`EpochModule`'s loop."""

    def __init__(
        self,
        model: torch.nn.Module,
        n: int,
        optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
        settings: LoopSettings,
        scale: float,
        name: str,
        monitors: Mapping[str, Callable[[], float]],
        identity: Any,
    ) -> None:
        standardized = getattr(model, "standardized", None)
        if not callable(standardized):
            raise TypeError(
                f"model must have a standardized(inputs) method, got {type(model).__name__}"
            )
        columns = ("epoch", "lr", "train_loss", "train_rmse_meV")
        super().__init__(model, optimizer, settings, monitors, identity, columns)
        # the model's raw output in units of its target scale, (B,); checked above
        self._standardized: Callable[[Any], torch.Tensor] = standardized
        self.n, self.scale, self.name = n, scale, name
        self._total = 0.0

    def on_train_epoch_start(self) -> None:
        self._total = 0.0
        super().on_train_epoch_start()

    def training_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, target = batch
        loss = torch.mean((self._standardized(inputs) - target) ** 2)
        self._total += float(loss.detach()) * len(target)
        return loss

    def on_train_epoch_end(self) -> None:
        mse = self._total / self.n
        epoch = self.current_epoch + 1
        if not math.isfinite(mse):
            raise FloatingPointError(
                f"{self.name} training diverged at epoch {epoch} (loss {mse}); lower lr"
            )
        row = {
            "epoch": float(epoch),
            "lr": self._lr,
            "train_loss": mse,
            "train_rmse_meV": math.sqrt(mse) * self.scale * 1000.0,
        }
        self._finish_epoch(row, "holdout_rmse_meV")


def fit_regression(
    model: torch.nn.Module,
    n: int,
    batch: Callable[[np.ndarray], tuple[Any, torch.Tensor]],
    *,
    optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
    settings: LoopSettings,
    scale: float,
    name: str,
    run_dir: Path | None = None,
    identity: Any = None,
    monitors: Mapping[str, Callable[[], float]] | None = None,
    progress: bool | None = False,
) -> dict[str, list[float]]:
    """Train ``model`` in place; returns the per-epoch history.

    Parameters
    ----------
    model : torch.nn.Module
        With ``standardized(inputs) -> (B,)``, the prediction in units of the target's standard
        deviation; its weights already initialized (seeded) by the caller.
    n : int
        Training samples.
    batch : callable
        ``batch(idx)`` for an int64 array of sample indices returns ``(inputs, target)``: what
        ``standardized`` takes and the standardized targets ``(B,)`` float32.
    optimizer : callable
        Builds the optimizer from the model's parameters.
    settings : LoopSettings
    scale : float
        The target's standard deviation (eV/atom), to report RMSE in meV/atom.
    name : str
        The model's name in error messages.
    run_dir : Path, optional
        Receives ``checkpoints/last.ckpt`` and ``logs/`` (CSV); a checkpoint there is resumed.
        Without it nothing is written.
    identity : JSON-like, optional
        Stored in the checkpoint (the caller checks it before resuming).
    monitors : mapping of str to callable, optional
        Evaluated after every epoch, each a number logged under its key (e.g.
        ``val_rmse_meV``). With ``settings.patience > 0``, ``holdout_rmse_meV`` is the early
        stopping criterion.
    progress : bool or None
        Lightning's progress bar (``None``: only on a terminal).

    Returns
    -------
    dict of str to list
        ``epoch``, ``lr``, ``train_loss`` (MSE of standardized targets), ``train_rmse_meV``
        (running, during the epoch), ``seconds`` and each monitor; with early stopping the
        weights are those of the epoch with the lowest ``holdout_rmse_meV``.
    """
    monitors = dict(monitors or {})
    if settings.patience > 0 and "holdout_rmse_meV" not in monitors:
        raise ValueError("early stopping (patience > 0) needs a holdout_rmse_meV monitor")
    module = _RegressionModule(model, n, optimizer, settings, scale, name, monitors, identity)
    sampler = EpochBatchSampler(n, settings.batch_size, settings.seed)
    loader = DataLoader(_Batches(n, batch), batch_size=None, sampler=sampler)
    return train_epochs(module, loader, settings, run_dir, progress)


# --------------------------------------------------------------------------- run directories


def fingerprint(*arrays: Any) -> str:
    """A digest of arrays' dtypes, shapes and bytes (None entries count as absent)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _plain(identity: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(identity))


def claim_run_dir(folder: Path, identity: Mapping[str, Any], what: str) -> None:
    """Record ``identity`` in ``folder/identity.json``, or refuse a folder holding another.

    Raises
    ------
    ValueError
        Naming the keys of ``identity`` that differ (``another config and data``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "identity.json"
    now = _plain(identity)
    if path.exists():
        stored = json.loads(path.read_text())
        differ = [k for k in now if stored.get(k) != now[k]]
        if differ:
            raise ValueError(
                f"{folder} holds a {what} training of another {' and '.join(differ)}; use "
                "another directory or delete it to start over"
            )
        return
    atomic_write_text(path, json.dumps(now) + "\n")


def load_finished(
    folder: Path, identity: Mapping[str, Any], epochs: int, map_location: Any = "cpu"
) -> tuple[dict[str, Any], dict[str, list[float]]] | None:
    """The saved ``model.pt`` payload and ``history.json`` of a finished fit of this identity
    with ``epochs`` epochs (or stopped early), else None. Read with ``weights_only=True``."""
    final, hist = folder / "model.pt", folder / "history.json"
    if not (final.exists() and hist.exists()):
        return None
    state = torch.load(final, map_location=map_location, weights_only=True)
    if state.get("identity") != _plain(identity):
        return None
    if int(state.get("epochs", -1)) != epochs and not state.get("stopped_early", False):
        return None
    return state, json.loads(hist.read_text())


def save_finished(folder: Path, payload: Mapping[str, Any], history: Mapping[str, Any]) -> None:
    """Write ``model.pt`` (tensors, numbers, strings only) and ``history.json`` atomically."""
    tmp = folder / "model.pt.tmp"
    torch.save(dict(payload), tmp)
    os.replace(tmp, folder / "model.pt")
    atomic_write_text(folder / "history.json", json.dumps(history) + "\n")
