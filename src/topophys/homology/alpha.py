r"""Alpha-complex persistence of atomic structures, periodic cells included.

Filtration values are **squared radii** (Å² for positions in Å), HomCloud's convention and the
one the ML-potential papers' histogram windows ([0, 8]² Å² for H1, [0, 4]² Å² for H2) assume;
GUDHI's ``AlphaComplex`` uses it too.

Periodic cells (cubic or triclinic, in 3D or, with ``dimension=2``, in the plane) are computed
exactly on the torus:

1. wrap the atoms into the cell and surround it with periodic images up to a margin *m*
   (the *cover*);
2. compute the alpha filtration of the cover with GUDHI/CGAL (exact predicates);
3. keep, for each simplex of the torus, the copy whose reference vertex (smallest atom index) lies
   in the central cell, and check the margin: every such top simplex must have circumradius
   ≤ m/2, so its empty circumball lies inside the cover and it is a true periodic Delaunay
   simplex. Otherwise the margin grows and the cover is redone;
4. identify the copies: every simplex becomes a set of atom indices, and persistence runs on that
   quotient complex in a GUDHI ``SimplexTree``.

Taking a 3×3×3 replica and keeping pairs that touch the central cell is *not* equivalent (it
over-counts). The quotient is a triangulation of the torus, so its diagrams carry the torus'
essential classes: 1 in H0, d in H1 (the winding loops), 3 in H2 and 1 in H3 for d = 3.

Floating-point copies of the same value on different translates may differ by ~1e-16, which
shows up as pairs of zero length; pairs with death − birth ≤ ``zero_tolerance`` are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .. import _validate
from ..diagrams import Diagrams
from ..parallel import pmap

__all__ = ["AlphaPersistence", "CellTooSmallError", "alpha_diagram", "periodic_alpha_diagram"]


class CellTooSmallError(ValueError):
    """The periodic cell is too small for its simplices to be told apart on the torus."""


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

    points = _check_points(points)
    d = points.shape[1]
    max_dim = d - 1 if max_dim is None else max_dim
    st = gudhi.AlphaComplex(points=points).create_simplex_tree()
    return _persistence_rows(st, max_dim, zero_tolerance=0.0)


def periodic_alpha_diagram(
    points: np.ndarray,
    cell: np.ndarray,
    *,
    max_dim: int | None = None,
    margin: float | None = None,
    zero_tolerance: float = 1e-10,
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
        Initial width of the cover around the cell; by default three mean interatomic spacings.
        It grows automatically until the margin check passes.
    zero_tolerance
        Pairs with death − birth ≤ this (squared-radius units) are dropped as copy round-off.

    Returns
    -------
    numpy.ndarray
        ``(k, 3)`` rows ``[dim, birth, death]``, squared radii, death = inf for essential classes.

    Raises
    ------
    CellTooSmallError
        If two different simplices of the torus share their atoms (the cell is smaller than
        about twice the largest Delaunay circumradius): use a supercell.
    """
    import gudhi

    points = _check_points(points)
    n, d = points.shape
    cell = np.asarray(cell, dtype=np.float64)
    if cell.shape != (d, d):
        raise ValueError(f"cell must have shape ({d}, {d}) for {d}-D points, got {cell.shape}")
    volume = abs(float(np.linalg.det(cell)))
    if not np.isfinite(cell).all() or volume < 1e-12:
        raise ValueError("cell must be finite and non-degenerate (non-zero volume)")
    _validate.nonnegative("zero_tolerance", zero_tolerance)
    max_dim = d - 1 if max_dim is None else _validate.nonnegative_int("max_dim", max_dim)
    if n < d + 1:
        raise ValueError(f"points must hold at least {d + 1} atoms for a {d}-D periodic cell")

    frac = np.linalg.solve(cell.T, points.T).T
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0  # floor of values like 1 - 1e-17 can round back to 1
    wrapped = frac @ cell
    # Distance between opposite faces of the cell, per lattice direction.
    face_gaps = volume / np.array([_face_area(cell, i) for i in range(d)])
    if margin is None:
        margin = 3.0 * (volume / n) ** (1.0 / d)
    margin = _validate.positive("margin", margin)

    for _ in range(6):
        cover, atom, shift = _cover(wrapped, frac, cell, margin / face_gaps)
        st = gudhi.AlphaComplex(points=cover).create_simplex_tree()
        classes = _canonical_simplices(st, atom, shift, d)
        top_radius = math.sqrt(max(classes[d][1].max(), 0.0)) if classes[d][1].size else 0.0
        if 2.0 * top_radius <= margin * (1 + 1e-12):
            break
        margin = 2.2 * top_radius
    else:  # pragma: no cover - six doublings of the margin are always enough in practice
        raise RuntimeError("periodic alpha: the cover margin did not converge")

    quotient = gudhi.SimplexTree()
    for k in range(d + 1):
        simplices, values = classes[k]
        if simplices.size:
            quotient.insert_batch(simplices.T.astype(np.int32), values)
    quotient.make_filtration_non_decreasing()
    return _persistence_rows(quotient, max_dim, zero_tolerance)


def _cover(
    wrapped: np.ndarray, frac: np.ndarray, cell: np.ndarray, reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images of the atoms whose fractional coordinates lie within ``reach`` of the cell."""
    d = cell.shape[0]
    ranges = [np.arange(-math.ceil(r), math.ceil(r) + 1) for r in reach]
    shifts = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, d)
    f = frac[None, :, :] + shifts[:, None, :]
    inside = np.all((f >= -reach) & (f < 1.0 + reach), axis=-1)
    s_idx, a_idx = np.nonzero(inside)
    cover = wrapped[a_idx] + shifts[s_idx] @ cell
    return cover, a_idx.astype(np.int64), shifts[s_idx].astype(np.int64)


def _canonical_simplices(
    st: Any, atom: np.ndarray, shift: np.ndarray, d: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per dimension, the torus simplices as sorted atom-index rows and their filtration values.

    A cover simplex is kept when its reference vertex (smallest atom index) lies in the central
    cell; two kept simplices with the same atoms but different relative shifts mean the cell is
    too small for the quotient to be a simplicial complex.
    """
    by_dim: list[list[list[int]]] = [[] for _ in range(d + 1)]
    vals: list[list[float]] = [[] for _ in range(d + 1)]
    for simplex, value in st.get_simplices():
        by_dim[len(simplex) - 1].append(simplex)
        vals[len(simplex) - 1].append(value)
    out = []
    for k in range(d + 1):
        if not by_dim[k]:
            out.append((np.empty((0, k + 1), np.int64), np.empty(0)))
            continue
        verts = np.asarray(by_dim[k], dtype=np.int64)
        values = np.asarray(vals[k])
        atoms, shifts = atom[verts], shift[verts]  # (m, k+1), (m, k+1, d)
        order = np.argsort(atoms, axis=1, kind="stable")
        atoms = np.take_along_axis(atoms, order, axis=1)
        shifts = np.take_along_axis(shifts, order[:, :, None], axis=1)
        central = np.all(shifts[:, 0, :] == 0, axis=1)
        atoms, shifts, values = atoms[central], shifts[central], values[central]
        if k and np.any(atoms[:, 1:] == atoms[:, :-1]):
            raise CellTooSmallError(
                "a simplex joins an atom to its own periodic image: the cell is too small for "
                "the periodic alpha complex; use a supercell (e.g. ase.Atoms.repeat(2))"
            )
        relative = (shifts - shifts[:, :1, :]).reshape(len(atoms), -1)
        keys = np.concatenate([atoms, relative], axis=1)
        unique_keys = np.unique(keys, axis=0)
        unique_atoms = np.unique(atoms, axis=0)
        if len(unique_keys) != len(unique_atoms):
            raise CellTooSmallError(
                f"two different {k}-simplices of the torus share their atoms: the cell is too "
                "small for the periodic alpha complex; use a supercell (e.g. ase.Atoms.repeat(2))"
            )
        _, first = np.unique(atoms, axis=0, return_index=True)
        out.append((atoms[first], values[first]))
    return out


def _face_area(cell: np.ndarray, i: int) -> float:
    """Area (3D) or length (2D) of the cell face spanned by the lattice vectors other than i."""
    others = np.delete(cell, i, axis=0)
    if cell.shape[0] == 3:
        return float(np.linalg.norm(np.cross(others[0], others[1])))
    return float(np.linalg.norm(others[0]))


def _persistence_rows(st: Any, max_dim: int, zero_tolerance: float) -> np.ndarray:
    st.compute_persistence(homology_coeff_field=2, min_persistence=-1.0, persistence_dim_max=True)
    rows = []
    for dim in range(max_dim + 1):
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


def _check_points(points: Any) -> np.ndarray:
    points = np.asarray(points)
    if points.dtype == object or not np.issubdtype(points.dtype, np.number):
        raise TypeError(f"points must be a numeric (n, d) array, got dtype {points.dtype}")
    points = points.astype(np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must have shape (n, 2) or (n, 3), got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("points contain NaN or infinite coordinates")
    return points


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
        Zero-length pairs from copy round-off below this (Å²) are dropped (periodic only).
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
        zero_tolerance: float = 1e-10,
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
        if self.periodic not in ("auto", True, False):
            raise ValueError(f"periodic must be 'auto', True or False, got {self.periodic!r}")
        if self.dimension not in (2, 3):
            raise ValueError(f"dimension must be 2 or 3, got {self.dimension!r}")
        max_dim = self.dimension - 1 if self.max_dim is None else self.max_dim
        _validate.nonnegative_int("max_dim", max_dim)
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
