r"""Alpha-complex persistence of atomic structures, periodic cells included.

Filtration values are **squared radii** (Å² for positions in Å), HomCloud's convention and the
one the ML-potential papers' histogram windows ([0, 8]² Å² for H1, [0, 4]² Å² for H2) assume;
GUDHI's ``AlphaComplex`` uses it too.

Periodic cells (cubic or triclinic, in 3D or, with ``dimension=2``, in the plane) are computed
exactly on the torus, all in vectorized numpy:

1. wrap the atoms into the cell and surround it with their periodic images up to a margin *m*
   (the *cover*), on a binary grid fine enough to be round-off and coarse enough that every
   image is an exact translate;
2. triangulate the cover (Delaunay, by Qhull);
3. keep, for each top simplex of the torus, the copy whose circumcentre lies in the cell, and
   certify it: its circumball must lie inside the cover, so it is empty of every periodic image
   and the simplex is a true periodic Delaunay simplex (otherwise *m* grows). The kept simplices
   must tile the torus exactly once (volumes add up to the cell's, every facet has two
   cofacets); if not, which happens when Qhull's floating-point arithmetic splits groups of
   co-spherical atoms (crystals) differently in different copies, CGAL's exact triangulation
   (through GUDHI) is used instead;
4. name every face by its atoms and image offsets, merge copies (``np.unique``), and give it
   its alpha value: the squared radius of its smallest circumsphere if that sphere is empty
   (Gabriel), else the lowest value of its cofacets;
5. run persistence on this quotient complex in a GUDHI ``SimplexTree``.

Taking a 3×3×3 replica and keeping pairs that touch the central cell is *not* equivalent (it
over-counts). The quotient is a triangulation of the torus, so its diagrams carry the torus'
essential classes: 1 in H0, d in H1 (the winding loops), 3 in H2 and 1 in H3 for d = 3. If two
different simplices of the torus have the same atoms (a cell smaller than about two Delaunay
circumradii) the quotient is no simplicial complex and :class:`CellTooSmallError` is raised.

Degenerate positions (several atoms on one sphere, as in crystals) are decided as an exact
predicate would on the ideal positions: points within a relative 1e-10 of a sphere count as on
it, and a flat simplex (four atoms on a circle, which a triangulation may need between two
co-spherical groups) enters with its facets. Pairs with death − birth ≤ ``zero_tolerance``
(simplices entering together) are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .. import _validate
from ..diagrams import Diagrams
from ..parallel import pmap
from ._torus import (
    CellTooSmallError,
    Torus,
    check_points,
    default_zero_tolerance,
    triangulated,
)

__all__ = ["AlphaPersistence", "CellTooSmallError", "alpha_diagram", "periodic_alpha_diagram"]


def alpha_diagram(points: np.ndarray, max_dim: int | None = None) -> np.ndarray:
    """Alpha persistence of a finite point cloud (no periodicity).

    Parameters
    ----------
    points
        ``(n, d)`` coordinates, d = 2 or 3.
    max_dim
        Highest homology dimension reported (default d − 1).

    Returns
    -------
    numpy.ndarray
        ``(k, 3)`` rows ``[dim, birth, death]`` in squared radii; death = inf for essential
        classes (one H0 class).
    """
    import gudhi

    points = check_points(points)
    d = points.shape[1]
    max_dim = d - 1 if max_dim is None else _validate.nonnegative_int("max_dim", max_dim)
    st = gudhi.AlphaComplex(points=points).create_simplex_tree()
    return _persistence_rows(st, max_dim, zero_tolerance=0.0)


def periodic_alpha_diagram(
    points: np.ndarray,
    cell: np.ndarray,
    *,
    max_dim: int | None = None,
    margin: float | None = None,
    zero_tolerance: float | None = None,
) -> np.ndarray:
    """Exact alpha persistence of a periodic structure (see the module notes for the method).

    Parameters
    ----------
    points
        ``(n, d)`` Cartesian coordinates, d = 2 or 3; atoms outside the cell are wrapped in.
    cell
        ``(d, d)`` lattice vectors as rows (ASE's convention), same length unit as ``points``.
    max_dim
        Highest homology dimension reported (default d − 1; d includes the torus' top class).
    margin
        Initial width of the cover around the cell (length unit of ``points``); by default
        1.25 mean interatomic spacings. It grows automatically until every kept Delaunay simplex
        is certified.
    zero_tolerance
        Pairs with death − birth ≤ this (squared-radius units), simplices entering together,
        are dropped. ``None`` (default): 1e-10 times the squared mean atomic spacing
        (volume/n)^(2/d), so the result does not depend on the unit of length (about 4e-10 Å²
        for amorphous carbon).

    Returns
    -------
    numpy.ndarray
        ``(k, 3)`` rows ``[dim, birth, death]``, squared radii, death = inf for essential classes.

    Raises
    ------
    CellTooSmallError
        If two different simplices of the torus share their atoms (the cell is smaller than
        about twice the largest Delaunay circumradius): use a supercell.
    ValueError
        On malformed input, or if two atoms coincide.
    RuntimeError
        If no valid triangulation of the torus is found (not seen in practice).

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(-1, 2)
    >>> d = periodic_alpha_diagram(grid, 4 * np.eye(2))
    >>> int(np.isinf(d[d[:, 0] == 1, 2]).sum())  # the two winding loops of the 2-torus
    2
    """
    import gudhi

    points = check_points(points)
    d = points.shape[1]
    max_dim = d - 1 if max_dim is None else _validate.nonnegative_int("max_dim", max_dim)
    if zero_tolerance is None:
        zero_tolerance = default_zero_tolerance(cell, len(points), d)
    _validate.nonnegative("zero_tolerance", zero_tolerance)
    complex_, _ = triangulated(Torus, points, cell, margin)

    quotient = gudhi.SimplexTree()
    for atoms, values in complex_:
        quotient.insert_batch(atoms.T.astype(np.int32), values)
    return _persistence_rows(quotient, max_dim, zero_tolerance)


def _persistence_rows(st: Any, max_dim: int, zero_tolerance: float) -> np.ndarray:
    st.compute_persistence(homology_coeff_field=2, min_persistence=-1.0, persistence_dim_max=True)
    rows = []
    # No class lives above the complex's dimension: a huge max_dim must not loop for ever.
    for dim in range(min(max_dim, st.dimension()) + 1):
        pairs = np.asarray(st.persistence_intervals_in_dimension(dim), dtype=np.float64)
        if pairs.size == 0:
            continue
        pairs = pairs.reshape(-1, 2)
        keep = ~(pairs[:, 1] - pairs[:, 0] <= zero_tolerance)  # inf deaths are kept
        pairs = pairs[keep]
        rows.append(np.column_stack([np.full(len(pairs), dim, np.float64), pairs]))
    if not rows:
        return np.empty((0, 3))
    out = np.concatenate(rows)
    return out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]


def _atoms_diagram(atoms: Any, params: dict[str, Any]) -> np.ndarray:
    dimension = params["dimension"]
    positions = np.asarray(atoms.get_positions(), dtype=np.float64)[:, :dimension]
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)[:dimension]
    periodic = params["periodic"]
    if periodic == "auto":
        periodic = bool(pbc.all())
        if pbc.any() and not periodic:
            raise ValueError(
                f"atoms have mixed periodicity pbc={atoms.get_pbc().tolist()}; only fully periodic "
                "or non-periodic structures are supported"
            )
    if not periodic:
        return alpha_diagram(positions, max_dim=params["max_dim"])
    cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)[:dimension, :dimension]
    return periodic_alpha_diagram(
        positions, cell, max_dim=params["max_dim"], zero_tolerance=params["zero_tolerance"]
    )


class _AtomsJob:
    """Picklable per-structure job for :func:`topophys.parallel.pmap`."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def __call__(self, atoms: Any) -> np.ndarray:
        return _atoms_diagram(atoms, self.params)


class AlphaPersistence(TransformerMixin, BaseEstimator):
    """Alpha persistence diagrams of atomic structures (scikit-learn transformer).

    Parameters
    ----------
    periodic
        ``"auto"`` follows each structure's ``pbc``; ``True``/``False`` force it.
    dimension
        3 for bulk structures; 2 for planar ones (amorphous graphene), using x, y and the
        in-plane 2×2 block of the cell.
    max_dim
        Highest homology dimension reported (default ``dimension − 1``).
    zero_tolerance
        Zero-length pairs from copy round-off below this (Å²) are dropped (periodic only);
        ``None``: relative to each structure's squared mean atomic spacing (see
        :func:`periodic_alpha_diagram`).
    n_jobs
        Local worker processes.
    scheduler
        Dask scheduler address or client (see :mod:`topophys.parallel`).

    Examples
    --------
    >>> from ase.build import bulk
    >>> si = bulk("Si", cubic=True).repeat(2)
    >>> dgms = AlphaPersistence().fit_transform([si])
    >>> int((dgms.select(1).essential().sizes())[0])  # three winding loops of the 3-torus
    3
    """

    def __init__(
        self,
        periodic: bool | str = "auto",
        dimension: int = 3,
        max_dim: int | None = None,
        zero_tolerance: float | None = None,
        n_jobs: int = 1,
        scheduler: Any = None,
    ) -> None:
        self.periodic = periodic
        self.dimension = dimension
        self.max_dim = max_dim
        self.zero_tolerance = zero_tolerance
        self.n_jobs = n_jobs
        self.scheduler = scheduler

    def fit(self, X: Sequence[Any], y: Any = None) -> AlphaPersistence:
        """Nothing to learn; validates the parameters."""
        self._params()
        return self

    def _params(self) -> dict[str, Any]:
        _validate.choice("periodic", self.periodic, ("auto", True, False))
        _validate.choice("dimension", self.dimension, (2, 3))
        max_dim = self.dimension - 1 if self.max_dim is None else self.max_dim
        _validate.nonnegative_int("max_dim", max_dim)
        if self.zero_tolerance is not None:
            _validate.nonnegative("zero_tolerance", self.zero_tolerance)
        return {
            "periodic": self.periodic,
            "dimension": self.dimension,
            "max_dim": max_dim,
            "zero_tolerance": self.zero_tolerance,
        }

    def transform(self, X: Sequence[Any]) -> Diagrams:
        """Diagrams of each structure: a :class:`~topophys.diagrams.Diagrams` of ``len(X)``."""
        params = self._params()
        if isinstance(X, (str, bytes, np.ndarray)) or not hasattr(X, "__iter__"):
            raise TypeError(f"X must be a sequence of ase.Atoms, got {type(X).__name__}")
        structures = list(X)
        for i, atoms in enumerate(structures):
            if not hasattr(atoms, "get_positions") or not hasattr(atoms, "get_cell"):
                raise TypeError(f"X[{i}] must be an ase.Atoms, got {type(atoms).__name__}")
        rows = pmap(
            _AtomsJob(params),
            structures,
            workers=self.n_jobs,
            scheduler=self.scheduler,
            desc="alpha persistence",
        )
        return Diagrams.from_list(rows)
