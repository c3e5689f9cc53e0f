"""Figures of a trained Neural Reduced Potential (both NRP papers' Figs. 2–3).

Functions take arrays (not models), ``ax=None`` and return the Axes (or a Figure for panels);
matplotlib is imported when called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "energy_comparison",
    "errors_by_start",
    "gradient_vs_alpha",
    "latent_trajectories",
    "potential_curves",
    "prediction_panel",
    "training_curves",
]


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.8))
    return ax


def _alpha_colors(alphas: np.ndarray) -> tuple[Any, Any]:
    import matplotlib as mpl

    norm = mpl.colors.Normalize(vmin=float(np.min(alphas)), vmax=float(np.max(alphas)))
    cmap = mpl.colormaps["viridis"]
    return norm, cmap


def _colorbar(ax: Any, norm: Any, cmap: Any) -> None:
    import matplotlib as mpl

    ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="α")


def potential_curves(
    t: np.ndarray,
    values: np.ndarray,
    alphas: np.ndarray,
    ax: Any = None,
    *,
    title: str = "",
    log_time: bool = True,
) -> Any:
    """V_NN against time, one line per run coloured by α (paper 1, Fig. 3a).

    Parameters
    ----------
    t, values : ndarray, shape (R, T)
    alphas : ndarray, shape (R,)
    log_time : bool
        Logarithmic time axis (the snapshots are spaced geometrically); t = 0 is dropped there.
    """
    ax = _axes(ax)
    norm, cmap = _alpha_colors(alphas)
    for r in range(values.shape[0]):
        keep = t[r] > 0 if log_time else slice(None)
        ax.plot(t[r][keep], values[r][keep], color=cmap(norm(alphas[r])), lw=1)
    if log_time:
        ax.set_xscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("$V_{NN}$")
    ax.set_title(title)
    _colorbar(ax, norm, cmap)
    return ax


def energy_comparison(
    t: np.ndarray,
    potential: np.ndarray,
    energy: np.ndarray,
    alphas: np.ndarray,
    runs: Sequence[int],
    ax: Any = None,
    *,
    title: str = "",
) -> Any:
    """The potential beside the true energy along a few runs, each rescaled to [0, 1].

    Parameters
    ----------
    t, potential, energy : ndarray, shape (R, T)
        Times, V (e.g. anchored) and the TDGL energy H (anchored likewise) of every run.
    alphas : ndarray, shape (R,)
    runs
        Indices of the runs to draw: V solid, H dashed, one colour per run (by α).
    """
    ax = _axes(ax)
    norm, cmap = _alpha_colors(alphas)

    def unit(x: np.ndarray) -> np.ndarray:
        span = x.max() - x.min()
        return (x - x.min()) / span if span > 0 else np.zeros_like(x)

    for r in runs:
        color = cmap(norm(alphas[r]))
        keep = t[r] > 0
        ax.plot(t[r][keep], unit(potential[r][keep]), color=color, lw=1.2, label=f"α={alphas[r]:g}")
        ax.plot(t[r][keep], unit(energy[r][keep]), "--", color=color, lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("rescaled to [0, 1]")
    ax.set_title(title)
    ax.legend(fontsize=7, title="V solid, H dashed", title_fontsize=7)
    return ax


def errors_by_start(
    by_start: Mapping[str, Mapping[str, np.ndarray]], k: int, ax: Any = None, *, title: str = ""
) -> Any:
    """Where k-step errors come from: error over no change against the start time, per model.

    Parameters
    ----------
    by_start
        Model name → the dict of :func:`topophys.evaluate.nrp.rollout_errors_by_start`.
    k
        The number of steps (for the labels).
    """
    ax = _axes(ax)
    for i, (name, b) in enumerate(by_start.items()):
        t = np.asarray(b["t_start"])
        with np.errstate(divide="ignore", invalid="ignore"):
            latent = b["latent"] / b["latent_baseline"]
            decoded = b["error"] / b["decoded_baseline"]
        ax.plot(t, latent, "-", color=f"C{i}", label=f"{name}: latent")
        ax.plot(t, decoded, "--", color=f"C{i}", label=f"{name}: decoded")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("start time of the prediction")
    ax.set_ylabel(f"{k}-step error / no change")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def latent_trajectories(
    z: np.ndarray, alphas: np.ndarray, ax: Any = None, *, title: str = ""
) -> Any:
    """Latent trajectories coloured by α (paper 1, Fig. 3c); a dot marks each start.

    ``z (R, T, L)``; for L > 2 the first two principal components are drawn.
    """
    ax = _axes(ax)
    z = np.asarray(z, dtype=np.float64)
    labels = ("$z_1$", "$z_2$")
    if z.shape[2] == 1:
        z = np.concatenate([z, np.zeros_like(z)], axis=2)
    elif z.shape[2] > 2:
        flat = z.reshape(-1, z.shape[2])
        centred = flat - flat.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        z = (centred @ vt[:2].T).reshape(*z.shape[:2], 2)
        labels = ("PC 1", "PC 2")
    norm, cmap = _alpha_colors(alphas)
    for r in range(z.shape[0]):
        color = cmap(norm(alphas[r]))
        ax.plot(z[r, :, 0], z[r, :, 1], color=color, lw=1)
        ax.plot(z[r, 0, 0], z[r, 0, 1], "o", color=color, ms=3)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    _colorbar(ax, norm, cmap)
    return ax


def gradient_vs_alpha(
    alphas: np.ndarray, gradients: np.ndarray, ax: Any = None, *, title: str = ""
) -> Any:
    """∂V/∂z at T_init against α (paper 2, Fig. 2C): runs as dots, the mean over seeds as lines.

    ``gradients (R, L)``; NaN rows (runs without T_init) are skipped.
    """
    ax = _axes(ax)
    keep = np.isfinite(gradients).all(axis=1)
    a, g = np.asarray(alphas)[keep], gradients[keep]
    levels = np.unique(a)
    for j in range(g.shape[1]):
        (line,) = ax.plot(
            levels, [g[a == v, j].mean() for v in levels], "-", label=f"∂V/∂z$_{j + 1}$"
        )
        ax.plot(a, g[:, j], ".", color=line.get_color(), alpha=0.6)
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set_xlabel("α")
    ax.set_ylabel("∂V/∂z at $T_{init}$")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], ax: Any = None) -> Any:
    """L_AE and L_V per epoch for each named model, training (solid) and validation (dashed)."""
    ax = _axes(ax)
    for i, (name, hist) in enumerate(histories.items()):
        for key, style in (("train_ae", "-"), ("train_v", "-"), ("val_ae", "--"), ("val_v", "--")):
            values = hist.get(key)
            if not values:
                continue
            term = "$L_{AE}$" if key.endswith("ae") else "$L_V$"
            color = f"C{2 * i + (0 if key.endswith('ae') else 1)}"
            split = "train" if key.startswith("train") else "validation"
            ax.plot(values, style, color=color, lw=1, label=f"{name} {term} ({split})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7, ncol=2)
    return ax


def prediction_panel(
    predictions: Mapping[str, np.ndarray],
    times: Sequence[int],
    t_values: np.ndarray,
    *,
    image_shape: tuple[int, ...] | None = None,
    title: str = "",
    cmap: str = "RdBu_r",
) -> Any:
    """Truth, reconstruction D(E(x_t)) and one-step prediction D(z_{t−1} − Δt ∂V/∂z) side by side.

    Parameters
    ----------
    predictions
        From :func:`topophys.evaluate.nrp.one_step_predictions`.
    times
        Time indices to show (rows).
    t_values
        ``(T,)`` times of the run (row labels).
    image_shape
        How to draw one snapshot: ``(S, S)`` images are drawn as they are; feature vectors
        (e.g. persistence images of several homology dimensions, concatenated) are reshaped to
        ``image_shape`` = ``(dims, nb, np)`` and the dims drawn side by side.
    """
    import matplotlib.pyplot as plt

    columns = ("truth", "reconstruction", "prediction")

    def as_image(x: np.ndarray) -> np.ndarray:
        if image_shape is None or x.ndim == 2:
            return x
        blocks = x.reshape(image_shape)
        # persistence images: birth along x, persistence up; dims side by side
        return np.concatenate([b.T[::-1] for b in blocks], axis=1)

    height, width = as_image(predictions["truth"][times[0]]).shape
    row_height = 7.5 / 3 * height / width + 0.35
    fig, axes = plt.subplots(
        len(times),
        3,
        figsize=(7.5, row_height * len(times) + 0.4),
        squeeze=False,
        constrained_layout=True,
    )
    for row, ti in enumerate(times):
        imgs = [as_image(predictions[c][ti]) for c in columns]
        lim = max(float(np.abs(im).max()) for im in imgs) or 1.0
        vmin = -lim if image_shape is None else min(float(im.min()) for im in imgs)
        for col, im in enumerate(imgs):
            ax = axes[row, col]
            ax.imshow(im, cmap=cmap, vmin=vmin, vmax=lim, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(columns[col])
            if col == 0:
                ax.set_ylabel(f"t = {t_values[ti]:.3g}")
    if title:
        fig.suptitle(title)
    return fig
