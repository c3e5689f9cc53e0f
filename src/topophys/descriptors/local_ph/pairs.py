r"""Atom-centred persistence pairs, each value traced to the atoms it is a function of.

For every atom, the filtration of :class:`~.config.LocalPHConfig` on its neighbourhood is
handed to GUDHI, which pairs births with deaths. Every birth and death value is the value of
one simplex σ, ``min(t_max, max(a(τ), h(r_far)))``, where τ is the simplex whose own
circumradius gives σ its alpha value (σ itself when its smallest circumsphere is empty, else
the coface it is attached to, as in GUDHI's and CGAL's alpha complexes; for Rips the longest
edge of σ) and ``r_far`` the distance from the centre to σ's farthest atom. A
:class:`LocalPairs` keeps, for each value, τ's atoms, the farthest atom and the centre as
periodic images (atom index + lattice shift), so :mod:`.values` recomputes the same numbers in
torch from the positions and autograd gives their derivatives.

**Alpha.** One Delaunay triangulation (Qhull) of the atoms and their periodic images within
``r_cut + 2 √t_max`` of the cell is shared by all atoms: any simplex whose value is at most
``t_max`` has an empty ball of radius at most √t_max touching atoms within ``r_cut`` of a
centre in the cell, so the cover holds everything that decides it and the values are exact.
Atom *i*'s complex is the full subcomplex on the images within ``r_cut`` of *i*, with the
values above. Without *i* (``centre="removed"`` or ``"both"``) it is the graph of those
images, edges at ``max((d/2)², h_j, h_k)``, and only its H0 is kept (see
:class:`~.config.LocalPHConfig`). With ``graph="circumradius"`` its vertex *j* enters at
``max(r_ij²/4, h_j)`` and its edge (j, k) at ``max(R²(i, j, k), h_j, h_k)``, the squared
circumradius of the triangle with the centre: the givers are the edge (i, j) and the triangle
(i, j, k), and every value stays a continuous, piecewise smooth function of the positions
(capped at ``t_max``). With ``graph_summary="simplices"`` the graph's simplices are not
paired: each vertex and edge below ``t_max`` is a pair born at its value and dying at
``t_max``.

**Rips.** The flag complex of the images within ``r_cut`` of *i* (without *i* as well, for
``centre="removed"`` or ``"both"``: every dimension), up to dimension ``max_dim + 1``, edges
at ``max((d/2)², h_j, h_k)``.

**Where the result is not smooth.** The values are smooth functions of the positions while
the pairing, the attaching coface and the argmax choices stay the same. They switch when two
values cross (a pairing switch), when an atom crosses the circumsphere of a simplex (Delaunay
flip or change of attachment), or when ``a(τ)`` and ``h`` cross in the max: the diagram stays
continuous there (alpha persistence is that of a union of balls, stable under small moves), so
the energy is continuous and the forces jump. Atoms crossing ``r_cut`` enter with zero
persistence and zero slope (``h`` is a smooth step). Exactly co-spherical atoms (perfect
crystals) are triangulated as Qhull chooses; the values do not depend on the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._geometry import circumcenters, circumradius2, face_gaps, periodic_cover
from .config import LocalPHConfig, entrance

__all__ = ["LocalPairs", "check_structure", "local_pairs", "recipe_changes"]


# Points this close (relative) to a diametral sphere count as on it: no attachment.
_GABRIEL_RTOL = 1e-10


@dataclass(frozen=True)
class LocalPairs:
    """The persistence pairs of every atom's local filtration in one structure.

    ``P`` pairs over all atoms, ``M`` periodic images. Value recipes come in two rows, births
    (``[0]``) and deaths (``[1]``).

    Attributes
    ----------
    n_atoms : int
    centre : numpy.ndarray, shape (P,) int64
        Atom whose diagram holds the pair.
    dim : numpy.ndarray, shape (P,) int64
        Homology dimension (for the graph's simplices with ``graph_summary="simplices"``,
        the simplex's: 0 for a vertex, 1 for an edge).
    block : numpy.ndarray, shape (P,) int64
        Image the pair goes to, in ``[0, config.n_blocks)``: ``dim`` for the complex with the
        centre, ``dim + n_blocks − removed_blocks`` for the one without it.
    birth, death : numpy.ndarray, shape (P,) float64
        Values, Å²; classes alive at ``t_max`` die at ``t_max``.
    image_atom : numpy.ndarray, shape (M,) int64
        Atom of each image.
    image_shift : numpy.ndarray, shape (M, 3) float64
        Integer lattice shift of each image relative to the positions given: the image is at
        ``positions[image_atom] + image_shift @ cell``.
    giver : numpy.ndarray, shape (2, P, 4) int64
        Images of the simplex whose squared circumradius is the alpha part of the value,
        padded with −1 (all −1: a vertex, alpha part 0).
    far : numpy.ndarray, shape (2, P) int64
        Image of the simplex's atom farthest from the centre (−1: the value is ``t_max``).
    origin : numpy.ndarray, shape (P,) int64
        Image of the centre (the atom itself, wrapped into the cell).
    config : LocalPHConfig
    """

    n_atoms: int
    centre: np.ndarray
    dim: np.ndarray
    block: np.ndarray
    birth: np.ndarray
    death: np.ndarray
    image_atom: np.ndarray
    image_shift: np.ndarray
    giver: np.ndarray
    far: np.ndarray
    origin: np.ndarray
    config: LocalPHConfig

    def __len__(self) -> int:
        return len(self.centre)

    def diagram_rows(self) -> list[np.ndarray]:
        """Each atom's diagram as ``(k, 3)`` rows ``[block, birth, death]`` (a list of
        n_atoms); the block is the homology dimension unless ``config.centre == "both"``
        (see ``block``)."""
        rows = np.column_stack([self.block.astype(np.float64), self.birth, self.death])
        order = np.argsort(self.centre, kind="stable")
        bounds = np.searchsorted(self.centre[order], np.arange(self.n_atoms + 1))
        return [rows[order[bounds[i] : bounds[i + 1]]] for i in range(self.n_atoms)]


def _recipe_keys(pairs: LocalPairs, min_persistence: float) -> list[set[tuple[int, ...]]]:
    """Per atom, the set of its pairs' recipes with images named ``(atom, lattice shift
    relative to the centre's image)``, which no re-wrapping or rigid move changes."""
    shift = np.rint(pairs.image_shift).astype(np.int64)
    relative = shift[np.maximum(pairs.giver, 0)] - shift[pairs.origin][None, :, None]
    far_relative = shift[np.maximum(pairs.far, 0)] - shift[pairs.origin][None, :]
    base = 2 * int(max(np.abs(relative).max(initial=0), np.abs(far_relative).max(initial=0))) + 1
    weights = np.array([base * base, base, 1])
    span = base**3

    def code(images: np.ndarray, rel: np.ndarray) -> np.ndarray:
        named = pairs.image_atom[np.maximum(images, 0)] * span + (rel + base // 2) @ weights
        return np.where(images >= 0, named, -1)

    giver, far = code(pairs.giver, relative), code(pairs.far, far_relative)
    giver = np.sort(np.where(giver >= 0, giver, np.iinfo(np.int64).max), axis=-1)
    rows = np.column_stack([pairs.block, giver[0], far[0], giver[1], far[1]])
    keep = pairs.death - pairs.birth > min_persistence
    keys: list[set[tuple[int, ...]]] = [set() for _ in range(pairs.n_atoms)]
    rows_kept = map(tuple, rows[keep].tolist())
    for centre, row in zip(pairs.centre[keep].tolist(), rows_kept, strict=True):
        keys[centre].add(row)
    return keys


def recipe_changes(
    before: LocalPairs, after: LocalPairs, min_persistence: float = 0.0
) -> np.ndarray:
    """Which atoms' diagrams changed recipe between two configurations ``(n_atoms,)`` bool.

    A change is a pairing switch, a change of the attaching coface, of the farthest atom
    where the entrance decides a value, or of which term of the max decides it, a Delaunay
    flip, a pair appearing or vanishing: every place where the forces may jump. Images are
    compared as ``(atom, lattice shift from the centre)``, so wrapping and rigid moves change
    nothing. With ``min_persistence`` (Å²) only pairs more persistent than that count: pairs
    that appear or vanish at zero persistence move the forces continuously under the
    quadratic image weight, and the jump at a switch grows with the pairs' persistence.
    """
    if before.n_atoms != after.n_atoms:
        raise ValueError(f"the structures differ in size: {before.n_atoms} and {after.n_atoms}")
    a, b = _recipe_keys(before, min_persistence), _recipe_keys(after, min_persistence)
    return np.array([x != y for x, y in zip(a, b, strict=True)])


def check_structure(atoms: Any, config: LocalPHConfig, name: str = "atoms") -> None:
    """Refuse what the local filtration cannot describe, naming ``name`` and the problem.

    Raises
    ------
    TypeError
        If ``atoms`` is not an ``ase.Atoms``.
    ValueError
        On an empty structure, species outside ``config.species``, mixed periodicity, or a
        periodic cell narrower than ``2 · r_cut`` between opposite faces (an atom would see
        two images of one neighbour).
    """
    if not hasattr(atoms, "get_positions") or not hasattr(atoms, "get_pbc"):
        raise TypeError(f"{name} must be an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"{name} holds no atoms")
    extra = set(atoms.get_chemical_symbols()) - set(config.species)
    if extra:
        raise ValueError(
            f"{name} holds species {sorted(extra)} outside the descriptor's species "
            f"{list(config.species)}"
        )
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    if pbc.any() and not pbc.all():
        raise ValueError(f"{name} has mixed periodicity pbc={pbc.tolist()}; use all or none")
    if not np.isfinite(atoms.get_positions()).all():
        raise ValueError(f"{name} has NaN or infinite positions")
    if pbc.all():
        cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)
        if abs(np.linalg.det(cell)) < 1e-9:
            raise ValueError(f"{name} is periodic but its cell has no volume")
        narrowest = float(face_gaps(cell).min())
        if narrowest <= 2.0 * config.r_cut:
            raise ValueError(
                f"{name}: the cell is {narrowest:.3f} Å between opposite faces, not wider than "
                f"2 · r_cut = {2 * config.r_cut:.3f} Å, so an atom would see two images of one "
                "neighbour; use a supercell (ase.Atoms.repeat) or a smaller r_cut"
            )


def local_pairs(atoms: Any, config: LocalPHConfig | None = None) -> LocalPairs:
    """The persistence pairs of every atom's neighbourhood, with the recipe of each value.

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic (a cell wider than ``2 · r_cut``) or not.
    config : LocalPHConfig, optional

    Returns
    -------
    LocalPairs

    Raises
    ------
    ValueError
        See :func:`check_structure`; also if an atom has no neighbour within ``r_cut``, or two
        atoms coincide.
    """
    config = LocalPHConfig() if config is None else config
    if not isinstance(config, LocalPHConfig):
        raise TypeError(f"config must be a LocalPHConfig, got {type(config).__name__}")
    check_structure(atoms, config)
    positions = np.asarray(atoms.get_positions(), dtype=np.float64)
    n = len(positions)
    if bool(np.asarray(atoms.get_pbc()).all()):
        cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)
        xyz, image_atom, image_shift = periodic_cover(positions, cell, config.reach)
    else:
        xyz, image_atom, image_shift = positions, np.arange(n), np.zeros((n, 3))
    copies = n * (2 if config.centre == "both" else 1)  # complexes in the union tree
    if len(xyz) ** 4 >= 2**62 or copies * len(xyz) >= 2**62:
        raise ValueError(
            f"atoms: {len(xyz)} periodic images are too many to index; use a smaller cell"
        )
    balls = _balls(xyz, n, config.r_cut)
    kept = [] if config.centre == "removed" else balls
    removed = [] if config.centre == "kept" else [b[1:] for b in balls]
    m_images, first = len(xyz), len(kept)  # copies: the kept complexes, then the removed
    if config.filtration == "alpha":
        st = None
        if kept:
            near = np.zeros(m_images, dtype=bool)
            near[np.concatenate(balls)] = True
            complex_ = _AlphaComplex(xyz, config, near)
            st = complex_.filtration(kept, np.arange(len(kept)))
        # Without the centre, the subcomplex of the shared triangulation would jump where a
        # Delaunay flip swaps an edge between two neighbours for one through the centre;
        # the neighbours' graph (its H0) does not.
        link = config.graph == "circumradius"
        if config.graph_summary == "simplices":
            copy, simplices = _tree_pairs(st, m_images, config.max_dim)
            g_copy, g_simplices = _graph_simplices(xyz, removed, config, first, link)
            copy = np.concatenate([copy, g_copy])
            simplices = np.concatenate([simplices, g_simplices], axis=1)
        else:
            st = _rips_filtration(
                xyz, removed, np.arange(len(removed)), config, st, first, False, link=link
            )
            copy, simplices = _tree_pairs(st, m_images, config.max_dim)
        graph = copy >= first
        # H0 from the graphs, and H1 (born at an edge) with graph_cycles
        keep = ~graph | ((simplices[0] >= 0).sum(-1) <= config.removed_blocks)
        copy, simplices, graph = copy[keep], simplices[:, keep], graph[keep]
        giver = np.full(simplices.shape, -1, dtype=np.int64)
        for side in range(2):
            if link:  # the centre's image is its atom's index (the wrapped copy)
                giver[side, graph] = _link_givers(simplices[side, graph], copy[graph] - first)
            else:
                giver[side, graph] = _rips_givers(xyz, simplices[side, graph])
            if kept:
                giver[side, ~graph] = complex_.givers(simplices[side, ~graph])
    else:
        centres = np.concatenate([np.arange(len(kept)), np.arange(len(removed))])
        st = _rips_filtration(xyz, kept + removed, centres, config)
        copy, simplices = _tree_pairs(st, m_images, config.max_dim)
        giver = np.stack([_rips_givers(xyz, simplices[0]), _rips_givers(xyz, simplices[1])])
    # Removed complexes' blocks follow the kept ones' (centre="both").
    offset = np.where(copy >= first, config.n_blocks - config.removed_blocks, 0)
    centre = np.where(copy >= first, copy - first, copy)
    return _assemble(centre, offset, simplices, giver, xyz, image_atom, image_shift, n, config)


def _balls(xyz: np.ndarray, n: int, r_cut: float) -> list[np.ndarray]:
    """Images within ``r_cut`` of each atom's wrapped copy (itself first)."""
    from scipy.spatial import cKDTree

    found = cKDTree(xyz[:n]).sparse_distance_matrix(cKDTree(xyz), r_cut, output_type="ndarray")
    i, j, d = found["i"].astype(np.int64), found["j"].astype(np.int64), found["v"]
    other = i != j  # image i is atom i's own wrapped copy
    i, j, d = i[other], j[other], d[other]
    close = d < 1e-8
    if close.any():
        k = int(np.flatnonzero(close)[0])
        raise ValueError(f"atoms: atom {i[k]} coincides with an image of atom {j[k]}")
    counts = np.bincount(i, minlength=n)
    if (counts == 0).any():
        lonely = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(
            f"atoms: atom {lonely} has no neighbour within r_cut; its local diagram is empty "
            "(raise r_cut or check the structure)"
        )
    order = np.lexsort((j, i))
    return [
        np.concatenate([[c], neighbours])
        for c, neighbours in enumerate(np.split(j[order], np.cumsum(counts)[:-1]))
    ]


class _AlphaComplex:
    """Alpha values and their givers on the Delaunay triangulation of the cover."""

    def __init__(self, xyz: np.ndarray, config: LocalPHConfig, near: np.ndarray) -> None:
        from scipy.spatial import Delaunay, QhullError

        self.xyz, self.config = xyz, config
        self.m = len(xyz)
        try:
            triangulation = Delaunay(xyz)
        except QhullError as err:
            raise ValueError(
                f"atoms: the alpha filtration needs a 3-D Delaunay triangulation, and these "
                f"{len(xyz)} atoms (periodic images included) have none: fewer than 5, or all "
                "in one plane; use filtration='rips'"
            ) from err
        tets = np.sort(triangulation.simplices.astype(np.int64), axis=1)
        # A simplex with a vertex in some ball has all its cofacets among the tetrahedra with
        # a vertex there (``near``), and so does every face whose value it can give.
        tets = tets[near[tets].any(axis=1)]
        r2 = circumradius2(xyz[tets])
        # Per dimension k = 1, 2, 3: sorted simplices, their values and givers.
        levels: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {3: (tets, r2, tets.copy())}
        for k in (2, 1):
            levels[k] = _faces(xyz, *levels[k + 1], k)
        # Only what can enter a filtration (value ≤ t_max), keyed for the recipes' look-ups.
        self.levels: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        for k in range(1, config.max_dim + 2):
            simplices, values, givers = levels[k]
            keep = values <= config.t_max
            simplices, values, givers = simplices[keep], values[keep], givers[keep]
            keys = simplex_keys(simplices, self.m)
            order = np.argsort(keys)
            pad = np.full((len(simplices), 4), -1, dtype=np.int64)
            pad[:, : givers.shape[1]] = givers
            self.levels[k] = (simplices[order], keys[order], values[order], pad[order])

    def filtration(self, vertices: list[np.ndarray], centres: np.ndarray) -> Any:
        """All complexes' filtrations as one simplex tree: the disjoint union of the full
        subcomplexes on ``vertices`` (image indices; complex ``c`` entered from the image
        ``centres[c]``), complex ``c``'s copy of image ``v`` numbered ``c · M + v``."""
        import gudhi
        from scipy import sparse

        n, config, m_images = len(vertices), self.config, self.m
        owner = np.repeat(np.arange(n), [len(b) for b in vertices])
        ball = np.concatenate(vertices)
        member = sparse.csr_matrix(
            (np.ones(len(ball), dtype=np.int32), (owner, ball)), shape=(n, m_images)
        )
        st = gudhi.SimplexTree()
        r = np.linalg.norm(self.xyz[ball] - self.xyz[centres[owner]], axis=1)
        st.insert_batch((owner * m_images + ball)[None, :], entrance(r, config))
        for k, (simplices, _, values, _) in self.levels.items():
            m = len(simplices)
            incidence = sparse.csr_matrix(
                (
                    np.ones(m * (k + 1), dtype=np.int32),
                    (simplices.ravel(), np.repeat(np.arange(m), k + 1)),
                ),
                shape=(m_images, m),
            )
            counts = (member @ incidence).tocsr()
            # Every (atom, simplex) entry at once: simplices whose k+1 vertices are all in the ball.
            owner = np.repeat(np.arange(n), np.diff(counts.indptr))
            full = counts.data == k + 1
            owner, index = owner[full], counts.indices[full]
            s = simplices[index]
            at = self.xyz[centres[owner]][:, None]
            r = np.linalg.norm(self.xyz[s] - at, axis=-1).max(axis=1)
            f = np.minimum(config.t_max, np.maximum(values[index], entrance(r, config)))
            st.insert_batch((owner[:, None] * m_images + s).T, f)
        return st

    def givers(self, simplices: np.ndarray) -> np.ndarray:
        """Givers ``(p, 4)`` of simplices ``(p, 4)`` (sorted vertices, −1 padded at the end)."""
        out = np.full((len(simplices), 4), -1, dtype=np.int64)
        size = (simplices >= 0).sum(1)
        for k, (_, keys, _, givers) in self.levels.items():
            at = np.flatnonzero(size == k + 1)
            if len(at):
                out[at] = givers[
                    np.searchsorted(keys, simplex_keys(simplices[at, : k + 1], self.m))
                ]
        return out


def simplex_keys(simplices: np.ndarray, m: int) -> np.ndarray:
    """One int64 per simplex ``(p, k+1)`` of sorted vertex indices below ``m``."""
    keys = simplices[:, 0].astype(np.int64)
    for j in range(1, simplices.shape[1]):
        keys = keys * m + simplices[:, j]
    return keys


def _faces(
    xyz: np.ndarray, up: np.ndarray, up_values: np.ndarray, up_givers: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-faces of the (k+1)-simplices ``up`` with their values and givers: a face whose
    diametral sphere holds the opposite vertex of a cofacet is attached and takes the value
    (and giver) of its lowest cofacet; otherwise its own squared circumradius (GUDHI's rule)."""
    width = k + 2
    combos = np.array([[c for c in range(width) if c != v] for v in range(width - 1, -1, -1)])
    opposite = np.arange(width - 1, -1, -1)
    faces = up[:, combos].reshape(-1, k + 1)
    opp = up[:, opposite].reshape(-1)
    owner = np.repeat(np.arange(len(up)), width)
    _, first, inverse = np.unique(
        simplex_keys(faces, len(xyz)), return_index=True, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    unique = faces[first]
    corners = xyz[unique]
    own = circumradius2(corners)
    gap = xyz[opp] - circumcenters(corners)[inverse]
    inside = np.einsum("md,md->m", gap, gap) < own[inverse] * (1.0 - _GABRIEL_RTOL)
    attached = np.zeros(len(unique), dtype=bool)
    attached[inverse[inside]] = True
    order = np.lexsort((up_values[owner], inverse))
    grouped = inverse[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    lowest = np.empty(len(unique), dtype=np.int64)
    lowest[grouped[starts]] = owner[order[starts]]
    values = np.where(attached, up_values[lowest], own)
    own_givers = np.full((len(unique), up_givers.shape[1]), -1, dtype=np.int64)
    own_givers[:, : k + 1] = unique
    givers = np.where(attached[:, None], up_givers[lowest], own_givers)
    return unique, values, givers


def _rips_filtration(
    xyz: np.ndarray,
    vertices: list[np.ndarray],
    centres: np.ndarray,
    config: LocalPHConfig,
    st: Any = None,
    first: int = 0,
    expand: bool = True,
    link: bool = False,
) -> Any:
    """All complexes' Rips filtrations as one simplex tree (numbered as the alpha one, the
    complexes from copy ``first`` on, added to ``st`` if given); without ``expand`` only
    their graphs (vertices and edges). With ``link`` (``graph="circumradius"``) a vertex
    enters at ``max(r²/4, h)`` and an edge at the squared circumradius of its triangle with
    the centre (at least its vertices' ``r²/4``), or the larger entrance."""
    import gudhi

    # The circumradius graph is H0 only: a flag expansion would value its triangles by edges.
    assert not (link and expand), "link values a graph: it needs expand=False"
    m_images = len(xyz)
    st = gudhi.SimplexTree() if st is None else st
    for k, ball in enumerate(vertices):
        ids = (first + k) * m_images + ball
        h, a, b, f = _graph_values(xyz, ball, centres[k], config, link)
        st.insert_batch(ids[None, :], h)
        st.insert_batch(np.stack([ids[a], ids[b]]), f)
    if expand:
        st.expansion(config.max_dim + 1)
    return st


def _graph_values(
    xyz: np.ndarray, ball: np.ndarray, centre: int, config: LocalPHConfig, link: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The graph on ``ball`` (image indices) around the image ``centre``: its vertices'
    values ``(k,)`` and its edges below ``t_max`` as positions in ``ball`` ``a``, ``b`` with
    their values ``f`` (Å²). With ``link`` a vertex enters at ``max(r²/4, h)`` and an edge at
    the squared circumradius of its triangle with the centre (at least its vertices'
    values); else at ``h`` and ``max((d/2)², h_a, h_b)``."""
    offsets = xyz[ball] - xyz[centre]
    h = entrance(np.linalg.norm(offsets, axis=1), config)
    if link:
        h = np.minimum(config.t_max, np.maximum(h, 0.25 * np.sum(offsets**2, axis=1)))
    a, b = np.triu_indices(len(ball), 1)
    if link:
        at = np.broadcast_to(xyz[centre], (len(a), 3))
        half2 = circumradius2(np.stack([at, xyz[ball[a]], xyz[ball[b]]], axis=1))
    else:
        half2 = 0.25 * np.sum((xyz[ball[a]] - xyz[ball[b]]) ** 2, axis=1)
    f = np.maximum(half2, np.maximum(h[a], h[b]))
    keep = f < config.t_max
    return h, a[keep], b[keep], f[keep]


def _graph_simplices(
    xyz: np.ndarray, vertices: list[np.ndarray], config: LocalPHConfig, first: int, link: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``graph_summary="simplices"``: every vertex and edge below ``t_max`` of the graphs
    on ``vertices`` (atom *k*'s neighbours, the centre's image being *k*) as a pair born at
    the simplex and essential (dying at ``t_max``), in :func:`_tree_pairs`' layout: complexes
    ``(P,)`` (from copy ``first`` on) and simplices ``(2, P, 4)``, −1 padded."""
    copies, rows = [], []
    for k, ball in enumerate(vertices):
        h, a, b, _ = _graph_values(xyz, ball, k, config, link)
        below = ball[h < config.t_max]
        rows += [np.column_stack([below, np.full((len(below), 3), -1)])]
        pair = np.sort(np.stack([ball[a], ball[b]], axis=1), axis=1)
        rows += [np.column_stack([pair, np.full((len(pair), 2), -1)])]
        copies.append(np.full(len(below) + len(pair), first + k))
    births = np.concatenate(rows).astype(np.int64) if rows else np.empty((0, 4), np.int64)
    copy = np.concatenate(copies) if copies else np.empty(0, np.int64)
    return copy, np.stack([births, np.full_like(births, -1)])


def _rips_givers(xyz: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    """The longest edge of each simplex ``(p, 4)`` (−1 padded), −1 for vertices."""
    out = np.full((len(simplices), 4), -1, dtype=np.int64)
    best = np.full(len(simplices), -1.0)
    for a, b in zip(*np.triu_indices(4, 1), strict=True):
        ok = (simplices[:, a] >= 0) & (simplices[:, b] >= 0)
        d2 = np.where(ok, np.sum((xyz[simplices[:, a]] - xyz[simplices[:, b]]) ** 2, axis=1), -1.0)
        longer = d2 > best
        best = np.where(longer, d2, best)
        out[longer, 0], out[longer, 1] = simplices[longer, a], simplices[longer, b]
    return out


def _link_givers(simplices: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Givers of the circumradius graph's vertices and edges ``(p, 4)`` (−1 padded): the
    simplex with the centre's image ``centres`` ``(p,)`` in front (edge or triangle)."""
    out = np.full((len(simplices), 4), -1, dtype=np.int64)
    out[:, 0] = centres
    out[:, 1:3] = simplices[:, :2]
    out[simplices[:, 0] < 0, 0] = -1  # an essential death: no simplex
    return out


def _tree_pairs(st: Any, m_images: int, max_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of the union tree: complexes ``(P,)`` and birth and death simplices
    ``(2, P, 4)`` of image indices (sorted, −1 padded; a death of all −1 is essential).
    Pairs of zero persistence are left out; no tree, no pairs."""
    if st is None:
        return np.empty(0, np.int64), np.full((2, 0, 4), -1, np.int64)
    st.make_filtration_non_decreasing()
    # persistence_dim_max: the graphs' cycles are top-dimensional (no triangles); without it
    # GUDHI leaves them out when the tree holds nothing higher (centre="removed").
    st.compute_persistence(homology_coeff_field=2, min_persistence=0.0, persistence_dim_max=True)
    rows = [
        (*birth, *[-1] * (4 - len(birth)), *death, *[-1] * (4 - len(death)))
        for birth, death in st.persistence_pairs()
        if len(birth) <= max_dim + 1
    ]
    ids = np.asarray(rows, dtype=np.int64).reshape(-1, 2, 4)
    copy = ids[:, 0, 0] // m_images
    big = np.iinfo(np.int64).max
    images = np.sort(np.where(ids >= 0, ids % m_images, big), axis=-1)
    images = np.where(images == big, -1, images)
    return copy, images.transpose(1, 0, 2)


def _assemble(
    centre: np.ndarray,
    offset: np.ndarray,
    simplices: np.ndarray,
    giver: np.ndarray,
    xyz: np.ndarray,
    image_atom: np.ndarray,
    image_shift: np.ndarray,
    n: int,
    config: LocalPHConfig,
) -> LocalPairs:
    """Recipes of the births and deaths (``simplices``, ``giver``: ``(2, P, 4)``), with the
    pairs that vanish identically (same value on both sides) dropped and the images used
    renumbered."""
    r = np.linalg.norm(xyz[np.maximum(simplices, 0)] - xyz[centre][None, :, None], axis=-1)
    r = np.where(simplices >= 0, r, -1.0)
    far = np.take_along_axis(simplices, r.argmax(-1)[..., None], axis=-1)[..., 0]
    far[1][simplices[1, :, 0] < 0] = -1
    values = slot_values(xyz, giver, far, centre, config)
    # Where the entrance is the larger term the giver plays no part (value and gradient are
    # the entrance's); dropping it names the value the same whichever edge GUDHI picked
    # among those that tie at the entrance of a new atom.
    alpha = _alpha_part(xyz, giver)
    giver = np.where((values > alpha)[..., None], -1, giver)
    # Where the alpha part is the larger, the farthest atom plays no part either; the centre
    # (entrance 0) stands in for it, so the recipe does not change when two far atoms swap.
    far = np.where((values <= alpha) & (far >= 0), centre[None, :], far)
    keep = values[1] > values[0]
    centre, giver, far, values = centre[keep], giver[:, keep], far[:, keep], values[:, keep]
    dim = (simplices[0, keep] >= 0).sum(-1) - 1
    block = dim + offset[keep]
    used = np.unique(np.concatenate([giver[giver >= 0], far[far >= 0], centre]))
    renumber = np.full(len(xyz), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return LocalPairs(
        n_atoms=n,
        centre=centre,
        dim=dim,
        block=block,
        birth=values[0],
        death=values[1],
        image_atom=image_atom[used],
        image_shift=image_shift[used].astype(np.float64),
        giver=np.where(giver >= 0, renumber[np.maximum(giver, 0)], -1),
        far=np.where(far >= 0, renumber[np.maximum(far, 0)], -1),
        origin=renumber[centre],
        config=config,
    )


def _alpha_part(xyz: np.ndarray, giver: np.ndarray) -> np.ndarray:
    alpha = np.zeros(giver.shape[:2])
    size = (giver >= 0).sum(-1)
    for k in (2, 3, 4):
        at = size == k
        if at.any():
            alpha[at] = circumradius2(xyz[giver[at][:, :k]])
    return alpha


def slot_values(
    xyz: np.ndarray, giver: np.ndarray, far: np.ndarray, origin: np.ndarray, config: LocalPHConfig
) -> np.ndarray:
    """Values ``(2, P)`` of the recipes on image positions ``xyz`` (numpy, float64)."""
    alpha = _alpha_part(xyz, giver)
    r = np.linalg.norm(xyz[np.maximum(far, 0)] - xyz[origin][None, :], axis=-1)
    values = np.minimum(config.t_max, np.maximum(alpha, entrance(r, config)))
    return np.where(far >= 0, values, config.t_max)
