"""Figures of the inverse analysis (the amorphous-carbon paper's Fig. 6).

:func:`region_map` draws the Ridge coefficients on the birth–death grid with the high- and
low-energy regions outlined (Fig. 6a); :func:`ring_geometry_histograms` compares the bond
lengths and angles of the rings in the two regions (Fig. 6c–d); :func:`attention_map` overlays a
Grad-CAM map on a descriptor image (letter Fig. 4e–f). Maps are ``(nb, nd)`` arrays
with birth along axis 0, drawn with birth to the right and death upwards. matplotlib is
imported when called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["REGION_COLORS", "attention_map", "region_map", "ring_geometry_histograms"]

REGION_COLORS = {"high": "tab:red", "low": "tab:blue"}
"""High-energy region red, low-energy blue, as in the paper."""


def region_map(
    coef: Any,
    high_mask: Any,
    low_mask: Any,
    birth_range: Sequence[float] = (0.0, 8.0),
    death_range: Sequence[float] = (0.0, 8.0),
    ax: Any = None,
    *,
    title: str = "",
) -> Any:
    """Coefficients (diverging colours, symmetric about 0) with the regions outlined.

    Returns the Axes.
    """
    c = np.asarray(coef, dtype=np.float64)
    hi, lo = np.asarray(high_mask, dtype=bool), np.asarray(low_mask, dtype=bool)
    if c.ndim != 2 or hi.shape != c.shape or lo.shape != c.shape:
        raise ValueError(
            f"coef, high_mask and low_mask must be 2-D of one shape, got {c.shape}, "
            f"{hi.shape}, {lo.shape}"
        )
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.6, 4.0), constrained_layout=True)
    extent = [*map(float, birth_range), *map(float, death_range)]
    vmax = float(np.abs(c).max()) or 1.0
    im = ax.imshow(
        c.T, origin="lower", extent=extent, cmap="RdBu_r", vmin=-vmax, vmax=vmax,
        aspect="auto", interpolation="nearest",
    )  # fmt: skip
    ax.figure.colorbar(im, ax=ax, label="Ridge coefficient")
    nb, nd = c.shape
    xb = np.linspace(extent[0], extent[1], nb + 1)
    yd = np.linspace(extent[2], extent[3], nd + 1)
    xc, yc = 0.5 * (xb[1:] + xb[:-1]), 0.5 * (yd[1:] + yd[:-1])
    for name, mask in (("high", hi), ("low", lo)):
        if mask.any() and not mask.all():
            ax.contour(xc, yc, mask.T.astype(float), levels=[0.5], colors=REGION_COLORS[name],
                       linewidths=1.0)  # fmt: skip
    ax.set_xlabel("birth (Å²)")
    ax.set_ylabel("death (Å²)")
    ax.set_title(title)
    return ax


def ring_geometry_histograms(
    bond_lengths: Mapping[str, Any],
    bond_angles: Mapping[str, Any],
    *,
    length_bins: Any = None,
    angle_bins: Any = None,
) -> Any:
    """Histograms (densities) of ring bond lengths and angles per region, side by side.

    Parameters
    ----------
    bond_lengths, bond_angles : mapping of str to array_like
        Per region (``"high"``, ``"low"``): lengths in Å and angles in degrees.
    length_bins, angle_bins : array_like, optional
        Bin edges (default 1.0–3.0 Å by 0.04 Å and 0–180° by 4°).

    Returns
    -------
    matplotlib.figure.Figure
        Two Axes: bond lengths, bond angles.
    """
    import matplotlib.pyplot as plt

    if set(bond_lengths) != set(bond_angles) or not bond_lengths:
        raise ValueError("bond_lengths and bond_angles must name the same non-empty regions")
    length_bins = np.arange(1.0, 3.0001, 0.04) if length_bins is None else length_bins
    angle_bins = np.arange(0.0, 180.001, 4.0) if angle_bins is None else angle_bins
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2), constrained_layout=True)
    for ax, data, bins, xlabel in (
        (axes[0], bond_lengths, length_bins, "bond length (Å)"),
        (axes[1], bond_angles, angle_bins, "bond angle (°)"),
    ):
        for name, values in data.items():
            v = np.asarray(values, dtype=np.float64).reshape(-1)
            if v.size:
                label = f"{name} energy (n = {v.size})"
                color = REGION_COLORS.get(name)
                ax.hist(v, bins=bins, density=True, histtype="step", lw=1.4, color=color,
                        label=label)  # fmt: skip
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return fig


def attention_map(
    image: Any,
    cam: Any,
    birth_range: Sequence[float] = (0.0, 8.0),
    death_range: Sequence[float] = (0.0, 8.0),
    ax: Any = None,
    *,
    title: str = "",
) -> Any:
    """A Grad-CAM map ``cam (nb, nd)`` (colours) over the descriptor ``image (nb, nd)``'s
    occupied bins (grey contour), birth right and death up, with the diagonal. Returns the
    Axes."""
    img = np.asarray(image, dtype=np.float64)
    c = np.asarray(cam, dtype=np.float64)
    if img.ndim != 2 or c.shape != img.shape:
        raise ValueError(f"image and cam must be 2-D of one shape, got {img.shape}, {c.shape}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.4, 4.0), constrained_layout=True)
    extent = [*map(float, birth_range), *map(float, death_range)]
    im = ax.imshow(c.T, origin="lower", extent=extent, cmap="inferno", vmin=0.0,
                   aspect="auto", interpolation="bilinear")  # fmt: skip
    ax.figure.colorbar(im, ax=ax, label="Grad-CAM")
    nb, nd = img.shape
    xb = np.linspace(extent[0], extent[1], nb + 1)
    yd = np.linspace(extent[2], extent[3], nd + 1)
    occupied = (img > img.min()).astype(float)
    if 0 < occupied.sum() < occupied.size:
        ax.contour(0.5 * (xb[1:] + xb[:-1]), 0.5 * (yd[1:] + yd[:-1]), occupied.T,
                   levels=[0.5], colors="0.7", linewidths=0.6)  # fmt: skip
    lo, hi = max(extent[0], extent[2]), min(extent[1], extent[3])
    ax.plot([lo, hi], [lo, hi], color="w", lw=0.6)
    ax.set_xlabel("birth (Å²)")
    ax.set_ylabel("death (Å²)")
    ax.set_title(title)
    return ax
