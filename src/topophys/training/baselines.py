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
pipeline made for Ridge and the CNN; :func:`baseline_table` puts every model beside the papers'
figures for their DFT data (:data:`PAPER_RMSE_MEV`).

All training loops are deterministic on the CPU with one thread: weights from ``seed``, the order
of epoch ``e`` from ``(seed, e)`` alone.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _validate
from ..config import Config
from ..descriptors.soap import SOAPConfig
from ..models.mlp import MLP
from ..models.pdcnn import PDCNN
from ..models.schnet import SchNet, collate, neighbor_graph
from .regression import regression_metrics

__all__ = [
    "PAPER_BASELINES",
    "PAPER_RMSE_MEV",
    "BaselinesConfig",
    "MLPConfig",
    "SchNetConfig",
    "baseline_table",
    "cnn_pooled_features",
    "fit_mlp",
    "fit_schnet",
    "predict_mlp",
    "predict_schnet",
    "run_baselines",
    "schnet_descriptor",
    "subsample",
]

PAPER_RMSE_MEV: dict[str, float] = {
    "ridge": 59.2,
    "cnn": 40.7,
    "cnn_letter": 33.3,
    "soap_nn": 16.4,
    "schnet": 30.5,
}
"""Test RMSE (meV/atom) the papers report on their DFT data (216 atoms, random 80/20 split):
Ridge and CNN of the amorphous-carbon paper, the letter's CNN (33.3), SOAP + NN and SchNet."""


# --------------------------------------------------------------------------- configs


def _check_milestones(milestones: Sequence[int]) -> None:
    for k, m in enumerate(milestones):
        _validate.positive_int(f"milestones[{k}]", m)
    if list(milestones) != sorted(set(milestones)):
        raise ValueError(f"milestones must be strictly increasing, got {tuple(milestones)}")


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
    """

    hidden: tuple[int, ...] = (40, 40)
    epochs: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    milestones: tuple[int, ...] = (200, 500, 1000)
    gamma: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        for k, h in enumerate(self.hidden):
            _validate.positive_int(f"hidden[{k}]", h)
        _validate.positive_int("epochs", self.epochs)
        _validate.positive_int("batch_size", self.batch_size)
        _validate.positive("lr", self.lr)
        _check_milestones(self.milestones)
        _validate.positive("gamma", self.gamma)
        _validate.nonnegative_int("seed", self.seed)


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
        _check_milestones(self.milestones)
        _validate.positive("lr_gamma", self.lr_gamma)
        _validate.nonnegative_int("seed", self.seed)

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


def _train_epochs(
    model: torch.nn.Module,
    n: int,
    predict: Callable[[np.ndarray], torch.Tensor],
    y_std: torch.Tensor,
    scale: float,
    name: str,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    milestones: Sequence[int],
    lr_factor: float,
    seed: int,
) -> dict[str, list[float]]:
    """Adam on the mean squared error of standardized targets, lr multiplied by ``lr_factor``
    at ``milestones``; the order of each epoch comes from ``(seed, epoch)`` alone.

    ``predict(idx)`` returns the standardized predictions for the samples ``idx``. Returns per
    epoch ``epoch``, ``lr``, ``train_rmse_meV`` (running, during the epoch) and ``seconds``.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(milestones), gamma=lr_factor
    )
    history: dict[str, list[float]] = {"epoch": [], "lr": [], "train_rmse_meV": [], "seconds": []}
    model.train()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        history["lr"].append(optimizer.param_groups[0]["lr"])
        order = np.random.default_rng([seed, epoch]).permutation(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            loss = torch.mean((predict(idx) - y_std[idx]) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        scheduler.step()
        mse = total / n
        if not math.isfinite(mse):
            raise FloatingPointError(f"{name} training diverged at epoch {epoch + 1}; lower lr")
        history["epoch"].append(epoch + 1)
        history["train_rmse_meV"].append(math.sqrt(mse) * scale * 1000.0)
        history["seconds"].append(time.perf_counter() - t0)
    return history


def fit_mlp(X: Any, y: Any, config: MLPConfig | None = None) -> tuple[MLP, dict[str, list[float]]]:
    """Train the SOAP + NN regressor on rows ``X (n, F)`` and targets ``y (n,)`` (eV/atom).

    Inputs and targets are standardized with the training rows' statistics (buffers of the
    model); the loss is the mean squared error in units of the target's standard deviation.

    Returns
    -------
    model : MLP
        In eval mode.
    history : dict
        Per epoch: ``epoch``, ``lr``, ``train_rmse_meV`` (running, during the epoch), ``seconds``.
    """
    config = MLPConfig() if config is None else config
    if not isinstance(config, MLPConfig):
        raise TypeError(f"config must be an MLPConfig, got {type(config).__name__}")
    X = _rows("X", X)
    y = _targets(y, len(X))
    torch.manual_seed(config.seed)
    model = MLP(X.shape[1], config.hidden)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y.astype(np.float32))
    model.fit_scaling(X_t, y_t)
    scale = float(model.target_scale)
    y_std = (y_t - model.target_mean) / model.target_scale
    history = _train_epochs(
        model,
        len(X),
        lambda idx: model.standardized(X_t[torch.from_numpy(idx)]),
        y_std,
        scale,
        "MLP",
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        milestones=config.milestones,
        lr_factor=config.gamma,
        seed=config.seed,
    )
    return model.eval(), history


@torch.no_grad()
def predict_mlp(model: MLP, X: Any) -> np.ndarray:
    """Predictions ``(n,)`` float64 of ``model`` for rows ``X (n, F)``."""
    X = _rows("X", X)
    if X.shape[1] != model.n_inputs:
        raise ValueError(f"X has {X.shape[1]} features, the model {model.n_inputs}")
    was = model.training
    out = model.eval()(torch.from_numpy(X)).double().numpy()
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


def _graphs(frames: Sequence[Any], cutoff: float) -> list[dict[str, np.ndarray]]:
    frames = list(frames)
    if not frames:
        raise ValueError("frames must hold at least one structure, got none")
    return [neighbor_graph(a, cutoff) for a in frames]


def fit_schnet(
    frames: Sequence[Any], y: Any, config: SchNetConfig | None = None, *, graphs: Any = None
) -> tuple[SchNet, dict[str, list[float]]]:
    """Train SchNet on structures and their energies per atom ``y (n,)`` (eV/atom).

    Every frame given is trained on (subsample first with :func:`subsample` and
    ``config.max_train_frames``; :func:`run_baselines` does). ``graphs``: precomputed
    :func:`~topophys.models.schnet.neighbor_graph` of each frame (with ``config.cutoff``).

    Returns
    -------
    model : SchNet
        In eval mode.
    history : dict
        Per epoch: ``epoch``, ``lr``, ``train_rmse_meV`` (running), ``seconds``.
    """
    config = SchNetConfig() if config is None else config
    if not isinstance(config, SchNetConfig):
        raise TypeError(f"config must be a SchNetConfig, got {type(config).__name__}")
    graphs = _graphs(frames, config.cutoff) if graphs is None else list(graphs)
    y = _targets(y, len(graphs))
    model = config.build()
    model.set_target_scaling(torch.from_numpy(y))
    scale = float(model.target_scale)
    y_std = torch.from_numpy(((y - float(model.target_mean)) / scale).astype(np.float32))
    history = _train_epochs(
        model,
        len(graphs),
        lambda idx: model.standardized(collate([graphs[k] for k in idx])),
        y_std,
        scale,
        "SchNet",
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        milestones=config.milestones,
        lr_factor=config.lr_gamma,
        seed=config.seed,
    )
    return model.eval(), history


@torch.no_grad()
def _schnet_apply(
    model: SchNet, frames: Any, graphs: Any, batch_size: int, what: str
) -> np.ndarray:
    graphs = _graphs(frames, model.cutoff) if graphs is None else list(graphs)
    batch_size = _validate.positive_int("batch_size", batch_size)
    was = model.training
    model.eval()
    out = []
    for i in range(0, len(graphs), batch_size):
        batch = collate(graphs[i : i + batch_size])
        if what == "energy":
            out.append(model(batch).double().numpy())
        else:
            x = model.representation(batch)
            n = int(batch["n_structures"])
            total = torch.zeros(n, x.shape[1]).index_add_(0, batch["batch"], x)
            count = torch.bincount(batch["batch"], minlength=n).unsqueeze(1)
            out.append((total / count).double().numpy())
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


def _fingerprint(frames: Sequence[Any], config: Config) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(config.to_dict()).encode())
    for a in frames:
        h.update(np.ascontiguousarray(a.positions, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(a.cell.array, dtype=np.float64).tobytes())
    return h.hexdigest()


def _cached_soap(frames: Sequence[Any], config: SOAPConfig, path: Path | None) -> np.ndarray:
    from ..descriptors.soap import soap_descriptor

    key = _fingerprint(frames, config)
    if path is not None and path.exists():
        with np.load(path) as stored:
            if str(stored["key"]) == key:
                return stored["soap"]
    X = soap_descriptor(frames, config)
    if path is not None:
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, soap=X, key=np.array(key))
        tmp.replace(path)
    return X


def _errors(
    y: np.ndarray, pred: dict[str, np.ndarray], sets: dict[str, np.ndarray]
) -> dict[str, Any]:
    return {k: regression_metrics(y_k, pred[k]) for k, y_k in sets.items() if k in pred}


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
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit SOAP + NN, SchNet and PH + SOAP on each split; errors in meV/atom; parity figures.

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
        Caches the SOAP vectors (``soap_train.npz``, ``soap_transfer.npz``).
    transfer_frames, y_transfer
        The larger-size set and its energies per atom (size transfer; optional).
    cnn_models, ph_images, ph_images_transfer : mappings keyed like ``splits``, optional
        The trained PD-histogram CNN of each split and its input images ``(n, nb, nd)`` (and
        ``(n_transfer, nb, nd)``), standardized with that split's statistics. PH + SOAP is fitted
        when ``config.ph_soap`` and these are given.

    Returns
    -------
    metrics : dict
        ``{model: {split: {"train"|"test"|"transfer": {rmse_meV, mae_meV, n}, "fit_s": s}}}``
        for models ``soap_nn``, ``schnet``, ``ph_soap``, plus ``timings_s`` and, for SchNet,
        ``train_frames`` (the subsample size).
    figures : dict of str to matplotlib.figure.Figure
        ``baselines_parity``: a parity panel per model and split (train and test).
    """
    if not isinstance(config, BaselinesConfig):
        raise TypeError(f"config must be a BaselinesConfig, got {type(config).__name__}")
    frames = list(frames)
    n = len(frames)
    if n < 2:
        raise ValueError(f"frames must hold at least 2 structures, got {n}")
    y = _targets(y, n)
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
    transfer_frames = list(transfer_frames)
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
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    soap = _cached_soap(frames, config.soap, folder / "soap_train.npz" if folder else None)
    soap_t = None
    if transfer_frames:
        soap_t = _cached_soap(
            transfer_frames, config.soap, folder / "soap_transfer.npz" if folder else None
        )
    timings["soap"] = round(time.perf_counter() - t0, 3)

    metrics: dict[str, Any] = {"soap_nn": {}, "schnet": {}, "ph_soap": {}}
    parity: dict[str, dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]] = {}

    def record(model: str, split: str, test: np.ndarray, pred: dict[str, np.ndarray], s: float):
        sets = {"train": y[~test], "test": y[test]}
        if y_t is not None:
            sets["transfer"] = y_t
        metrics[model][split] = {**_errors(y, pred, sets), "fit_s": round(s, 3)}
        parity.setdefault(model, {})[split] = {
            k: (sets[k], pred[k]) for k in ("train", "test") if k in pred
        }

    def mlp_job(model: str, X: np.ndarray, X_t: np.ndarray | None, split: str, test: np.ndarray):
        t1 = time.perf_counter()
        net, _ = fit_mlp(X[~test], y[~test], config.mlp)
        s = time.perf_counter() - t1
        pred = {"train": predict_mlp(net, X[~test]), "test": predict_mlp(net, X[test])}
        if X_t is not None:
            pred["transfer"] = predict_mlp(net, X_t)
        record(model, split, test, pred, s)

    t0 = time.perf_counter()
    for split, test in masks.items():
        mlp_job("soap_nn", soap, soap_t, split, test)
    timings["soap_nn"] = round(time.perf_counter() - t0, 3)

    if want_ph:
        t0 = time.perf_counter()
        for split, test in masks.items():
            cnn = cnn_models[split]
            ph = cnn_pooled_features(cnn, ph_images[split])
            X = np.concatenate([ph, soap], axis=1)
            X_t = None
            img_t = (ph_images_transfer or {}).get(split)
            if soap_t is not None and img_t is not None:
                X_t = np.concatenate([cnn_pooled_features(cnn, img_t), soap_t], axis=1)
            mlp_job("ph_soap", X, X_t, split, test)
        timings["ph_soap"] = round(time.perf_counter() - t0, 3)
    else:
        del metrics["ph_soap"]

    if config.schnet is not None:
        sc = config.schnet
        t0 = time.perf_counter()
        cache: dict[tuple[str, int], dict[str, np.ndarray]] = {}

        def graphs_of(kind: str, src: Sequence[Any], idx: np.ndarray) -> list[Any]:
            for k in idx:
                if (kind, int(k)) not in cache:
                    cache[(kind, int(k))] = neighbor_graph(src[int(k)], sc.cutoff)
            return [cache[(kind, int(k))] for k in idx]

        for split, test in masks.items():
            train_idx = np.flatnonzero(~test)
            train_idx = train_idx[subsample(len(train_idx), sc.max_train_frames, sc.seed)]
            test_idx = np.flatnonzero(test)
            t1 = time.perf_counter()
            g_train = graphs_of("train", frames, train_idx)
            net, history = fit_schnet([], y[train_idx], sc, graphs=g_train)
            s = time.perf_counter() - t1
            pred = {
                "train": predict_schnet(net, graphs=g_train),
                "test": predict_schnet(net, graphs=graphs_of("train", frames, test_idx)),
            }
            if y_t is not None:
                pred["transfer"] = predict_schnet(
                    net, graphs=graphs_of("transfer", transfer_frames, np.arange(len(y_t)))
                )
            sets = {"train": y[train_idx], "test": y[test_idx]}
            if y_t is not None:
                sets["transfer"] = y_t
            metrics["schnet"][split] = {
                **_errors(y, pred, sets),
                "fit_s": round(s, 3),
                "train_frames": len(train_idx),
                "epochs": len(history["epoch"]),
            }
            parity.setdefault("schnet", {})[split] = {
                k: (sets[k], pred[k]) for k in ("train", "test")
            }
        timings["schnet"] = round(time.perf_counter() - t0, 3)
    else:
        del metrics["schnet"]
    metrics["timings_s"] = timings
    return metrics, {"baselines_parity": _parity_figure(parity)}


def _parity_figure(parity: dict[str, dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]]) -> Any:
    import matplotlib.pyplot as plt

    from ..plot.mlpot import parity_plot

    models = list(parity)
    splits = sorted({s for m in parity.values() for s in m}, reverse=True)  # random, grouped
    fig, axes = plt.subplots(
        len(splits), len(models), figsize=(4.2 * len(models), 4.0 * len(splits)), squeeze=False
    )
    for c, model in enumerate(models):
        for r, split in enumerate(splits):
            ax = axes[r, c]
            if split in parity[model]:
                parity_plot(parity[model][split], ax, title=f"{_LABELS[model]} ({split} split)")
            else:
                ax.set_axis_off()
    fig.tight_layout()
    return fig


_LABELS = {
    "ridge": "PH + Ridge",
    "cnn": "PH + CNN",
    "soap_nn": "SOAP + NN",
    "schnet": "SchNet",
    "ph_soap": "PH + SOAP (NN)",
    "mean_baseline": "mean of training set",
}


def baseline_table(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per model: RMSE (meV/atom) on test, grouped test and transfer, beside the papers'.

    Parameters
    ----------
    metrics : mapping
        ``{model: {split: {"test"|"transfer": {"rmse_meV": ...}}}}`` for any of ``ridge``,
        ``cnn`` (the ``mlpot`` pipeline's ``metrics.json`` layout), ``soap_nn``, ``schnet``,
        ``ph_soap`` (:func:`run_baselines`); splits ``random`` and ``grouped``.

    Returns
    -------
    list of dict
        ``model`` (key), ``label``, ``test_rmse`` (random split), ``grouped_test_rmse``,
        ``transfer_rmse`` (random split's model on the larger size), ``grouped_transfer_rmse``
        and ``paper_rmse`` (their DFT data; ``None`` where the papers have none; the CNN shows
        ``"40.7 / 33.3"``); missing entries are ``None``. The data differ from the papers'.

    Examples
    --------
    >>> m = {"ridge": {"random": {"test": {"rmse_meV": 50.0}}}}
    >>> row = baseline_table(m)[0]
    >>> row["label"], row["test_rmse"], row["grouped_test_rmse"], row["paper_rmse"]
    ('PH + Ridge', 50.0, None, '59.2')
    """
    rows = []
    for model in ("ridge", "cnn", "soap_nn", "schnet", "ph_soap"):
        if model not in metrics:
            continue
        m = metrics[model]

        def get(split: str, part: str, m: Mapping[str, Any] = m) -> float | None:
            v = m.get(split, {}).get(part, {}).get("rmse_meV")
            return None if v is None else float(v)

        paper: str | None = None
        if model == "cnn":
            paper = f"{PAPER_RMSE_MEV['cnn']} / {PAPER_RMSE_MEV['cnn_letter']}"
        elif model in PAPER_RMSE_MEV:
            paper = f"{PAPER_RMSE_MEV[model]}"
        rows.append(
            {
                "model": model,
                "label": _LABELS[model],
                "test_rmse": get("random", "test"),
                "grouped_test_rmse": get("grouped", "test"),
                "transfer_rmse": get("random", "transfer"),
                "grouped_transfer_rmse": get("grouped", "transfer"),
                "paper_rmse": paper,
            }
        )
    return rows
