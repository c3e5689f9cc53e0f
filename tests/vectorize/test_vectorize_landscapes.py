"""Persistence landscapes and silhouettes: GUDHI's values (times √2), landscape properties."""

import numpy as np
import pytest

from topophys.diagrams import Diagrams
from topophys.vectorize import PersistenceLandscape, PersistenceSilhouette

GRID = np.linspace(-0.2, 3.0, 41)


def diagrams(seed=0, sizes=(0, 1, 3, 17, 60)):
    rng = np.random.default_rng(seed)
    out = []
    for k in sizes:
        birth = rng.uniform(0.0, 2.0, k)
        rows = np.c_[np.ones(k), birth, birth + rng.exponential(0.5, k)]
        out.append(np.vstack([rows, [[0, 0.0, np.inf]], [[0, 0.1, 0.4]]]))
    return Diagrams.from_list(out)


@pytest.mark.parametrize("n_layers", [1, 4, 30])
def test_landscape_is_gudhis_divided_by_sqrt2(n_layers):
    from gudhi.representations import Landscape

    X = diagrams()
    ours = PersistenceLandscape(n_layers=n_layers, grid=GRID).fit_transform(X)
    gudhi = Landscape(num_landscapes=n_layers, resolution=GRID.size, sample_range=GRID[[0, -1]])
    pairs = [X.pairs(i, 1) for i in range(len(X))]
    theirs = gudhi.fit_transform(pairs)
    np.testing.assert_allclose(ours * np.sqrt(2), theirs, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("power", [0.0, 1.0, 2.5])
def test_silhouette_is_gudhis_divided_by_sqrt2(power):
    from gudhi.representations import Silhouette

    X = diagrams(sizes=(1, 3, 17, 60))  # GUDHI divides by zero on an empty diagram
    ours = PersistenceSilhouette(power=power, grid=GRID).fit_transform(X)
    gudhi = Silhouette(
        weight=lambda p: (p[1] - p[0]) ** power, resolution=GRID.size, sample_range=GRID[[0, -1]]
    )
    theirs = gudhi.fit_transform([X.pairs(i, 1) for i in range(len(X))])
    np.testing.assert_allclose(ours * np.sqrt(2), theirs, rtol=1e-12, atol=1e-15)


def test_landscape_layers_are_ordered_lipschitz_and_peak_at_half_persistence():
    X = diagrams(1, sizes=(25,))
    grid = np.linspace(0.0, 4.0, 801)
    lam = PersistenceLandscape(n_layers=6, grid=grid).fit_transform(X).reshape(6, -1)
    assert (np.diff(lam, axis=0) <= 0).all()  # λ1 >= λ2 >= ...
    assert (np.abs(np.diff(lam, axis=1)) <= np.diff(grid)[0] + 1e-12).all()  # 1-Lipschitz
    pairs = X.pairs(0, 1)
    assert lam[0].max() == pytest.approx(((pairs[:, 1] - pairs[:, 0]) / 2).max(), abs=5e-3)


def test_silhouette_of_one_point_is_its_tent_and_empty_diagrams_give_zeros():
    X = Diagrams.from_list([np.array([[1, 1.0, 3.0]]), np.empty((0, 3))])
    grid = np.array([0.0, 1.5, 2.0, 2.5, 4.0])
    expected = np.array([0.0, 0.5, 1.0, 0.5, 0.0])
    for est in (PersistenceSilhouette(grid=grid), PersistenceLandscape(n_layers=1, grid=grid)):
        out = est.fit_transform(X)
        np.testing.assert_array_equal(out, [expected, np.zeros(5)])


def test_essential_points_are_dropped_or_clipped_at_the_grid_end():
    X = Diagrams.from_list([np.array([[1, 1.0, np.inf]])])
    grid = np.array([0.0, 1.0, 2.0, 3.0])
    assert not PersistenceLandscape(grid=grid).fit_transform(X).any()
    clipped = PersistenceLandscape(n_layers=1, grid=grid, essential="clip").fit_transform(X)
    np.testing.assert_array_equal(clipped, [[0.0, 0.0, 1.0, 0.0]])


def test_inferred_grid_spans_births_to_deaths():
    X = diagrams(2, sizes=(5, 9))
    est = PersistenceLandscape(grid=11).fit(X)
    rows = X.data[(X.data[:, 0] == 1)]
    assert est.grid_[0] == rows[:, 1].min() and est.grid_[-1] == rows[:, 2].max()
    assert est.transform(X).shape == (2, 5 * 11)


@pytest.mark.parametrize(
    ("est", "error", "match"),
    [
        (PersistenceLandscape(n_layers=0), ValueError, "n_layers"),
        (PersistenceLandscape(grid=[1.0, 0.0]), ValueError, "grid must be strictly increasing"),
        (PersistenceLandscape(essential="keep"), ValueError, "essential"),
        (PersistenceSilhouette(power=-1.0), ValueError, "power must be >= 0"),
        (PersistenceSilhouette(power="one"), TypeError, "power"),
        (PersistenceSilhouette(dim=-1), ValueError, "dim"),
    ],
)
def test_bad_parameters(est, error, match):
    with pytest.raises(error, match=match):
        est.fit(diagrams())
