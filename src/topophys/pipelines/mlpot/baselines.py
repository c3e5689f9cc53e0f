"""The baselines section of the ``mlpot`` report: SOAP + NN, SchNet and PH + SOAP (paper, Fig. 3).

Fitted on a seeded subsample of the pipeline's frames, each frame on the side of both splits
that Ridge and the CNN put it, and scored beside Ridge and the CNN on exactly those frames
(:func:`baselines_section`). The models and their training are
:mod:`topophys.training.baselines`; the tables :mod:`topophys.evaluate.regression`; the figures
:mod:`topophys.plot.mlpot`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...evaluate.regression import (
    MODEL_LABELS,
    PAPER_RMSE_MEV,
    baseline_table,
    regression_metrics,
    size_transfer_table,
)
from .config import BaselinesSectionConfig
from .section import Section

__all__ = ["baselines_section"]

_SPLIT_NAMES = {"random": "random 80/20 split", "grouped": "split by run"}


@dataclass
class _Subsample:
    """The baselines' frames: indices into the pipeline's frames and their data."""

    idx: np.ndarray
    frames: list[Any]
    y: np.ndarray
    masks: dict[str, np.ndarray]
    t_idx: np.ndarray
    t_frames: list[Any]
    y_t: np.ndarray | None
    n_all: int
    n_all_transfer: int

    @classmethod
    def draw(
        cls,
        config: BaselinesSectionConfig,
        frames: Sequence[Any],
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        transfer_frames: Sequence[Any],
        y_transfer: Any,
    ) -> _Subsample:
        from ...training.baselines import subsample

        sub = subsample(len(frames), config.max_frames, config.seed)
        masks = {name: np.asarray(test, dtype=bool)[sub] for name, test in splits.items()}
        for name, test in masks.items():
            if test.all() or not test.any():
                raise ValueError(
                    f"baselines.max_frames={config.max_frames} leaves the {name} split without "
                    "training or test frames; use more frames (or 0 for all)"
                )
        transfer_frames = list(transfer_frames)
        t_idx = np.arange(0)
        y_t = None
        if transfer_frames:
            t_idx = subsample(len(transfer_frames), config.max_transfer_frames, config.seed)
            y_t = np.asarray(y_transfer, dtype=np.float64)[t_idx]
        return cls(
            sub, [frames[i] for i in sub], y[sub], masks, t_idx,
            [transfer_frames[i] for i in t_idx], y_t, len(frames), len(transfer_frames),
        )  # fmt: skip


def _rescored(predictions: Mapping[str, np.ndarray], sub: _Subsample) -> dict[str, Any]:
    """Ridge, the CNN and the training mean scored again on exactly the baselines' frames."""
    out: dict[str, Any] = {}
    for model in ("ridge", "cnn"):
        out[model] = {}
        for split, test in sub.masks.items():
            key = f"{model}_{split}"
            if key not in predictions:
                continue
            pred = np.asarray(predictions[key])[sub.idx]
            entry = {
                "train": regression_metrics(sub.y[~test], pred[~test]),
                "test": regression_metrics(sub.y[test], pred[test]),
            }
            if f"{key}_transfer" in predictions and sub.y_t is not None:
                pred_t = np.asarray(predictions[f"{key}_transfer"])[sub.t_idx]
                entry["transfer"] = regression_metrics(sub.y_t, pred_t)
            out[model][split] = entry
    out["mean_baseline"] = {}
    for split, test in sub.masks.items():
        m = float(sub.y[~test].mean())
        entry = {"test": regression_metrics(sub.y[test], np.full(int(test.sum()), m))}
        if sub.y_t is not None:
            entry["transfer"] = regression_metrics(sub.y_t, np.full(len(sub.y_t), m))
        out["mean_baseline"][split] = entry
    return out


def baselines_section(
    config: BaselinesSectionConfig,
    frames: Sequence[Any],
    y: Any,
    splits: Mapping[str, np.ndarray],
    predictions: Mapping[str, np.ndarray],
    *,
    cnn_models: Mapping[str, Any] | None = None,
    images: Mapping[str, Any] | None = None,
    transfer_frames: Sequence[Any] = (),
    y_transfer: Any = None,
    images_transfer: Mapping[str, Any] | None = None,
    folder: str | Path | None = None,
    workers: int = 1,
    save_model: Callable[[str, str, Any, np.ndarray, np.ndarray], Any] | None = None,
    ph_features: Mapping[str, Any] | None = None,
) -> tuple[Section, dict[str, Any]]:
    """SOAP + NN, SchNet and PH + SOAP beside Ridge and the CNN on the same frames.

    Parameters
    ----------
    config : BaselinesSectionConfig
    frames : sequence of ase.Atoms, length n
        The training-size frames of the pipeline (after striding).
    y : array_like, shape (n,)
        Energy per atom (eV).
    splits : mapping of str to bool (n,)
        The pipeline's test masks (``random``, ``grouped``).
    predictions : mapping of str to array
        The pipeline's Ridge and CNN predictions: ``{model}_{split}`` ``(n,)`` and
        ``{model}_{split}_transfer`` ``(n_transfer,)`` for model ``ridge``, ``cnn``.
    cnn_models, images, images_transfer : mappings keyed like ``splits``, optional
        Each split's trained CNN and its input images ``(n, nb, nd)`` (and of the transfer
        frames): PH + SOAP needs them.
    transfer_frames, y_transfer
        The larger-size frames and their energies per atom.
    folder : path, optional
        The fits' directory (:func:`~topophys.training.baselines.run_baselines`): SOAP
        vectors and resumable fits.
    workers : int
        Processes for SchNet's neighbour lists.
    save_model : callable, optional
        Called as ``save_model(name, split, build, train, rows)`` for every fitted model:
        ``build(**common)`` makes its :class:`~topophys.potentials.EnergyModel` from the
        common keyword arguments, ``train`` indexes its training frames in ``frames`` and
        ``rows`` are what its training domain is fitted on.
    ph_features : mapping of str to PHFeatures, optional
        Each split's PH descriptor with its standardization (to save PH + SOAP).

    Returns
    -------
    section : Section
        Metrics: ``frames``, ``transfer_frames``, ``models`` (every model's errors on the
        baselines' frames, meV/atom), ``comparison_meV`` (one row per model beside the papers'
        figures), ``size_transfer_meV``, ``timings_s``.
    extra : dict
        ``frames`` (indices of the baselines' frames into ``frames``) and ``descriptors``:
        ``{"SOAP": (m, 360), "SchNet": (m, D)}`` on those frames, for the maps.
    """
    from ...training.baselines import run_baselines

    y = np.asarray(y, dtype=np.float64)
    sub = _Subsample.draw(config, frames, y, splits, transfer_frames, y_transfer)
    want_ph = config.models.ph_soap and cnn_models is not None and images is not None
    ph_images = ph_images_t = None
    if want_ph and images is not None:
        ph_images = {s: np.asarray(v)[sub.idx] for s, v in images.items()}
        if images_transfer and len(sub.t_idx):
            ph_images_t = {s: np.asarray(v)[sub.t_idx] for s, v in images_transfer.items()}
    result = run_baselines(
        config.models.replace(ph_soap=bool(want_ph)), sub.frames, sub.y, sub.masks,
        None if folder is None else Path(folder), transfer_frames=sub.t_frames,
        y_transfer=sub.y_t, cnn_models=cnn_models if want_ph else None, ph_images=ph_images,
        ph_images_transfer=ph_images_t, workers=workers,
    )  # fmt: skip
    if save_model is not None:
        cnns = cnn_models if want_ph else None
        _save_models(save_model, result, sub, config, cnns, ph_features)
    metrics = {**result.metrics, **_rescored(predictions, sub)}
    comparison = baseline_table(metrics)
    sizes = (sorted({len(a) for a in sub.frames}), sorted({len(a) for a in sub.t_frames}))
    transfer_rows = size_transfer_table(metrics, sizes) if sub.t_frames else []
    n_test = {s: int(t.sum()) for s, t in sub.masks.items()}
    section = Section(
        "Baselines on the same splits: SOAP + NN, SchNet, PH + SOAP (paper, Fig. 3)",
        {
            "frames": len(sub.idx),
            "transfer_frames": len(sub.t_idx),
            "test_frames": n_test,
            "models": metrics,
            "comparison_meV": comparison,
            "size_transfer_meV": transfer_rows,
            "timings_s": result.timings_s,
        },
        _text(config, sub, n_test),
        _tables(comparison, transfer_rows, sizes),
        _figures(result),
    )
    return section, {"frames": sub.idx, "descriptors": result.descriptors}


def _save_models(
    save_model: Callable[..., Any],
    result: Any,
    sub: _Subsample,
    config: BaselinesSectionConfig,
    cnn_models: Mapping[str, Any] | None,
    ph_features: Mapping[str, Any] | None,
) -> None:
    """Hand every fitted baseline to ``save_model`` as a function of the common arguments."""
    from ...potentials import PHSOAPModel, SchNetModel, SOAPNNModel

    soap = config.models.soap
    for name, per_split in result.models.items():
        for split, net in per_split.items():
            idx, rows = result.train_rows[name][split]
            if name == "soap_nn":
                build = functools.partial(SOAPNNModel, soap, net)
            elif name == "schnet":
                build = functools.partial(SchNetModel, net)
            elif name == "ph_soap" and cnn_models is not None and ph_features is not None:
                parts = (ph_features[split], cnn_models[split], soap, net)
                build = functools.partial(PHSOAPModel, *parts)
            else:
                continue
            save_model(name, split, build, sub.idx[idx], rows)


def _text(config: BaselinesSectionConfig, sub: _Subsample, n_test: Mapping[str, int]) -> list[str]:
    whole = len(sub.idx) == sub.n_all and len(sub.t_idx) == sub.n_all_transfer
    scope = (
        "every frame"
        if whole
        else f"a seeded subsample of {len(sub.idx)} of the {sub.n_all} training-size frames"
        + (f" and {len(sub.t_idx)} of the {sub.n_all_transfer} larger ones" if sub.t_frames else "")
    )
    mlp = config.models.mlp
    text = [
        "SOAP + NN (averaged SOAP, r_cut 4.1 Å, n_max 8, l_max 9, σ 0.16 Å: 360 numbers, into "
        f"an MLP with hidden layers {'×'.join(map(str, mlp.hidden))}, Adam, {mlp.epochs} "
        "epochs), SchNet (our implementation of SchNetPack's architecture; see "
        "docs/baselines.md) and PH + SOAP (the CNN's last convolution, global-average-pooled, "
        "concatenated with averaged SOAP, into the same MLP; the letter's proposed next step) "
        f"were fitted on {scope}, each frame on the same side of each split as for Ridge and "
        f"the CNN ({n_test.get('random', 0)} random-split and {n_test.get('grouped', 0)} "
        "grouped-split test frames). Ridge and the CNN, trained on all training frames, are "
        "scored again on exactly these test frames.",
    ]
    sc = config.models.schnet
    if sc is not None:
        text.append(
            f"SchNet here: {sc.n_features} features, {sc.n_interactions} interaction blocks, "
            f"{sc.n_gaussians} Gaussians (γ = {sc.gamma:g} Å⁻²) on 0–{sc.cutoff:g} Å, trained on "
            f"{'every' if sc.max_train_frames == 0 else sc.max_train_frames} training frames "
            f"for {sc.epochs} epochs (CPU-sized; far from converged unless this is the paper "
            "configuration), so its error is an upper bound on what SchNet can do."
        )
    return text


def _tables(
    comparison: list[dict[str, Any]],
    transfer_rows: list[dict[str, Any]],
    sizes: tuple[Sequence[int], Sequence[int]],
) -> list[tuple[Any, str]]:
    tables: list[tuple[Any, str]] = [
        (
            [{k: v for k, v in row.items() if k != "model"} for row in comparison],
            "Test RMSE (meV/atom) of every model on the same frames: random split, split by "
            "run (grouped), and the larger-size set (models of the random and of the grouped "
            "split). Beside them, the papers' test RMSEs on their DFT data (Ridge "
            f"{PAPER_RMSE_MEV['ridge']}, CNN {PAPER_RMSE_MEV['cnn']} / letter "
            f"{PAPER_RMSE_MEV['cnn_letter']}, SOAP + NN {PAPER_RMSE_MEV['soap_nn']}, SchNet "
            f"{PAPER_RMSE_MEV['schnet']}): their data differ (DFT labels, 13 464 training "
            "frames), so compare orderings, not values.",
        )
    ]
    if transfer_rows:
        tables.append(
            (
                transfer_rows,
                f"Size transfer of every model: trained on {'/'.join(map(str, sizes[0]))}-atom "
                f"frames, tested on {'/'.join(map(str, sizes[1]))}-atom frames made the same "
                "way (RMSE and MAE in meV/atom; ratio = larger-size RMSE over the test RMSE at "
                "the training size; the letter's CNN: 33.6 at 512 atoms against 33.3).",
            )
        )
    return tables


def _figures(result: Any) -> list[tuple[str, Any, str]]:
    from ...plot.mlpot import parity_grid, parity_per_split

    nets = {m: v for m, v in result.parity.items() if m != "schnet"}
    figs: list[tuple[str, Any, str]] = [
        (
            "baselines_parity",
            parity_grid(nets, MODEL_LABELS),
            "Predicted against reference energy per atom of SOAP + NN and PH + SOAP on both "
            "splits (training frames and test frames).",
        )
    ]
    if "schnet" in result.parity:
        histories = {f"{s} split": h for s, h in result.histories["schnet"].items()}
        figs.append(
            (
                "baselines_schnet",
                parity_per_split(result.parity["schnet"], histories, "SchNet", _SPLIT_NAMES),
                "SchNet: predicted against reference energy per atom on both splits (its "
                "training subsample and the test frames), and its training RMSE per epoch.",
            )
        )
    return figs
