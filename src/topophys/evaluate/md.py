"""What a molecular-dynamics run is judged by: energy drift and structure.

- :func:`energy_drift`: slope of the total energy per atom along an NVE run (a least-squares
  line), in meV/atom/ps, and its fluctuation about the line;
- :func:`radial_distribution`: g(r) averaged over snapshots (periodic images included);
- :func:`coordination_fractions`: shares of two-, three- and fourfold atoms within a bond
  cutoff (sp, sp², sp³ for carbon) and of the rest.

Examples
--------
>>> from ase.build import bulk
>>> coordination_fractions([bulk("C", "diamond", a=3.567, cubic=True)])["sp3"]
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _validate

__all__ = ["coordination_fractions", "energy_drift", "radial_distribution"]


def energy_drift(time_ps: Any, total_eV: Any, n_atoms: int) -> dict[str, float]:
    """Drift of the total energy along an NVE run.

    Parameters
    ----------
    time_ps : array, shape (k,)
        ps, k ≥ 2.
    total_eV : array, shape (k,)
        Total (potential + kinetic) energy, eV.
    n_atoms : int

    Returns
    -------
    dict
        ``drift_meV_per_atom_per_ps`` (slope of the least-squares line),
        ``abs_drift_meV_per_atom_per_ps``, ``fluctuation_meV_per_atom`` (standard deviation
        about the line), ``max_excursion_meV_per_atom`` (largest |E(t) − E(0)|) and
        ``duration_ps``.

    >>> energy_drift([0.0, 1.0, 2.0], [-10.0, -9.9, -9.8], 100)["drift_meV_per_atom_per_ps"]
    1.0
    """
    t = np.asarray(time_ps, dtype=np.float64)
    e = np.asarray(total_eV, dtype=np.float64) / _validate.positive_int("n_atoms", n_atoms)
    if t.ndim != 1 or t.shape != e.shape or len(t) < 2:
        raise ValueError(f"time_ps and total_eV must be (k ≥ 2,) arrays, got {t.shape}, {e.shape}")
    if not (np.isfinite(t).all() and np.isfinite(e).all()):
        raise ValueError("time_ps and total_eV must be finite")
    slope, intercept = np.polyfit(t, e, 1)
    residual = e - (slope * t + intercept)
    return {
        "drift_meV_per_atom_per_ps": round(1000.0 * float(slope), 12),
        "abs_drift_meV_per_atom_per_ps": round(1000.0 * abs(float(slope)), 12),
        "fluctuation_meV_per_atom": 1000.0 * float(residual.std()),
        "max_excursion_meV_per_atom": 1000.0 * float(np.abs(e - e[0]).max()),
        "duration_ps": float(t[-1] - t[0]),
    }


def radial_distribution(
    frames: Sequence[Any], r_max: float = 6.0, bins: int = 120
) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution g(r) averaged over periodic ``frames``.

    Returns bin centres ``(bins,)`` in Å and g ``(bins,)`` (→ 1 at large r in a liquid or
    glass), normalized by each frame's number density.
    """
    from ase.neighborlist import neighbor_list

    _validate.positive("r_max", r_max)
    _validate.positive_int("bins", bins)
    frames = list(frames)
    if not frames:
        raise ValueError("frames must hold at least one structure")
    edges = np.linspace(0.0, r_max, bins + 1)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = np.zeros(bins)
    for atoms in frames:
        d = neighbor_list("d", atoms, r_max)
        counts, _ = np.histogram(d, edges)
        density = len(atoms) / atoms.get_volume()
        g += counts / (len(atoms) * density * shell)
    return 0.5 * (edges[1:] + edges[:-1]), g / len(frames)


def coordination_fractions(frames: Sequence[Any], cutoff: float = 1.85) -> dict[str, float]:
    """Shares of atoms with 2 (``sp``), 3 (``sp2``), 4 (``sp3``) and other numbers of
    neighbours within ``cutoff`` (Å; 1.85 lies between the first and second shells of
    amorphous carbon), pooled over ``frames``."""
    from ase.neighborlist import neighbor_list

    _validate.positive("cutoff", cutoff)
    frames = list(frames)
    if not frames:
        raise ValueError("frames must hold at least one structure")
    counts = np.concatenate(
        [np.bincount(neighbor_list("i", a, cutoff), minlength=len(a)) for a in frames]
    )
    shares = {name: float(np.mean(counts == k)) for name, k in (("sp", 2), ("sp2", 3), ("sp3", 4))}
    shares["other"] = 1.0 - sum(shares.values())
    return shares
