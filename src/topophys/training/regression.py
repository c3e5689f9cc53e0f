r"""Energy regression on persistence-diagram descriptors: splits, Ridge, the CNN loop, metrics.

The amorphous-carbon paper (Minamitani et al., Secs. 2.5–2.6) fits the mean energy per atom of
each structure with

- scikit-learn's ``Ridge`` with an intercept and regularization 200 (:func:`fit_ridge`);
- the CNN of :mod:`topophys.models.pdcnn`, trained on the mean squared error with SGD, Nesterov
  momentum 0.9, weight decay 1e-3, learning rate 1.5e-3 halved at epochs 200, 400, 800 and 1200,
  1600 epochs (:class:`CNNConfig`, :func:`fit_cnn`).

Both papers split the frames 80/20 at random (:func:`random_split`). Neighbouring frames of one
melt-quench trajectory are nearly identical, so a random split puts near-copies of every test
frame in the training set; :func:`grouped_split` keeps whole runs apart instead.

The CNN loop is plain PyTorch and deterministic: the weights are initialized from ``seed``, the
order of epoch ``e`` is a permutation drawn from ``(seed, e)`` alone, and with one thread on the
CPU two calls give bit-identical weights. It checkpoints model, optimizer, scheduler and history
every ``checkpoint_every`` epochs (atomically) and resumes from there. Choices the papers leave
open, ours: the batch size (32), the hidden width (128), and training on targets standardized
with the training set's mean and standard deviation (the loss is the MSE in those units, the
model outputs eV/atom; see :meth:`~topophys.models.pdcnn.PDCNN.set_target_scaling`).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(50, 4)); y = X @ [1.0, -2.0, 0.0, 0.5] + 3.0
>>> model = fit_ridge(X, y, alpha=1e-6)
>>> np.round(model.coef_, 3).tolist(), round(float(model.intercept_), 3)
([1.0, -2.0, 0.0, 0.5], 3.0)
>>> regression_metrics(y, model.predict(X))["rmse_meV"] < 1e-3
True
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _validate
from ..config import Config, atomic_write_text
from ..models.pdcnn import PDCNN

__all__ = [
    "CNNConfig",
    "fit_cnn",
    "fit_ridge",
    "grouped_split",
    "load_cnn",
    "predict_cnn",
    "random_split",
    "regression_metrics",
]


# --------------------------------------------------------------------------- metrics and splits


def regression_metrics(
    y_true: Any, y_pred: Any, *, to_milli: float = 1000.0
) -> dict[str, float | int]:
    """RMSE and MAE of predictions, in meV/atom for energies given in eV/atom.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
        Targets and predictions (eV/atom), finite, n ≥ 1.
    to_milli : float, default 1000
        Factor applied to both errors (eV → meV).

    Returns
    -------
    dict
        ``rmse_meV``, ``mae_meV`` and ``n``.
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.size} and {p.size}")
    if t.size == 0:
        raise ValueError("y_true must hold at least one value, got none")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError("y_true and y_pred must be finite (NaN or inf found)")
    err = p - t
    return {
        "rmse_meV": float(np.sqrt(np.mean(err**2)) * to_milli),
        "mae_meV": float(np.mean(np.abs(err)) * to_milli),
        "n": int(t.size),
    }


def _n_test(n: int, test_fraction: float, what: str) -> int:
    if n < 2:
        raise ValueError(f"a split needs at least 2 {what}, got {n}")
    test_fraction = float(test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    return min(max(1, round(n * test_fraction)), n - 1)


def random_split(n: int, test_fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """The papers' split: a random ``test_fraction`` of ``n`` frames goes to the test set.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True for test frames; ``round(n · test_fraction)`` of them, at least 1 and at most n − 1.

    Examples
    --------
    >>> int(random_split(10, 0.2, seed=1).sum())
    2
    """
    n = _validate.positive_int("n", n)
    k = _n_test(n, test_fraction, "frames")
    rng = np.random.default_rng(_validate.nonnegative_int("seed", seed))
    test = np.zeros(n, dtype=bool)
    test[rng.permutation(n)[:k]] = True
    return test


def grouped_split(
    groups: Any, test_fraction: float = 0.2, seed: int = 0, *, strata: Any = None
) -> np.ndarray:
    """Hold out whole groups (melt-quench runs): no frame of a test group is in training.

    Parameters
    ----------
    groups : array_like, shape (n,)
        Group label of each frame (e.g. the run it comes from).
    test_fraction : float
        Share of the *groups* held out: ``round(G · test_fraction)``, at least 1 and at most
        G − 1 of the G groups.
    seed : int
    strata : array_like, shape (n,), optional
        A label constant within each group (e.g. the density). Test groups are then drawn one
        stratum at a time in a random order, from strata that keep at least one group in
        training first, so held-out runs spread over the strata and, where possible, every
        stratum stays represented in training.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True for frames of test groups.

    Examples
    --------
    >>> g = [0, 0, 1, 1, 2, 2, 3, 3]
    >>> t = grouped_split(g, 0.5, seed=0, strata=[0, 0, 0, 0, 1, 1, 1, 1])
    >>> sorted({gi for gi, ti in zip(g, t) if ti}) in ([0, 2], [0, 3], [1, 2], [1, 3])
    True
    """
    g = np.asarray(groups)
    if g.ndim != 1:
        raise ValueError(f"groups must be 1-D (one label per frame), got shape {g.shape}")
    labels, inverse = np.unique(g, return_inverse=True)
    k = _n_test(len(labels), test_fraction, "groups")
    rng = np.random.default_rng(_validate.nonnegative_int("seed", seed))
    if strata is None:
        chosen = rng.permutation(len(labels))[:k]
    else:
        s = np.asarray(strata)
        if s.shape != g.shape:
            raise ValueError(f"strata must have the shape of groups {g.shape}, got {s.shape}")
        group_stratum = np.empty(len(labels), dtype=np.int64)
        s_labels, s_inverse = np.unique(s, return_inverse=True)
        for j in range(len(labels)):
            values = np.unique(s_inverse[inverse == j])
            if values.size != 1:
                raise ValueError(
                    f"group {labels[j]!r} spans several strata {s_labels[values].tolist()}; "
                    "strata must be constant within a group"
                )
            group_stratum[j] = values[0]
        pools = {
            c: list(rng.permutation(np.flatnonzero(group_stratum == c)))
            for c in range(len(s_labels))
        }
        order = list(rng.permutation(len(s_labels)))
        chosen = []
        while len(chosen) < k:
            # Prefer strata that keep a group for training; fall back to emptying one.
            ready = [c for c in order if len(pools[c]) >= 2] or [c for c in order if pools[c]]
            for c in ready:
                if len(chosen) == k:
                    break
                if pools[c]:
                    chosen.append(pools[c].pop())
        chosen = np.asarray(chosen, dtype=np.int64)
    test_groups = np.zeros(len(labels), dtype=bool)
    test_groups[chosen] = True
    return test_groups[inverse]


# --------------------------------------------------------------------------- Ridge


def fit_ridge(X: Any, y: Any, alpha: float = 200.0) -> Any:
    """The paper's linear model: scikit-learn ``Ridge`` with an intercept.

    Parameters
    ----------
    X : array_like, shape (n, F)
        Descriptors (e.g. z-scored probability histograms, F = 128²), finite.
    y : array_like, shape (n,)
        Targets (eV/atom), finite.
    alpha : float, default 200
        L2 regularization (the paper's 200).

    Returns
    -------
    sklearn.linear_model.Ridge
        Fitted; ``coef_`` has shape ``(F,)`` (eV/atom per descriptor unit).
    """
    from sklearn.linear_model import Ridge

    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, features), got {X.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} values")
    if X.shape[0] == 0:
        raise ValueError("X must hold at least one sample, got none")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite (NaN or inf found)")
    alpha = _validate.nonnegative("alpha", alpha)
    return Ridge(alpha=alpha, fit_intercept=True).fit(X, y)


# --------------------------------------------------------------------------- the CNN


@dataclass(frozen=True)
class CNNConfig(Config):
    """Architecture and training of the PD-histogram CNN (defaults: the paper's).

    Parameters
    ----------
    channels, hidden, kernel_size
        See :class:`~topophys.models.pdcnn.PDCNN` (paper: 64, 64, 32 channels of 3 × 3).
    epochs
        Passes over the training set (paper: 1600).
    batch_size
        Frames per SGD step (ours: 32; the papers do not say).
    lr, momentum, nesterov, weight_decay
        SGD (paper: 1.5e-3, Nesterov momentum 0.9, weight decay 1e-3).
    milestones, gamma
        The learning rate is multiplied by ``gamma`` at these epochs (paper: 200, 400, 800,
        1200 and 0.5).
    seed
        Initial weights and the order of every epoch.
    device
        torch device (``"cpu"``, ``"cuda"``); bit-for-bit determinism is promised on the CPU.
    checkpoint_every
        Epochs between checkpoints (and the last epoch).
    """

    channels: tuple[int, ...] = (64, 64, 32)
    hidden: int = 128
    kernel_size: int = 3
    epochs: int = 1600
    batch_size: int = 32
    lr: float = 1.5e-3
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-3
    milestones: tuple[int, ...] = (200, 400, 800, 1200)
    gamma: float = 0.5
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 1

    def __post_init__(self) -> None:
        if not self.channels:
            raise ValueError("channels must hold at least one convolution's channel count")
        for i, c in enumerate(self.channels):
            _validate.positive_int(f"channels[{i}]", c)
        _validate.positive_int("hidden", self.hidden)
        _validate.positive_int("kernel_size", self.kernel_size)
        _validate.positive_int("epochs", self.epochs)
        _validate.positive_int("batch_size", self.batch_size)
        _validate.positive("lr", self.lr)
        _validate.in_range("momentum", self.momentum, 0.0, 1.0)
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        _validate.nonnegative("weight_decay", self.weight_decay)
        for i, m in enumerate(self.milestones):
            _validate.positive_int(f"milestones[{i}]", m)
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError(f"milestones must be strictly increasing, got {self.milestones}")
        _validate.positive("gamma", self.gamma)
        _validate.nonnegative_int("seed", self.seed)
        _validate.positive_int("checkpoint_every", self.checkpoint_every)

    def build(self, image_shape: Sequence[int]) -> PDCNN:
        """A freshly initialized model for images of ``image_shape`` (seeded by ``seed``)."""
        torch.manual_seed(self.seed)
        return PDCNN(image_shape, self.channels, self.hidden, self.kernel_size)


def _check_images(name: str, X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3 or X.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n ≥ 1, nb, nd), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} must be finite (NaN or inf found)")
    return X


def _check_targets(name: str, y: Any, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape != (n,):
        raise ValueError(f"{name} must hold one value per image ({n}), got {y.size}")
    if not np.isfinite(y).all():
        raise ValueError(f"{name} must be finite (NaN or inf found)")
    return y


def _fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def predict_cnn(model: PDCNN, X: Any, batch_size: int = 256) -> np.ndarray:
    """Predictions ``(n,)`` float64 (eV/atom) of ``model`` for images ``X (n, nb, nd)``."""
    X = _check_images("X", X)
    batch_size = _validate.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [
        # A copy per batch: X may be a read-only memory map.
        model(torch.tensor(X[i : i + batch_size], device=device)).double().cpu().numpy()
        for i in range(0, len(X), batch_size)
    ]
    model.train(was_training)
    return np.concatenate(out)


def fit_cnn(
    X: Any,
    y: Any,
    config: CNNConfig,
    run_dir: str | Path | None = None,
    *,
    X_val: Any = None,
    y_val: Any = None,
    progress: bool | None = False,
) -> tuple[PDCNN, dict[str, list[float]]]:
    """Train the PD-histogram CNN on images ``X`` and targets ``y``; resumable.

    Parameters
    ----------
    X : array_like, shape (n, nb, nd)
        Descriptor images (standardized histograms), finite.
    y : array_like, shape (n,)
        Targets (eV/atom), finite.
    config : CNNConfig
    run_dir : path, optional
        Receives ``checkpoint.pt`` (every ``config.checkpoint_every`` epochs), then ``model.pt``
        and ``history.json``. A directory with a finished ``model.pt`` of the same config and
        data is loaded instead of trained; an unfinished one resumes from its checkpoint. One of
        another config or data is refused.
    X_val, y_val : array_like, optional
        A set evaluated after every epoch (``val_rmse_meV`` in the history); not trained on.
    progress : bool or None
        A progress bar over epochs (``None``: only on a terminal).

    Returns
    -------
    model : PDCNN
        Trained, in eval mode, on ``config.device``.
    history : dict of str to list of float
        Per epoch: ``epoch``, ``lr``, ``train_loss`` (mean squared error in units of the
        target's standard deviation), ``train_rmse_meV`` (running, during the epoch),
        ``seconds`` and, with a validation set, ``val_rmse_meV``.

    Raises
    ------
    ValueError
        On malformed inputs, or if ``run_dir`` holds a training of another config or data.
    """
    if not isinstance(config, CNNConfig):
        raise TypeError(f"config must be a CNNConfig, got {type(config).__name__}")
    X = _check_images("X", X)
    y = _check_targets("y", y, len(X))
    validate = X_val is not None or y_val is not None
    if validate:
        if X_val is None or y_val is None:
            raise ValueError("X_val and y_val must be given together")
        X_val = _check_images("X_val", X_val)
        y_val = _check_targets("y_val", y_val, len(X_val))
        if X_val.shape[1:] != X.shape[1:]:
            raise ValueError(f"X_val images have shape {X_val.shape[1:]}, X {X.shape[1:]}")
    device = torch.device(config.device)
    identity = {
        "config": config.to_dict(),
        "data": _fingerprint(X, y),
        "val": _fingerprint(X_val, y_val) if validate else None,
    }
    folder = Path(run_dir) if run_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        finished = _load_finished(folder, identity, device)
        if finished is not None:
            return finished

    model = config.build(X.shape[1:]).to(device)
    model.set_target_scaling(torch.from_numpy(y))
    mean, scale = float(model.target_mean), float(model.target_scale)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(config.milestones), gamma=config.gamma
    )
    history: dict[str, list[float]] = {
        k: [] for k in ("epoch", "lr", "train_loss", "train_rmse_meV", "seconds")
    }
    if validate:
        history["val_rmse_meV"] = []
    start = 0
    checkpoint = folder / "checkpoint.pt" if folder is not None else None
    if checkpoint is not None and checkpoint.exists():
        # Our own file; the scheduler state holds a Counter, which weights_only refuses.
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        _refuse_other(folder, state["identity"], identity)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = state["history"]
        start = int(state["epoch"])

    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(((y - mean) / scale).astype(np.float32))
    from tqdm.auto import tqdm

    disable = None if progress is None else not progress
    model.train()
    for epoch in tqdm(range(start, config.epochs), desc="CNN epochs", disable=disable, leave=False):
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        # A permutation that depends on (seed, epoch) only, so a resumed run replays it.
        order = np.random.default_rng([config.seed, epoch]).permutation(len(X))
        total = 0.0
        for i in range(0, len(order), config.batch_size):
            idx = torch.from_numpy(order[i : i + config.batch_size])
            xb, yb = X_t[idx].to(device), y_t[idx].to(device)
            loss = torch.mean((model.standardized(xb) - yb) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach().item() * len(idx)
        scheduler.step()
        mse = total / len(X)
        if not math.isfinite(mse):
            raise FloatingPointError(
                f"CNN training diverged at epoch {epoch + 1} (loss {mse}); lower lr"
            )
        history["epoch"].append(epoch + 1)
        history["lr"].append(lr)
        history["train_loss"].append(mse)
        history["train_rmse_meV"].append(math.sqrt(mse) * scale * 1000.0)
        if validate:
            pred = predict_cnn(model, X_val)
            model.train()
            history["val_rmse_meV"].append(regression_metrics(y_val, pred)["rmse_meV"])
        history["seconds"].append(time.perf_counter() - t0)
        done = epoch + 1
        if checkpoint is not None and (
            done % config.checkpoint_every == 0 or done == config.epochs
        ):
            _save_atomic(
                {
                    "identity": identity,
                    "epoch": done,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "history": history,
                },
                checkpoint,
            )
    model.eval()
    if folder is not None:
        _save_atomic(
            {"identity": identity, "model": model.state_dict(), "image_shape": list(X.shape[1:])},
            folder / "model.pt",
        )
        atomic_write_text(folder / "history.json", json.dumps(history) + "\n")
    return model, history


def _refuse_other(folder: Path, stored: dict[str, Any], now: dict[str, Any]) -> None:
    what = [k for k in ("config", "data", "val") if stored.get(k) != now.get(k)]
    if what:
        raise ValueError(
            f"{folder} holds a CNN training of another {' and '.join(what)}; use another "
            "directory or delete it to start over"
        )


def _load_finished(
    folder: Path, identity: dict[str, Any], device: torch.device
) -> tuple[PDCNN, dict[str, list[float]]] | None:
    final, hist = folder / "model.pt", folder / "history.json"
    if not (final.exists() and hist.exists()):
        return None
    state = torch.load(final, map_location=device, weights_only=True)
    _refuse_other(folder, state["identity"], identity)
    model = load_cnn(final, map_location=device)
    return model, json.loads(hist.read_text())


def load_cnn(path: str | Path, map_location: Any = "cpu") -> PDCNN:
    """The trained model saved by :func:`fit_cnn` (``run_dir/model.pt``), in eval mode."""
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    try:
        config = CNNConfig.from_dict(state["identity"]["config"])
        weights, shape = state["model"], state["image_shape"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a model saved by fit_cnn ({err})") from None
    model = PDCNN(shape, config.channels, config.hidden, config.kernel_size)
    model.load_state_dict(weights)
    return model.to(map_location).eval()
