"""Representative cycles of cubical H1 pairs: exact on hand-made fields, valid on random ones."""

import itertools

import gudhi
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from topophys.homology import cubical_diagram, cubical_h1_cycles

CASES = list(itertools.product(("top", "vertex"), ("sublevel", "superlevel"), (False, True)))


def ring_field():
    f = np.full((5, 5), 2.0)
    f[1:4, 1:4] = 0.0
    f[2, 2] = 1.0
    return f


def test_a_ring_around_a_peak_top():
    (cycle,) = cubical_h1_cycles(ring_field(), construction="top")
    assert (cycle.birth, cycle.death, cycle.death_pixel) == (0.0, 1.0, (2, 2))
    assert cycle.region.sum() == 1 and cycle.region[2, 2]
    # the four sides of the centre pixel, corners (2, 2) to (3, 3)
    assert cycle.edges.tolist() == [
        [[2, 2], [2, 3]],
        [[2, 2], [3, 2]],
        [[2, 3], [3, 3]],
        [[3, 2], [3, 3]],
    ]


def test_a_ring_around_a_peak_vertex():
    (cycle,) = cubical_h1_cycles(ring_field(), construction="vertex")
    assert (cycle.birth, cycle.death, cycle.death_pixel) == (0.0, 1.0, (2, 2))
    ring = {(i, j) for i in range(1, 4) for j in range(1, 4)} - {(2, 2)}
    edges = {tuple(map(tuple, e)) for e in cycle.edges.tolist()}
    assert len(edges) == 8  # the eight edges between 4-adjacent pixels of the ring
    assert all(
        a in ring and b in ring and abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in edges
    )


def test_an_island_inside_the_hole_adds_an_inner_loop():
    f = np.full((7, 7), 2.0)
    f[1:6, 1:6] = 0.0  # the ring
    f[2:5, 2:5] = 1.0  # the hole
    f[3, 3] = -1.0  # an island in it
    (cycle,) = cubical_h1_cycles(f, construction="top")
    assert (cycle.birth, cycle.death) == (0.0, 1.0)
    expected = np.zeros((7, 7), bool)
    expected[2:5, 2:5] = True
    expected[3, 3] = False
    np.testing.assert_array_equal(cycle.region, expected)
    assert len(cycle.edges) == 12 + 4  # outer square of side 3 and the island's 4 sides


def test_two_holes_on_the_torus_give_one_finite_pair():
    # The torus minus two squares has three independent loops; filling the first square kills
    # the loop around it, filling the second makes the torus's H2 class instead.
    f = np.zeros((8, 8))
    f[1:3, 1:3] = 1.0
    f[5:7, 4:6] = 2.0
    (cycle,) = cubical_h1_cycles(f, construction="top", periodic=True)
    assert (cycle.birth, cycle.death) == (0.0, 1.0)
    assert cycle.region.sum() == 4 and cycle.region[1:3, 1:3].all()
    assert len(cycle.edges) == 8
    # open boundaries: two holes, two finite pairs
    assert [(c.birth, c.death) for c in cubical_h1_cycles(f)] == [(0.0, 1.0), (0.0, 2.0)]


def _edge_values(f, edges, construction, periodic):
    """Filtration value of each edge of the complex (sublevel of f)."""
    h, w = f.shape
    out = []
    for (a, b), (c, d) in edges:
        if construction == "vertex":
            out.append(max(f[a % h, b % w], f[c % h, d % w]))
            continue
        # top: an edge of pixel corners takes the minimum of the pixels on either side
        if a == c:  # horizontal edge at corner row a: pixels (a-1, b) and (a, b)
            cand = [(a - 1, min(b, d)), (a, min(b, d))]
            if periodic and abs(b - d) > 1:
                cand = [(a - 1, max(b, d)), (a, max(b, d))]
        else:
            cand = [(min(a, c), b - 1), (min(a, c), b)]
            if periodic and abs(a - c) > 1:
                cand = [(max(a, c), b - 1), (max(a, c), b)]
        vals = [f[i % h, j % w] for i, j in cand if periodic or (0 <= i < h and 0 <= j < w)]
        out.append(min(vals))
    return np.array(out)


@pytest.mark.parametrize(("construction", "filtration", "periodic"), CASES)
def test_cycles_are_closed_present_at_birth_and_match_the_diagram(
    construction, filtration, periodic
):
    f = gaussian_filter(np.random.default_rng(3).standard_normal((30, 37)), 1.5, mode="wrap")
    cycles = cubical_h1_cycles(
        f, construction=construction, filtration=filtration, periodic=periodic
    )
    d = cubical_diagram(f, construction=construction, filtration=filtration, periodic=periodic)
    finite = d[(d[:, 0] == 1) & np.isfinite(d[:, 2]), 1:]
    np.testing.assert_array_equal([[c.birth, c.death] for c in cycles], finite)
    g = -f if filtration == "superlevel" else f
    for c in cycles:
        assert g[c.birth_pixel] == c.birth and g[c.death_pixel] == c.death
        assert c.region[c.death_pixel] and g[c.region].max() == c.death
        assert (g[c.region] > c.birth).all()
        # a 1-cycle: every vertex has even degree
        _, degree = np.unique(c.edges.reshape(-1, 2), axis=0, return_counts=True)
        assert (degree % 2 == 0).all()
        assert (_edge_values(g, c.edges, construction, periodic) <= c.birth).all()


def test_birth_and_death_pixels_are_gudhis():
    # Distinct values: the pixels of each pair are unique, and GUDHI names them too.
    f = np.random.default_rng(7).standard_normal((20, 24))
    cc = gudhi.CubicalComplex(top_dimensional_cells=f)
    cc.compute_persistence()
    regular, _ = cc.cofaces_of_persistence_pairs()
    h, _ = f.shape
    theirs = sorted(
        ((int(b % h), int(b // h)), (int(e % h), int(e // h))) for b, e in regular[1]
    )  # GUDHI indexes cells in Fortran order
    ours = sorted((c.birth_pixel, c.death_pixel) for c in cubical_h1_cycles(f))
    assert ours == theirs


def test_select_chooses_pairs():
    f = gaussian_filter(np.random.default_rng(1).standard_normal((32, 32)), 1.0)
    every = cubical_h1_cycles(f)
    long = cubical_h1_cycles(f, select=lambda b, d: d - b > 0.3)
    assert 0 < len(long) < len(every)
    assert all(c.death - c.birth > 0.3 for c in long)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"field": np.zeros((3, 3, 3))}, ValueError, "field must be 2-D"),
        ({"field": np.zeros(3)}, ValueError, "field must be a 2-D"),
        ({"construction": "cells"}, ValueError, "construction"),
        ({"periodic": (True, False)}, TypeError, "periodic"),
        (
            {"select": lambda b, d: [True] * (len(b) + 1)},
            ValueError,
            "select must return one bool per pair",
        ),
    ],
)
def test_bad_input(kwargs, error, match):
    kwargs = {"field": ring_field() + np.eye(5)} | kwargs
    with pytest.raises(error, match=match):
        cubical_h1_cycles(kwargs.pop("field"), **kwargs)
