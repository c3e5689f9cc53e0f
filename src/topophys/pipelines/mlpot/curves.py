"""Learning curves of the ``mlpot`` pipeline: test RMSE against training-set size, every model.

The papers compare models at one training-set size (13 464 frames). Whether the PD-CNN beats
Ridge depends on how much data it gets, so :func:`fit_curves` fits every model of
:class:`~topophys.pipelines.mlpot.config.LearningCurvesConfig` on nested subsamples of each
split's training frames and scores it on the split's whole test set and on the larger-size
frames. Each point is one job (:class:`CurvePoint`), run in worker processes (two at most with
``workers=2``), cheapest first: Ridge, SOAP + NN, then the CNN by growing size with PH + SOAP
right after each CNN (it reads that CNN's pooled features), then SchNet. A finished point is
``run_dir/curves/<split>/n<frames>/<model>/``: ``scores.json`` and the saved model directory
``model/`` (:mod:`topophys.potentials`); its training checkpoints are in ``fit/``, so a killed
run resumes inside the point it was fitting. ``curves/progress.json`` lists the finished points.
:func:`curves_section` turns the finished points into the report's section.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...config import atomic_write_text
from ...evaluate.regression import MODEL_LABELS, PAPER_RMSE_MEV, regression_metrics
from .config import LearningCurvesConfig, MLPotConfig
from .section import Section

__all__ = ["CurvePoint", "crossover", "curve_points", "curves_section", "fit_curves"]

_RANK = {"ridge": 0, "soap_nn": 1, "cnn": 2, "schnet": 3}


def _subsets(config: LearningCurvesConfig, test: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(frames, indices)`` of each distinct size, nested, for the split with test mask
    ``test``; the last is every training frame."""
    train = np.flatnonzero(~test)
    order = train[np.random.default_rng(config.seed).permutation(len(train))]
    counts = sorted({len(train) if n == 0 else min(n, len(train)) for n in config.sizes})
    return [(n, np.sort(order[:n])) for n in counts]


@dataclass(frozen=True)
class CurvePoint:
    """One point of a learning curve: a model fitted on some training frames of a split.

    Everything a worker process needs, by value or by path; calling it fits (or resumes, or
    loads) the point and returns its scores.
    """

    model: str
    split: str
    train: np.ndarray
    full: bool
    folder: Path
    run_dir: Path
    y: np.ndarray
    test: np.ndarray
    y_transfer: np.ndarray | None
    config: MLPotConfig
    common: dict[str, Any]
    frames: Sequence[Any] = ()
    transfer_frames: Sequence[Any] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scores_path(self) -> Path:
        return self.folder / self.model / "scores.json"

    def done(self) -> dict[str, Any] | None:
        """The scores of a finished point, or None."""
        path = self.scores_path
        return json.loads(path.read_text()) if path.exists() else None

    def __call__(self, _: Any = None) -> dict[str, Any]:
        import torch

        found = self.done()
        if found is not None:
            return found
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one core per point; bit-for-bit reproducible
        try:
            t0 = time.perf_counter()
            scores = _FIT[self.model](self)
            scores |= {
                "model": self.model,
                "split": self.split,
                "train_frames": len(self.train),
                "fit_s": round(time.perf_counter() - t0, 3),
            }
        finally:
            torch.set_num_threads(threads)
        atomic_write_text(self.scores_path, json.dumps(scores, indent=1) + "\n")
        return scores

    # ---- shared pieces
    def sets(self) -> dict[str, np.ndarray]:
        out = {"train": self.y[self.train], "test": self.y[self.test]}
        if self.y_transfer is not None:
            out["transfer"] = self.y_transfer
        return out

    def ph_rows(self) -> tuple[Any, dict[str, np.ndarray]]:
        """The PH descriptor standardized on this point's frames, and its rows per set."""
        from ...potentials import PHFeatures

        folder = self.run_dir / "descriptors"
        if self.full:  # the pipeline's own standardization and images (the same numbers)
            features = self.extra["ph_features"]
            images = np.load(folder / f"{self.split}.npy", mmap_mode="r")
            n = len(images)
            rows = {"all": np.asarray(images).reshape(n, -1)}
            if self.y_transfer is not None:
                t = np.load(folder / f"{self.split}_transfer.npy", mmap_mode="r")
                rows["transfer"] = np.asarray(t).reshape(len(t), -1)
        else:
            raw = np.load(folder / "probabilities.npy", mmap_mode="r")
            flat = np.asarray(raw[self.train]).reshape(len(self.train), -1)
            hist = self.config.descriptor.histogram()
            offset, scale = _standardization(flat, hist.standardize)
            features = PHFeatures(self.config.descriptor, offset, scale)
            rows = {"all": _standardize(raw, offset, scale)}
            if self.y_transfer is not None:
                t = np.load(folder / "probabilities_transfer.npy", mmap_mode="r")
                rows["transfer"] = _standardize(t, offset, scale)
        return features, {
            "train": rows["all"][self.train],
            "test": rows["all"][self.test],
            **({"transfer": rows["transfer"]} if "transfer" in rows else {}),
        }

    def soap_rows(self) -> dict[str, np.ndarray]:
        with np.load(self.extra["soap"]) as f:
            soap = f["soap"]
        rows = {"train": soap[self.train], "test": soap[self.test]}
        if self.y_transfer is not None:
            with np.load(self.extra["soap_transfer"]) as f:
                rows["transfer"] = f["soap"]
        return rows

    def finish(self, build: Any, rows: Mapping[str, np.ndarray], domain_rows: Any) -> dict:
        """Save the model (domain from ``domain_rows``) and score it on every set."""
        from ...potentials import TrainingDomain

        model = build(**self.common, domain=TrainingDomain.fit(domain_rows))
        model.save(self.folder / self.model / "model")
        sets = self.sets()
        return {
            part: regression_metrics(sets[part], model.predict_descriptors(rows[part]))
            for part in sets
        }


def _standardization(flat: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """The offset and scale :class:`~topophys.vectorize.PersistenceHistogram` fits."""
    low, high = flat.min(axis=0), flat.max(axis=0)
    constant = high == low
    if how == "zscore":
        offset, scale = flat.mean(axis=0), flat.std(axis=0)
    elif how == "minmax":
        offset, scale = low, high - low
    else:
        return np.zeros(flat.shape[1]), np.ones(flat.shape[1])
    return np.where(constant, low, offset), np.where(constant, 1.0, scale)


def _standardize(raw: Any, offset: np.ndarray, scale: np.ndarray) -> np.ndarray:
    out = np.empty((len(raw), len(offset)), dtype=np.float32)
    for i in range(0, len(raw), 512):
        block = np.array(raw[i : i + 512], dtype=np.float64).reshape(-1, len(offset))
        block -= offset
        block /= scale
        out[i : i + 512] = block
    return out


def _fit_ridge(p: CurvePoint) -> dict[str, Any]:
    from ...potentials import PHRidgeModel
    from ...training.regression import fit_ridge

    features, rows = p.ph_rows()
    ridge = fit_ridge(rows["train"], p.y[p.train], alpha=p.config.ridge_alpha)
    build = _partial(PHRidgeModel, features, ridge.coef_, float(ridge.intercept_))
    return p.finish(build, rows, rows["train"])


def _fit_soap_nn(p: CurvePoint) -> dict[str, Any]:
    from ...potentials import SOAPNNModel
    from ...training.baselines import fit_mlp

    rows = p.soap_rows()
    cfg = p.config.learning_curves
    net, history = fit_mlp(rows["train"], p.y[p.train], cfg.mlp, p.folder / "soap_nn" / "fit")
    scores = p.finish(_partial(SOAPNNModel, cfg.soap, net), rows, rows["train"])
    return scores | {"epochs": len(history["epoch"])}


def _fit_cnn(p: CurvePoint) -> dict[str, Any]:
    """The CNN on this point's frames, then PH + SOAP on its pooled features (when asked)."""
    from ...potentials import PHCNNModel
    from ...training.regression import fit_cnn

    features, rows = p.ph_rows()
    bins = p.config.descriptor.bins
    images = rows["train"].reshape(-1, bins, bins)
    if p.full:  # exactly the pipeline's own fit (same folder, data and monitor)
        net, history = fit_cnn(
            images, p.y[p.train], p.config.cnn, p.run_dir / f"cnn_{p.split}",
            X_val=rows["test"].reshape(-1, bins, bins), y_val=p.y[p.test],
        )  # fmt: skip
    else:
        net, history = fit_cnn(images, p.y[p.train], p.config.cnn, p.folder / "cnn" / "fit")
    scores = p.finish(_partial(PHCNNModel, features, net), rows, rows["train"])
    scores |= {"epochs": len(history["epoch"])}
    if "ph_soap" in p.config.learning_curves.models:
        _fit_ph_soap(p, features, net)
    return scores


def _fit_ph_soap(p: CurvePoint, features: Any, cnn: Any) -> None:
    from ...potentials import PHSOAPModel
    from ...training.baselines import cnn_pooled_features, fit_mlp

    point = CurvePoint(**{**p.__dict__, "model": "ph_soap"})
    if point.done() is not None:
        return
    t0 = time.perf_counter()
    cfg = p.config.learning_curves
    bins = p.config.descriptor.bins
    _, ph = p.ph_rows()
    soap = p.soap_rows()
    # The descriptor row of PH + SOAP: the standardized histogram, then averaged SOAP.
    rows = {k: np.concatenate([ph[k], soap[k].astype(np.float32)], axis=1) for k in ph}
    pooled = cnn_pooled_features(cnn, ph["train"].reshape(-1, bins, bins))
    inputs = np.concatenate([pooled, soap["train"]], axis=1)
    net, history = fit_mlp(inputs, p.y[p.train], cfg.mlp, point.folder / "ph_soap" / "fit")
    scores = point.finish(_partial(PHSOAPModel, features, cnn, cfg.soap, net), rows, inputs)
    scores |= {"model": "ph_soap", "split": p.split, "train_frames": len(p.train)}
    scores |= {"epochs": len(history["epoch"]), "fit_s": round(time.perf_counter() - t0, 3)}
    atomic_write_text(point.scores_path, json.dumps(scores, indent=1) + "\n")


def _fit_schnet(p: CurvePoint) -> dict[str, Any]:
    from ...potentials import SchNetModel, TrainingDomain
    from ...training.baselines import fit_schnet, neighbor_graphs, schnet_descriptor

    cfg = p.config.learning_curves.schnet
    graphs = neighbor_graphs([p.frames[i] for i in p.train], cfg.cutoff)
    net, history = fit_schnet(
        [], p.y[p.train], cfg, graphs=graphs, run_dir=p.folder / "schnet" / "fit"
    )
    domain = TrainingDomain.fit(schnet_descriptor(net, graphs=graphs))
    del graphs
    model = SchNetModel(net, **p.common, domain=domain)
    model.save(p.folder / "schnet" / "model")
    sets = p.sets()
    parts = {
        "train": [p.frames[i] for i in p.train],
        "test": [p.frames[i] for i in np.flatnonzero(p.test)],
    }
    if p.y_transfer is not None:
        parts["transfer"] = list(p.transfer_frames)
    scores = {}
    for part, frames in parts.items():
        # In blocks: a neighbour graph of 216 atoms at 5 Å holds ~20 000 pairs.
        pred = np.concatenate(
            [model.evaluate(frames[i : i + 64]).energy for i in range(0, len(frames), 64)]
        )
        scores[part] = regression_metrics(sets[part], pred)
    return scores | {"epochs": len(history["epoch"])}


_FIT = {"ridge": _fit_ridge, "soap_nn": _fit_soap_nn, "cnn": _fit_cnn, "schnet": _fit_schnet}


def _partial(cls: Any, *args: Any) -> Any:
    import functools

    return functools.partial(cls, *args)


def curve_points(
    config: MLPotConfig,
    core: Any,
    run_dir: Path,
    *,
    soap: Mapping[str, Path] | None = None,
) -> list[CurvePoint]:
    """Every point of the curves, cheapest first (PH + SOAP is fitted inside its CNN's point)."""
    from .core import saved_model_kwargs

    cfg = config.learning_curves
    assert cfg is not None
    points = []
    for split, test in core.splits.items():
        subsets = _subsets(cfg, test)
        for model in cfg.models:
            if model == "ph_soap":
                continue
            for count, idx in subsets:
                common = saved_model_kwargs(config, core, idx, split, None)
                common.pop("domain")
                full = count == subsets[-1][0]
                points.append(
                    CurvePoint(
                        model, split, idx, full, run_dir / "curves" / split / f"n{count}",
                        run_dir, core.y, test, core.y_transfer, config, common,
                        core.frames.train if model == "schnet" else (),
                        core.frames.transfer if model == "schnet" else (),
                        {"ph_features": core.ph_features[split], **(soap or {})},
                    )
                )  # fmt: skip
    points.sort(key=lambda p: (_RANK[p.model], len(p.train), p.split))
    return points


def fit_curves(
    config: MLPotConfig,
    core: Any,
    run_dir: Path,
    *,
    workers: int = 1,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Fit (or load) every point; returns their scores, and keeps ``curves/progress.json``."""
    from ...descriptors.soap import cached_soap_descriptor
    from ...parallel import as_completed

    cfg = config.learning_curves
    if cfg is None:
        return []
    folder = run_dir / "curves"
    folder.mkdir(exist_ok=True)
    soap: dict[str, Path] = {}
    if {"soap_nn", "ph_soap"} & set(cfg.models):
        soap["soap"] = folder / "soap_train.npz"
        cached_soap_descriptor(core.frames.train, cfg.soap, soap["soap"])
        if core.frames.transfer:
            soap["soap_transfer"] = folder / "soap_transfer.npz"
            cached_soap_descriptor(core.frames.transfer, cfg.soap, soap["soap_transfer"])
    points = curve_points(config, core, run_dir, soap=soap)
    todo = [p for p in points if p.done() is None]
    for k, _ in as_completed(
        _call, todo, workers=workers, chunksize=1, desc="learning-curve points", progress=progress
    ):
        _write_progress(folder, points, todo[k])
    _write_progress(folder, points, None)
    return [s for p in points for s in _with_ph_soap(p)]


def _call(point: CurvePoint) -> dict[str, Any]:
    return point()


def _with_ph_soap(point: CurvePoint) -> list[dict[str, Any]]:
    out = [point.done()]
    if point.model == "cnn":
        twin = CurvePoint(**{**point.__dict__, "model": "ph_soap"})
        if twin.done() is not None:
            out.append(twin.done())
    return [s for s in out if s is not None]


def _write_progress(folder: Path, points: Sequence[CurvePoint], last: CurvePoint | None) -> None:
    finished = [s for p in points for s in _with_ph_soap(p)]
    record = {
        "points": len(points),
        "finished": len(finished),
        "last": None if last is None else f"{last.model} {last.split} n{len(last.train)}",
        "scores": [
            {
                "model": s["model"],
                "split": s["split"],
                "train_frames": s["train_frames"],
                "test_rmse_meV": s["test"]["rmse_meV"],
                "transfer_rmse_meV": s.get("transfer", {}).get("rmse_meV"),
                "fit_s": s["fit_s"],
            }
            for s in finished
        ],
    }
    atomic_write_text(folder / "progress.json", json.dumps(record, indent=1) + "\n")


def crossover(scores: Sequence[Mapping[str, Any]], split: str) -> int | None:
    """The smallest training size from which the CNN's test RMSE stays below Ridge's on
    ``split`` (at every larger size both have), or None."""
    rmse: dict[str, dict[int, float]] = {"ridge": {}, "cnn": {}}
    for s in scores:
        if s["split"] == split and s["model"] in rmse:
            rmse[s["model"]][s["train_frames"]] = s["test"]["rmse_meV"]
    sizes = sorted(set(rmse["ridge"]) & set(rmse["cnn"]))
    below = [n for n in sizes if rmse["cnn"][n] < rmse["ridge"][n]]
    for n in below:
        if all(rmse["cnn"][m] < rmse["ridge"][m] for m in sizes if m >= n):
            return n
    return None


def curves_section(
    config: LearningCurvesConfig,
    scores: Sequence[Mapping[str, Any]],
    sizes: tuple[Sequence[int], Sequence[int]],
) -> Section:
    """The report section: the table, the CNN-versus-Ridge crossover, the figure."""
    from ...plot.mlpot import size_curves

    rows = [
        {
            "model": MODEL_LABELS.get(s["model"], s["model"]),
            "split": s["split"],
            "train frames": s["train_frames"],
            "train RMSE": round(s["train"]["rmse_meV"], 1),
            "test RMSE": round(s["test"]["rmse_meV"], 1),
            "test MAE": round(s["test"]["mae_meV"], 1),
            f"RMSE, {'/'.join(map(str, sizes[1]))} atoms": (
                round(s["transfer"]["rmse_meV"], 1) if "transfer" in s else None
            ),
            "epochs": s.get("epochs"),
            "fit s": round(s["fit_s"], 1),
        }
        for s in sorted(scores, key=lambda s: (s["split"], _order(s["model"]), s["train_frames"]))
    ]
    cross = {split: crossover(scores, split) for split in ("random", "grouped")}
    text = [
        f"Every model fitted on nested subsamples of each split's training frames (sizes "
        f"{', '.join(str(n) if n else 'all' for n in config.sizes)}), scored on the split's "
        "whole test set and on every larger-size frame. The descriptor standardization is "
        "fitted on each point's own frames. Papers (DFT labels, 13 464 training frames): Ridge "
        f"{PAPER_RMSE_MEV['ridge']}, CNN {PAPER_RMSE_MEV['cnn']} (letter "
        f"{PAPER_RMSE_MEV['cnn_letter']}, 33.6 on 512 atoms), SOAP + NN "
        f"{PAPER_RMSE_MEV['soap_nn']}, SchNet {PAPER_RMSE_MEV['schnet']} meV/atom.",
        "CNN against Ridge: "
        + "; ".join(
            f"{split} split: "
            + (f"the CNN is below Ridge from {n} training frames on" if n else "never below")
            for split, n in cross.items()
        )
        + ".",
    ]
    metrics = {"points": list(scores), "cnn_overtakes_ridge_at": cross}
    figure = size_curves(scores, MODEL_LABELS)
    return Section(
        "Learning curves: test RMSE against training-set size",
        metrics,
        text,
        [(rows, "Every point (RMSE and MAE in meV/atom).")],
        [("learning_curves", figure, "Test RMSE against training frames, per split.")],
    )


def _order(model: str) -> int:
    return ("ridge", "cnn", "soap_nn", "ph_soap", "schnet").index(model)
