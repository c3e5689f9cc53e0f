"""Figures of the PH-descriptor energy models (the amorphous-carbon papers' Figs. 2, 3c–d, 6a).

Functions take arrays, ``ax=None`` (a new figure is made) and return the Axes; matplotlib is
imported when called. Histograms and coefficient maps are ``(nb, nd)`` arrays with birth along
axis 0 (the layout of :class:`~topophys.vectorize.PersistenceHistogram`); they are drawn with
birth to the right and death upwards, as persistence diagrams are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "PARITY_COLORS",
    "coefficient_map",
    "descriptor_image",
    "energy_trajectories",
    "learning_curves",
    "parity_grid",
    "parity_per_split",
    "parity_plot",
    "sheet_plot",
    "size_curves",
]

PARITY_COLORS = {"train": "tab:blue", "test": "tab:red"}
"""The papers' colours: training frames blue, test frames red; other sets get the cycle's."""


def _axes(ax: Any, size: tuple[float, float] = (4.4, 4.0)) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size, constrained_layout=True)
    return ax


def _image(name: str, a: Any) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"{name} must be a non-empty 2-D (nb, nd) array, got shape {a.shape}")
    return a


def _pair(name: str, value: Sequence[float]) -> tuple[float, float]:
    if len(value) != 2 or not float(value[0]) < float(value[1]):
        raise ValueError(f"{name} must be (low, high) with low < high, got {value!r}")
    return float(value[0]), float(value[1])


def parity_plot(
    sets: Mapping[str, tuple[Any, Any]],
    ax: Any = None,
    *,
    title: str = "",
    unit: str = "eV/atom",
    markersize: float = 6.0,
) -> Any:
    """Predicted against true values, one colour per set, with the diagonal (paper Fig. 2).

    Parameters
    ----------
    sets : mapping of str to (y_true, y_pred)
        Each value a pair of ``(n,)`` arrays; the legend shows each set's name, size and RMSE
        (in meV when ``unit`` starts with ``"eV"``). Drawn in order, so put the largest first.
    title, unit : str
    markersize : float
        Marker area (points²).
    """
    if not sets:
        raise ValueError("sets must hold at least one (y_true, y_pred) pair")
    ax = _axes(ax)
    lo, hi = np.inf, -np.inf
    cycle = iter(["tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:gray"])
    milli = unit.startswith("eV")
    for name, (y_true, y_pred) in sets.items():
        t = np.asarray(y_true, dtype=np.float64).reshape(-1)
        p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
        if t.shape != p.shape or t.size == 0:
            raise ValueError(
                f"sets[{name!r}] must hold two arrays of the same non-zero length, got "
                f"{t.size} and {p.size}"
            )
        rmse = float(np.sqrt(np.mean((p - t) ** 2)))
        shown = f"{rmse * 1000:.1f} meV" if milli else f"{rmse:.3g}"
        color = PARITY_COLORS.get(name) or next(cycle, None)
        ax.scatter(
            t, p, s=markersize, alpha=0.6, color=color, lw=0,
            label=f"{name} (n = {t.size}, RMSE {shown})",
        )  # fmt: skip
        lo, hi = min(lo, t.min(), p.min()), max(hi, t.max(), p.max())
    pad = 0.03 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=0.8, zorder=0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(f"reference ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left")
    return ax


def descriptor_image(
    image: Any,
    birth_range: Sequence[float] = (0.0, 8.0),
    death_range: Sequence[float] = (0.0, 8.0),
    ax: Any = None,
    *,
    title: str = "",
    log: bool = False,
    cmap: str = "viridis",
    label: str = "",
) -> Any:
    """A birth–death histogram or descriptor as an image (letter Fig. 3c–d).

    Parameters
    ----------
    image : array_like, shape (nb, nd)
        Birth along axis 0.
    birth_range, death_range : (float, float)
        The histogram's window (Å² for alpha diagrams in squared radii).
    log : bool
        Logarithmic colour scale over the positive values (zeros left blank), for raw
        probabilities whose few bins near the diagonal dwarf the rest.
    cmap, label : str
        Colour map and colour-bar label.
    """
    import matplotlib as mpl

    a = _image("image", image)
    b, d = _pair("birth_range", birth_range), _pair("death_range", death_range)
    ax = _axes(ax)
    norm = None
    shown = a.T
    if log:
        positive = a[a > 0]
        if positive.size:
            norm = mpl.colors.LogNorm(vmin=float(positive.min()), vmax=float(positive.max()))
        shown = np.ma.masked_less_equal(shown, 0.0)
    im = ax.imshow(
        shown, origin="lower", extent=(*b, *d), aspect="auto", cmap=cmap, norm=norm,
        interpolation="nearest",
    )  # fmt: skip
    lo, hi = max(b[0], d[0]), min(b[1], d[1])
    if lo < hi:  # grey shows on both the blank (masked) and the dark background
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.6)
    ax.set_xlabel("birth (Å²)")
    ax.set_ylabel("death (Å²)")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, label=label)
    return ax


def coefficient_map(
    coef: Any,
    birth_range: Sequence[float] = (0.0, 8.0),
    death_range: Sequence[float] = (0.0, 8.0),
    ax: Any = None,
    *,
    title: str = "",
    label: str = "Ridge coefficient (eV/atom per z-unit)",
) -> Any:
    """Linear-model coefficients drawn on the birth–death grid (paper Fig. 6a).

    Diverging colours centred at zero: red bins raise the predicted energy, blue bins lower it.

    Parameters
    ----------
    coef : array_like, shape (nb, nd)
        Birth along axis 0.
    """
    import matplotlib as mpl

    c = _image("coef", coef)
    b, d = _pair("birth_range", birth_range), _pair("death_range", death_range)
    ax = _axes(ax)
    top = float(np.abs(c).max()) or 1.0
    im = ax.imshow(
        c.T, origin="lower", extent=(*b, *d), aspect="auto", cmap="RdBu_r",
        norm=mpl.colors.TwoSlopeNorm(vcenter=0.0, vmin=-top, vmax=top), interpolation="nearest",
    )  # fmt: skip
    lo, hi = max(b[0], d[0]), min(b[1], d[1])
    if lo < hi:
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.6, alpha=0.5)
    ax.set_xlabel("birth (Å²)")
    ax.set_ylabel("death (Å²)")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, label=label)
    return ax


def learning_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    ax: Any = None,
    *,
    title: str = "",
) -> Any:
    """Training (solid) and validation (dashed) RMSE in meV/atom against epoch, per model.

    Parameters
    ----------
    histories : mapping of str to history
        Each history as returned by :func:`topophys.training.regression.fit_cnn`: ``epoch``,
        ``train_rmse_meV`` and optionally ``val_rmse_meV``.
    """
    if not histories:
        raise ValueError("histories must hold at least one training history")
    ax = _axes(ax, (6.0, 3.8))
    for i, (name, hist) in enumerate(histories.items()):
        color = f"C{i}"
        epochs = np.asarray(hist["epoch"])
        ax.plot(epochs, hist["train_rmse_meV"], color=color, label=f"{name}: train")
        if hist.get("val_rmse_meV"):
            ax.plot(epochs, hist["val_rmse_meV"], "--", color=color, label=f"{name}: test")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE (meV/atom)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def energy_trajectories(
    energy: Any,
    groups: Any,
    color_by: Any,
    ax: Any = None,
    *,
    color_label: str = "density (g/cm³)",
    title: str = "",
) -> Any:
    """Energy per atom along each run (frame order within the run), coloured by ``color_by``.

    Parameters
    ----------
    energy : array_like, shape (n,)
        eV/atom, frames in run order.
    groups : array_like, shape (n,)
        Run of each frame.
    color_by : array_like, shape (n,)
        A value constant within a run (e.g. the density).
    """
    import matplotlib as mpl

    e = np.asarray(energy, dtype=np.float64).reshape(-1)
    g = np.asarray(groups).reshape(-1)
    c = np.asarray(color_by, dtype=np.float64).reshape(-1)
    if not (e.shape == g.shape == c.shape) or e.size == 0:
        raise ValueError(
            f"energy, groups and color_by must be non-empty and of one length, got "
            f"{e.size}, {g.size}, {c.size}"
        )
    ax = _axes(ax, (6.0, 3.8))
    norm = mpl.colors.Normalize(vmin=float(c.min()), vmax=float(c.max()) + 1e-12)
    cmap = mpl.colormaps["viridis"]
    for label in np.unique(g):
        mask = g == label
        ax.plot(np.arange(mask.sum()), e[mask], lw=0.9, color=cmap(norm(c[mask][0])))
    ax.set_xlabel("frame of the run (time order)")
    ax.set_ylabel("energy (eV/atom)")
    ax.set_title(title)
    ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=color_label)
    return ax


def sheet_plot(atoms: Any, ax: Any = None, *, title: str = "", cutoff: float | None = None) -> Any:
    """A planar frame from above: atoms coloured by coordination, bonds drawn.

    Parameters
    ----------
    atoms : ase.Atoms
        A planar structure (x, y used), periodic in the plane.
    ax : matplotlib Axes, optional
    title : str
    cutoff : float, optional
        Bond length (Å) below which two atoms are neighbours; default
        :data:`topophys.simulate.graphene.BOND_CUTOFF`. Bonds across the cell edge are not drawn.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ase.neighborlist import neighbor_list
    from matplotlib.collections import LineCollection

    from ..simulate.graphene import BOND_CUTOFF

    ax = _axes(ax, (5.0, 4.6))
    i, j, shift = neighbor_list("ijS", atoms, BOND_CUTOFF if cutoff is None else cutoff)
    xy = atoms.positions[:, :2]
    inside = (shift == 0).all(axis=1) & (i < j)  # bonds across the cell edge left out
    segments = np.stack([xy[i[inside]], xy[j[inside]]], axis=1)
    ax.add_collection(LineCollection(segments, colors="0.55", linewidths=0.6))
    coordination = np.bincount(i, minlength=len(atoms))
    colors = {2: "tab:blue", 3: "0.15", 4: "tab:red"}
    for c in sorted(set(coordination.tolist())):
        sel = coordination == c
        ax.scatter(*xy[sel].T, s=5, color=colors.get(c, "tab:orange"), label=f"{c}-fold",
                   zorder=3)  # fmt: skip
    ax.set_aspect("equal")
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("y (Å)")
    ax.legend(fontsize=7, loc="upper right", framealpha=0.9)
    ax.set_title(title, fontsize=9)
    return ax


def parity_grid(
    parity: Mapping[str, Mapping[str, Mapping[str, tuple[Any, Any]]]],
    labels: Mapping[str, str] | None = None,
) -> Any:
    """One :func:`parity_plot` per model (columns) and split (rows: random, then grouped).

    Parameters
    ----------
    parity : mapping
        ``{model: {split: {set: (reference, predicted)}}}``, e.g.
        ``parity`` of :class:`topophys.training.baselines.BaselineResults`.
    labels : mapping of str to str, optional
        Display name of each model key (default: the key).

    Returns
    -------
    matplotlib.figure.Figure
        Panels of splits a model lacks are left blank.
    """
    import matplotlib.pyplot as plt

    labels = dict(labels or {})
    models = list(parity)
    splits = sorted({s for m in parity.values() for s in m}, reverse=True)  # random, grouped
    fig, axes = plt.subplots(
        max(len(splits), 1), max(len(models), 1),
        figsize=(4.2 * max(len(models), 1), 4.0 * max(len(splits), 1)), squeeze=False,
    )  # fmt: skip
    for c, model in enumerate(models):
        for r, split in enumerate(splits):
            ax = axes[r, c]
            if split in parity[model]:
                title = f"{labels.get(model, model)} ({split} split)"
                parity_plot(parity[model][split], ax, title=title)
            else:
                ax.set_axis_off()
    fig.tight_layout()
    return fig


def parity_per_split(
    parity: Mapping[str, Mapping[str, tuple[Any, Any]]],
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    name: str,
    split_names: Mapping[str, str] | None = None,
) -> Any:
    """One model: a :func:`parity_plot` per split and its :func:`learning_curves` on the right.

    Parameters
    ----------
    parity : mapping
        ``{split: {set: (reference, predicted)}}``.
    histories : mapping
        ``{label: history}`` for :func:`learning_curves`.
    name : str
        The model's name in the titles.
    split_names : mapping of str to str, optional
        Display name of each split key.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    split_names = dict(split_names or {})
    fig, axes = plt.subplots(
        1, len(parity) + 1, figsize=(4.4 * (len(parity) + 1), 4.0), constrained_layout=True
    )
    for ax, (split, sets) in zip(axes, parity.items(), strict=False):
        parity_plot(sets, ax, title=f"{name}, {split_names.get(split, split)}")
    learning_curves(histories, axes[-1], title=f"{name} training")
    return fig


def size_curves(
    scores: Sequence[Mapping[str, Any]], labels: Mapping[str, str] | None = None
) -> Any:
    """Test RMSE (solid) and larger-size RMSE (dashed) against training frames, per split.

    Parameters
    ----------
    scores : sequence of mapping
        One per point: ``model``, ``split``, ``train_frames``, ``test`` and optionally
        ``transfer`` (each with ``rmse_meV``), as the learning curves of the ``mlpot``
        pipeline record them.
    labels : mapping of str to str, optional
        Display name of each model key.

    Returns
    -------
    matplotlib.figure.Figure
        One log–log panel per split (random first).
    """
    import matplotlib.pyplot as plt

    if not scores:
        raise ValueError("scores must hold at least one point")
    labels = dict(labels or {})
    splits = sorted({s["split"] for s in scores}, reverse=True)
    models = list(dict.fromkeys(s["model"] for s in scores))
    fig, axes = plt.subplots(
        1, len(splits), figsize=(5.2 * len(splits), 4.0), squeeze=False, constrained_layout=True
    )
    for ax, split in zip(axes[0], splits, strict=True):
        for i, model in enumerate(models):
            pts = sorted(
                (s for s in scores if s["split"] == split and s["model"] == model),
                key=lambda s: s["train_frames"],
            )
            if not pts:
                continue
            n = [s["train_frames"] for s in pts]
            ax.plot(n, [s["test"]["rmse_meV"] for s in pts], "o-", color=f"C{i}",
                    label=labels.get(model, model))  # fmt: skip
            t = [(m, s["transfer"]["rmse_meV"]) for m, s in zip(n, pts, strict=True)
                 if "transfer" in s]  # fmt: skip
            if t:
                ax.plot(*zip(*t, strict=True), "x--", color=f"C{i}", alpha=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training frames")
        ax.set_ylabel("RMSE (meV/atom)")
        ax.set_title(f"{split} split (dashed: larger cells)")
        ax.legend(fontsize=8)
    return fig
