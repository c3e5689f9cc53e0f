r"""Energy regression on persistence-diagram descriptors: splits, Ridge and the CNN.

The amorphous-carbon paper (Minamitani et al., Secs. 2.5–2.6) fits the mean energy per atom of
each structure with

- scikit-learn's ``Ridge`` with an intercept and regularization 200 (:func:`fit_ridge`);
- the CNN of :mod:`topophys.models.pdcnn`, trained on the mean squared error with SGD, Nesterov
  momentum 0.9, weight decay 1e-3, learning rate 1.5e-3 halved at epochs 200, 400, 800 and 1200,
  1600 epochs (:class:`CNNConfig`, :func:`fit_cnn`).

Both papers split the frames 80/20 at random (:func:`random_split`). Neighbouring frames of one
melt-quench trajectory are nearly identical, so a random split puts near-copies of every test
frame in the training set; :func:`grouped_split` keeps whole runs apart instead. The errors are
:func:`topophys.evaluate.regression.regression_metrics`.

The CNN trains in Lightning, like the NRP and the cWGAN (``topophys.training._loop``), and
deterministically: the weights are initialized from ``seed``, the order of epoch ``e`` is a
permutation drawn from ``(seed, e)`` alone, and with one thread on the CPU two calls give
bit-identical weights. It checkpoints model, optimizer, schedule and history every
``checkpoint_every`` epochs (atomically) and resumes from there to the weights of an
uninterrupted fit. Choices the papers leave open, ours: the batch size (32), the hidden width
(128), and training on targets standardized with the training set's mean and standard deviation
(the loss is the MSE in those units, the model outputs eV/atom; see
:meth:`~topophys.models.pdcnn.PDCNN.set_target_scaling`); early stopping on a held-out share of
the training frames is an option, off by default.

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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _validate
from ..config import Config
from ..evaluate.regression import regression_metrics
from ..models.pdcnn import PDCNN
from ._options import LoopSettings, check_early_stopping, check_milestones

__all__ = [
    "CNNConfig",
    "fit_cnn",
    "fit_ridge",
    "grouped_split",
    "load_cnn",
    "predict_cnn",
    "random_split",
]


# --------------------------------------------------------------------------- splits


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
        picked: list[int] = []
        while len(picked) < k:
            # Prefer strata that keep a group for training; fall back to emptying one.
            ready = [c for c in order if len(pools[c]) >= 2] or [c for c in order if pools[c]]
            for c in ready:
                if len(picked) == k:
                    break
                if pools[c]:
                    picked.append(pools[c].pop())
        chosen = np.asarray(picked, dtype=np.int64)
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
        torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``); bit-for-bit determinism is
        promised on the CPU.
    checkpoint_every
        Epochs between checkpoints (and the last epoch).
    validation_fraction
        Share of the training images held out of training (seeded) and scored after every
        epoch (``holdout_rmse_meV``); 0 (the papers'): none.
    patience
        Early stopping: stop when the held-out RMSE has not improved for this many epochs and
        keep the weights of its best epoch (needs ``validation_fraction > 0``); 0: off.
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
    validation_fraction: float = 0.0
    patience: int = 0

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
        check_milestones(self.milestones)
        _validate.positive("gamma", self.gamma)
        _validate.nonnegative_int("seed", self.seed)
        _validate.positive_int("checkpoint_every", self.checkpoint_every)
        check_early_stopping(self.validation_fraction, self.patience)

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

    SGD (the paper's) on the mean squared error of standardized targets, in Lightning
    (``topophys.training._loop``): checkpoints, resume, CSV logs, the device of
    ``config.device`` and, with ``config.patience``, early stopping on a held-out share of
    ``X``.

    Parameters
    ----------
    X : array_like, shape (n, nb, nd)
        Descriptor images (standardized histograms), finite.
    y : array_like, shape (n,)
        Targets (eV/atom), finite.
    config : CNNConfig
    run_dir : path, optional
        Receives ``identity.json``, ``checkpoints/last.ckpt`` (every
        ``config.checkpoint_every`` epochs), ``logs/`` (CSV), then ``model.pt`` and
        ``history.json``. A directory with a finished ``model.pt`` of the same config and data
        is loaded instead of trained; an unfinished one resumes from its checkpoint (also to
        more ``epochs`` than it first had). One of another config or data is refused.
    X_val, y_val : array_like, optional
        A set evaluated after every epoch (``val_rmse_meV`` in the history); not trained on
        and not used to stop.
    progress : bool or None
        Lightning's progress bar (``None``: only on a terminal).

    Returns
    -------
    model : PDCNN
        Trained, in eval mode.
    history : dict of str to list of float
        Per epoch: ``epoch``, ``lr``, ``train_loss`` (mean squared error in units of the
        target's standard deviation), ``train_rmse_meV`` (running, during the epoch),
        ``seconds`` and, with a validation set, ``val_rmse_meV``; with
        ``config.validation_fraction``, ``holdout_rmse_meV``.

    Raises
    ------
    ValueError
        On malformed inputs, or if ``run_dir`` holds a training of another config or data.
    """
    from ._loop import (
        RESUMABLE,
        claim_run_dir,
        fingerprint,
        fit_regression,
        holdout_split,
        load_finished,
        save_finished,
    )

    if not isinstance(config, CNNConfig):
        raise TypeError(f"config must be a CNNConfig, got {type(config).__name__}")
    X, y, X_val, y_val = _check_fit_inputs(X, y, X_val, y_val)
    validate = X_val is not None
    identity = {
        "config": {k: v for k, v in config.to_dict().items() if k not in RESUMABLE},
        "data": fingerprint(X, y),
        "val": fingerprint(X_val, y_val) if validate else None,
    }
    folder = Path(run_dir) if run_dir is not None else None
    if folder is not None:
        claim_run_dir(folder, identity, "CNN")
        finished = load_finished(folder, identity, config.epochs)
        if finished is not None:
            return load_cnn(folder / "model.pt"), finished[1]

    model = config.build(X.shape[1:])
    train, held = holdout_split(len(X), config.validation_fraction, config.seed)
    model.set_target_scaling(torch.from_numpy(y[train]))
    mean, scale = float(model.target_mean), float(model.target_scale)
    X_t = torch.from_numpy(X[train])
    y_t = torch.from_numpy(((y[train] - mean) / scale).astype(np.float32))
    monitors = {}
    if validate:
        monitors["val_rmse_meV"] = lambda: _rmse_meV(model, X_val, y_val)
    if len(held):
        monitors["holdout_rmse_meV"] = lambda: _rmse_meV(model, X[held], y[held])
    history = fit_regression(
        model,
        len(train),
        lambda idx: (X_t[idx], y_t[idx]),
        optimizer=lambda params: torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        ),
        settings=_settings(config),
        scale=scale,
        name="CNN",
        run_dir=folder,
        identity=identity,
        monitors=monitors,
        progress=progress,
    )
    model = model.cpu().eval()
    if folder is not None:
        payload = {"identity": json.loads(json.dumps(identity)), "model": model.state_dict()}
        payload |= {"image_shape": list(X.shape[1:]), "epochs": config.epochs}
        payload["stopped_early"] = len(history["epoch"]) < config.epochs
        save_finished(folder, payload, history)
    return model, history


def _check_fit_inputs(
    X: Any, y: Any, X_val: Any, y_val: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    X = _check_images("X", X)
    y = _check_targets("y", y, len(X))
    if X_val is None and y_val is None:
        return X, y, None, None
    if X_val is None or y_val is None:
        raise ValueError("X_val and y_val must be given together")
    X_val = _check_images("X_val", X_val)
    y_val = _check_targets("y_val", y_val, len(X_val))
    if X_val.shape[1:] != X.shape[1:]:
        raise ValueError(f"X_val images have shape {X_val.shape[1:]}, X {X.shape[1:]}")
    return X, y, X_val, y_val


def _rmse_meV(model: PDCNN, X: np.ndarray, y: np.ndarray) -> float:
    return float(regression_metrics(y, predict_cnn(model, X))["rmse_meV"])


def _settings(config: CNNConfig) -> LoopSettings:
    return LoopSettings(
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        milestones=tuple(config.milestones),
        gamma=config.gamma,
        checkpoint_every=config.checkpoint_every,
        patience=config.patience,
        device=config.device,
    )


def load_cnn(path: str | Path, map_location: Any = "cpu") -> PDCNN:
    """The trained model saved by :func:`fit_cnn` (``run_dir/model.pt``), in eval mode.

    The file is read with ``weights_only=True``: it cannot run code.
    """
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    try:
        config = CNNConfig.from_dict(state["identity"]["config"])
        weights, shape = state["model"], state["image_shape"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a model saved by fit_cnn ({err})") from None
    model = PDCNN(shape, config.channels, config.hidden, config.kernel_size)
    model.load_state_dict(weights)
    return model.to(map_location).eval()
