"""Figures of simulated fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .. import _validate

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def snapshot_grid(
    ds: xr.Dataset,
    *,
    n_alpha: int = 6,
    n_time: int = 6,
    seed: int | None = None,
    times: Sequence[float] | None = None,
    cmap: str = "RdBu_r",
) -> Figure:
    """Grid of field snapshots: rows are anisotropies α, columns are times.

    Parameters
    ----------
    ds
        A field store dataset (see :func:`topophys.data.fields.open_fields`), dims
        ``(run, time, y, x)``.
    n_alpha, n_time
        Number of rows and columns, chosen evenly among the stored α and snapshot indices.
    seed
        Which seed's runs to show (default: the first stored seed).
    times
        Times to show instead of ``n_time`` evenly spaced snapshots (nearest stored snapshot).
    cmap
        Diverging colormap; the colour scale is symmetric about φ = 0.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    n_alpha = _validate.positive_int("n_alpha", n_alpha)
    n_time = _validate.positive_int("n_time", n_time)
    if times is not None and len(times) == 0:
        raise ValueError("times must name at least one time, got an empty sequence")
    seeds = np.asarray(ds["seed"].values)
    seed = int(seeds[0]) if seed is None else int(seed)
    runs = np.flatnonzero((seeds == seed) & np.asarray(ds["done"].values, dtype=bool))
    if runs.size == 0:
        raise ValueError(f"no finished runs with seed={seed} in this store")
    runs = runs[np.argsort(ds["alpha"].values[runs], kind="stable")]
    rows = runs[
        np.unique(np.linspace(0, runs.size - 1, min(n_alpha, runs.size)).round().astype(int))
    ]
    t = np.asarray(ds["t"].values)
    if times is None:
        cols = np.unique(np.linspace(0, t.size - 1, min(n_time, t.size)).round().astype(int))
    else:
        cols = np.array([int(np.abs(t - x).argmin()) for x in times])
    data = ds["phi"].isel(run=rows.tolist(), time=cols.tolist()).values
    vmax = float(np.nanmax(np.abs(data))) or 1.0
    fig, axes = plt.subplots(
        rows.size,
        cols.size,
        figsize=(1.6 * cols.size + 0.8, 1.6 * rows.size + 0.4),
        squeeze=False,
        constrained_layout=True,
    )
    image = None
    for i, run in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            image = ax.imshow(data[i, j], cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t = {t[col]:.3g}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"α = {float(ds['alpha'].values[run]):.3g}", fontsize=9)
    assert image is not None  # rows and cols are not empty (checked above)
    fig.colorbar(image, ax=axes, shrink=0.8, label="φ")
    fig.suptitle(f"TDGL snapshots (seed {seed})", fontsize=10)
    return fig


def t_init_plot(ds: xr.Dataset, ax: Axes | None = None) -> Figure:
    """T_init (onset of reversed domains) against anisotropy α, one marker per run.

    Parameters
    ----------
    ds
        A field store dataset with coordinates ``alpha`` and ``T_init``.
    ax
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.2), constrained_layout=True)
    else:
        fig = ax.figure.figure  # the root figure: ax may sit in a SubFigure, which cannot savefig
    done = np.asarray(ds["done"].values, dtype=bool)
    alpha = np.asarray(ds["alpha"].values)[done]
    t_init = np.asarray(ds["T_init"].values)[done]
    ax.plot(alpha, t_init, "o", ms=4, alpha=0.8)
    ax.set_xlabel("anisotropy α")
    ax.set_ylabel("T_init (first t with min φ < 0)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return fig
