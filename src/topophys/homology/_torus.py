"""The periodic Delaunay triangulation behind the alpha complexes on the torus (internal).

Shared by :mod:`topophys.homology.alpha` (diagrams) and :mod:`topophys.homology.cycles`
(representative cycles): atoms wrapped in a periodic cell, covered by enough periodic images that
every kept simplex is certified to be a true periodic Delaunay simplex, and the alpha values of
the torus' simplices.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NoReturn

import numpy as np

from .. import _validate

__all__ = [
    "CellTooSmallError",
    "Torus",
    "check_cell",
    "check_cover",
    "check_points",
    "default_zero_tolerance",
    "triangulated",
]


class CellTooSmallError(ValueError):
    """The periodic cell is too small for its simplices to be told apart on the torus."""


def triangulated(
    torus_class: type, points: np.ndarray, cell: Any, margin: float | None
) -> tuple[Any, Any]:
    """Check ``cell``, wrap ``points (n, d)`` into it and triangulate the torus.

    Returns ``(torus.triangulate(...), torus)`` for an instance of ``torus_class``
    (:class:`Torus` or a subclass) on the first cover whose margin is certified, growing the
    margin and falling back from Qhull to CGAL as needed.
    """
    n, d = points.shape
    cell, volume = check_cell(cell, d)
    if n < d + 1:
        raise ValueError(f"points must hold at least {d + 1} atoms for a {d}-D periodic cell")
    if margin is None:
        # 1.25 spacings: certified at the first try on amorphous and crystalline carbon, where
        # 1.5 built a cover a quarter larger for Qhull (measured 6-17 % faster in all).
        margin = 1.25 * (volume / n) ** (1.0 / d)
    margin = _validate.positive("margin", margin)
    check_cover(cell, volume, n, margin)

    frac = np.linalg.solve(cell.T, points.T).T
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0  # floor of values like 1 - 1e-17 can round back to 1
    torus = torus_class(cell, volume, frac)

    qhull, failures = True, 0
    for attempt in range(_MAX_ATTEMPTS):
        offset = _REGION_OFFSETS[attempt % len(_REGION_OFFSETS)]
        try:
            return torus.triangulate(margin, offset, qhull), torus
        except _MarginTooSmall as grow:
            margin = max(grow.margin, 1.15 * margin)
            check_cover(cell, volume, n, margin)
        except _Degenerate as failure:
            if failure.gap:  # true simplices whose balls leave the cover were cut off
                margin *= 1.25
            # Otherwise, or the second time: Qhull's floating-point triangulation of
            # co-spherical atoms (crystals) can differ between periodic copies; CGAL's exact
            # predicates on exact translates cannot.
            qhull = qhull and failure.gap and not failures
            failures += 1
    raise RuntimeError(
        "periodic alpha: no valid triangulation of the torus was found; please report the structure"
    )


# Largest cover (atoms plus periodic images) triangulated, and most images per atom: far above
# any sensible cell (216 atoms in a cube need ~500 images, 10^5 atoms ~10^5, a cube ~25 per
# atom at worst), far below what takes Qhull minutes and gigabytes.
_MAX_COVER = 1_000_000
_MAX_IMAGES = 2_000
# A cell whose volume is below this times the product of its edge lengths is flat.
_FLAT_CELL_RTOL = 1e-12


def check_cell(cell: Any, d: int) -> tuple[np.ndarray, float]:
    """``cell`` as a ``(d, d)`` float array and its volume, or a ValueError naming ``cell``.

    Scale-free: a 1e-8 Å cube is as valid as a 10 Å one; a cell is refused only for its shape
    (flat: volume below 1e-12 of the product of its edge lengths).
    """
    try:
        arr = np.asarray(cell)
    except (TypeError, ValueError):
        raise TypeError(
            f"cell must be a numeric ({d}, {d}) array, got {type(cell).__name__}"
        ) from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"cell must be a numeric ({d}, {d}) array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"cell must be real, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.shape != (d, d):
        raise ValueError(f"cell must have shape ({d}, {d}) for {d}-D points, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("cell must be finite (no NaN or inf)")
    scale = float(np.abs(arr).max())
    if scale == 0.0:
        raise ValueError(f"cell is degenerate: it must span {d} dimensions, got all zeros")
    # Shape and size apart, so the test does not depend on the unit of length.
    unit = arr / scale
    edges = np.linalg.norm(unit, axis=1)
    relative = abs(float(np.linalg.det(unit)))
    if relative <= _FLAT_CELL_RTOL * float(np.prod(edges)):
        raise ValueError(
            f"cell is degenerate: its lattice vectors are (nearly) linearly dependent (volume "
            f"{relative:.3g} of the product of their lengths); it must span {d} dimensions"
        )
    with np.errstate(over="ignore", under="ignore"):
        volume = float(relative * np.float64(scale) ** d)
    if not np.isfinite(volume) or volume == 0.0 or not np.isfinite(volume ** (1.0 / d) * 2.0**53):
        raise ValueError(
            f"cell of size {scale:.3g} is outside what float64 volumes represent; express the "
            "positions and the cell in another unit of length"
        )
    return arr, volume


def check_cover(cell: np.ndarray, volume: float, n: int, margin: float) -> None:
    """Refuse, before any work, a cover of periodic images too large to triangulate.

    A thin cell (or a large ``margin``) needs images across many cell heights: the cover of
    ``[[1, 0], [1, 1e-6]]`` has about 10^6 copies of every atom, which Qhull runs out of memory
    on, in C code, past any signal.
    """
    d = cell.shape[0]
    gaps = volume / np.array([_face_area(cell, i) for i in range(d)])
    reach = margin / gaps
    with np.errstate(over="ignore"):
        images = float(np.prod(1.0 + 2.0 * reach))
    if not (n * images <= _MAX_COVER and images <= _MAX_IMAGES):
        raise ValueError(
            f"cell is too thin for its atoms: its smallest height {gaps.min():.3g} is "
            f"{gaps.min() / volume ** (1 / d):.2g} of its mean width {volume ** (1 / d):.3g}, "
            f"so a periodic cover reaching margin={margin:.3g} needs about {n * images:.3g} "
            f"atoms and images (at most {_MAX_COVER:.0e}, {_MAX_IMAGES} per atom, are "
            "triangulated); use a cell whose "
            "heights exceed about twice the spacing of the atoms (e.g. a supercell, or a "
            "reduced, less skewed cell)"
        )


# Relative slack of the empty-ball (Gabriel) test: points this close to a diametral sphere count as
# on it, as for CGAL's exact predicate, so crystals with co-spherical atoms get exact values.
_GABRIEL_RTOL = 1e-10


# A simplex is flat below this volume relative to its longest edge to the power d.
_FLAT_RTOL = 1e-10


# Atoms closer than this (relative to the mean spacing) are duplicates.
_DUPLICATE_RTOL = 1e-6


# Circumcentres of kept top simplices must lie in [o, 1 + o) in fractional coordinates. The
# offsets avoid the rational positions where crystals put the centres of their co-spherical cells.
_REGION_OFFSETS = (0.00314159265358979, -0.00271828182845905, 0.00577215664901533)


_MAX_ATTEMPTS = 8


class _MarginTooSmall(Exception):
    def __init__(self, margin: float) -> None:
        self.margin = margin


class _Degenerate(Exception):
    def __init__(self, gap: bool = False) -> None:
        self.gap = gap


class Torus:
    """Atoms wrapped in a periodic cell, triangulated through a cover of periodic images."""

    def __init__(self, cell: np.ndarray, volume: float, frac: np.ndarray) -> None:
        self.cell, self.volume, self.frac = cell, volume, frac
        n, d = frac.shape
        self.spacing = (volume / n) ** (1.0 / d)
        # Distance between opposite faces of the cell, per lattice direction.
        self.face_gaps = volume / np.array([_face_area(cell, i) for i in range(d)])

    def triangulate(
        self, margin: float, offset: float, qhull: bool
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per dimension k = 0..d: the torus' k-simplices as ``(m, k+1)`` sorted atom indices
        and their alpha values ``(m,)``."""
        n, d = self.frac.shape
        reach = margin / self.face_gaps
        # Put positions and lattice vectors on a binary grid (2^-51 of a bound on the cover's
        # coordinates, so about their round-off) on which every image, position + integer
        # combination of lattice vectors, is computed without rounding: all copies of a group
        # of co-spherical atoms (crystals) are then exact translates, and an exact
        # triangulation treats them alike.
        extent = (np.ceil(reach).max() + 1.0) * np.abs(self.cell).sum()
        grid = 2.0 ** (math.ceil(math.log2(extent)) - 51)
        cell = np.round(self.cell / grid) * grid
        cover, atom, shift = _cover(
            np.round(self.frac @ cell / grid) * grid, self.frac, cell, reach
        )
        simplices = _delaunay(cover, atom, qhull, _DUPLICATE_RTOL * self.spacing)
        corners = cover[simplices]  # (m, d+1, d)
        centers, r2 = _circumspheres(corners)
        volumes, flat = _volumes(corners)

        # Keep one copy per torus simplex: the one whose circumcentre lies in the (offset) cell.
        # A flat simplex (atoms on a common circle) has no meaningful circumcentre and is placed
        # by its centroid instead.
        anchors = np.where(flat[:, None], corners.mean(axis=1), centers)
        fa = np.linalg.solve(cell.T, anchors.T).T - offset
        kept = np.all((fa >= -1e-9) & (fa < 1.0 + 1e-9), axis=1)
        # Certify: the closed circumball of a kept simplex lies inside the cover, so it is empty
        # of every periodic image and the simplex is a true periodic Delaunay simplex. (A flat
        # simplex lies on the circle shared by the certified simplices on either side of it.)
        sure = kept & ~flat
        fc, radius = fa[sure] + offset, np.sqrt(r2[sure])
        room = np.minimum(fc + reach, 1.0 + reach - fc) * self.face_gaps  # (m, d)
        short = radius[:, None] * (1.0 + 1e-9) - room
        if short.size == 0:
            raise _MarginTooSmall(2.0 * margin)
        if short.max() > 0.0:
            raise _MarginTooSmall(margin + 1.05 * short.max() + 1e-9 * margin)

        simplices, volumes, flat = simplices[kept], volumes[kept], flat[kept]
        atoms, shifts = atom[simplices], shift[simplices]
        order = np.argsort(atoms, axis=1, kind="stable")
        atoms = np.take_along_axis(atoms, order, axis=1)
        shifts = np.take_along_axis(shifts, order[:, :, None], axis=1)
        simplices = np.take_along_axis(simplices, order, axis=1)
        if np.any(atoms[:, 1:] == atoms[:, :-1]):
            raise CellTooSmallError(
                "a simplex joins an atom to its own periodic image: the cell is too small for "
                "the periodic alpha complex; use a supercell (e.g. ase.Atoms.repeat(2))"
            )
        # Copies found twice (anchor on the region's boundary, within round-off) are merged.
        first, _ = _classes(atoms, shifts, n, d)
        atoms, shifts, simplices = atoms[first], shifts[first], simplices[first]
        # The kept simplices must tile the torus once: their volumes add up to the cell's, and
        # every facet is shared by exactly two of them (checked in _filtration).
        total = volumes[first].sum()
        if abs(total - self.volume) > 1e-9 * self.volume:
            raise _Degenerate(gap=total < self.volume)
        if len(np.unique(atoms)) != n:
            raise _Degenerate
        return self._filtration(atoms, shifts, cover[simplices], flat[first])

    def _filtration(
        self, atoms: np.ndarray, shifts: np.ndarray, xyz: np.ndarray, flat: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Alpha values of the torus' simplices from its top simplices: sorted atoms
        ``(T, d+1)``, their image shifts ``(T, d+1, d)``, positions ``(T, d+1, d)`` and
        flatness ``(T,)``."""
        n, d = self.frac.shape
        top_r2 = _circumspheres(xyz)[1]
        levels: list[tuple[np.ndarray, np.ndarray]] = [(atoms, top_r2)]
        ids_up = np.arange(len(atoms))[:, None]  # class of each top-simplex slot
        # A flat simplex (co-spherical atoms, split differently on either side of a shared
        # face) is filled as soon as its facets are: it adds no class, as in the limit of any
        # small displacement of the atoms. It takes no part in its facets' values.
        values_up = np.where(flat, np.inf, top_r2)
        combos_up = np.arange(d + 1)[None, :]
        for k in range(d - 1, 0, -1):
            combos = np.array(list(itertools.combinations(range(d + 1), k + 1)))
            face_atoms = atoms[:, combos].reshape(-1, k + 1)
            first, inverse = _classes(face_atoms, shifts[:, combos].reshape(-1, k + 1, d), n, k)
            ids = inverse.reshape(len(atoms), len(combos))
            if k == d - 1 and np.any(np.bincount(inverse) != 2):
                raise _Degenerate
            face_centers, face_r2 = _circumspheres(xyz[:, combos])  # (T, F, d), (T, F)
            # Incidences inside each top simplex: face slot f, opposite vertex v, cofacet slot.
            f_slot, vertex, up_slot = _incidences(combos, combos_up, d + 1)
            opposite = xyz[:, vertex] - face_centers[:, f_slot]
            inside = np.einsum("tid,tid->ti", opposite, opposite) < face_r2[:, f_slot] * (
                1.0 - _GABRIEL_RTOL
            )
            face_ids = ids[:, f_slot]
            attached = np.zeros(len(first), dtype=bool)
            attached[face_ids[inside]] = True
            lowest = np.full(len(first), np.inf)
            np.minimum.at(lowest, face_ids.ravel(), values_up[ids_up[:, up_slot]].ravel())
            own = face_r2.ravel()[first]
            # An attached face takes its lowest cofacet's value, a Gabriel face its own radius;
            # min() there only guards monotonicity against round-off.
            values = np.where(attached & np.isfinite(lowest), lowest, np.minimum(own, lowest))
            if k == d - 1 and flat.any():
                levels[0][1][flat] = values[ids[flat]].max(axis=1)
            if k == 1 and np.any(own <= (_DUPLICATE_RTOL * self.spacing) ** 2):
                _refuse_duplicate(*face_atoms[first][np.argmin(own)])
            levels.append((face_atoms[first], values))
            ids_up, values_up, combos_up = ids, values, combos
        levels.append((np.arange(n)[:, None], np.zeros(n)))
        return levels[::-1]


def _volumes(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volumes of simplices ``(m, d+1, d)`` and whether each is flat: volume below
    ``_FLAT_RTOL`` times its longest edge to the power d."""
    d = corners.shape[-1]
    edges = corners[:, 1:] - corners[:, :1]
    det = np.abs(np.linalg.det(edges))
    longest = np.sqrt(np.einsum("mkd,mkd->mk", edges, edges).max(axis=1))
    return det / math.factorial(d), det <= _FLAT_RTOL * longest**d


def _incidences(
    combos: np.ndarray, combos_up: np.ndarray, n_vertices: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face-in-cofacet pairs inside one top simplex of ``n_vertices`` vertices.

    ``combos`` ``(F, k+1)`` and ``combos_up`` ``(G, k+2)`` list the vertex slots of its k- and
    (k+1)-faces. Returns, per pair, the face's row in ``combos``, the opposite vertex slot and
    the cofacet's row in ``combos_up``.
    """
    index_up = {tuple(c): i for i, c in enumerate(combos_up.tolist())}
    rows = [
        (f, v, index_up[tuple(sorted((*face, v)))])
        for f, face in enumerate(combos.tolist())
        for v in range(n_vertices)
        if v not in face
    ]
    face, vertex, up = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    return face, vertex, up


def _classes(
    atoms: np.ndarray, shifts: np.ndarray, n: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Group copies of torus simplices: rows of sorted atom indices ``(m, k+1)`` with their
    image shifts ``(m, k+1, d)``. Returns the first copy of each class and every row's class.

    The quotient complex is keyed by atoms only, so two rows with the same atoms but different
    relative shifts (distinct simplices of the torus) mean the cell is too small.
    """
    width = atoms.shape[1]
    if float(n) ** width < 2.0**62:
        keys = atoms[:, 0].astype(np.int64)
        for j in range(1, width):
            keys = keys * n + atoms[:, j]
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(atoms, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    relative = shifts - shifts[:, :1]
    if np.any(relative != relative[first][inverse]):
        raise CellTooSmallError(
            f"two different {k}-simplices of the torus share their atoms: the cell is too "
            "small for the periodic alpha complex; use a supercell (e.g. ase.Atoms.repeat(2))"
        )
    return first, inverse


def _circumspheres(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest circumspheres of simplices ``(..., k+1, d)``, k ≥ 1, d = 2 or 3.

    Returns centres ``(..., d)`` and squared radii ``(...)``; exactly flat simplices get
    non-finite values. Closed forms relative to the first vertex (accurate far from the
    origin); nearly flat simplices, whose centres are ill-conditioned, are redone in extended
    precision.
    """
    origin = vertices[..., 0, :]
    edges = vertices[..., 1:, :] - origin[..., None, :]
    offset, thinness = _circumcenter_offsets(edges)
    thin = thinness < 1e-5
    if thin.any() and np.finfo(np.longdouble).eps < np.finfo(np.float64).eps:
        offset[thin] = _circumcenter_offsets(edges[thin].astype(np.longdouble))[0]
    return origin + offset, (offset * offset).sum(-1)


def _circumcenter_offsets(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Circumcentres relative to the first vertex from the edge vectors ``(..., k, d)`` out of
    it, and the simplex' thinness: its volume relative to the longest edge to the power k."""
    k, d = edges.shape[-2:]
    lengths2 = (edges * edges).sum(-1)  # (..., k)
    with np.errstate(divide="ignore", invalid="ignore"):
        if k == 1:  # edge: the midpoint
            return 0.5 * edges[..., 0, :], np.ones(edges.shape[:-2])
        scale = lengths2.max(-1) ** (k / 2)
        if k == 2 and d == 2:
            a, b = edges[..., 0, :], edges[..., 1, :]
            den = 2.0 * (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0])
            num = np.stack(
                [
                    b[..., 1] * lengths2[..., 0] - a[..., 1] * lengths2[..., 1],
                    a[..., 0] * lengths2[..., 1] - b[..., 0] * lengths2[..., 0],
                ],
                axis=-1,
            )
        elif k == 2:  # triangle in space
            a, b = edges[..., 0, :], edges[..., 1, :]
            axb = np.cross(a, b)
            num = np.cross(lengths2[..., :1] * b - lengths2[..., 1:] * a, axb)
            den = 2.0 * (axb * axb).sum(-1)
            return num / den[..., None], np.sqrt(den / 2.0) / scale
        else:  # tetrahedron
            a, b, c = edges[..., 0, :], edges[..., 1, :], edges[..., 2, :]
            bxc = np.cross(b, c)
            num = (
                lengths2[..., :1] * bxc
                + lengths2[..., 1:2] * np.cross(c, a)
                + lengths2[..., 2:] * np.cross(a, b)
            )
            den = 2.0 * (a * bxc).sum(-1)
        return num / den[..., None], np.abs(den) / (2.0 * scale)


def _delaunay(cover: np.ndarray, atom: np.ndarray, qhull: bool, duplicate: float) -> np.ndarray:
    """Top simplices ``(m, d+1)`` of the Delaunay triangulation of the cover points ``(N, d)``
    (images of atoms ``atom``), by Qhull or else CGAL (through GUDHI). Points closer than
    ``duplicate`` are refused."""
    if qhull:
        from scipy.spatial import Delaunay

        tri = Delaunay(cover)
        if len(tri.coplanar):  # points Qhull left out: duplicates, or round-off for CGAL
            point, _, vertex = tri.coplanar[0]
            if np.linalg.norm(cover[point] - cover[vertex]) <= duplicate:
                _refuse_duplicate(atom[point], atom[vertex])
            raise _Degenerate
        return tri.simplices.astype(np.int64)
    import gudhi

    d = cover.shape[1]
    delaunay = getattr(gudhi, "DelaunayComplex", gudhi.AlphaComplex)
    st = delaunay(points=cover).create_simplex_tree()
    simplices = [s for s, _ in st.get_simplices() if len(s) == d + 1]
    if st.num_vertices() < len(cover):  # CGAL drops exact duplicates
        present = np.zeros(len(cover), dtype=bool)
        present[np.unique(simplices)] = True
        point = int(np.flatnonzero(~present)[0])
        others = np.linalg.norm(cover - cover[point], axis=1)
        others[point] = np.inf
        _refuse_duplicate(atom[point], atom[int(np.argmin(others))])
    return np.array(simplices, dtype=np.int64).reshape(-1, d + 1)


def _refuse_duplicate(i: int, j: int) -> NoReturn:
    raise ValueError(
        f"points: atoms {i} and {j} coincide (up to a periodic image); remove duplicates"
    )


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


def _face_area(cell: np.ndarray, i: int) -> float:
    """Area (3D) or length (2D) of the cell face spanned by the lattice vectors other than i."""
    others = np.delete(cell, i, axis=0)
    if cell.shape[0] == 3:
        return float(np.linalg.norm(np.cross(others[0], others[1])))
    return float(np.linalg.norm(others[0]))


# Zero-length pairs of periodic copies that meet through round-off, relative to the squared
# mean atomic spacing.
_RELATIVE_ZERO = 1e-10


def default_zero_tolerance(cell: Any, n: int, d: int) -> float:
    """The periodic diagrams' default ``zero_tolerance``: 1e-10 of the squared mean spacing."""
    _, volume = check_cell(cell, d)
    return _RELATIVE_ZERO * (volume / n) ** (2.0 / d)


def check_points(points: Any) -> np.ndarray:
    """``points`` as a finite float ``(n, 2)`` or ``(n, 3)`` array, or an error naming it."""
    try:
        points = np.asarray(points)
    except (TypeError, ValueError):
        raise TypeError(f"points must be a numeric (n, d) array, got {points!r:.60}") from None
    if points.dtype == object or not np.issubdtype(points.dtype, np.number):
        raise TypeError(f"points must be a numeric (n, d) array, got dtype {points.dtype}")
    if np.iscomplexobj(points):
        raise TypeError(f"points must be real coordinates, got dtype {points.dtype}")
    points = points.astype(np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must have shape (n, 2) or (n, 3), got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("points contain NaN or infinite coordinates")
    return points
