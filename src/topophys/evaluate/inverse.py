r"""Inverse analysis of the PH-descriptor Ridge model: coefficients → PD regions → rings → atoms.

The amorphous-carbon paper (Sec. 3, Fig. 6) reads the Ridge coefficients on the birth–death
grid: bins with a large positive coefficient raise the predicted energy, large negative ones
lower it. The PD points of a structure that fall in those bins are traced back to their rings
of atoms (representative cycles), and the bond lengths and angles of the high- and low-energy
rings are compared as histograms (Fig. 6c–d; 25 frames of one 5000 K trajectory there).

Here:

1. :func:`energy_regions`: bins with coefficient above ``high`` (high-energy region) or below
   ``low`` (low-energy region). The paper's thresholds (0.003 and −0.0045) are in the units of
   its coefficients; ours default to quantiles of the non-zero coefficients (the top and bottom
   ``quantile``), which carry over between datasets and descriptor scalings.
2. :func:`inverse_analysis`: for each frame, the H1 pairs in each region
   (:func:`~topophys.homology.cycles.h1_cycles` with a ``select`` on the bins), their rings,
   and each ring's bond lengths (Å, consecutive ring atoms, the closing bond included) and bond
   angles (degrees, at each ring atom between its two ring bonds).

Examples
--------
>>> import numpy as np
>>> coef = np.zeros((4, 4)); coef[0, 1] = 2.0; coef[2, 3] = -1.0; coef[1, 2] = 0.1
>>> high, low, th = energy_regions(coef, high=1.0, low=-0.5)
>>> np.argwhere(high).tolist(), np.argwhere(low).tolist()
([[0, 1]], [[2, 3]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _validate

__all__ = [
    "InverseAnalysis",
    "energy_regions",
    "inverse_analysis",
    "points_in_region",
    "restrict_births",
]


def _coef(coef: Any) -> np.ndarray:
    c = np.asarray(coef, dtype=np.float64)
    if c.ndim != 2 or 0 in c.shape:
        raise ValueError(f"coef must be a non-empty (nb, nd) array, got shape {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError("coef must be finite (NaN or inf found)")
    return c


def energy_regions(
    coef: Any,
    *,
    high: float | None = None,
    low: float | None = None,
    quantile: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """High- and low-energy regions of a coefficient map on the birth–death grid.

    Parameters
    ----------
    coef : array_like, shape (nb, nd)
        Ridge coefficients per bin, birth along axis 0 (eV/atom per descriptor unit).
    high, low : float, optional
        Thresholds: bins with ``coef > high`` form the high-energy region, ``coef < low`` the
        low-energy one. Default: the ``1 − quantile`` and ``quantile`` quantiles of the non-zero
        coefficients (at least 0 and at most 0 respectively).
    quantile : float, default 0.05
        In (0, 0.5).

    Returns
    -------
    high_mask, low_mask : numpy.ndarray of bool, shape (nb, nd)
    thresholds : dict
        ``high`` and ``low`` used.
    """
    c = _coef(coef)
    q = _validate.in_range("quantile", quantile, 0.0, 0.5)
    if q in (0.0, 0.5):
        raise ValueError(f"quantile must lie strictly between 0 and 0.5, got {quantile}")
    nonzero = c[c != 0.0]
    if (high is None or low is None) and nonzero.size == 0:
        raise ValueError("coef is all zeros: give high and low thresholds explicitly")
    hi = max(float(np.quantile(nonzero, 1.0 - q)), 0.0) if high is None else float(high)
    lo = min(float(np.quantile(nonzero, q)), 0.0) if low is None else float(low)
    if not lo < hi:
        raise ValueError(f"low must be below high, got low={lo}, high={hi}")
    return c > hi, c < lo, {"high": hi, "low": lo}


def points_in_region(
    births: Any,
    deaths: Any,
    mask: Any,
    birth_range: Sequence[float] = (0.0, 8.0),
    death_range: Sequence[float] = (0.0, 8.0),
) -> np.ndarray:
    """Which PD points ``(births (k,), deaths (k,))`` fall in bins where ``mask (nb, nd)`` is
    true, binned as :class:`~topophys.vectorize.PersistenceHistogram` bins them. Points
    outside the window are never in a region. Returns a bool ``(k,)``."""
    from ..vectorize.histogram import bin_index

    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be a (nb, nd) array, got shape {m.shape}")
    b = np.asarray(births, dtype=np.float64).reshape(-1)
    d = np.asarray(deaths, dtype=np.float64).reshape(-1)
    if b.shape != d.shape:
        raise ValueError(f"births and deaths must have the same length, got {b.size}, {d.size}")
    (b0, b1), (d0, d1) = (float(x) for x in birth_range), (float(x) for x in death_range)
    inside = (b >= b0) & (b <= b1) & (d >= d0) & (d <= d1)
    out = np.zeros(b.shape, dtype=bool)
    ib = bin_index(b[inside], b0, b1, m.shape[0])
    idd = bin_index(d[inside], d0, d1, m.shape[1])
    out[inside] = m[ib, idd]
    return out


@dataclass
class InverseAnalysis:
    """Result of :func:`inverse_analysis`.

    Attributes
    ----------
    thresholds : dict
        ``high`` and ``low`` coefficient thresholds.
    high_mask, low_mask : numpy.ndarray of bool, shape (nb, nd)
    cycles : dict of str to list of list of Cycle
        ``cycles["high"][f]``: the rings of frame f in the high-energy region (same for low).
    bond_lengths, bond_angles : dict of str to numpy.ndarray
        All ring bond lengths (Å) and angles (degrees) per region, over all frames; rings that
        do not close in space (winding loops) are left out.
    """

    thresholds: dict[str, float]
    high_mask: np.ndarray
    low_mask: np.ndarray
    cycles: dict[str, list[list[Any]]] = field(default_factory=dict)
    bond_lengths: dict[str, np.ndarray] = field(default_factory=dict)
    bond_angles: dict[str, np.ndarray] = field(default_factory=dict)

    def atoms(self, region: str, frame: int) -> np.ndarray:
        """Sorted indices of the atoms on the rings of ``region`` in ``frame``."""
        rings = self.cycles[region][frame]
        if not rings:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate([c.atoms for c in rings]))

    def metrics(self, angle_window: tuple[float, float] = (50.0, 80.0)) -> dict[str, Any]:
        """Numbers for ``metrics.json``.

        Per region (``high``, ``low``): the bins, rings, ring atoms and bonds, the mean ring
        size, the mean and standard deviation of bond lengths (Å) and angles (degrees), the
        longest bond and the share of angles in ``angle_window`` (degrees; the paper saw the
        regions differ between 50° and 80°). Between the regions, where both have bonds: the
        two-sample Kolmogorov–Smirnov distance of their bond lengths and of their angles
        (``bond_length_ks_distance``, ``bond_angle_ks_distance``; 0 for identical samples,
        1 for disjoint ones).
        """
        from scipy.stats import ks_2samp

        out: dict[str, Any] = {"thresholds": dict(self.thresholds)}
        for region in ("high", "low"):
            rings = [c for frame in self.cycles[region] for c in frame]
            lengths, angles = self.bond_lengths[region], self.bond_angles[region]
            entry: dict[str, Any] = {
                "bins": int((self.high_mask if region == "high" else self.low_mask).sum()),
                "rings": len(rings),
                "ring_atoms": int(
                    sum(len(self.atoms(region, f)) for f in range(len(self.cycles[region])))
                ),
                "bonds": int(lengths.size),
            }
            if rings:
                entry["mean_ring_size"] = float(np.mean([len(c.atoms) for c in rings]))
            if lengths.size:
                entry["bond_length_mean_A"] = float(lengths.mean())
                entry["bond_length_std_A"] = float(lengths.std())
                entry["bond_angle_mean_deg"] = float(angles.mean())
                entry["bond_angle_std_deg"] = float(angles.std())
                entry["bond_length_max_A"] = float(lengths.max())
                lo, hi = angle_window
                entry[f"angles_{lo:g}_{hi:g}_share"] = float(
                    ((angles >= lo) & (angles <= hi)).mean()
                )
            out[region] = entry
        for name, data in (("bond_length", self.bond_lengths), ("bond_angle", self.bond_angles)):
            if data["high"].size and data["low"].size:
                out[f"{name}_ks_distance"] = float(ks_2samp(data["high"], data["low"]).statistic)
        return out


def inverse_analysis(
    frames: Sequence[Any],
    coef: Any,
    birth_range: Sequence[float] = (0.0, 8.0),
    death_range: Sequence[float] = (0.0, 8.0),
    *,
    high: float | None = None,
    low: float | None = None,
    quantile: float = 0.05,
    dimension: int = 3,
) -> InverseAnalysis:
    """The paper's inverse analysis on ``frames``: rings of the PD points in the high- and
    low-energy regions of ``coef``, and their bond lengths and angles.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Structures (periodic or not), e.g. 25 frames of one trajectory.
    coef : array_like, shape (nb, nd)
        Ridge coefficients on the descriptor's birth–death grid (birth along axis 0).
    birth_range, death_range : (float, float)
        The descriptor's window (squared radii, Å²).
    high, low, quantile
        Region thresholds (see :func:`energy_regions`).
    dimension : int
        3 (bulk) or 2 (planar structures), as for the descriptor.

    Returns
    -------
    InverseAnalysis
    """
    from ..homology.cycles import atoms_h1_cycles

    c = _coef(coef)
    high_mask, low_mask, thresholds = energy_regions(c, high=high, low=low, quantile=quantile)
    frames = list(frames)
    if not frames:
        raise ValueError("frames must hold at least one structure")
    result = InverseAnalysis(thresholds, high_mask, low_mask, {"high": [], "low": []})
    either = high_mask | low_mask
    for atoms in frames:
        rings = atoms_h1_cycles(
            atoms,
            dimension=dimension,
            select=lambda b, d: points_in_region(b, d, either, birth_range, death_range),
        )
        births = np.array([r.birth for r in rings])
        deaths = np.array([r.death for r in rings])
        is_high = points_in_region(births, deaths, high_mask, birth_range, death_range)
        result.cycles["high"].append([r for r, h in zip(rings, is_high, strict=True) if h])
        result.cycles["low"].append([r for r, h in zip(rings, is_high, strict=True) if not h])
    for region in ("high", "low"):
        closed = [r for frame in result.cycles[region] for r in frame if not r.winding.any()]
        result.bond_lengths[region] = (
            np.concatenate([r.bond_lengths() for r in closed]) if closed else np.empty(0)
        )
        result.bond_angles[region] = (
            np.concatenate([r.bond_angles() for r in closed]) if closed else np.empty(0)
        )
    return result


def restrict_births(coef: Any, birth_range: Sequence[float], max_birth: float | None) -> np.ndarray:
    """``coef`` with the bins born above ``max_birth`` set to 0 (so in no energy region).

    Parameters
    ----------
    coef : array_like, shape (nb, nd)
        Coefficients on the birth–death grid (birth along axis 0).
    birth_range : (float, float)
        The grid's birth window (Å²).
    max_birth : float or None
        Keep the bins whose upper birth edge is at most this (Å², e.g. 2.0 for rings closed by
        chemical bonds); ``None`` keeps every bin.

    Returns
    -------
    numpy.ndarray, shape (nb, nd)
        A float64 copy (``coef`` itself when ``max_birth`` is None).

    Raises
    ------
    ValueError
        If no bin with a non-zero coefficient is left.

    Examples
    --------
    >>> restrict_births(np.ones((4, 2)), (0.0, 4.0), 2.0)[:, 0].tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    c = _coef(coef)
    if max_birth is None:
        return c
    edges = np.linspace(float(birth_range[0]), float(birth_range[1]), c.shape[0] + 1)
    out = c.copy()
    out[edges[1:] > max_birth + 1e-12] = 0.0  # zero coefficients are in neither region
    if not out.any():
        raise ValueError(f"max_birth={max_birth} Å² leaves no bin with a coefficient")
    return out
