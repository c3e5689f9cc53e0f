"""The settings of the atom-centred persistence descriptor and its radial entrance function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ... import _validate
from ...config import Config

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["LocalPHConfig", "entrance", "entrance_torch"]


@dataclass(frozen=True)
class LocalPHConfig(Config):
    r"""Atom-centred persistence diagrams and their persistence images.

    Around atom *i*, atom *j* at distance :math:`r_{ij}` (any periodic image) enters the
    filtration of *i* at the *entrance* value :math:`h(r_{ij})`, and a simplex σ of the alpha
    (or Rips) complex at

    .. math::

        f_i(\sigma) = \min\bigl(t_{max},\ \max(a(\sigma),\ h(\max_{j \in \sigma} r_{ij}))\bigr),

    where *a* is the alpha value (squared radius, Å², HomCloud's convention) or, for Rips,
    the squared half of the longest edge, so both filtrations share the unit. The entrance

    .. math:: h(r) = \kappa r^2 + (t_{max} - \kappa r^2)\, s(u), \quad
              u = \frac{r - r_{inner}}{r_{cut} - r_{inner}} \text{ clipped to } [0, 1],

    with the quintic smooth step :math:`s(u) = 10u^3 - 15u^4 + 6u^5`, lets atom *j* in at
    :math:`\kappa r_{ij}^2` near the centre (a neighbour at distance *r* is born at
    :math:`\kappa r^2` and joins the centre at :math:`(r/2)^2`, so for κ < 1/4 its H0 pair
    records *r* twice and makes the diagram the centre's own) and rises smoothly to ``t_max``
    at ``r_cut``. Only atoms closer than ``r_cut`` take part and the filtration stops at
    ``t_max`` (classes alive then die there). An atom crossing ``r_cut`` therefore enters and
    leaves with zero persistence and zero slope (*h* is twice continuously differentiable):
    the diagram, and the energy built on it, are continuous, and so are the forces.

    Parameters
    ----------
    filtration
        ``"alpha"`` (the papers': squared circumradii of the periodic Delaunay complex) or
        ``"rips"`` (Vietoris–Rips on the neighbourhood, squared half edge lengths).
    r_cut
        Neighbourhood radius, Å. Periodic cells must be wider than ``2 · r_cut`` between
        opposite faces, so that no atom sees two images of one neighbour.
    r_inner
        Radius, Å, where the smooth rise of the entrance to ``t_max`` starts.
    kappa
        Entrance rate κ (Å²/Å², dimensionless): atoms well inside ``r_inner`` enter at
        ``κ r²``; at most ``t_max / r_cut²``. 0 lets every atom inside ``r_inner`` in at 0
        (the plain alpha diagram of that ball).
    t_max
        End of the filtration, Å² (squared radius).
    max_dim
        Highest homology dimension (2: H0, H1 and H2 for alpha; Rips is costly beyond 1).
    resolution
        Pixels of each dimension's persistence image, ``(birth, persistence)``.
    bandwidth
        Standard deviation of the Gaussian of each diagram point, in the images' unit (Å²,
        or Å with ``image_axes="root"``).
    image_axes
        What the images' axes show: ``"squared"`` (default) the values themselves (squared
        radii, Å², birth and persistence on ``[0, t_max]``), ``"root"`` their square roots
        (radii, Å, on ``[0, √t_max]``), which spreads the short bonds' values, crowded
        near zero in Å², over more pixels. The diagrams are the same either way.
    weight
        Weight of a point of persistence *p* in the images: ``"quadratic"`` ``(p/t_max)²``
        (default) or ``"linear"`` ``p/t_max`` (*p* and the extent ``t_max`` in the images'
        unit). Both vanish with *p*, so pairs appearing or
        vanishing at zero persistence leave the images continuous; the quadratic one also
        leaves their derivatives continuous, so the forces do not jump there (such events
        happen at most MD steps: two atoms swapping their order of entrance).
    species
        Chemical symbols the descriptor accepts.
    centre
        Whether atom *i* is a vertex of its own complex: ``"kept"`` (default), ``"removed"``
        (the neighbours only, still entering by their distance to *i*) or ``"both"`` (the two
        sets of images side by side). With the centre kept, every neighbour joins the centre
        first, so the distances between neighbours, and with them the bond angles at *i*,
        make no class. Without it, two neighbours at distance *r* from *i* whose bonds meet
        at the angle θ join where the edge between them enters, at ``(d/2)² = r² sin²(θ/2)``:
        the angles are in H0. For alpha the complex without the centre is the neighbours'
        graph (edges at ``max((d/2)², h_j, h_k)``; its H0 only, one image): the subcomplex of
        the shared Delaunay triangulation without the centre would jump where a flip swaps an
        edge between two neighbours for one through the centre. For Rips it is the flag
        complex on the neighbours, all dimensions.
    graph
        How the neighbours' graph (the alpha complex without the centre, ``centre="removed"``
        or ``"both"``) is valued. ``"distance"`` (default): as above, neighbour *j* at
        ``h(r_ij)`` and edge (j, k) at ``max((d_jk/2)², h_j, h_k)``. ``"circumradius"``: each
        simplex τ of the graph enters at the alpha value its cone with the centre, τ ∪ {i},
        has on those points alone: neighbour *j* at ``max(r_ij²/4, h(r_ij))`` (where it joins
        the centre in the complex with the centre) and edge (j, k) at
        ``max(R²(i, j, k), h_j, h_k)``, R the circumradius of the triangle (i, j, k); for two
        bonds of length *r* at the angle θ, ``R² = r² / (4 cos²(θ/2))``: one bond length and
        one angle in each value, as the circumradii that the centre's Delaunay triangles gave
        a complex without the centre, but continuous (no Delaunay flips). R grows without
        bound as j, i, k become collinear; every value is capped at ``t_max`` (an edge above
        it never enters), so the values stay continuous and differentiable away from the cap.
        (The smallest enclosing ball, finite everywhere, would give an edge whose angle at
        the centre exceeds 90° the value ``(d_jk/2)²`` of ``"distance"``: carbon's bond
        angles, 109–120°, lie there, and there R² varies most with the angle.) Alpha only;
        needs the centre removed (or both).
    graph_cycles
        Also the neighbours' graph's H1 (alpha, centre removed or both): one more image. The
        graph has no triangles, so each edge that closes a cycle (one not in the minimum
        spanning forest of the edges below it) is born at its value and lives to ``t_max``.
        H0 records, per neighbour, the lowest edge joining it to the others; the cycles record
        the rest (for four neighbours, three of the six edges), so with
        ``graph="circumradius"`` every bond angle at *i* is in the images. The values are
        those of the graph's edges, so the images stay continuous (an edge entering at
        ``t_max`` is a point of zero persistence) and change recipe only where two edges
        swap between the forest and the cycles, where their values are equal.
    graph_summary
        What the neighbours' graph's two images hold (with ``graph_cycles``).
        ``"persistence"`` (default): its diagram, H0 pairs (a neighbour's value, the edge
        that joins its class to an older one) and H1 births. ``"simplices"``: its simplices'
        values, each vertex and each edge below ``t_max`` as a point ``(value, t_max)`` in the
        first and second image (what the graph's Euler characteristic curve counts, vertices
        and edges apart). The edges image then holds every edge, not only those that close a
        cycle, and no value depends on which edges form the spanning forest: where two edges
        swap between the forest and the cycles (the graph's pairing switches, which most MD
        steps hold) the images keep their derivatives, so the forces do not jump there (they
        still do where a value's own recipe changes, e.g. at the cap or in the max with the
        entrance). What is lost is which neighbour each forest edge joins.
    """

    filtration: Literal["alpha", "rips"] = "alpha"
    r_cut: float = 4.0
    r_inner: float = 2.5
    kappa: float = 0.1
    t_max: float = 4.0
    max_dim: int = 2
    resolution: tuple[int, ...] = (16, 16)
    bandwidth: float = 0.1
    image_axes: Literal["squared", "root"] = "squared"
    weight: Literal["quadratic", "linear"] = "quadratic"
    species: tuple[str, ...] = ("C",)
    centre: Literal["kept", "removed", "both"] = "kept"
    graph: Literal["distance", "circumradius"] = "distance"
    graph_cycles: bool = False
    graph_summary: Literal["persistence", "simplices"] = "persistence"

    def __post_init__(self) -> None:
        _validate.choice("filtration", self.filtration, ("alpha", "rips"))
        _validate.positive("r_cut", self.r_cut)
        _validate.nonnegative("r_inner", self.r_inner)
        if not self.r_inner < self.r_cut:
            raise ValueError(f"r_inner must be below r_cut={self.r_cut}, got {self.r_inner}")
        _validate.positive("t_max", self.t_max)
        _validate.nonnegative("kappa", self.kappa)
        if self.kappa * self.r_cut**2 > self.t_max:
            raise ValueError(
                f"kappa must be at most t_max / r_cut² = {self.t_max / self.r_cut**2:.4g} so that "
                f"the entrance rises to t_max, got {self.kappa}"
            )
        _validate.nonnegative_int("max_dim", self.max_dim)
        if self.max_dim > 2:
            raise ValueError(f"max_dim must be 0, 1 or 2 in 3-D space, got {self.max_dim}")
        if len(self.resolution) != 2:
            raise ValueError(
                f"resolution must be (birth, persistence) pixels, got {self.resolution}"
            )
        for k, m in enumerate(self.resolution):
            _validate.positive_int(f"resolution[{k}]", m)
        _validate.positive("bandwidth", self.bandwidth)
        _validate.choice("image_axes", self.image_axes, ("squared", "root"))
        _validate.choice("weight", self.weight, ("quadratic", "linear"))
        if isinstance(self.species, str) or not self.species:
            raise ValueError(f"species must be a non-empty tuple of symbols, got {self.species!r}")
        _validate.choice("centre", self.centre, ("kept", "removed", "both"))
        _validate.choice("graph", self.graph, ("distance", "circumradius"))
        if self.graph == "circumradius" and (self.filtration != "alpha" or self.centre == "kept"):
            raise ValueError(
                "graph='circumradius' values the neighbours' graph of the alpha filtration "
                "without the centre; it needs filtration='alpha' and centre='removed' or "
                f"'both', got filtration={self.filtration!r}, centre={self.centre!r}"
            )
        if self.graph_cycles and (self.filtration != "alpha" or self.centre == "kept"):
            raise ValueError(
                "graph_cycles adds the H1 of the neighbours' graph of the alpha filtration "
                "without the centre (Rips keeps every dimension already); it needs "
                "filtration='alpha' and centre='removed' or 'both', got "
                f"filtration={self.filtration!r}, centre={self.centre!r}"
            )
        _validate.choice("graph_summary", self.graph_summary, ("persistence", "simplices"))
        if self.graph_summary == "simplices" and not self.graph_cycles:
            raise ValueError(
                "graph_summary='simplices' puts the neighbours' graph's vertices and edges in "
                "its two images; it needs graph_cycles=True (and with it filtration='alpha', "
                "centre='removed' or 'both')"
            )

    @property
    def image_extent(self) -> float:
        """Length of the images' axes in their unit: ``t_max`` (Å²) or ``√t_max`` (Å)."""
        return float(np.sqrt(self.t_max)) if self.image_axes == "root" else float(self.t_max)

    @property
    def removed_blocks(self) -> int:
        """Images of the complex without the centre: none for ``centre="kept"``, its H0 for
        alpha (the neighbours' graph; and H1 with ``graph_cycles``), H0 … H``max_dim`` for
        Rips."""
        if self.centre == "kept":
            return 0
        if self.filtration == "alpha":
            return 2 if self.graph_cycles else 1
        return self.max_dim + 1

    @property
    def n_blocks(self) -> int:
        """Images per atom: the centred complex's H0, H1, … (unless ``centre="removed"``),
        then those of the complex without the centre (:attr:`removed_blocks`)."""
        kept = 0 if self.centre == "removed" else self.max_dim + 1
        return kept + self.removed_blocks

    @property
    def n_features(self) -> int:
        """Features per atom: ``n_blocks`` images of ``resolution`` pixels."""
        return self.n_blocks * self.resolution[0] * self.resolution[1]

    @property
    def reach(self) -> float:
        """How far from an atom, Å, the positions its diagram depends on can lie.

        An alpha value up to ``t_max`` is the radius of an empty ball touching atoms within
        ``r_cut``, so it involves atoms up to ``r_cut + 2 √t_max`` away; Rips only ``r_cut``.
        """
        if self.filtration == "rips":
            return float(self.r_cut)
        return float(self.r_cut + 2.0 * np.sqrt(self.t_max))


def _smoothstep(u: np.ndarray) -> np.ndarray:
    return u * u * u * (10.0 + u * (6.0 * u - 15.0))


def entrance(r: np.ndarray, config: LocalPHConfig) -> np.ndarray:
    """Entrance values ``h(r)`` (Å²) of atoms at distances ``r`` (Å) from the centre.

    ``κ r²`` below ``r_inner``, ``t_max`` from ``r_cut`` on, and between them the blend
    ``κ r² + (t_max − κ r²) s(u)`` with the quintic smooth step ``s`` of
    ``u = (r − r_inner)/(r_cut − r_inner)``: twice continuously differentiable, so forces stay
    continuous where atoms cross either radius.
    """
    r = np.asarray(r, dtype=np.float64)
    u = np.clip((r - config.r_inner) / (config.r_cut - config.r_inner), 0.0, 1.0)
    base = config.kappa * r * r
    return base + (config.t_max - base) * _smoothstep(u)


def entrance_torch(r: torch.Tensor, config: LocalPHConfig) -> torch.Tensor:
    """:func:`entrance` in torch (differentiable in ``r``)."""
    import torch

    u = torch.clamp((r - config.r_inner) / (config.r_cut - config.r_inner), 0.0, 1.0)
    base = config.kappa * r * r
    return base + (config.t_max - base) * (u * u * u * (10.0 + u * (6.0 * u - 15.0)))
