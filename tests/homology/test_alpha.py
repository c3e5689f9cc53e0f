"""Periodic and free alpha persistence: analytic lattices, crystals, invariances, exactness."""

import math

import gudhi
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from topophys.homology import _torus, alpha
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


def _essential(diagram, top):
    return [int(np.isinf(diagram[diagram[:, 0] == k, 2]).sum()) for k in range(top + 1)]


def _same(a, b, atol=1e-9):
    """Same diagram: equal counts per dimension and bottleneck distance ≤ atol (ties in the
    values make row orders differ, so rows are not compared one by one)."""
    for k in np.union1d(a[:, 0], b[:, 0]):
        x, y = a[a[:, 0] == k, 1:], b[b[:, 0] == k, 1:]
        assert len(x) == len(y), f"H{int(k)}: {len(x)} pairs against {len(y)}"
        assert gudhi.bottleneck_distance(x, y) <= atol, f"H{int(k)} differs"


def _reference(points, cell, max_dim, margin=None):
    """The straightforward method, simplex by simplex, for generic positions only: GUDHI's
    alpha complex of a cover of images, then the copy of each simplex whose smallest atom lies
    in the cell. (On crystals, copies of co-spherical groups are split differently by round-off
    and this mix of copies is no triangulation.)"""
    n, d = points.shape
    frac = np.linalg.solve(cell.T, points.T).T % 1.0
    volume = abs(np.linalg.det(cell))
    gaps = volume / np.array(
        [
            np.linalg.norm(np.delete(cell, i, 0)[0])
            if d == 2
            else np.linalg.norm(np.cross(*np.delete(cell, i, 0)))
            for i in range(d)
        ]
    )
    margin = 3.0 * (volume / n) ** (1 / d) if margin is None else margin
    while True:
        reach = margin / gaps
        shifts = np.stack(
            np.meshgrid(
                *[np.arange(-math.ceil(r), math.ceil(r) + 1) for r in reach], indexing="ij"
            ),
            -1,
        ).reshape(-1, d)
        f = frac[None] + shifts[:, None]
        s_idx, a_idx = np.nonzero(np.all((f >= -reach) & (f < 1 + reach), axis=-1))
        cover = f[s_idx, a_idx] @ cell
        st = gudhi.AlphaComplex(points=cover).create_simplex_tree()
        quotient = gudhi.SimplexTree()
        largest = 0.0
        for simplex, value in st.get_simplices():
            atoms = a_idx[simplex]
            first = int(np.argmin(atoms))
            if np.any(shifts[s_idx[simplex[first]]] != 0):
                continue  # a copy whose smallest atom lies outside the cell
            quotient.insert(sorted(atoms.tolist()), value)
            if len(simplex) == d + 1:
                largest = max(largest, value)
        if 2 * math.sqrt(largest) <= margin:
            break
        margin = 2.2 * math.sqrt(largest)
    quotient.make_filtration_non_decreasing()
    return alpha._persistence_rows(quotient, max_dim, zero_tolerance=1e-10)


@pytest.fixture(scope="module")
def random_cell():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 6.0, (60, 3)), np.eye(3) * 6.0


def _jittered_lattice(m, d, spacing, sigma, seed):
    rng = np.random.default_rng(seed)
    grid = _grid(m, d, spacing)
    return grid + rng.normal(0.0, sigma * spacing, grid.shape), np.eye(d) * m * spacing


TRICLINIC = np.array([[7.0, 0.0, 0.0], [2.0, 6.5, 0.0], [-1.5, 1.2, 7.2]])


@pytest.mark.parametrize(
    "case",
    ["cubic", "triclinic", "jittered", "plane", "oblique-plane"],
)
def test_agrees_with_the_simplex_by_simplex_reference(case):
    rng = np.random.default_rng(7)
    if case == "cubic":
        points, cell = rng.uniform(0, 8.0, (120, 3)), np.eye(3) * 8.0
    elif case == "triclinic":
        points, cell = rng.uniform(0, 1, (120, 3)) @ TRICLINIC, TRICLINIC
    elif case == "jittered":  # 2 Å spacing: amorphous carbon's 0.125 atoms/Å³
        points, cell = _jittered_lattice(4, 3, 2.0, 0.25, 3)
    elif case == "plane":
        points, cell = rng.uniform(0, 8.0, (80, 2)), np.eye(2) * 8.0
    else:
        cell = np.array([[8.0, 0.0], [3.0, 7.0]])
        points = rng.uniform(0, 1, (80, 2)) @ cell
    d = cell.shape[0]
    _same(periodic_alpha_diagram(points, cell, max_dim=d), _reference(points, cell, d))


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


def test_graphene_two_torus_is_analytic():
    # Honeycomb of bond b: every bond closes at b²/4; each hexagon (circumradius b) is a loop
    # filled at b², all but one, whose class with the two winding loops stays essential.
    from ase.build import graphene

    sheet = graphene(size=(4, 3, 1))
    b = np.linalg.norm(sheet.positions[1] - sheet.positions[0])
    d = periodic_alpha_diagram(sheet.positions[:, :2], sheet.cell[:2, :2], max_dim=2)
    n = len(sheet)
    e, h = round(b**2 / 4, 9), round(b**2, 9)
    assert _counts(d, 0) == {(0.0, e): n - 1, (0.0, np.inf): 1}
    assert _counts(d, 1) == {(e, h): n // 2 - 1, (e, np.inf): 2}
    assert _counts(d, 2) == {(h, np.inf): 1}


def _crystal(name):
    from ase.build import bulk

    kinds = {
        "diamond": ("Si", {"cubic": True}, 2),
        "fcc": ("Cu", {"cubic": True}, 3),
        "bcc": ("Fe", {"cubic": True}, 3),
        "hcp": ("Mg", {}, 3),
        "rocksalt": ("NaCl", {"crystalstructure": "rocksalt", "a": 5.64, "cubic": True}, 2),
    }
    symbol, kwargs, repeat = kinds[name]
    atoms = bulk(symbol, **kwargs).repeat(repeat)
    return atoms.positions, atoms.cell[:]


@pytest.mark.parametrize("name", ["diamond", "fcc", "bcc", "hcp", "rocksalt"])
def test_crystals_triangulate_the_torus(name):
    # Co-spherical atoms everywhere: still one triangulation of the 3-torus.
    points, cell = _crystal(name)
    d = periodic_alpha_diagram(points, cell, max_dim=3)
    assert _essential(d, 3) == [1, 3, 3, 1]
    assert (d[:, 0] == 0).sum() == len(points)
    finite = d[np.isfinite(d[:, 2])]
    assert np.all(finite[:, 2] - finite[:, 1] > 1e-10)


def test_crystal_is_the_limit_of_displaced_crystals():
    # Stability: the ideal diamond's diagram is within ~|displacement| of the diagram of atoms
    # displaced by 1e-7 Å, which are generic, so the simplex-by-simplex reference is exact there.
    points, cell = _crystal("diamond")
    moved = points + np.random.default_rng(2).normal(0.0, 1e-7, points.shape)
    ideal = periodic_alpha_diagram(points, cell, max_dim=3, zero_tolerance=1e-5)
    _same(ideal, periodic_alpha_diagram(moved, cell, max_dim=3, zero_tolerance=1e-5), 1e-5)
    reference = _reference(moved, cell, 3)
    reference = reference[~(reference[:, 2] - reference[:, 1] <= 1e-5)]
    _same(ideal, reference, 1e-5)


@pytest.mark.parametrize("name", ["random", "rocksalt"])
def test_invariant_to_translation_permutation_and_wrapping(name, random_cell):
    points, cell = random_cell if name == "random" else _crystal(name)
    base = periodic_alpha_diagram(points, cell, max_dim=3)
    rng = np.random.default_rng(1)
    _same(base, periodic_alpha_diagram(points + np.array([1.7, -3.2, 40.0]), cell, max_dim=3))
    _same(base, periodic_alpha_diagram(points[rng.permutation(len(points))], cell, max_dim=3))
    jumps = rng.integers(-2, 3, points.shape) @ cell
    _same(base, periodic_alpha_diagram(points + jumps, cell, max_dim=3))


@pytest.mark.parametrize("name", ["random", "diamond"])
def test_invariant_to_rotating_cell_and_atoms(name, random_cell):
    points, cell = random_cell if name == "random" else _crystal(name)
    rot = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    base = periodic_alpha_diagram(points, cell, max_dim=3)
    _same(base, periodic_alpha_diagram(points @ rot.T, cell @ rot.T, max_dim=3))


@pytest.mark.parametrize("name", ["random", "fcc"])
def test_triclinic_cell_of_the_same_lattice_gives_the_same_diagram(name, random_cell):
    # A unimodular change of basis describes the same torus: the diagram cannot change.
    points, cell = random_cell if name == "random" else _crystal(name)
    skew = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]]) @ cell
    _same(periodic_alpha_diagram(points, cell), periodic_alpha_diagram(points, skew))


@pytest.mark.parametrize("name", ["random", "hcp"])
def test_exact_triangulation_fallback_agrees_with_qhull(name, random_cell, monkeypatch):
    # The CGAL path (used when Qhull's triangulation fails the checks) gives the same diagram.
    points, cell = random_cell if name == "random" else _crystal(name)
    fast = periodic_alpha_diagram(points, cell, max_dim=3)
    delaunay = _torus._delaunay
    used = []

    def exact_only(cover, atom, qhull, duplicate):
        used.append(qhull)
        return delaunay(cover, atom, False, duplicate)

    monkeypatch.setattr(_torus, "_delaunay", exact_only)
    _same(fast, periodic_alpha_diagram(points, cell, max_dim=3))
    assert used


def test_small_margin_grows_to_the_same_diagram(random_cell):
    points, cell = random_cell
    _same(
        periodic_alpha_diagram(points, cell, margin=0.2),
        periodic_alpha_diagram(points, cell, margin=8.0),
    )


def test_essential_classes_are_the_torus_betti_numbers(random_cell):
    points, cell = random_cell
    d = periodic_alpha_diagram(points, cell, max_dim=3)
    assert _essential(d, 3) == [1, 3, 3, 1]
    finite = d[np.isfinite(d[:, 2])]
    assert np.all(finite[:, 2] - finite[:, 1] > 1e-10)
    assert (d[:, 0] == 0).sum() == len(points)


def test_zero_tolerance_drops_round_off_pairs():
    # Co-spherical atoms: squared radii of one sphere computed from different atoms differ in
    # the last bits, which makes pairs of length ~1e-16 that the default tolerance drops.
    points, cell = _grid(4, 3, 1.3), np.eye(3) * 5.2
    everything = periodic_alpha_diagram(points, cell, max_dim=3, zero_tolerance=0.0)
    default = periodic_alpha_diagram(points, cell, max_dim=3)
    lengths = everything[:, 2] - everything[:, 1]
    tiny = lengths <= 1e-10
    assert tiny.any() and np.all(lengths >= 0.0)
    _same(everything[~tiny], default)


def test_periodic_differs_from_free_only_near_the_boundary(random_cell):
    # Same atoms, no periodicity: H0 of a free cloud has the same count but other deaths.
    points, cell = random_cell
    free = alpha_diagram(points)
    per = periodic_alpha_diagram(points, cell)
    assert (free[:, 0] == 0).sum() == (per[:, 0] == 0).sum()
    assert not np.allclose(np.sort(free[free[:, 0] == 0, 2]), np.sort(per[per[:, 0] == 0, 2]))


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


def test_too_small_cell_is_refused():
    with pytest.raises(CellTooSmallError, match="supercell"):
        periodic_alpha_diagram(
            np.array([[0.0, 0, 0], [0.5, 0.5, 0.5], [0.2, 0.7, 0.1], [0.9, 0.1, 0.4]]), np.eye(3)
        )


def test_duplicate_atoms_are_refused(random_cell):
    points, cell = random_cell
    for twin in (points[3], points[3] + cell[1]):
        with pytest.raises(ValueError, match=r"atoms (3 and 60|60 and 3) coincide"):
            periodic_alpha_diagram(np.vstack([points, twin]), cell)


@pytest.mark.parametrize(
    ("points", "cell", "kwargs", "error", "match"),
    [
        (np.zeros((5, 4)), np.eye(4), {}, ValueError, "points"),
        (np.full((5, 3), np.nan), np.eye(3), {}, ValueError, "NaN"),
        (np.zeros((5, 3)), np.eye(2), {}, ValueError, "cell"),
        (np.random.default_rng(0).random((5, 3)), np.zeros((3, 3)), {}, ValueError, "degenerate"),
        (np.array([["a", "b", "c"]] * 5), np.eye(3), {}, TypeError, "numeric"),
        (np.random.default_rng(0).random((5, 3)), np.eye(3), {"margin": 0.0}, ValueError, "margin"),
        (np.random.default_rng(0).random((2, 3)), np.eye(3), {}, ValueError, "at least 4"),
    ],
)
def test_bad_input_is_named(points, cell, kwargs, error, match):
    with pytest.raises(error, match=match):
        periodic_alpha_diagram(points, cell, **kwargs)


def test_agrees_with_homcloud_when_installed():
    hc = pytest.importorskip("homcloud.interface")
    rng = np.random.default_rng(4)
    length = 8.0
    points = rng.uniform(0, length, (120, 3))
    ours = periodic_alpha_diagram(points, np.eye(3) * length, max_dim=2)
    pdlist = hc.PDList.from_alpha_filtration(points, periodicity=[(0.0, length)] * 3)
    for dim in range(3):
        pd = pdlist.dth_diagram(dim)
        theirs = np.column_stack([pd.births, pd.deaths])
        theirs = np.vstack(
            [
                theirs[theirs[:, 1] - theirs[:, 0] > 1e-10],
                np.column_stack([pd.essential_births, np.full(len(pd.essential_births), np.inf)]),
            ]
        )
        mine = ours[ours[:, 0] == dim, 1:]
        assert len(mine) == len(theirs)
        assert gudhi.bottleneck_distance(mine, theirs) <= 1e-9


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
