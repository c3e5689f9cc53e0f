"""Figures of the cyclo-octane descriptor spaces (the letter's Fig. 2).

Functions take arrays and return the Axes they drew on (``ax=None``: a new figure) or, for
panels of several axes, the Figure; matplotlib is imported when called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["embedding_panels", "embedding_scatter", "ring_plot", "two_diagrams"]

_TITLES = {
    "coordinates": "Cartesian coordinates",
    "distances": "pair distances",
    "soap": "SOAP",
    "acsf": "ACSF",
    "persistence": "persistence images",
}


def _points(name: str, a: Any, columns: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != columns or a.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n ≥ 1, {columns}), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _mask(highlight: Any, n: int) -> np.ndarray:
    if highlight is None:
        return np.zeros(n, dtype=bool)
    mask = np.asarray(highlight)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(f"highlight must be a boolean array of shape ({n},), got {mask.shape}")
    return mask


def _axes3d(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(4.4, 4.0), constrained_layout=True)
        ax = fig.add_subplot(projection="3d")
    elif getattr(ax, "name", "") != "3d":
        raise ValueError("ax must be a 3-D Axes (projection='3d')")
    return ax


def embedding_scatter(
    embedding: Any,
    ax: Any = None,
    *,
    highlight: Any = None,
    color: Any = None,
    title: str = "",
    size: float = 3.0,
) -> Any:
    """3-D scatter of an ``(n, 3)`` embedding; highlighted points in red, drawn last.

    Parameters
    ----------
    embedding : array_like, shape (n, 3)
        E.g. the first three principal components.
    ax : 3-D Axes, optional
    highlight : array_like of bool, shape (n,), optional
    color : array_like, shape (n,), optional
        Values coloured with viridis (default: one grey-blue).
    title : str
    size : float
        Marker area (points²) of the ordinary points; highlighted ones are 4× larger.
    """
    e = _points("embedding", embedding, 3)
    mask = _mask(highlight, len(e))
    ax = _axes3d(ax)
    rest = ~mask
    if color is None:
        ax.scatter(*e[rest].T, s=size, c="tab:blue", alpha=0.5, linewidths=0, label="conformers")
    else:
        c = np.asarray(color, dtype=np.float64).reshape(-1)
        if c.shape != (len(e),):
            raise ValueError(f"color must have shape ({len(e)},), got {c.shape}")
        ax.scatter(*e[rest].T, s=size, c=c[rest], cmap="viridis", linewidths=0, label="conformers")
    if mask.any():
        ax.scatter(*e[mask].T, s=4 * size, c="red", linewidths=0, label="highlighted")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_zlabel("PC 3")
    if title:
        ax.set_title(title)
    return ax


def embedding_panels(embeddings: Mapping[str, Any], *, highlight: Any = None) -> Any:
    """One 3-D scatter per representation, side by side; returns the Figure.

    Parameters
    ----------
    embeddings : mapping of str to array_like, shape (n, 3)
        Same n for all; names of :data:`~topophys.evaluate.cyclooctane.REPRESENTATIONS` get
        readable titles.
    highlight : array_like of bool, shape (n,), optional
    """
    import matplotlib.pyplot as plt

    if not embeddings:
        raise ValueError("embeddings must hold at least one (n, 3) embedding")
    sizes = {name: np.shape(e)[0] for name, e in embeddings.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"embeddings must all have the same number of points, got {sizes}")
    k = len(embeddings)
    fig = plt.figure(figsize=(3.6 * k, 3.8), constrained_layout=True)
    for i, (name, e) in enumerate(embeddings.items()):
        ax = fig.add_subplot(1, k, i + 1, projection="3d")
        embedding_scatter(e, ax, highlight=highlight, title=_TITLES.get(name, name))
    return fig


def ring_plot(ring: Any, ax: Any = None, *, title: str = "") -> Any:
    """A ring molecule in 3-D: atoms as dots, bonds between consecutive atoms (closed).

    Parameters
    ----------
    ring : array_like, shape (m, 3)
        Atoms in ring order (Å).
    """
    x = _points("ring", ring, 3)
    ax = _axes3d(ax)
    loop = np.vstack([x, x[:1]])
    ax.plot(*loop.T, color="0.3", lw=2)
    ax.scatter(*x.T, s=40, c="0.1", depthshade=False)
    half = float(np.ptp(x, axis=0).max()) / 2 + 0.3
    mid = (x.max(axis=0) + x.min(axis=0)) / 2
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(mid[2] - half, mid[2] + half)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def two_diagrams(first: Any, second: Any, rings: Any) -> Any:
    """Two conformers' persistence diagrams above drawings of the rings; returns the Figure.

    Parameters
    ----------
    first, second : array_like, shape (k, 3)
        Diagrams, rows ``[dim, birth, death]`` (squared radii, Å²).
    rings : array_like, shape (2, m, 3)
        The two structures.
    """
    import matplotlib.pyplot as plt

    from .diagrams import diagram_plot

    r = np.asarray(rings, dtype=np.float64)
    if r.ndim != 3 or r.shape[0] != 2 or r.shape[2] != 3:
        raise ValueError(f"rings must have shape (2, m, 3), got {r.shape}")
    fig = plt.figure(figsize=(7.6, 6.4), constrained_layout=True)
    for i, (diagram, label) in enumerate(((first, "a"), (second, "b"))):
        ax = fig.add_subplot(2, 2, i + 1)
        diagram_plot(diagram, ax)
        ax.set_xlabel("birth (Å²)")
        ax.set_ylabel("death (Å²)")
        ax.set_title(f"{label}) conformer {label}")
        ring_plot(r[i], fig.add_subplot(2, 2, i + 3, projection="3d"))
    return fig
