"""Cubical persistence of 2D fields: exact agreement with GUDHI, invariances, known diagrams."""

import itertools

import gudhi
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.base import clone

from topophys.diagrams import Diagrams
from topophys.homology import CubicalPersistence, cubical_diagram
from topophys.homology.cubical import _elder_rule, _kruskal

FILTRATIONS = ("sublevel", "superlevel")
CASES = list(itertools.product(("top", "vertex"), FILTRATIONS, (False, True)))
ALL_DIMS = (0, 1, 2)


def smooth_field(seed, shape, sigma, periodic=True, decimals=None):
    rng = np.random.default_rng(seed)
    f = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap" if periodic else "reflect")
    # Rounding makes many exact ties, where a sloppy tie-break would show.
    return f if decimals is None else np.round(f, decimals)


def gudhi_diagram(f, construction, periodic):
    """Rows [dim, birth, death] from GUDHI's general cubical complexes, sorted like ours."""
    key = "top_dimensional_cells" if construction == "top" else "vertices"
    if periodic:
        cc = gudhi.PeriodicCubicalComplex(**{key: f}, periodic_dimensions=[True, True])
    else:
        cc = gudhi.CubicalComplex(**{key: f})
    cc.compute_persistence()
    rows = [
        (d, b, e) for d in ALL_DIMS for b, e in cc.persistence_intervals_in_dimension(d).tolist()
    ]
    out = np.array(rows, dtype=float).reshape(-1, 3)
    return out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]


FIELDS = [
    smooth_field(0, (16, 16), 1.0),
    smooth_field(1, (23, 37), 2.0),
    smooth_field(2, (40, 29), 0.5),
    smooth_field(3, (31, 31), 1.5, decimals=1),
    np.random.default_rng(4).integers(0, 3, size=(18, 21)).astype(float),  # plateaus
    smooth_field(5, (2, 9), 1.0),  # thinnest allowed
]


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize(("construction", "filtration", "periodic"), CASES)
def test_matches_gudhi_pair_for_pair(construction, filtration, periodic):
    for f in FIELDS:
        ours = cubical_diagram(
            f,
            construction=construction,
            filtration=filtration,
            periodic=periodic,
            homology_dimensions=ALL_DIMS,
        )
        # Superlevel persistence is reported as the sublevel persistence of -f.
        reference = gudhi_diagram(f if filtration == "sublevel" else -f, construction, periodic)
        np.testing.assert_array_equal(ours, reference, err_msg=f"field of shape {f.shape}")


@pytest.mark.parametrize("construction", ["top", "vertex"])
def test_matches_cubical_ripser(construction):
    cripser = pytest.importorskip("cripser")
    for f in FIELDS[:4]:
        if construction == "top":
            ph = cripser.computePH_T(f, maxdim=1)
        else:
            ph = cripser.computePH(f, maxdim=1)
        rows = ph[:, :3].copy()
        rows[rows[:, 2] >= np.finfo(float).max, 2] = np.inf  # its essential classes
        rows = rows[rows[:, 2] > rows[:, 1]]
        rows = rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]
        np.testing.assert_array_equal(cubical_diagram(f, construction=construction), rows)


@pytest.mark.parametrize(
    ("filtration", "periodic"), list(itertools.product(("sublevel", "superlevel"), (False, True)))
)
def test_matches_homcloud(filtration, periodic):
    hc = pytest.importorskip("homcloud.interface")
    f = FIELDS[1]
    pdlist = hc.PDList.from_bitmap_levelset(
        f, mode=filtration, type="cubical", periodicity=[periodic, periodic]
    )
    # HomCloud's cubes are the pixels (our "top"); it reports superlevel values in the field's
    # sign, with birth > death, where we report those of -f.
    sign = 1.0 if filtration == "sublevel" else -1.0
    ours = cubical_diagram(f, filtration=filtration, periodic=periodic)
    for dim in (0, 1):
        pd = pdlist.dth_diagram(dim)
        finite = np.column_stack([sign * np.asarray(pd.births), sign * np.asarray(pd.deaths)])
        finite = finite[finite[:, 1] > finite[:, 0]]
        essential = sign * np.asarray(pd.essential_births, dtype=float)
        mine = ours[ours[:, 0] == dim]
        np.testing.assert_allclose(
            np.sort(finite, axis=0), np.sort(mine[np.isfinite(mine[:, 2]), 1:], axis=0)
        )
        np.testing.assert_allclose(np.sort(essential), np.sort(mine[np.isinf(mine[:, 2]), 1]))


def test_elder_rule_matches_kruskal_including_its_fallback():
    rng = np.random.default_rng(7)
    for n_nodes, n_edges in [(2, 1), (30, 80), (400, 2000)]:
        births = np.sort(rng.choice(10 * n_nodes, n_nodes, replace=False))
        # A random spanning tree keeps the graph connected; extra edges add cycles and duplicates.
        u = np.concatenate([np.arange(1, n_nodes), rng.integers(0, n_nodes, n_edges)])
        v = np.concatenate(
            [rng.integers(0, np.arange(1, n_nodes)), rng.integers(0, n_nodes, n_edges)]
        )
        loop = u != v
        u, v = u[loop], v[loop]
        w = np.maximum(births[u], births[v]) + rng.integers(1, 50, u.size)
        fast = np.column_stack(_elder_rule(births, u, v, w))
        slow = np.column_stack(_kruskal(births, u, v, w))
        np.testing.assert_array_equal(np.sort(fast, axis=0), np.sort(slow, axis=0))
    # A chain of ever younger nodes whose cheapest edges all point to younger neighbours: the
    # vectorized rounds stall and the union-find fallback must finish the job.
    n_nodes = 64
    births = np.arange(n_nodes) * 10
    u, v = np.arange(n_nodes - 1), np.arange(1, n_nodes)
    w = 10_000 - np.arange(n_nodes - 1)
    fast = np.column_stack(_elder_rule(births, u, v, w))
    np.testing.assert_array_equal(np.sort(fast, axis=0), np.column_stack([births[1:], w[::-1]]))


# --------------------------------------------------------------------------- invariances


@pytest.mark.parametrize(
    ("construction", "filtration"), list(itertools.product(("top", "vertex"), FILTRATIONS))
)
def test_periodic_diagram_is_invariant_under_shifts(construction, filtration):
    f = smooth_field(10, (24, 30), 1.5)
    kw = {"construction": construction, "filtration": filtration, "periodic": True}
    reference = cubical_diagram(f, homology_dimensions=ALL_DIMS, **kw)
    for shift in [(1, 0), (0, 7), (11, 29), (23, 13)]:
        shifted = cubical_diagram(
            np.roll(f, shift, axis=(0, 1)), homology_dimensions=ALL_DIMS, **kw
        )
        np.testing.assert_array_equal(shifted, reference)


@pytest.mark.parametrize(("construction", "filtration", "periodic"), CASES)
def test_diagram_is_invariant_under_rotations_and_flips(construction, filtration, periodic):
    f = smooth_field(11, (21, 26), 1.0, decimals=1)
    kw = {"construction": construction, "filtration": filtration, "periodic": periodic}
    reference = cubical_diagram(f, **kw)
    for g in [np.rot90(f, 1), np.rot90(f, 2), np.rot90(f, 3), f[::-1], f[:, ::-1], f.T]:
        np.testing.assert_array_equal(cubical_diagram(g, **kw), reference)


# --------------------------------------------------------------------------- known diagrams


def wells_and_ring():
    """Background 1, wells at -1 and -0.5, a ring at -0.8 around a hole at 0.5."""
    f = np.full((12, 16), 1.0)
    f[2:4, 2:4] = -1.0
    f[8:10, 3:5] = -0.5
    f[2:9, 8:15] = -0.8
    f[4:7, 10:13] = 0.5
    return f


@pytest.mark.parametrize("construction", ["top", "vertex"])
def test_two_wells_and_a_ring(construction):
    f = wells_and_ring()
    expected = [
        [0, -1.0, np.inf],
        [0, -0.8, 1.0],
        [0, -0.5, 1.0],
        [1, -0.8, 0.5],  # the ring closes at -0.8; its hole fills at 0.5
    ]
    np.testing.assert_array_equal(cubical_diagram(f, construction=construction), expected)


@pytest.mark.parametrize("construction", ["top", "vertex"])
def test_two_wells_and_a_ring_superlevel_is_reported_on_minus_f(construction):
    f = wells_and_ring()
    expected = [
        [0, -1.0, np.inf],  # the background (f = 1) comes first
        [0, -0.5, 0.8],  # the hole of the ring (f = 0.5), until the ring joins it
        [1, -1.0, 0.5],  # the background's loops around each feature
        [1, -1.0, 0.8],
        [1, -1.0, 1.0],
    ]
    got = cubical_diagram(f, construction=construction, filtration="superlevel")
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, cubical_diagram(-f, construction=construction))


@pytest.mark.parametrize("construction", ["top", "vertex"])
def test_torus_reports_its_essential_classes(construction):
    f = wells_and_ring()
    got = cubical_diagram(f, construction=construction, periodic=True, homology_dimensions=ALL_DIMS)
    essential = got[np.isinf(got[:, 2])]
    # One component, the torus's two independent loops and its 2-cell, all completed by the
    # background at 1.
    np.testing.assert_array_equal(essential[:, :2], [[0, -1.0], [1, 1.0], [1, 1.0], [2, 1.0]])
    finite = got[np.isfinite(got[:, 2])]
    np.testing.assert_array_equal(finite, [[0, -0.8, 1.0], [0, -0.5, 1.0], [1, -0.8, 0.5]])


def test_constructions_differ_by_connectivity():
    # Two wells touching at a corner: one component for the T-construction (8-connectivity),
    # two until the background level for the V-construction (4-connectivity).
    f = np.full((4, 4), 2.0)
    f[1, 1], f[2, 2] = 0.0, 1.0
    np.testing.assert_array_equal(cubical_diagram(f, construction="top"), [[0, 0.0, np.inf]])
    np.testing.assert_array_equal(
        cubical_diagram(f, construction="vertex"), [[0, 0.0, np.inf], [0, 1.0, 2.0]]
    )


def test_defaults_are_pinned():
    params = CubicalPersistence().get_params()
    assert params["construction"] == "top"
    assert params["filtration"] == "sublevel"
    assert params["periodic"] is False
    assert tuple(params["homology_dimensions"]) == (0, 1)
    f = FIELDS[1]
    np.testing.assert_array_equal(
        CubicalPersistence().fit_transform(f[None])[0],
        gudhi_diagram(f, "top", periodic=False),
    )


# --------------------------------------------------------------------------- the transformer


def test_transform_returns_one_diagram_per_field_in_order():
    fields = np.stack([smooth_field(s, (20, 20), 1.0) for s in range(5)])
    cp = CubicalPersistence(construction="vertex", periodic=True, homology_dimensions=(1,))
    assert cp.fit(fields) is cp
    out = cp.transform(fields)
    assert isinstance(out, Diagrams)
    assert len(out) == 5
    for i, f in enumerate(fields):
        expected = cubical_diagram(
            f, construction="vertex", periodic=True, homology_dimensions=(1,)
        )
        np.testing.assert_array_equal(out[i], expected)
        assert set(out[i][:, 0]) == {1.0}


def test_worker_processes_give_the_same_diagrams():
    fields = [smooth_field(s, (16 + s, 18), 1.0) for s in range(6)]  # ragged sizes are fine
    serial = CubicalPersistence(periodic=True).transform(fields)
    parallel = CubicalPersistence(periodic=True, n_jobs=2).transform(fields)
    assert parallel == serial


def test_other_dtypes_and_containers_give_the_same_diagrams():
    f = np.round(smooth_field(12, (15, 17), 1.0) * 8)
    reference = cubical_diagram(f)
    np.testing.assert_array_equal(cubical_diagram(f.astype(np.float32)), reference)
    np.testing.assert_array_equal(cubical_diagram(f.astype(np.int16)), reference)
    np.testing.assert_array_equal(cubical_diagram(f.tolist()), reference)
    torch = pytest.importorskip("torch")
    from_tensor = CubicalPersistence().transform(torch.from_numpy(f[None]))
    np.testing.assert_array_equal(from_tensor[0], reference)


def test_is_a_well_behaved_sklearn_estimator():
    cp = CubicalPersistence(construction="vertex", periodic=True, n_jobs=2)
    copy = clone(cp)
    assert copy.get_params() == cp.get_params()
    assert "vertex" in repr(cp)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros(10), r"X must have shape \(n, H, W\)"),
        (np.zeros((8, 8)), r"X\[None\]"),
        (np.zeros((1, 1, 8)), r"X\[0\] must be at least 2x2"),
        ([np.zeros((4, 4)), np.zeros(4)], r"X\[1\] must be a 2D field"),
        (np.array([[[np.nan, 0.0], [0.0, 0.0]]]), r"X\[0\] must be finite, got 1 NaN"),
        (np.array([[[np.inf, 0.0], [0.0, 0.0]]]), r"X\[0\] must be finite"),
        (np.empty((0, 4, 4)), "at least one field"),
        (np.full((1, 3, 3), "a"), r"X\[0\] must hold real numbers"),
        (np.full((1, 3, 3), None, dtype=object), r"X\[0\] must hold real numbers"),
        (np.ones((1, 3, 3), dtype=complex), r"X\[0\] must hold real numbers"),
        (42, "X must have shape"),
    ],
)
def test_bad_fields_raise_naming_the_argument(X, match):
    with pytest.raises(ValueError, match=match):
        CubicalPersistence().fit_transform(X)


def test_bad_single_field_names_field():
    with pytest.raises(ValueError, match="field must be finite"):
        cubical_diagram(np.array([[0.0, np.nan], [1.0, 2.0]]))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"construction": "vertices"}, ValueError, "construction must be one of 'top', 'vertex'"),
        ({"filtration": "upper"}, ValueError, "filtration must be one of"),
        ({"periodic": "yes"}, TypeError, "periodic must be True or False"),
        ({"homology_dimensions": (0, 3)}, ValueError, "homology_dimensions"),
        ({"homology_dimensions": 1}, TypeError, "homology_dimensions"),
        ({"homology_dimensions": ()}, ValueError, "homology_dimensions"),
        ({"homology_dimensions": None}, TypeError, "homology_dimensions"),
        ({"n_jobs": 0}, ValueError, "n_jobs"),
        ({"n_jobs": 1.5}, TypeError, "n_jobs"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(params, error, match):
    fields = np.zeros((1, 4, 4))
    with pytest.raises(error, match=match):
        CubicalPersistence(**params).fit(fields)
    with pytest.raises(error, match=match):
        CubicalPersistence(**params).transform(fields)
