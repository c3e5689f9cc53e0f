"""Betti and Euler curves: brute force, and the homology of GUDHI sublevel complexes."""

from __future__ import annotations

import gudhi
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from topophys.diagrams import Diagrams
from topophys.vectorize import BettiCurve, EulerCurve

INF = np.inf


@st.composite
def diagram(draw: st.DrawFn, max_points: int = 12) -> np.ndarray:
    """Values on a coarse lattice so that births and deaths hit grid values exactly."""
    k = draw(st.integers(0, max_points))
    dims = draw(hnp.arrays(np.int64, k, elements=st.integers(0, 2)))
    births = draw(hnp.arrays(np.float64, k, elements=st.integers(-3, 12).map(float)))
    pers = draw(hnp.arrays(np.float64, k, elements=st.integers(0, 6).map(float)))
    essential = draw(hnp.arrays(np.bool_, k))
    deaths = np.where(essential, INF, births + pers)
    return np.column_stack([dims, births, deaths]).reshape(k, 3)


GRID = np.arange(-2.0, 11.0, 1.0)  # lattice values, so the half-open ends are exercised


@given(st.lists(diagram(), max_size=6), st.integers(0, 2))
@settings(max_examples=60, deadline=None)
def test_betti_curve_counts_birth_le_t_lt_death(x, dim) -> None:
    got = BettiCurve(dim=dim, grid=GRID).fit_transform(x)
    assert got.shape == (len(x), GRID.size)
    for i, a in enumerate(x):
        a = a[a[:, 0] == dim]
        want = [np.sum((a[:, 1] <= t) & (t < a[:, 2])) for t in GRID]
        np.testing.assert_array_equal(got[i], want)


@given(st.lists(diagram(), max_size=6))
@settings(max_examples=40, deadline=None)
def test_euler_curve_is_alternating_sum_of_betti_curves(x) -> None:
    euler = EulerCurve(grid=GRID).fit_transform(x)
    betti = [BettiCurve(dim=d, grid=GRID).fit_transform(x) for d in range(3)]
    np.testing.assert_array_equal(euler, betti[0] - betti[1] + betti[2])


def rips_tree(seed: int) -> gudhi.SimplexTree:
    # 20 points at this scale give a few H1 loops and many essential H2 classes (2-cycles of
    # triangles that no tetrahedron fills), so all three dimensions are exercised.
    pts = np.random.default_rng(seed).uniform(size=(20, 2))
    return gudhi.RipsComplex(points=pts, max_edge_length=0.45).create_simplex_tree(max_dimension=2)


def sublevel_homology(tree: gudhi.SimplexTree, t: float) -> tuple[list[int], int]:
    """Betti numbers and Euler characteristic of the subcomplex of simplices with value <= t."""
    sub = gudhi.SimplexTree()
    chi = 0
    for simplex, value in tree.get_filtration():
        if value <= t:
            sub.insert(simplex, value)
            chi += (-1) ** (len(simplex) - 1)
    sub.compute_persistence(persistence_dim_max=True)
    betti = sub.betti_numbers() if sub.num_simplices() else []
    return [*betti, 0, 0, 0][:3], chi


@pytest.mark.parametrize("seed", [1, 2])
def test_curves_are_the_homology_of_gudhi_sublevel_complexes(seed: int) -> None:
    tree = rips_tree(seed)
    diagrams = Diagrams.from_gudhi([tree.persistence(persistence_dim_max=True)])
    assert diagrams.select(1).sizes()[0] >= 2
    values = np.unique([v for _, v in tree.get_filtration()])
    # Every filtration value (where the half-open convention matters), and values in between.
    grid = np.unique(np.concatenate([values[::3], (values[:-1:4] + values[1::4]) / 2]))
    betti = [BettiCurve(dim=d, grid=grid).fit_transform(diagrams)[0] for d in range(3)]
    euler = EulerCurve(grid=grid).fit_transform(diagrams)[0]
    for k, t in enumerate(grid):
        want_betti, want_chi = sublevel_homology(tree, t)
        assert [int(b[k]) for b in betti] == want_betti, t
        assert int(euler[k]) == want_chi, t


def test_essential_classes_count_forever_and_grid_inference() -> None:
    x = [np.array([[0, 0.0, INF], [0, 1.0, 3.0], [1, 2.0, 2.0]])]
    b0 = BettiCurve(dim=0, grid=5).fit(x)
    np.testing.assert_array_equal(b0.grid_, [0.0, 0.75, 1.5, 2.25, 3.0])
    np.testing.assert_array_equal(b0.transform(x)[0], [1, 1, 2, 2, 1])
    b1 = BettiCurve(dim=1, grid=3).fit(x)
    np.testing.assert_array_equal(b1.grid_, [2.0, 2.5, 3.0])  # a single value v -> [v, v + 1]
    np.testing.assert_array_equal(b1.transform(x), 0.0)  # birth == death is never alive
    assert BettiCurve(dim=0, grid=1).fit(x).grid_.tolist() == [0.0]
    np.testing.assert_array_equal(
        EulerCurve(grid=[-1.0, 0.0, 2.0, 5.0]).fit_transform(x)[0], [0, 1, 2, 1]
    )


def test_errors_and_feature_names() -> None:
    x = [np.array([[0, 0.0, 1.0]])]
    with pytest.raises(NotFittedError):
        BettiCurve().transform(x)
    with pytest.raises(NotFittedError):
        EulerCurve().get_feature_names_out()
    for grid, error, match in [
        (0, ValueError, "grid"),
        ([1.0, 1.0], ValueError, "strictly increasing"),
        ([0.0, np.nan], ValueError, "finite"),
        ([[0.0, 1.0]], ValueError, "1-D"),
        ([], ValueError, "1-D"),
        ("abc", TypeError, "grid"),
    ]:
        with pytest.raises(error, match=match):
            BettiCurve(dim=0, grid=grid).fit(x)
        with pytest.raises(error, match=match):
            EulerCurve(grid=grid).fit(x)
    with pytest.raises(ValueError, match="cannot infer grid"):
        BettiCurve(dim=1).fit(x)
    with pytest.raises(ValueError, match="cannot infer grid"):
        EulerCurve().fit(Diagrams.empty(2))
    with pytest.raises(ValueError, match="dim"):
        BettiCurve(dim=-1, grid=[0.0]).fit(x)
    with pytest.raises(ValueError, match="NaN"):
        BettiCurve(grid=[0.0]).fit([np.array([[0, 0.0, np.nan]])])
    assert BettiCurve(dim=0, grid=[0.0, 1.0]).fit(x).get_feature_names_out().tolist() == [
        "betti0_0",
        "betti0_1",
    ]
    assert EulerCurve(grid=3).fit(x).get_feature_names_out().tolist() == [
        "euler_0",
        "euler_1",
        "euler_2",
    ]
