"""The core of the ``mlpot`` pipeline: diagrams, splits, descriptors, Ridge and the CNN.

Each step is a function of the configuration and what the steps before it made; together they
fill one :class:`Core`, which the report sections and the report read. Every product that takes
long is on disk in the run directory and reused when the pipeline resumes: the diagram stores
by chunk, the descriptors, and each CNN from its checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...evaluate.regression import split_errors
from ...training.regression import CNNConfig
from .config import MLPotConfig
from .data import Frames

__all__ = [
    "Core",
    "compute_descriptors",
    "compute_diagrams",
    "fit_cnn_models",
    "fit_ridge_models",
    "make_splits",
    "saved_model_kwargs",
    "training_info",
]


@dataclass
class Core:
    """What the core steps made, for the sections and the report.

    Attributes
    ----------
    frames : Frames
        The frames and their table (energies, runs, densities, ...).
    diagrams, t_diagrams : Diagrams, Diagrams or None
        Alpha diagrams of the training-size and of the transfer frames.
    splits : dict of str to numpy.ndarray of bool, shape (n,)
        Test masks: ``random`` and ``grouped``.
    features, t_features : dict of str to Path
        Per split, the standardized descriptor images ``(n, bins, bins)`` float32 (``.npy``),
        and those of the transfer frames (None without them).
    probabilities : numpy.ndarray, shape (n, bins, bins)
        Each frame's probability histogram before standardization.
    predictions : dict of str to numpy.ndarray
        ``{model}_{split}`` ``(n,)`` and ``{model}_{split}_transfer`` ``(m,)`` (eV/atom) for
        models ``ridge`` and ``cnn``.
    metrics : dict
        ``{model: {split: errors}}`` for ``ridge``, ``cnn`` and ``mean_baseline``.
    ridge_coef : dict of str to numpy.ndarray, shape (bins, bins)
        Ridge coefficients per split (birth along axis 0).
    histories : dict of str to dict
        Per split, the CNN's per-epoch history.
    ph_features : dict of str to PHFeatures
        Per split, the descriptor with the standardization fitted on its training frames.
    models : dict of str to Path
        The saved model directories (:mod:`topophys.potentials`), ``ph_ridge_<split>``,
        ``ph_cnn_<split>``, ... under ``run_dir/models/``.
    """

    frames: Frames
    diagrams: Any
    t_diagrams: Any
    splits: dict[str, np.ndarray]
    features: dict[str, Path]
    t_features: dict[str, Path | None]
    probabilities: np.ndarray
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, Any] = field(
        default_factory=lambda: {"mean_baseline": {}, "ridge": {}, "cnn": {}}
    )
    ridge_coef: dict[str, np.ndarray] = field(default_factory=dict)
    histories: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    ph_features: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Path] = field(default_factory=dict)

    @property
    def y(self) -> np.ndarray:
        """Energy per atom (eV) of the training-size frames, ``(n,)``."""
        return self.frames.table["energy"]

    @property
    def y_transfer(self) -> np.ndarray | None:
        """Energy per atom (eV) of the transfer frames, ``(m,)``, or None."""
        t = self.frames.t_table
        return None if t is None else t["energy"]

    def images(self, split: str) -> np.ndarray:
        """The standardized descriptor images of ``split`` (a read-only memory map)."""
        return np.load(self.features[split], mmap_mode="r")

    def transfer_images(self, split: str) -> np.ndarray | None:
        """Those of the transfer frames, or None."""
        path = self.t_features[split]
        return None if path is None else np.load(path)


def compute_diagrams(
    config: MLPotConfig,
    run_dir: Path,
    frames: Frames,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> tuple[Any, Any]:
    """Periodic alpha diagrams of the frames, in resumable stores ``diagrams_train.zarr`` and
    ``diagrams_transfer.zarr``; returns both (the second None without transfer frames)."""
    from ...data.diagram_store import compute_atoms_diagrams

    persistence = config.descriptor.persistence()
    kw = {"chunk_size": config.chunk_size, "workers": workers, "scheduler": scheduler}
    diagrams = compute_atoms_diagrams(
        frames.train, run_dir / "diagrams_train.zarr", persistence, progress=progress, **kw
    )
    t_diagrams = None
    if frames.transfer:
        t_diagrams = compute_atoms_diagrams(
            frames.transfer, run_dir / "diagrams_transfer.zarr", persistence, progress=progress,
            **kw,
        )  # fmt: skip
    return diagrams, t_diagrams


def make_splits(config: MLPotConfig, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The papers' random split of the frames and a split by run, stratified by density.

    Returns
    -------
    dict
        ``random`` and ``grouped``: bool test masks ``(n,)``.

    Raises
    ------
    ValueError
        If the frames come from fewer than 2 runs (the grouped split needs 2).
    """
    from ...training.regression import grouped_split, random_split

    density = table["density"]
    n_groups = len(np.unique(table["group"]))
    if n_groups < 2:
        raise ValueError(
            f"the training set holds {n_groups} melt-quench run; the grouped split needs at "
            "least 2 (more runs or densities)"
        )
    strata = density if np.isfinite(density).all() else None
    return {
        "random": random_split(len(density), config.test_fraction, config.split_seed),
        "grouped": grouped_split(
            table["group"], config.test_fraction, config.split_seed, strata=strata
        ),
    }


def _save_array(path: Path, array: np.ndarray, dtype: Any = np.float32) -> Path:
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, np.ascontiguousarray(array, dtype=dtype))
    tmp.replace(path)
    return path


def compute_descriptors(
    config: MLPotConfig, run_dir: Path, diagrams: Any, t_diagrams: Any, splits: dict[str, Any]
) -> tuple[dict[str, Path], dict[str, Path | None], np.ndarray, dict[str, Any]]:
    """The descriptor images of every frame, standardized with each split's training frames.

    Writes ``descriptors/<split>.npy`` and ``descriptors/<split>_transfer.npy`` (float32,
    ``(n, bins, bins)``) and the unstandardized probability histograms
    ``descriptors/probabilities[_transfer].npy`` (float64). Returns the paths per split, the
    probability histograms ``(n, bins, bins)`` (a read-only memory map) and each split's
    :class:`~topophys.potentials.PHFeatures` (its fitted standardization).
    """
    from ...potentials import PHFeatures

    n, bins = len(diagrams), config.descriptor.bins
    folder = run_dir / "descriptors"
    folder.mkdir(exist_ok=True)
    features: dict[str, Path] = {}
    t_features: dict[str, Path | None] = {}
    ph: dict[str, Any] = {}
    for name, test in splits.items():
        hist = config.descriptor.histogram().fit(diagrams[~test])
        ph[name] = PHFeatures.from_histogram(config.descriptor, hist)
        features[name] = _save_array(
            folder / f"{name}.npy", hist.transform(diagrams).reshape(n, bins, bins)
        )
        t_features[name] = None
        if t_diagrams is not None:
            t_features[name] = _save_array(
                folder / f"{name}_transfer.npy",
                hist.transform(t_diagrams).reshape(len(t_diagrams), bins, bins),
            )
    raw = config.descriptor.histogram().set_params(standardize="none").fit(diagrams[:1])
    path = _save_array(
        folder / "probabilities.npy", raw.transform(diagrams).reshape(n, bins, bins), np.float64
    )
    if t_diagrams is not None:
        _save_array(
            folder / "probabilities_transfer.npy",
            raw.transform(t_diagrams).reshape(len(t_diagrams), bins, bins),
            np.float64,
        )
    return features, t_features, np.load(path, mmap_mode="r"), ph


def training_info(
    config: MLPotConfig, frames: Frames, train: np.ndarray, split: str
) -> dict[str, Any]:
    """What a saved model records about its training frames (``train``: bool mask or indices)."""
    table = frames.table
    idx = np.flatnonzero(train) if np.asarray(train).dtype == bool else np.asarray(train)
    y = table["energy"][idx]
    potentials = sorted({str(frames.train[i].info.get("potential", "")) for i in idx} - {""})
    return {
        "energy_range": [float(y.min()), float(y.max())],
        "frames": len(idx),
        "n_atoms": sorted({int(s) for s in table["n_atoms"][idx]}),
        "densities": sorted({float(d) for d in table["density"][idx] if np.isfinite(d)}),
        "energy_key": config.energy_key,
        "label_potential": potentials[0] if len(potentials) == 1 else (potentials or None),
        "source": config.data or "generated (topophys.simulate.amorphous)",
        "split": split,
    }


def saved_model_kwargs(
    config: MLPotConfig, core: Core, train: np.ndarray, split: str, rows: Any
) -> dict[str, Any]:
    """The keyword arguments of a saved model trained on frames ``train`` (mask or indices)
    of ``split``: species, training record, periodicity, and the domain of ``rows`` (none
    when ``rows`` is None)."""
    from ...potentials import TrainingDomain

    first = core.frames.train[0]
    return {
        "species": sorted({s for a in core.frames.train for s in set(a.get_chemical_symbols())}),
        "training": training_info(config, core.frames, train, split),
        "pbc": [bool(p) for p in first.pbc],
        "domain": None if rows is None else TrainingDomain.fit(rows),
    }


def fit_ridge_models(config: MLPotConfig, core: Core, run_dir: Path) -> None:
    """Ridge on each split (and the training mean as a baseline), saved as model directories
    ``models/ph_ridge_<split>/``; fills ``core`` in place."""
    from ...potentials import PHRidgeModel
    from ...training.regression import fit_ridge

    y, y_t, n = core.y, core.y_transfer, len(core.y)
    bins = config.descriptor.bins
    for name, test in core.splits.items():
        X = core.images(name).reshape(n, -1)
        t0 = time.perf_counter()
        ridge = fit_ridge(X[~test], y[~test], alpha=config.ridge_alpha)
        seconds = time.perf_counter() - t0
        model = PHRidgeModel(
            core.ph_features[name], ridge.coef_, float(ridge.intercept_),
            **saved_model_kwargs(config, core, ~test, name, X[~test]),
        )  # fmt: skip
        core.models[f"ph_ridge_{name}"] = model.save(run_dir / "models" / f"ph_ridge_{name}")
        pred = model.predict_descriptors(X)
        pred_t = None
        X_t = core.transfer_images(name)
        if X_t is not None and y_t is not None:
            pred_t = model.predict_descriptors(X_t.reshape(len(y_t), -1))
            core.predictions[f"ridge_{name}_transfer"] = pred_t
        core.predictions[f"ridge_{name}"] = pred
        core.ridge_coef[name] = np.asarray(ridge.coef_, dtype=np.float64).reshape(bins, bins)
        core.metrics["ridge"][name] = {
            **split_errors(y, pred, test, y_t, pred_t),
            "intercept_eV": float(ridge.intercept_),
            "fit_s": round(seconds, 3),
        }
        mean = float(y[~test].mean())
        core.metrics["mean_baseline"][name] = split_errors(
            y, np.full(n, mean), test, y_t, None if y_t is None else np.full(len(y_t), mean)
        )


@dataclass(frozen=True)
class _CNNJob:
    """One CNN training in a worker: features read from disk, predictions returned."""

    features: Path
    transfer: Path | None
    y: np.ndarray
    test: np.ndarray
    config: CNNConfig
    out_dir: Path
    progress: bool | None

    def __call__(self, _: Any = None) -> dict[str, Any]:
        import torch

        from ...training.regression import fit_cnn, predict_cnn

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # bit-for-bit reproducible, and one core per training
        try:
            X = np.load(self.features, mmap_mode="r")
            train = ~self.test
            model, history = fit_cnn(
                X[train], self.y[train], self.config, self.out_dir,
                X_val=X[self.test], y_val=self.y[self.test], progress=self.progress,
            )  # fmt: skip
            out = {"history": history, "pred": predict_cnn(model, X)}
            if self.transfer is not None:
                out["pred_transfer"] = predict_cnn(model, np.load(self.transfer, mmap_mode="r"))
            return out
        finally:
            torch.set_num_threads(threads)


def _call(job: _CNNJob) -> dict[str, Any]:
    return job()


def fit_cnn_models(
    config: MLPotConfig,
    core: Core,
    run_dir: Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> None:
    """The CNN on each split (``cnn_<split>/``, resumable; in parallel with ``workers ≥ 2``);
    fills ``core`` in place."""
    from ...parallel import pmap

    jobs = [
        _CNNJob(
            core.features[name],
            core.t_features[name],
            core.y,
            test,
            config.cnn,
            run_dir / f"cnn_{name}",
            progress if workers < 2 else False,
        )
        for name, test in core.splits.items()
    ]
    if workers >= 2 and scheduler is None:
        results = pmap(_call, jobs, workers=workers, desc="CNN trainings", progress=progress)
    else:
        results = [job() for job in jobs]
    from ...potentials import PHCNNModel
    from ...training.regression import load_cnn

    n = len(core.y)
    for (name, test), result in zip(core.splits.items(), results, strict=True):
        X = core.images(name).reshape(n, -1)
        model = PHCNNModel(
            core.ph_features[name], load_cnn(run_dir / f"cnn_{name}" / "model.pt"),
            **saved_model_kwargs(config, core, ~test, name, X[~test]),
        )  # fmt: skip
        core.models[f"ph_cnn_{name}"] = model.save(run_dir / "models" / f"ph_cnn_{name}")
        core.predictions[f"cnn_{name}"] = result["pred"]
        if "pred_transfer" in result:
            core.predictions[f"cnn_{name}_transfer"] = result["pred_transfer"]
        core.histories[name] = result["history"]
        core.metrics["cnn"][name] = {
            **split_errors(
                core.y, result["pred"], test, core.y_transfer, result.get("pred_transfer")
            ),
            "epochs": len(result["history"]["epoch"]),
            "train_s": round(float(sum(result["history"]["seconds"])), 3),
        }
