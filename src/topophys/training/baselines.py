"""Baselines of the PH-descriptor papers on the same splits: SOAP + NN, SchNet, and PH + SOAP.

The amorphous-carbon paper compares its PD-histogram models with two standard routes to the mean
energy per atom (Minamitani et al., Secs. 2.3, 2.4, 2.7; Fig. 3):

- **SOAP + NN**: the atom-averaged SOAP vector (:mod:`topophys.descriptors.soap`, 360 numbers)
  into a network with two hidden layers of 40 (:class:`~topophys.models.mlp.MLP`), Adam, learning
  rate 1e-3 halved at epochs 200, 500 and 1000 of 2000 (:class:`MLPConfig`, :func:`fit_mlp`);
- **SchNet** (:mod:`topophys.models.schnet`, our own implementation) trained with Adam on a
  seeded subsample of the training frames sized for a CPU (:class:`SchNetConfig`,
  :func:`fit_schnet`): ~0.5 s per 216-atom structure per epoch on one core;

and both papers name a next step built here, **PH + SOAP**: the PD-histogram CNN's last
convolution, global-average-pooled (:func:`cnn_pooled_features`), concatenated with the averaged
SOAP vector into the same MLP. :func:`run_baselines` fits all three on the splits the ``mlpot``
pipeline made for Ridge and the CNN; :func:`topophys.evaluate.regression.baseline_table` puts
every model beside the papers' figures for their DFT data.

The MLP and SchNet train in Lightning like the CNN (``topophys.training._loop``): resumable
checkpoints and CSV logs in a run directory when one is given, the device of ``device``, and
optional early stopping on a held-out share of the training rows. Every fit is deterministic on
the CPU with one thread: weights from ``seed``, the order of epoch ``e`` from ``(seed, e)`` alone.
:func:`run_baselines` returns numbers and the data of the figures, not figures
(:func:`topophys.plot.mlpot.parity_grid` draws them).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _validate
from ..config import Config
from ..descriptors.soap import SOAPConfig, cached_soap_descriptor
from ..evaluate.regression import regression_metrics
from ..models.mlp import MLP
from ..models.pdcnn import PDCNN
from ..models.schnet import SchNet, collate, neighbor_graph
from ._options import LoopSettings, check_early_stopping, check_milestones

__all__ = [
    "PAPER_BASELINES",
    "BaselineResults",
    "BaselinesConfig",
    "MLPConfig",
    "SchNetConfig",
    "cnn_pooled_features",
    "fit_mlp",
    "fit_schnet",
    "neighbor_graphs",
    "predict_mlp",
    "predict_schnet",
    "run_baselines",
    "schnet_descriptor",
    "subsample",
]


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class MLPConfig(Config):
    """The SOAP + NN training (defaults: the paper's).

    Parameters
    ----------
    hidden
        Hidden widths (two of 40).
    epochs, batch_size
        Passes and rows per Adam step (2000; the batch size is ours, 32).
    lr, milestones, gamma
        Adam's learning rate 1e-3, multiplied by ``gamma`` = 0.5 at epochs 200, 500, 1000.
    seed
        Initial weights and the order of every epoch.
    device, checkpoint_every, validation_fraction, patience
        As for :class:`~topophys.training.regression.CNNConfig` (checkpoints every 10 epochs:
        an epoch takes milliseconds).
    """

    hidden: tuple[int, ...] = (40, 40)
    epochs: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    milestones: tuple[int, ...] = (200, 500, 1000)
    gamma: float = 0.5
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 10
    validation_fraction: float = 0.0
    patience: int = 0

    def __post_init__(self) -> None:
        for k, h in enumerate(self.hidden):
            _validate.positive_int(f"hidden[{k}]", h)
        _validate.positive_int("epochs", self.epochs)
        _validate.positive_int("batch_size", self.batch_size)
        _validate.positive("lr", self.lr)
        check_milestones(self.milestones)
        _validate.positive("gamma", self.gamma)
        _validate.nonnegative_int("seed", self.seed)
        _validate.positive_int("checkpoint_every", self.checkpoint_every)
        check_early_stopping(self.validation_fraction, self.patience)


@dataclass(frozen=True)
class SchNetConfig(Config):
    """SchNet architecture (the paper's) and a CPU-sized training (ours).

    Parameters
    ----------
    n_features, n_interactions, n_gaussians, cutoff, gamma
        See :class:`~topophys.models.schnet.SchNet` (100 features, 60 Gaussians on 0–5 Å,
        γ = 0.1 Å⁻²; 3 interactions).
    max_train_frames
        Training frames drawn (seeded, without replacement) from each split's training set;
        ``0``: all of them.
    epochs, batch_size, lr, milestones, lr_gamma
        Adam with learning-rate steps (SchNetPack's default rate, 5e-4).
    seed
        Subsample, initial weights and epoch order.
    device, checkpoint_every, validation_fraction, patience
        As for :class:`~topophys.training.regression.CNNConfig`.
    """

    n_features: int = 100
    n_interactions: int = 3
    n_gaussians: int = 60
    cutoff: float = 5.0
    gamma: float = 0.1
    max_train_frames: int = 48
    epochs: int = 15
    batch_size: int = 4
    lr: float = 5e-4
    milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.5
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 1
    validation_fraction: float = 0.0
    patience: int = 0

    def __post_init__(self) -> None:
        _validate.positive_int("n_features", self.n_features)
        _validate.positive_int("n_interactions", self.n_interactions)
        _validate.positive_int("n_gaussians", self.n_gaussians)
        _validate.positive("cutoff", self.cutoff)
        _validate.positive("gamma", self.gamma)
        _validate.nonnegative_int("max_train_frames", self.max_train_frames)
        _validate.positive_int("epochs", self.epochs)
        _validate.positive_int("batch_size", self.batch_size)
        _validate.positive("lr", self.lr)
        check_milestones(self.milestones)
        _validate.positive("lr_gamma", self.lr_gamma)
        _validate.nonnegative_int("seed", self.seed)
        _validate.positive_int("checkpoint_every", self.checkpoint_every)
        check_early_stopping(self.validation_fraction, self.patience)

    def build(self) -> SchNet:
        """A freshly initialized model (seeded by ``seed``)."""
        torch.manual_seed(self.seed)
        return SchNet(
            self.n_features, self.n_interactions, self.n_gaussians, self.cutoff, self.gamma
        )


@dataclass(frozen=True)
class BaselinesConfig(Config):
    """What :func:`run_baselines` fits.

    The defaults are sized for 2 CPU cores (minutes on the ``mlpot`` demo data): SOAP + NN and
    PH + SOAP for 300 epochs with milestones scaled down alike, SchNet on 48 frames per split
    for 15 epochs. :data:`PAPER_BASELINES` has the papers' MLP schedule.

    Parameters
    ----------
    soap, mlp, schnet
        SOAP settings, the MLP training (SOAP + NN and PH + SOAP), SchNet (``None``: skip).
    ph_soap
        Fit PH + SOAP (needs the CNNs and their images).
    """

    soap: SOAPConfig = field(default_factory=SOAPConfig)
    mlp: MLPConfig = field(default_factory=lambda: MLPConfig(epochs=300, milestones=(30, 75, 150)))
    schnet: SchNetConfig | None = field(default_factory=SchNetConfig)
    ph_soap: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.ph_soap, bool):
            raise TypeError(f"ph_soap must be True or False, got {self.ph_soap!r}")


PAPER_BASELINES = BaselinesConfig(mlp=MLPConfig(), schnet=SchNetConfig(max_train_frames=0))
"""The papers' MLP schedule (2000 epochs) and SchNet on every training frame (GPU-sized)."""


# --------------------------------------------------------------------------- SOAP + NN


def _rows(name: str, X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n ≥ 1, features), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} must be finite (NaN or inf found)")
    return X


def _targets(y: Any, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape != (n,):
        raise ValueError(f"y must hold one value per row ({n}), got {y.size}")
    if not np.isfinite(y).all():
        raise ValueError("y must be finite (NaN or inf found)")
    return y


def _settings(config: MLPConfig | SchNetConfig) -> LoopSettings:
    return LoopSettings(
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        milestones=tuple(config.milestones),
        gamma=config.gamma if isinstance(config, MLPConfig) else config.lr_gamma,
        checkpoint_every=config.checkpoint_every,
        patience=config.patience,
        device=config.device,
    )


def _finished(folder: Path | None, identity: dict[str, Any], epochs: int) -> Any:
    """The saved state and history of a finished fit in ``folder`` (claimed for ``identity``)."""
    from ._loop import claim_run_dir, load_finished

    if folder is None:
        return None
    claim_run_dir(folder, identity, identity["model"])
    return load_finished(folder, identity, epochs)


def _save(
    folder: Path | None, identity: dict[str, Any], epochs: int, model: Any, history: Any
) -> None:
    from ._loop import save_finished

    if folder is not None:
        payload = {
            "identity": json.loads(json.dumps(identity)),
            "model": model.state_dict(),
            "epochs": epochs,
            "stopped_early": len(history["epoch"]) < epochs,
        }
        save_finished(folder, payload, history)


def _identity(model: str, config: MLPConfig | SchNetConfig, *arrays: Any) -> dict[str, Any]:
    from ._loop import RESUMABLE, fingerprint

    return {
        "model": model,
        "config": {k: v for k, v in config.to_dict().items() if k not in RESUMABLE},
        "data": fingerprint(*arrays),
    }


def fit_mlp(
    X: Any,
    y: Any,
    config: MLPConfig | None = None,
    run_dir: str | Path | None = None,
    *,
    progress: bool | None = False,
) -> tuple[MLP, dict[str, list[float]]]:
    """Train the SOAP + NN regressor on rows ``X (n, F)`` and targets ``y (n,)`` (eV/atom).

    Inputs and targets are standardized with the training rows' statistics (buffers of the
    model); the loss is the mean squared error in units of the target's standard deviation.
    ``run_dir`` (optional) receives checkpoints, logs, ``model.pt`` and ``history.json`` as for
    :func:`~topophys.training.regression.fit_cnn`: a finished fit of the same config and data
    is loaded, an unfinished one resumed, one of another refused.

    Returns
    -------
    model : MLP
        In eval mode.
    history : dict
        Per epoch: ``epoch``, ``lr``, ``train_loss``, ``train_rmse_meV`` (running, during the
        epoch), ``seconds``; ``holdout_rmse_meV`` with ``config.validation_fraction``.
    """
    from ._loop import fit_regression, holdout_split

    config = MLPConfig() if config is None else config
    if not isinstance(config, MLPConfig):
        raise TypeError(f"config must be an MLPConfig, got {type(config).__name__}")
    X = _rows("X", X)
    y = _targets(y, len(X))
    identity = _identity("MLP", config, X, y)
    folder = None if run_dir is None else Path(run_dir)
    finished = _finished(folder, identity, config.epochs)
    torch.manual_seed(config.seed)
    model = MLP(X.shape[1], config.hidden)
    if finished is not None:
        model.load_state_dict(finished[0]["model"])
        return model.eval(), finished[1]
    train, held = holdout_split(len(X), config.validation_fraction, config.seed)
    X_t, y_t = torch.from_numpy(X[train]), torch.from_numpy(y[train].astype(np.float32))
    model.fit_scaling(X_t, y_t)
    y_std = (y_t - model.target_mean) / model.target_scale
    monitors = {}
    if len(held):
        monitors["holdout_rmse_meV"] = lambda: _rmse_meV(y[held], predict_mlp(model, X[held]))
    history = fit_regression(
        model, len(train), lambda idx: (X_t[idx], y_std[idx]),
        optimizer=lambda params: torch.optim.Adam(params, lr=config.lr),
        settings=_settings(config), scale=float(model.target_scale), name="MLP",
        run_dir=folder, identity=identity, monitors=monitors, progress=progress,
    )  # fmt: skip
    model = model.cpu().eval()
    _save(folder, identity, config.epochs, model, history)
    return model, history


def _rmse_meV(y: np.ndarray, pred: np.ndarray) -> float:
    return float(regression_metrics(y, pred)["rmse_meV"])


@torch.no_grad()
def predict_mlp(model: MLP, X: Any) -> np.ndarray:
    """Predictions ``(n,)`` float64 of ``model`` for rows ``X (n, F)``."""
    X = _rows("X", X)
    if X.shape[1] != model.n_inputs:
        raise ValueError(f"X has {X.shape[1]} features, the model {model.n_inputs}")
    was = model.training
    device = next(model.parameters()).device
    out = model.eval()(torch.from_numpy(X).to(device)).double().cpu().numpy()
    model.train(was)
    return out


# --------------------------------------------------------------------------- SchNet


def subsample(n: int, k: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(k, n)`` of ``range(n)`` drawn without replacement (``k = 0``: all).

    Examples
    --------
    >>> subsample(10, 3, seed=0).tolist()
    [5, 6, 9]
    >>> subsample(4, 0).tolist()
    [0, 1, 2, 3]
    """
    n = _validate.nonnegative_int("n", n)
    k = _validate.nonnegative_int("k", k)
    if k == 0 or k >= n:
        return np.arange(n)
    rng = np.random.default_rng(_validate.nonnegative_int("seed", seed))
    return np.sort(rng.choice(n, size=k, replace=False))


def neighbor_graphs(frames: Sequence[Any], cutoff: float, workers: int = 1) -> list[Any]:
    """:func:`~topophys.models.schnet.neighbor_graph` of every frame, in worker processes
    with ``workers ≥ 2`` (:func:`topophys.parallel.pmap`)."""
    frames = list(frames)
    work = functools.partial(neighbor_graph, cutoff=cutoff)
    if workers < 2 or len(frames) < 2:
        return [work(a) for a in frames]
    from ..parallel import pmap

    return pmap(work, frames, workers=workers, desc="neighbour lists", progress=False)


def _graphs(frames: Sequence[Any], cutoff: float) -> list[dict[str, np.ndarray]]:
    frames = list(frames)
    if not frames:
        raise ValueError("frames must hold at least one structure, got none")
    return neighbor_graphs(frames, cutoff)


def fit_schnet(
    frames: Sequence[Any],
    y: Any,
    config: SchNetConfig | None = None,
    *,
    graphs: Any = None,
    run_dir: str | Path | None = None,
    progress: bool | None = False,
) -> tuple[SchNet, dict[str, list[float]]]:
    """Train SchNet on structures and their energies per atom ``y (n,)`` (eV/atom).

    Every frame given is trained on (subsample first with :func:`subsample` and
    ``config.max_train_frames``; :func:`run_baselines` does). ``graphs``: precomputed
    :func:`~topophys.models.schnet.neighbor_graph` of each frame (with ``config.cutoff``).
    ``run_dir`` as for :func:`fit_mlp`.

    Returns
    -------
    model : SchNet
        In eval mode.
    history : dict
        Per epoch: ``epoch``, ``lr``, ``train_loss``, ``train_rmse_meV`` (running),
        ``seconds``; ``holdout_rmse_meV`` with ``config.validation_fraction``.
    """
    from ._loop import fit_regression, holdout_split

    config = SchNetConfig() if config is None else config
    if not isinstance(config, SchNetConfig):
        raise TypeError(f"config must be a SchNetConfig, got {type(config).__name__}")
    graphs = _graphs(frames, config.cutoff) if graphs is None else list(graphs)
    y = _targets(y, len(graphs))
    arrays = [g[k] for g in graphs for k in sorted(g)]
    identity = _identity("SchNet", config, y, *arrays)
    folder = None if run_dir is None else Path(run_dir)
    finished = _finished(folder, identity, config.epochs)
    model = config.build()
    if finished is not None:
        model.load_state_dict(finished[0]["model"])
        return model.eval(), finished[1]
    train, held = holdout_split(len(graphs), config.validation_fraction, config.seed)
    model.set_target_scaling(torch.from_numpy(y[train]))
    scale = float(model.target_scale)
    y_std = torch.from_numpy(((y[train] - float(model.target_mean)) / scale).astype(np.float32))
    g_train = [graphs[k] for k in train]
    monitors = {}
    if len(held):
        g_held = [graphs[k] for k in held]
        monitors["holdout_rmse_meV"] = lambda: _rmse_meV(
            y[held], predict_schnet(model, graphs=g_held)
        )
    history = fit_regression(
        model, len(train), lambda idx: (collate([g_train[k] for k in idx]), y_std[idx]),
        optimizer=lambda params: torch.optim.Adam(params, lr=config.lr),
        settings=_settings(config), scale=scale, name="SchNet", run_dir=folder,
        identity=identity, monitors=monitors, progress=progress,
    )  # fmt: skip
    model = model.cpu().eval()
    _save(folder, identity, config.epochs, model, history)
    return model, history


@torch.no_grad()
def _schnet_apply(
    model: SchNet, frames: Any, graphs: Any, batch_size: int, what: str
) -> np.ndarray:
    graphs = _graphs(frames, model.cutoff) if graphs is None else list(graphs)
    batch_size = _validate.positive_int("batch_size", batch_size)
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(graphs), batch_size):
        batch = {k: v.to(device) for k, v in collate(graphs[i : i + batch_size]).items()}
        if what == "energy":
            out.append(model(batch).double().cpu().numpy())
        else:
            x = model.representation(batch)
            n = int(batch["n_structures"])
            total = torch.zeros(n, x.shape[1], device=device).index_add_(0, batch["batch"], x)
            count = torch.bincount(batch["batch"], minlength=n).unsqueeze(1)
            out.append((total / count).double().cpu().numpy())
    model.train(was)
    return np.concatenate(out)


def predict_schnet(
    model: SchNet, frames: Sequence[Any] | None = None, *, graphs: Any = None, batch_size: int = 4
) -> np.ndarray:
    """Predicted energies per atom ``(n,)`` float64 (eV/atom) of structures (or their graphs)."""
    return _schnet_apply(model, frames, graphs, batch_size, "energy")


def schnet_descriptor(
    model: SchNet, frames: Sequence[Any] | None = None, *, graphs: Any = None, batch_size: int = 4
) -> np.ndarray:
    """The paper's SchNet descriptor: last interaction's features averaged over atoms ``(n, D)``."""
    return _schnet_apply(model, frames, graphs, batch_size, "descriptor")


# --------------------------------------------------------------------------- PH + SOAP


@torch.no_grad()
def cnn_pooled_features(model: PDCNN, X: Any, batch_size: int = 256) -> np.ndarray:
    """Global average pool of the CNN's last convolution (after its ReLU, before pooling).

    Parameters
    ----------
    model : PDCNN
        A trained PD-histogram CNN.
    X : array_like, shape (n, nb, nd)
        Its input images (standardized histograms).
    batch_size : int, default 256
        Images per forward pass.

    Returns
    -------
    numpy.ndarray, shape (n, channels[-1]) float64
    """
    if not isinstance(model, PDCNN):
        raise TypeError(f"model must be a PDCNN, got {type(model).__name__}")
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3 or tuple(X.shape[1:]) != model.image_shape or len(X) == 0:
        raise ValueError(f"X must have shape (n ≥ 1, *{model.image_shape}), got {X.shape}")
    batch_size = _validate.positive_int("batch_size", batch_size)
    trunk = model.features[:-1]  # the last MaxPool2d dropped: the activations of the last conv
    was = model.training
    model.eval()
    out = [
        trunk(torch.tensor(X[i : i + batch_size]).unsqueeze(1)).mean(dim=(2, 3)).double().numpy()
        for i in range(0, len(X), batch_size)
    ]
    model.train(was)
    return np.concatenate(out)


# --------------------------------------------------------------------------- on the mlpot splits


@dataclass
class BaselineResults:
    """What :func:`run_baselines` returns.

    Attributes
    ----------
    metrics : dict
        ``{model: {split: {"train"|"test"|"transfer": {rmse_meV, mae_meV, n}, "fit_s": s}}}``
        for models ``soap_nn``, ``schnet``, ``ph_soap`` (those fitted); SchNet's entries also
        hold ``train_frames`` (its subsample) and ``epochs``.
    timings_s : dict of str to float
        Wall time of SOAP, of each model's fits and of SchNet's neighbour lists.
    parity : dict
        ``{model: {split: {"train"|"test": (y, pred)}}}``: the data of the parity figures
        (:func:`topophys.plot.mlpot.parity_grid`).
    histories : dict
        ``{model: {split: history}}`` of every fit.
    descriptors : dict of str to numpy.ndarray
        On all frames: ``SOAP`` ``(n, F)`` and, with SchNet, ``SchNet`` ``(n, D)`` (the random
        split's model, else the first split's): the descriptor maps' input.
    models : dict
        ``{model: {split: module}}``: the fitted ``MLP`` (``soap_nn``, ``ph_soap``) or
        ``SchNet``, in eval mode.
    train_rows : dict
        ``{model: {split: (indices, rows)}}``: the training frames of each fit (indices into
        ``frames``) and the rows its network read for them (MLP inputs; SchNet's descriptor),
        from which a saved model's training domain is fitted.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    histories: dict[str, Any] = field(default_factory=dict)
    descriptors: dict[str, np.ndarray] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_rows: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def keep(self, model: str, split: str, net: Any, idx: np.ndarray, rows: np.ndarray) -> None:
        """Keep a fitted network and its training frames' indices and rows."""
        self.models.setdefault(model, {})[split] = net
        self.train_rows.setdefault(model, {})[split] = (np.asarray(idx), np.asarray(rows))

    def record(
        self,
        model: str,
        split: str,
        sets: Mapping[str, np.ndarray],
        pred: Mapping[str, np.ndarray],
        history: Mapping[str, Any],
        **extra: Any,
    ) -> None:
        """Score ``pred`` against ``sets`` (both keyed ``train``, ``test``, ``transfer``)."""
        errors = {k: regression_metrics(sets[k], pred[k]) for k in sets if k in pred}
        self.metrics.setdefault(model, {})[split] = {**errors, **extra}
        self.parity.setdefault(model, {})[split] = {
            k: (sets[k], pred[k]) for k in ("train", "test") if k in pred
        }
        self.histories.setdefault(model, {})[split] = dict(history)


def _check_splits(splits: Mapping[str, Any], n: int) -> dict[str, np.ndarray]:
    if not splits:
        raise ValueError("splits must hold at least one test mask")
    masks: dict[str, np.ndarray] = {}
    for name, test in splits.items():
        t = np.asarray(test)
        if t.dtype != bool or t.shape != (n,) or t.all() or not t.any():
            raise ValueError(
                f"splits[{name!r}] must be a bool mask of shape ({n},) with both test and "
                "training frames"
            )
        masks[name] = t
    return masks


def _fit_mlps(
    out: BaselineResults,
    model: str,
    X: np.ndarray | Mapping[str, np.ndarray],
    X_t: Mapping[str, np.ndarray | None],
    y: np.ndarray,
    y_t: np.ndarray | None,
    masks: Mapping[str, np.ndarray],
    config: MLPConfig,
    folder: Path | None,
) -> None:
    """One MLP per split on rows ``X`` (or ``X[split]`` when a mapping)."""
    for split, test in masks.items():
        rows = X[split] if isinstance(X, Mapping) else X
        t1 = time.perf_counter()
        net, history = fit_mlp(
            rows[~test], y[~test], config, None if folder is None else folder / f"{model}_{split}"
        )
        seconds = time.perf_counter() - t1
        pred = {"train": predict_mlp(net, rows[~test]), "test": predict_mlp(net, rows[test])}
        sets = {"train": y[~test], "test": y[test]}
        if X_t.get(split) is not None and y_t is not None:
            pred["transfer"] = predict_mlp(net, X_t[split])
            sets["transfer"] = y_t
        out.record(model, split, sets, pred, history, fit_s=round(seconds, 3))
        out.keep(model, split, net, np.flatnonzero(~test), rows[~test])


def _fit_schnets(
    out: BaselineResults,
    frames: Sequence[Any],
    y: np.ndarray,
    transfer_frames: Sequence[Any],
    y_t: np.ndarray | None,
    masks: Mapping[str, np.ndarray],
    config: SchNetConfig,
    folder: Path | None,
    workers: int,
) -> None:
    """SchNet per split on a subsample of its training frames; its descriptor of every frame."""
    t0 = time.perf_counter()
    graphs = neighbor_graphs(frames, config.cutoff, workers)
    graphs_t = neighbor_graphs(transfer_frames, config.cutoff, workers)
    out.timings_s["schnet_neighbour_lists"] = round(time.perf_counter() - t0, 3)
    for split, test in masks.items():
        train_idx = np.flatnonzero(~test)
        train_idx = train_idx[subsample(len(train_idx), config.max_train_frames, config.seed)]
        t1 = time.perf_counter()
        net, history = fit_schnet(
            [], y[train_idx], config, graphs=[graphs[i] for i in train_idx],
            run_dir=None if folder is None else folder / f"schnet_{split}",
        )  # fmt: skip
        seconds = time.perf_counter() - t1
        pred_all = predict_schnet(net, graphs=graphs)
        pred = {"train": pred_all[train_idx], "test": pred_all[test]}
        sets = {"train": y[train_idx], "test": y[test]}
        if graphs_t and y_t is not None:
            pred["transfer"] = predict_schnet(net, graphs=graphs_t)
            sets["transfer"] = y_t
        out.record(
            "schnet", split, sets, pred, history, fit_s=round(seconds, 3),
            train_frames=len(train_idx), epochs=len(history["epoch"]),
        )  # fmt: skip
        if split == "random" or "SchNet" not in out.descriptors:
            out.descriptors["SchNet"] = schnet_descriptor(net, graphs=graphs)
            rows = out.descriptors["SchNet"][train_idx]
        else:
            rows = schnet_descriptor(net, graphs=[graphs[i] for i in train_idx])
        out.keep("schnet", split, net, train_idx, rows)
    out.timings_s["schnet"] = round(time.perf_counter() - t0, 3)


def run_baselines(
    config: BaselinesConfig,
    frames: Sequence[Any],
    y: Any,
    splits: Mapping[str, np.ndarray],
    run_dir: str | Path | None = None,
    *,
    transfer_frames: Sequence[Any] = (),
    y_transfer: Any = None,
    cnn_models: Mapping[str, PDCNN] | None = None,
    ph_images: Mapping[str, Any] | None = None,
    ph_images_transfer: Mapping[str, Any] | None = None,
    workers: int = 1,
) -> BaselineResults:
    """Fit SOAP + NN, SchNet and PH + SOAP on each split; errors in meV/atom.

    Parameters
    ----------
    config : BaselinesConfig
    frames : sequence of ase.Atoms, length n
        The training-size frames (after striding), in the order of ``y`` and the splits.
    y : array_like, shape (n,)
        Energy per atom, eV.
    splits : mapping of str to bool array (n,)
        True for test frames, e.g. ``{"random": ..., "grouped": ...}`` from
        :func:`~topophys.training.regression.random_split` and
        :func:`~topophys.training.regression.grouped_split` (the ones Ridge and the CNN used).
    run_dir : path, optional
        Caches the SOAP vectors (``soap_train.npz``, ``soap_transfer.npz``) and holds each
        fit's directory (``soap_nn_<split>/``, ``ph_soap_<split>/``, ``schnet_<split>/``), so a
        second call resumes or reloads them.
    transfer_frames, y_transfer
        The larger-size set and its energies per atom (size transfer; optional).
    cnn_models, ph_images, ph_images_transfer : mappings keyed like ``splits``, optional
        The trained PD-histogram CNN of each split and its input images ``(n, nb, nd)`` (and
        ``(n_transfer, nb, nd)``), standardized with that split's statistics. PH + SOAP is fitted
        when ``config.ph_soap`` and these are given.
    workers : int, default 1
        Processes for SchNet's neighbour lists.

    Returns
    -------
    BaselineResults
        Errors, timings, the parity data, histories and the SOAP and SchNet descriptors.
    """
    if not isinstance(config, BaselinesConfig):
        raise TypeError(f"config must be a BaselinesConfig, got {type(config).__name__}")
    frames, transfer_frames = list(frames), list(transfer_frames)
    n = len(frames)
    if n < 2:
        raise ValueError(f"frames must hold at least 2 structures, got {n}")
    y = _targets(y, n)
    masks = _check_splits(splits, n)
    y_t = None
    if transfer_frames:
        if y_transfer is None:
            raise ValueError("y_transfer must be given with transfer_frames")
        y_t = _targets(y_transfer, len(transfer_frames))
    want_ph = config.ph_soap and cnn_models is not None and ph_images is not None
    if want_ph:
        missing = [s for s in masks if s not in cnn_models or s not in ph_images]
        if missing:
            raise ValueError(f"cnn_models and ph_images lack the splits {missing}")
    folder = Path(run_dir) if run_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)

    out = BaselineResults()
    t0 = time.perf_counter()
    soap = cached_soap_descriptor(
        frames, config.soap, folder / "soap_train.npz" if folder else None
    )
    soap_t = None
    if transfer_frames:
        path = folder / "soap_transfer.npz" if folder else None
        soap_t = cached_soap_descriptor(transfer_frames, config.soap, path)
    out.descriptors["SOAP"] = soap
    out.timings_s["soap"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    _fit_mlps(out, "soap_nn", soap, dict.fromkeys(masks, soap_t), y, y_t, masks, config.mlp, folder)
    out.timings_s["soap_nn"] = round(time.perf_counter() - t0, 3)
    if want_ph:
        t0 = time.perf_counter()
        X, X_t = {}, {}
        for split in masks:
            cnn = cnn_models[split]
            X[split] = np.concatenate([cnn_pooled_features(cnn, ph_images[split]), soap], axis=1)
            img_t = (ph_images_transfer or {}).get(split)
            X_t[split] = None
            if soap_t is not None and img_t is not None:
                X_t[split] = np.concatenate([cnn_pooled_features(cnn, img_t), soap_t], axis=1)
        _fit_mlps(out, "ph_soap", X, X_t, y, y_t, masks, config.mlp, folder)
        out.timings_s["ph_soap"] = round(time.perf_counter() - t0, 3)
    if config.schnet is not None:
        _fit_schnets(out, frames, y, transfer_frames, y_t, masks, config.schnet, folder, workers)
    return out
