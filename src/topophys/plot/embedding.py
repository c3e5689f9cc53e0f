"""Figures of descriptor-space maps (the amorphous-carbon paper's Figs. 4–5).

:func:`embedding_map` draws one 2-D map coloured by a property; :func:`embedding_grid` lays out
several maps (columns: descriptor spaces or methods) against several properties (rows: density,
energy), each panel titled with its continuity numbers when given. matplotlib is imported when
called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["embedding_grid", "embedding_map"]


def embedding_map(
    coords: Any,
    values: Any,
    ax: Any = None,
    *,
    label: str = "",
    title: str = "",
    cmap: str = "viridis",
    markersize: float = 5.0,
) -> Any:
    """Scatter of a 2-D map ``coords (n, 2)`` coloured by ``values (n,)``, with a colour bar.

    Returns the Axes.
    """
    c = np.asarray(coords, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if c.ndim != 2 or c.shape[1] != 2 or len(c) == 0:
        raise ValueError(f"coords must have shape (n ≥ 1, 2), got {c.shape}")
    if v.shape != (len(c),):
        raise ValueError(f"values must hold one value per point ({len(c)}), got {v.size}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.2, 3.6), constrained_layout=True)
    order = np.argsort(v, kind="stable")  # extremes drawn last, on top
    sc = ax.scatter(c[order, 0], c[order, 1], c=v[order], s=markersize, cmap=cmap, lw=0)
    ax.figure.colorbar(sc, ax=ax, label=label)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return ax


def embedding_grid(
    maps: Mapping[str, Any],
    properties: Mapping[str, Any],
    *,
    metrics: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    labels: Mapping[str, str] | None = None,
    cmaps: Mapping[str, str] | None = None,
) -> Any:
    """Maps (columns) coloured by each property (rows), as in the paper's Figs. 4–5.

    Parameters
    ----------
    maps : mapping of str to array_like (n, 2)
        Column title → map coordinates (e.g. ``{"PH": ..., "SOAP": ...}``).
    properties : mapping of str to array_like (n,)
        Row name → values (e.g. ``{"density": rho, "energy": e}``).
    metrics : mapping, optional
        ``metrics[column][row]`` with ``knn_r2`` and ``spearman``, shown in each panel's title.
    labels : mapping, optional
        Colour-bar label per property (e.g. ``{"density": "density (g/cm³)"}``).
    cmaps : mapping, optional
        Colour map per property (default ``viridis`` for all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not maps or not properties:
        raise ValueError("maps and properties must each hold at least one entry")
    labels = dict(labels or {})
    cmaps = dict(cmaps or {})
    rows, cols = len(properties), len(maps)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols, 3.1 * rows), constrained_layout=True, squeeze=False
    )
    for r, (prop, values) in enumerate(properties.items()):
        for c, (name, coords) in enumerate(maps.items()):
            title = f"{name}: {prop}"
            m = (metrics or {}).get(name, {}).get(prop)
            if m is not None:
                title += f"\nkNN R² {m['knn_r2']:.2f}, Spearman {m['spearman']:.2f}"
            embedding_map(
                coords, values, axes[r, c], label=labels.get(prop, prop), title=title,
                cmap=cmaps.get(prop, "viridis"),
            )  # fmt: skip
    return fig
