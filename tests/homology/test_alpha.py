"""Periodic and free alpha persistence: analytic lattices, invariances, exactness checks."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from topophys.homology.alpha import (
    AlphaPersistence,
    CellTooSmallError,
    alpha_diagram,
    periodic_alpha_diagram,
)


def _grid(n, d, a=1.0):
    return np.stack(np.meshgrid(*[np.arange(n)] * d, indexing="ij"), -1).reshape(-1, d) * a


def _counts(diagram, dim):
    rows = diagram[diagram[:, 0] == dim][:, 1:]
    values, counts = np.unique(rows.round(9), axis=0, return_counts=True)
    return {tuple(v): int(c) for v, c in zip(values, counts, strict=True)}


def test_simple_cubic_three_torus_is_analytic():
    # 3×3×3 sites, spacing a: edges at a²/4, squares at a²/2, cubes at 3a²/4 (squared radii);
    # Betti numbers of the 3-torus (1, 3, 3, 1) remain as essential classes.
    a = 1.3
    d = periodic_alpha_diagram(_grid(3, 3, a), np.eye(3) * 3 * a, max_dim=3)
    e, s, c = a**2 / 4, a**2 / 2, 3 * a**2 / 4
    r = lambda x: round(x, 9)  # noqa: E731
    assert _counts(d, 0) == {(0.0, r(e)): 26, (0.0, np.inf): 1}
    assert _counts(d, 1) == {(r(e), r(s)): 52, (r(e), np.inf): 3}
    assert _counts(d, 2) == {(r(s), r(c)): 26, (r(s), np.inf): 3}
    assert _counts(d, 3) == {(r(c), np.inf): 1}


def test_square_two_torus_is_analytic():
    d = periodic_alpha_diagram(_grid(4, 2), np.eye(2) * 4)
    assert _counts(d, 0) == {(0.0, 0.25): 15, (0.0, np.inf): 1}
    assert _counts(d, 1) == {(0.25, 0.5): 15, (0.25, np.inf): 2}


def test_hexagon_ring_has_one_loop():
    # Regular hexagon of side a: the loop is born when edges close (a²/4) and dies when the
    # co-circular triangles fill it (circumradius a).
    a = 1.42
    angles = np.arange(6) * np.pi / 3
    ring = a * np.column_stack([np.cos(angles), np.sin(angles), np.zeros(6)])
    d = alpha_diagram(ring)
    h1 = d[d[:, 0] == 1]
    assert h1.shape == (1, 3)
    np.testing.assert_allclose(h1[0, 1:], [a**2 / 4, a**2], rtol=1e-12)


@pytest.fixture(scope="module")
def random_cell():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 6.0, (60, 3)), np.eye(3) * 6.0


def _same(a, b, atol=1e-9):
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=atol, rtol=0)


def test_invariant_to_translation_permutation_and_wrapping(random_cell):
    points, cell = random_cell
    base = periodic_alpha_diagram(points, cell)
    rng = np.random.default_rng(1)
    _same(base, periodic_alpha_diagram(points + np.array([1.7, -3.2, 40.0]), cell))
    _same(base, periodic_alpha_diagram(points[rng.permutation(len(points))], cell))
    jumps = rng.integers(-2, 3, points.shape) @ cell
    _same(base, periodic_alpha_diagram(points + jumps, cell))


def test_invariant_to_rotating_cell_and_atoms(random_cell):
    points, cell = random_cell
    rot = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    base = periodic_alpha_diagram(points, cell)
    _same(base, periodic_alpha_diagram(points @ rot.T, cell @ rot.T))


def test_triclinic_cell_of_the_same_lattice_gives_the_same_diagram(random_cell):
    # A unimodular change of basis describes the same torus: the diagram cannot change.
    points, cell = random_cell
    skew = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]]) @ cell
    _same(periodic_alpha_diagram(points, cell), periodic_alpha_diagram(points, skew))


def test_essential_classes_are_the_torus_betti_numbers(random_cell):
    points, cell = random_cell
    d = periodic_alpha_diagram(points, cell, max_dim=3)
    essential = [int(np.isinf(d[d[:, 0] == k, 2]).sum()) for k in range(4)]
    assert essential == [1, 3, 3, 1]
    finite = d[np.isfinite(d[:, 2])]
    assert np.all(finite[:, 2] - finite[:, 1] > 1e-10)
    assert (d[:, 0] == 0).sum() == len(points)


def test_periodic_differs_from_free_only_near_the_boundary(random_cell):
    # Same atoms, no periodicity: H0 of a free cloud has the same count but other deaths.
    points, cell = random_cell
    free = alpha_diagram(points)
    per = periodic_alpha_diagram(points, cell)
    assert (free[:, 0] == 0).sum() == (per[:, 0] == 0).sum()
    assert not np.allclose(np.sort(free[free[:, 0] == 0, 2]), np.sort(per[per[:, 0] == 0, 2]))


def test_too_small_cell_is_refused():
    with pytest.raises(CellTooSmallError, match="supercell"):
        periodic_alpha_diagram(
            np.array([[0.0, 0, 0], [0.5, 0.5, 0.5], [0.2, 0.7, 0.1], [0.9, 0.1, 0.4]]), np.eye(3)
        )


@pytest.mark.parametrize(
    ("points", "cell", "error", "match"),
    [
        (np.zeros((5, 4)), np.eye(4), ValueError, "points"),
        (np.full((5, 3), np.nan), np.eye(3), ValueError, "NaN"),
        (np.zeros((5, 3)), np.eye(2), ValueError, "cell"),
        (np.random.default_rng(0).random((5, 3)), np.zeros((3, 3)), ValueError, "degenerate"),
        (np.array([["a", "b", "c"]] * 5), np.eye(3), TypeError, "numeric"),
    ],
)
def test_bad_input_is_named(points, cell, error, match):
    with pytest.raises(error, match=match):
        periodic_alpha_diagram(points, cell)


def test_transformer_on_ase_atoms():
    ase = pytest.importorskip("ase")
    from ase.build import bulk

    si = bulk("Si", cubic=True).repeat(2)
    free = ase.Atoms(
        "C6",
        positions=np.column_stack(
            [np.cos(np.arange(6) * np.pi / 3), np.sin(np.arange(6) * np.pi / 3), np.zeros(6)]
        )
        * 1.42,
    )
    dgms = AlphaPersistence().fit_transform([si, free])
    assert len(dgms) == 2
    assert int(np.isinf(dgms[0][dgms[0][:, 0] == 1, 2]).sum()) == 3  # periodic: winding loops
    assert int((dgms[1][:, 0] == 1).sum()) == 1  # free ring: one loop
    planar = ase.Atoms(
        "C16", positions=np.column_stack([_grid(4, 2), np.zeros(16)]), cell=[4, 4, 10], pbc=True
    )
    flat = AlphaPersistence(dimension=2).fit_transform([planar])[0]
    assert _counts(flat, 1) == {(0.25, 0.5): 15, (0.25, np.inf): 2}
    with pytest.raises(TypeError, match=r"X\[0\]"):
        AlphaPersistence().fit_transform([np.zeros((3, 3))])
    with pytest.raises(ValueError, match="dimension"):
        AlphaPersistence(dimension=4).fit([si])
