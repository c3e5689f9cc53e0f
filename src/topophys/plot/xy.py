"""Figures of XY spin fields and of generated-versus-simulated scores (Klos et al. 2024, Figs. 1–5).

Functions take arrays, ``ax=None`` and return the Axes; matplotlib is imported when called.
Ensembles are drawn in fixed colours (:data:`COLORS`): simulated dark violet and generated light
violet as in the paper, the baseline green, other ensembles grey. The ``*_grid`` and ``*_figure``
functions put those panels together into the report's figures and return the Figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "COLORS",
    "correlation_curves",
    "correlation_grid",
    "field_grid",
    "observable_grid",
    "observable_vs_distance",
    "refine_figure",
    "score_curves",
    "spin_field",
    "temperature_grid",
    "threshold_curves",
    "threshold_grid",
    "training_curves",
    "training_figure",
]

COLORS = {
    "reference": "#3b0f70",
    "simulated": "#3b0f70",
    "generated": "#b48ee0",
    "baseline": "#3a9a5b",
    "harmonic baseline": "#3a9a5b",
    "baseline_scha": "#1f6fb4",
    "SCHA baseline": "#1f6fb4",
    "mc_independent": "#888888",
    "analytic": "#d98c1f",
    "generator": "#b48ee0",
}
"""Line colour of each ensemble name."""


def _axes(ax: Any, size: tuple[float, float] = (4.5, 3.4)) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size)
    return ax


def _color(label: str, i: int) -> Any:
    return COLORS.get(label, f"C{i % 10}")


def spin_field(
    theta: Any,
    ax: Any = None,
    *,
    charges: Any = None,
    title: str = "",
    arrows: bool = True,
) -> Any:
    """One field: the angle as a cyclic colour map, the spins as arrows, the defects as circles.

    Parameters
    ----------
    theta : array, shape (L, L)
        Angles (radians); row i is y, column j is x, drawn with ``origin="lower"`` so that the
        charge convention's counter-clockwise loops are counter-clockwise on screen.
    charges : array, shape (L, L), optional
        Plaquette charges to mark at the plaquette centres (j + ½, i + ½): +1 red, −1 blue; by
        default the exact charges of ``theta``.
    arrows : bool
        Draw the spin vectors.
    """
    from ..observables.charge import plaquette_charge

    th = np.asarray(theta, dtype=np.float64)
    if th.ndim != 2 or th.shape[0] != th.shape[1]:
        raise ValueError(f"theta must be one (L, L) field, got shape {th.shape}")
    k = plaquette_charge(th) if charges is None else np.asarray(charges)
    if k.shape != th.shape:
        raise ValueError(f"charges must have the shape of theta {th.shape}, got {k.shape}")
    ax = _axes(ax, (3.2, 3.2))
    L = th.shape[0]
    ax.imshow(
        np.angle(np.exp(1j * th)),
        cmap="twilight",
        vmin=-np.pi,
        vmax=np.pi,
        origin="lower",
        interpolation="nearest",
    )
    if arrows:
        y, x = np.mgrid[0:L, 0:L]
        ax.quiver(x, y, np.cos(th), np.sin(th), pivot="mid", scale=L * 1.15, width=0.006)
    for value, color in ((1, "red"), (-1, "blue")):
        i, j = np.nonzero(k == value)
        ax.scatter(j + 0.5, i + 0.5, s=90, facecolors="none", edgecolors=color, linewidths=2)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def observable_vs_distance(
    distances: Sequence[float] | np.ndarray,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    ax: Any = None,
    *,
    ylabel: str = "",
    title: str = "",
    xlabel: str = "pair distance d",
) -> Any:
    """An observable against the pair distance d (or another condition such as T), one line
    with error bars per ensemble.

    Parameters
    ----------
    distances : sequence or array, length C
        The conditions on the x axis.
    series : mapping
        Ensemble name → (values, errors), each of length C.
    """
    ax = _axes(ax)
    d = np.asarray(distances, dtype=np.float64)
    for i, (label, (values, errors)) in enumerate(series.items()):
        ax.errorbar(
            d,
            np.asarray(values, dtype=np.float64),
            yerr=np.asarray(errors, dtype=np.float64),
            marker="o",
            ms=3.5,
            capsize=2,
            lw=1.2,
            color=_color(label, i),
            label=label,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def correlation_curves(
    r: Sequence[float],
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    ax: Any = None,
    *,
    title: str = "",
) -> Any:
    """G(r) = ⟨S_i·S_j⟩ against distance r, one line (with error band) per ensemble."""
    ax = _axes(ax)
    radii = np.asarray(r, dtype=np.float64)
    for i, (label, (g_seq, err_seq)) in enumerate(series.items()):
        g = np.asarray(g_seq, dtype=np.float64)
        err = np.asarray(err_seq, dtype=np.float64)
        color = _color(label, i)
        ax.plot(radii, g, marker=".", lw=1.2, color=color, label=label)
        ax.fill_between(radii, g - err, g + err, color=color, alpha=0.25, lw=0)
    ax.set_xlabel("r")
    ax.set_ylabel("G(r)")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def threshold_curves(
    thresholds: Sequence[float],
    series: Mapping[str, Sequence[float]],
    ax: Any = None,
    *,
    ylabel: str = "",
    title: str = "",
) -> Any:
    """A topological measure against the filtration parameter Θ, one line per ensemble."""
    ax = _axes(ax)
    t = np.asarray(thresholds, dtype=np.float64)
    for i, (label, curve) in enumerate(series.items()):
        ax.plot(t, np.asarray(curve, dtype=np.float64), lw=1.3, color=_color(label, i), label=label)
    ax.set_xlabel("Θ (rad)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def training_curves(
    history: Sequence[Mapping[str, Any]],
    observable: str = "vorticity",
    ax: Any = None,
) -> Any:
    """Generated against real ``observable`` per epoch (paper Fig. 3), from a training history.

    Parameters
    ----------
    history : sequence of mappings
        One record per epoch with ``epoch``, ``gen_<observable>``, ``real_<observable>`` and
        optionally ``physics_on`` (:func:`~topophys.training.wgan.train_cwgan`'s history).
    observable : str
        ``"vorticity"``, ``"magnetization"``, ``"energy"`` or another logged name.
    """
    if not history:
        raise ValueError("history is empty: nothing to draw")
    gen_key, real_key = f"gen_{observable}", f"real_{observable}"
    if gen_key not in history[0]:
        raise ValueError(f"history has no column {gen_key!r}; columns: {list(history[0])}")
    ax = _axes(ax)
    epochs = np.array([h["epoch"] for h in history], dtype=np.float64) + 1
    gen = np.array([np.nan if h[gen_key] is None else h[gen_key] for h in history], dtype=float)
    ax.plot(epochs, gen, marker=".", color=COLORS["generated"], label="generated")
    if real_key in history[0]:
        real = np.array([h[real_key] for h in history], dtype=np.float64)
        ax.plot(epochs, real, color=COLORS["simulated"], label="simulated")
    on = [e for e, h in zip(epochs, history, strict=True) if h.get("physics_on")]
    if on:
        ax.axvline(on[0], color="k", ls=":", lw=1, label="physics loss on")
    ax.set_xlabel("epoch")
    ax.set_ylabel(observable)
    return ax


def score_curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float | None]]],
    ax: Any = None,
    *,
    xlabel: str = "",
    ylabel: str = "",
    logx: bool = False,
    title: str = "",
) -> Any:
    """Scores against a cost (sweeps, seconds), one line per method; ``None`` values are gaps."""
    ax = _axes(ax)
    for i, (label, (x, y)) in enumerate(series.items()):
        yv = np.array([np.nan if v is None else v for v in y], dtype=np.float64)
        ax.plot(np.asarray(x, dtype=np.float64), yv, marker="o", ms=4, color=_color(label, i),
                label=label)  # fmt: skip
    if logx:
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


# --------------------------------------------------------------------------- multi-panel figures


def _grid(rows: int, cols: int, panel: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    return plt.subplots(
        rows, cols, figsize=(panel[0] * cols, panel[1] * rows), squeeze=False,
        layout="constrained",
    )  # fmt: skip


def field_grid(
    fields: Sequence[Sequence[Any]],
    titles: Sequence[Sequence[str]],
    *,
    arrows: bool = True,
    panel: tuple[float, float] = (3.0, 3.0),
) -> Any:
    """:func:`spin_field` panels in rows and columns: ``fields[row][col]`` ``(L, L)`` angles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _grid(len(fields), max(len(r) for r in fields), panel)
    for r, (row, names) in enumerate(zip(fields, titles, strict=True)):
        for c, (theta, title) in enumerate(zip(row, names, strict=True)):
            spin_field(theta, ax=axes[r, c], title=title, arrows=arrows)
    return fig


def training_figure(history: Sequence[Mapping[str, Any]]) -> Any:
    """Paper Fig. 3: vorticity, magnetization and energy per epoch (:func:`training_curves`)
    and the charge fidelity, from a cWGAN training history."""
    fig, axes = _grid(1, 4, (4.0, 3.4))
    axes = axes[0]
    for ax, name in zip(axes, ("vorticity", "magnetization", "energy"), strict=False):
        training_curves(history, name, ax=ax)
    fid = [h.get("charge_fidelity") for h in history]
    axes[3].plot(np.arange(1, len(fid) + 1), fid, marker=".", color=COLORS["generated"])
    axes[3].set_xlabel("epoch")
    axes[3].set_ylabel("charge fidelity")
    axes[0].legend(fontsize=8)
    return fig


def observable_grid(
    x: Sequence[float],
    series: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    labels: Mapping[str, str],
    *,
    shape: tuple[int, int] = (2, 4),
    xlabel: str = "pair distance d",
) -> Any:
    """One :func:`observable_vs_distance` panel per observable.

    Parameters
    ----------
    x : sequence, length C
    series : mapping
        Observable → {ensemble label → (values, errors)}.
    labels : mapping
        Observable → axis label.
    shape : (int, int)
        Rows and columns; panels beyond the observables are left blank.
    """
    fig, axes = _grid(*shape, (4.0, 3.3))
    flat = list(axes.flat)
    for ax, (obs, per) in zip(flat, series.items(), strict=False):
        observable_vs_distance(x, per, ax=ax, ylabel=labels.get(obs, obs), xlabel=xlabel)
    flat[0].legend(fontsize=8)
    for ax in flat[len(series) :]:
        ax.axis("off")
    return fig


def correlation_grid(
    panels: Sequence[tuple[Sequence[float], Mapping[str, tuple[Any, Any]], str]],
) -> Any:
    """One :func:`correlation_curves` panel per ``(r, series, title)``, in a row."""
    fig, axes = _grid(1, len(panels), (4.6, 3.5))
    for ax, (r, series, title) in zip(axes[0], panels, strict=True):
        correlation_curves(r, series, ax=ax, title=title)
    axes[0, 0].legend(fontsize=8)
    return fig


def threshold_grid(
    thresholds: Sequence[Sequence[float]],
    curves: Sequence[Mapping[str, Mapping[str, Sequence[float]]]],
    labels: Mapping[str, str],
    titles: Sequence[str],
) -> Any:
    """Topological measures against Θ: one column per condition, one row per measure.

    ``curves[col][measure]`` maps ensemble labels to curves over ``thresholds[col]``.
    """
    measures = list(labels)
    fig, axes = _grid(len(measures), len(curves), (3.8, 2.4))
    for col, (theta, per) in enumerate(zip(thresholds, curves, strict=True)):
        for row, m in enumerate(measures):
            threshold_curves(
                theta, per[m], ax=axes[row, col], ylabel=labels[m],
                title=titles[col] if row == 0 else "",
            )  # fmt: skip
    axes[0, 0].legend(fontsize=8)
    return fig


def refine_figure(
    by_start: Mapping[str, Sequence[Mapping[str, Any]]], *, target: float = 0.99
) -> Any:
    """Scores after k Monte Carlo sweeps from each start: energy, |M| and the smallest G(r) R²
    over all pair distances against k, and that G(r) R² against the wall time per sample (ms);
    dotted: ``target``.

    ``by_start[start]`` is a list of rows with ``k``, ``seconds_per_sample``, ``r2`` and
    ``correlation_r2_all_min``.
    """
    fig, axes = _grid(1, 4, (4.0, 3.5))
    axes = axes[0]
    panels = (
        ("energy R²", lambda r: r["r2"]["energy"]),
        ("|M| R²", lambda r: r["r2"]["magnetization"]),
        ("G(r) R², worst d", lambda r: r["correlation_r2_all_min"]),
    )
    for ax, (label, get) in zip(axes, panels, strict=False):
        series = {
            name: ([r["k"] for r in rows], [get(r) for r in rows])
            for name, rows in by_start.items()
        }
        score_curves(series, ax=ax, xlabel="k (sweeps)", ylabel=label, logx=True)
        ax.axhline(target, color="k", lw=0.8, ls=":")
    series = {
        name: (
            [r["seconds_per_sample"] * 1e3 for r in rows],
            [r["correlation_r2_all_min"] for r in rows],
        )
        for name, rows in by_start.items()
    }
    score_curves(series, ax=axes[3], xlabel="ms per sample", ylabel="G(r) R², worst d")
    axes[0].legend(fontsize=8)
    return fig


def temperature_grid(
    temperatures: Sequence[float],
    rows: Sequence[tuple[str, Mapping[str, Mapping[str, tuple[Any, Any]]]]],
    labels: Mapping[str, str],
) -> Any:
    """Observables against T: one row per ``(title, {observable: series})``, one column per
    observable; the helicity modulus panels also show the BKT line 2T/π (dotted)."""
    observables = list(rows[0][1])
    fig, axes = _grid(len(rows), len(observables), (4.0, 3.0))
    temps = np.asarray(temperatures, dtype=np.float64)
    t_line = np.linspace(temps.min(), temps.max(), 50)
    for r, (title, per) in enumerate(rows):
        for c, obs in enumerate(observables):
            ax = axes[r, c]
            observable_vs_distance(
                temps, per[obs], ax=ax, ylabel=labels.get(obs, obs), title=title, xlabel="T"
            )
            if obs == "helicity_modulus":
                ax.plot(t_line, 2 * t_line / np.pi, ls=":", color="k", lw=1, label="2T/π")
    axes[0, 0].legend(fontsize=8)
    axes[0, -1].legend(fontsize=8)
    return fig
