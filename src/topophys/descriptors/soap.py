r"""SOAP power spectra of atomic structures (DScribe), one averaged vector per structure.

The amorphous-carbon paper (Minamitani et al., Sec. 2.3) describes each structure by DScribe's
SOAP with ``r_cut = 4.1`` Å, ``n_max = 8`` radial functions, ``l_max = 9`` and a Gaussian width
``sigma = 0.16`` Å, periodic, and averages the per-atom vectors over the atoms. Those are the
defaults of :class:`SOAPConfig`.

The length is 360: for one species the power spectrum :math:`p_{n n' l}` is symmetric in
:math:`(n, n')`, so DScribe keeps the :math:`n_{max}(n_{max} + 1) / 2 = 36` pairs
:math:`n \le n'` for each of the :math:`l_{max} + 1 = 10` degrees, 36 · 10 = 360.
DScribe's ``average="outer"`` averages the per-atom power spectra (its ``"inner"`` would average
the density coefficients before taking products, a different descriptor), so the averaged vector
is exactly the mean of the per-atom rows; :func:`soap_descriptor` uses it.

Needs DScribe: ``pip install 'topophys[baselines]'``.

Examples
--------
>>> from ase.build import bulk
>>> config = SOAPConfig(n_max=2, l_max=1)
>>> config.n_features
6
>>> soap_descriptor([bulk("C", "diamond", cubic=True)], config).shape
(1, 6)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate
from ..config import Config

__all__ = ["SOAPConfig", "cached_soap_descriptor", "soap_descriptor"]


def _dscribe_soap() -> Any:
    try:
        from dscribe.descriptors import SOAP
    except ImportError as err:
        raise ImportError(
            "SOAP descriptors need DScribe: pip install 'topophys[baselines]' "
            f"(import failed: {err})"
        ) from err
    return SOAP


@dataclass(frozen=True)
class SOAPConfig(Config):
    """DScribe SOAP settings (defaults: the amorphous-carbon paper's, Optuna-tuned there).

    Parameters
    ----------
    species
        Chemical symbols present (the papers': carbon only).
    r_cut
        Cutoff radius, Å (4.1).
    n_max
        Radial basis functions (8).
    l_max
        Maximum degree of the spherical harmonics (9).
    sigma
        Width of the Gaussians smearing each atom, Å (0.16).
    periodic
        Use the cell's periodic images (bulk structures: True).
    """

    species: tuple[str, ...] = ("C",)
    r_cut: float = 4.1
    n_max: int = 8
    l_max: int = 9
    sigma: float = 0.16
    periodic: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.species, str) or not self.species:
            raise ValueError(f"species must be a non-empty tuple of symbols, got {self.species!r}")
        # DScribe's GTO basis needs r_cut > 1 Å and n_max ≥ 1.
        if not float(self.r_cut) > 1.0:
            raise ValueError(f"r_cut must exceed 1 Å, got {self.r_cut!r}")
        _validate.positive_int("n_max", self.n_max)
        _validate.nonnegative_int("l_max", self.l_max)
        _validate.positive("sigma", self.sigma)
        if not isinstance(self.periodic, bool):
            raise TypeError(f"periodic must be True or False, got {self.periodic!r}")

    @property
    def n_features(self) -> int:
        """Length of the (averaged) vector: ``S (S + 1) / 2 · n (n + 1) / 2 · (l + 1)``.

        DScribe keeps the pairs ``(Z, n) ≤ (Z', n')``: for S species that is the symmetric
        count over ``S · n_max`` channels, for one species 36 · 10 = 360 at the defaults.
        """
        k = len(self.species) * self.n_max
        return k * (k + 1) // 2 * (self.l_max + 1)

    def build(self, average: bool = True) -> Any:
        """The DScribe ``SOAP`` object (``average="outer"`` or ``"off"``)."""
        SOAP = _dscribe_soap()
        return SOAP(
            species=list(self.species),
            r_cut=float(self.r_cut),
            n_max=int(self.n_max),
            l_max=int(self.l_max),
            sigma=float(self.sigma),
            periodic=self.periodic,
            average="outer" if average else "off",
        )


def soap_descriptor(
    frames: Sequence[Any],
    config: SOAPConfig | None = None,
    *,
    average: bool = True,
    n_jobs: int = 1,
) -> np.ndarray | list[np.ndarray]:
    """SOAP vectors of structures.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Structures; with ``config.periodic`` each needs a 3-D cell.
    config : SOAPConfig, optional
        Default: the paper's settings.
    average : bool, default True
        True: one vector per structure, the mean over its atoms (DScribe ``"outer"``).
        False: the per-atom rows.
    n_jobs : int, default 1
        DScribe's worker processes.

    Returns
    -------
    numpy.ndarray, shape (n, F) float64, or list of (n_atoms_i, F) arrays
        ``F = config.n_features`` (360 at the defaults); a list when ``average`` is False.

    Raises
    ------
    ValueError
        If ``frames`` is empty, holds a non-structure, a species outside ``config.species``,
        or (periodic) a structure without a full cell.
    ImportError
        Without DScribe (the ``baselines`` extra).
    """
    config = SOAPConfig() if config is None else config
    if not isinstance(config, SOAPConfig):
        raise TypeError(f"config must be a SOAPConfig, got {type(config).__name__}")
    frames = list(frames)
    if not frames:
        raise ValueError("frames must hold at least one structure, got none")
    allowed = set(config.species)
    for i, atoms in enumerate(frames):
        if not hasattr(atoms, "get_chemical_symbols"):
            raise TypeError(f"frames[{i}] must be an ase.Atoms, got {type(atoms).__name__}")
        if len(atoms) == 0:
            raise ValueError(f"frames[{i}] holds no atoms")
        extra = set(atoms.get_chemical_symbols()) - allowed
        if extra:
            raise ValueError(
                f"frames[{i}] holds species {sorted(extra)} outside config.species "
                f"{list(config.species)}"
            )
        if config.periodic and abs(atoms.cell.volume) < 1e-9:
            raise ValueError(f"frames[{i}] has no 3-D cell; periodic SOAP needs one")
    n_jobs = _validate.positive_int("n_jobs", n_jobs)
    soap = config.build(average=average)
    out = soap.create(frames if len(frames) > 1 else frames[0], n_jobs=n_jobs)
    if average:
        return np.asarray(out, dtype=np.float64).reshape(len(frames), -1)
    if len(frames) == 1:
        return [np.asarray(out, dtype=np.float64)]
    return [np.asarray(o, dtype=np.float64) for o in out]


def _digest(frames: Sequence[Any], config: SOAPConfig) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(config.to_dict()).encode())
    for a in frames:
        h.update(np.ascontiguousarray(a.positions, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(a.cell.array, dtype=np.float64).tobytes())
    return h.hexdigest()


def cached_soap_descriptor(
    frames: Sequence[Any], config: SOAPConfig, path: str | Path | None = None, *, n_jobs: int = 1
) -> np.ndarray:
    """Averaged SOAP vectors ``(n, F)`` of ``frames``, kept in ``path`` (``.npz``) for reuse.

    The file also holds a digest of the config and of the frames' positions and cells; a file
    of other frames or settings is recomputed and replaced (atomically). Without ``path`` this
    is :func:`soap_descriptor` (``n_jobs``: DScribe's processes).
    """
    key = _digest(frames, config)
    path = None if path is None else Path(path)
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) == key:
                return stored["soap"]
    X = np.asarray(soap_descriptor(frames, config, n_jobs=n_jobs))
    if path is not None:
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, soap=X, key=np.array(key))
        tmp.replace(path)
    return X
