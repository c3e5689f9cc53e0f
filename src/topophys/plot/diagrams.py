"""Figures of persistence diagrams: the birth–death plane, and the vectors a model sees of it.

Essential classes (``death = +inf``) have no place in the plane; they are drawn on a dashed line
above every finite point, marked ``∞``, so they are never silently dropped from a figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..diagrams import Diagrams

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..vectorize import PersistenceHistogram, PersistenceImage

__all__ = ["diagram_panel", "diagram_plot"]

_MARKERS = ("o", "s", "D", "v")


def _one_diagram(diagram: Any) -> np.ndarray:
    """``diagram`` as a checked ``(k, 3)`` array; a Diagrams must hold exactly one diagram."""
    if isinstance(diagram, Diagrams):
        if len(diagram) != 1:
            raise ValueError(
                f"diagram must be one diagram; got a Diagrams of {len(diagram)}: pick one with d[i]"
            )
        return np.asarray(diagram[0])
    return np.asarray(Diagrams.from_list([diagram])[0])


def _limits(values: np.ndarray) -> tuple[float, float, float]:
    """``(low, high, pad)`` of the finite values, with a pad of 5% of the span (1 if none)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0, 0.05
    low, high = float(values.min()), float(values.max())
    span = high - low
    pad = 0.05 * span if span > 0 else max(abs(high), 1.0) * 0.05
    return low, high, pad


def diagram_plot(diagram: Any, ax: Axes | None = None, dims: Iterable[int] | None = None) -> Axes:
    """Scatter a persistence diagram in the birth–death plane, one colour per dimension.

    Parameters
    ----------
    diagram
        One diagram: a ``(k, 3)`` array of rows ``[dim, birth, death]`` (e.g. ``diagrams[i]``)
        or a :class:`~topophys.diagrams.Diagrams` holding exactly one. Values in filtration
        units.
    ax
        Axes to draw on; a new figure when ``None``.
    dims
        Homology dimensions to draw (default: all present).

    Returns
    -------
    matplotlib.axes.Axes
        With the diagonal ``death = birth`` and, when there are essential classes, a dashed
        line above every finite point on which they sit (marker ``^``, labelled ``∞``).
        Legend entries give each dimension's count of finite and essential points.
    """
    import matplotlib.pyplot as plt

    d = _one_diagram(diagram)
    wanted = sorted({int(x) for x in d[:, 0]}) if dims is None else sorted({int(x) for x in dims})
    d = d[np.isin(d[:, 0], wanted)]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.0), constrained_layout=True)
    low, high, pad = _limits(d[:, 1:])
    top = high + 2 * pad  # the line of the essential classes, above every finite point
    essential = np.isinf(d[:, 2])
    for n, dim in enumerate(wanted):
        rows = d[d[:, 0] == dim]
        inf = np.isinf(rows[:, 2])
        color = f"C{n % 10}"
        ax.scatter(
            rows[~inf, 1],
            rows[~inf, 2],
            s=12,
            alpha=0.7,
            color=color,
            marker=_MARKERS[n % len(_MARKERS)],
            label=f"H{dim}: {int((~inf).sum())} finite",
        )
        if inf.any():
            ax.scatter(
                rows[inf, 1],
                np.full(int(inf.sum()), top),
                s=40,
                color=color,
                marker="^",
                edgecolors="black",
                linewidths=0.6,
                zorder=3,
                label=f"H{dim}: {int(inf.sum())} essential",
            )
    edge = top + pad if essential.any() else high + pad
    ax.plot([low - pad, edge], [low - pad, edge], color="0.4", lw=0.8, zorder=0)
    if essential.any():
        ax.axhline(top, color="0.4", ls="--", lw=0.8, zorder=0)
        ax.text(edge, top, "∞ ", va="bottom", ha="right", color="0.3")
    ax.set_xlim(low - pad, edge)
    ax.set_ylim(low - pad, edge)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("birth")
    ax.set_ylabel("death")
    if wanted:
        ax.legend(fontsize=7, loc="lower right")
    return ax


def diagram_panel(
    diagram: Any,
    *,
    dim: int = 1,
    histogram: PersistenceHistogram | None = None,
    image: PersistenceImage | None = None,
    resolution: int = 32,
    title: str | None = None,
) -> Figure:
    """A diagram beside its persistence histogram and persistence image of one dimension.

    Parameters
    ----------
    diagram
        One diagram, as in :func:`diagram_plot`.
    dim
        Homology dimension vectorized in the histogram and image panels (the diagram panel
        shows every dimension).
    histogram, image
        The vectorizers to show (e.g. those of a trained pipeline; an unfitted one is fitted on
        this diagram). By default a raw-count ``PersistenceHistogram`` and a linearly weighted
        ``PersistenceImage`` of ``resolution`` bins per side, over the range of this diagram's
        finite ``H{dim}`` points, with a Gaussian σ of 5% of that range.
    resolution
        Bins per side of the default vectorizers.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes: the diagram, the histogram (birth × death) and the image
        (birth × persistence), each with a colour bar for the last two.
    """
    import matplotlib.pyplot as plt

    from .._validate import nonnegative_int, positive_int
    from ..vectorize import PersistenceHistogram, PersistenceImage

    dim = nonnegative_int("dim", dim)
    resolution = positive_int("resolution", resolution)
    d = _one_diagram(diagram)
    batch = Diagrams.from_list([d])
    points = d[(d[:, 0] == dim) & np.isfinite(d[:, 2])]
    b_low, b_high, b_pad = _limits(points[:, 1])
    d_low, d_high, d_pad = _limits(points[:, 2])
    p_high = float((points[:, 2] - points[:, 1]).max()) if len(points) else 1.0
    p_high = p_high if p_high > 0 else 1.0
    if histogram is None:
        histogram = PersistenceHistogram(
            bins=resolution,
            birth_range=(b_low - b_pad, b_high + b_pad),
            death_range=(d_low - d_pad, d_high + d_pad),
            dim=dim,
            normalize="none",
            standardize="none",
        )
    if image is None:
        span = max(b_high - b_low, p_high)
        image = PersistenceImage(
            resolution=resolution,
            birth_range=(b_low - b_pad, b_high + b_pad),
            persistence_range=(0.0, 1.05 * p_high),
            bandwidth=0.05 * span,
            dim=dim,
        )
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 4.0), constrained_layout=True)
    diagram_plot(d, ax=axes[0])
    axes[0].set_title("diagram")
    for ax, vectorizer, label, edges_y, ylabel in (
        (axes[1], histogram, "persistence histogram", "death_edges_", "death"),
        (axes[2], image, "persistence image", "persistence_edges_", "persistence"),
    ):
        if not hasattr(vectorizer, "n_features_out_"):
            vectorizer.fit(batch)
        bx, by = vectorizer.birth_edges_, getattr(vectorizer, edges_y)
        values = vectorizer.transform(batch)[0].reshape(bx.size - 1, by.size - 1)
        shown = ax.imshow(
            values.T,
            origin="lower",
            extent=(bx[0], bx[-1], by[0], by[-1]),
            aspect="auto",
            interpolation="nearest",
            cmap="viridis",
        )
        fig.colorbar(shown, ax=ax, shrink=0.85)
        ax.set_title(f"{label} (H{dim})")
        ax.set_xlabel("birth")
        ax.set_ylabel(ylabel)
    n_essential = int(((d[:, 0] == dim) & np.isinf(d[:, 2])).sum())
    if n_essential and getattr(histogram, "essential", "drop") == "drop":
        axes[1].text(
            0.02,
            0.98,
            f"{n_essential} essential H{dim} not binned",
            transform=axes[1].transAxes,
            va="top",
            fontsize=7,
            color="white",
        )
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
