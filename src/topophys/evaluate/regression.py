"""Errors of energy models: RMSE and MAE per set, and the papers' comparison tables.

The PH-descriptor papers score every model by the RMSE of the energy per atom (meV/atom) on the
training frames, the test frames of a split, and a larger-size set the model never saw
(Minamitani et al., Fig. 3; the letter's size transfer). These are plain functions of arrays and
of the nested ``{model: {split: {set: errors}}}`` mapping that ``metrics.json`` of
``topophys run mlpot`` holds.

Examples
--------
>>> import numpy as np
>>> y = np.array([0.0, 0.0, 0.0, 0.0])
>>> regression_metrics(y, [0.003, -0.001, 0.001, -0.003])
{'rmse_meV': 2.23606797749979, 'mae_meV': 2.0, 'n': 4}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MODEL_LABELS",
    "PAPER_RMSE_MEV",
    "baseline_table",
    "regression_metrics",
    "size_transfer_table",
    "split_errors",
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

MODEL_LABELS: dict[str, str] = {
    "ridge": "PH + Ridge",
    "cnn": "PH + CNN",
    "soap_nn": "SOAP + NN",
    "schnet": "SchNet",
    "ph_soap": "PH + SOAP (NN)",
    "mean_baseline": "training mean",
}
"""How the tables and figures name each model key of ``metrics.json``."""

_MODELS = ("ridge", "cnn", "soap_nn", "schnet", "ph_soap")


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


def split_errors(
    y: Any,
    pred: Any,
    test: Any,
    y_transfer: Any = None,
    pred_transfer: Any = None,
) -> dict[str, dict[str, float | int]]:
    """:func:`regression_metrics` of one model on the two sides of a split and a transfer set.

    Parameters
    ----------
    y, pred : array_like, shape (n,)
        Targets and predictions of every frame (eV/atom).
    test : array_like of bool, shape (n,)
        True for test frames; both sides must be non-empty.
    y_transfer, pred_transfer : array_like, shape (m,), optional
        A further set (e.g. larger structures); scored when both are given and m ≥ 1.

    Returns
    -------
    dict
        ``{"train": ..., "test": ...}`` and ``"transfer"`` when scored.

    Examples
    --------
    >>> e = split_errors([0.0, 1.0, 2.0], [0.0, 1.0, 2.1], [False, False, True])
    >>> e["train"]["rmse_meV"], round(e["test"]["rmse_meV"], 6)
    (0.0, 100.0)
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    test = np.asarray(test)
    if test.dtype != bool or test.shape != y.shape:
        raise ValueError(f"test must be a bool mask of shape {y.shape}, got {test.shape}")
    if test.all() or not test.any():
        raise ValueError("test must mark some frames, not all")
    if pred.shape != y.shape:
        raise ValueError(f"pred must have shape {y.shape} like y, got {pred.shape}")
    out = {
        "train": regression_metrics(y[~test], pred[~test]),
        "test": regression_metrics(y[test], pred[test]),
    }
    if y_transfer is not None and pred_transfer is not None and np.size(y_transfer):
        out["transfer"] = regression_metrics(y_transfer, pred_transfer)
    return out


def _rmse(metrics: Mapping[str, Any], split: str, part: str) -> float | None:
    v = metrics.get(split, {}).get(part, {}).get("rmse_meV")
    return None if v is None else float(v)


def baseline_table(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per model: RMSE (meV/atom) on test, grouped test and transfer, beside the papers'.

    Parameters
    ----------
    metrics : mapping
        ``{model: {split: {"test"|"transfer": {"rmse_meV": ...}}}}`` for any of ``ridge``,
        ``cnn`` (the ``mlpot`` pipeline's ``metrics.json`` layout), ``soap_nn``, ``schnet``,
        ``ph_soap`` (:func:`~topophys.training.baselines.run_baselines`); splits ``random``
        and ``grouped``.

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
    for model in _MODELS:
        if model not in metrics:
            continue
        m = metrics[model]
        paper: str | None = None
        if model == "cnn":
            paper = f"{PAPER_RMSE_MEV['cnn']} / {PAPER_RMSE_MEV['cnn_letter']}"
        elif model in PAPER_RMSE_MEV:
            paper = f"{PAPER_RMSE_MEV[model]}"
        rows.append(
            {
                "model": model,
                "label": MODEL_LABELS[model],
                "test_rmse": _rmse(m, "random", "test"),
                "grouped_test_rmse": _rmse(m, "grouped", "test"),
                "transfer_rmse": _rmse(m, "random", "transfer"),
                "grouped_transfer_rmse": _rmse(m, "grouped", "transfer"),
                "paper_rmse": paper,
            }
        )
    return rows


def size_transfer_table(
    metrics: Mapping[str, Any], sizes: tuple[Sequence[int], Sequence[int]]
) -> list[dict[str, Any]]:
    """How each model's error changes from the training size to a larger one.

    Parameters
    ----------
    metrics : mapping
        ``{model: {split: {"test"|"transfer": {"rmse_meV", "mae_meV"}}}}``.
    sizes : (sequence of int, sequence of int)
        Atoms per structure of the training-size and of the larger set (for the column names).

    Returns
    -------
    list of dict
        One row per (model, split) with both errors: ``model`` (label), ``split``, the test
        RMSE at the training size, RMSE and MAE at the larger size, and ``ratio`` (larger-size
        RMSE over test RMSE).

    Examples
    --------
    >>> m = {"cnn": {"random": {"test": {"rmse_meV": 10.0},
    ...                         "transfer": {"rmse_meV": 15.0, "mae_meV": 12.0}}}}
    >>> size_transfer_table(m, ([216], [512]))[0]["ratio"]
    1.5
    """
    small = "/".join(map(str, sizes[0]))
    large = "/".join(map(str, sizes[1]))
    rows = []
    for model in (*_MODELS, "mean_baseline"):
        for split in ("random", "grouped"):
            m = metrics.get(model, {})
            test, transfer = _rmse(m, split, "test"), _rmse(m, split, "transfer")
            if test is None or transfer is None:
                continue
            rows.append(
                {
                    "model": MODEL_LABELS.get(model, model),
                    "split": split,
                    f"test RMSE, {small} atoms": test,
                    f"RMSE, {large} atoms": transfer,
                    f"MAE, {large} atoms": m[split]["transfer"].get("mae_meV"),
                    "ratio": transfer / test if test else None,
                }
            )
    return rows
