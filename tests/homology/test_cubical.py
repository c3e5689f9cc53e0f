"""Cubical persistence of 2D fields: exact agreement with GUDHI, invariances, known diagrams."""

import itertools
import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import gudhi
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter
from sklearn.base import clone

from topophys.diagrams import Diagrams
from topophys.homology import CubicalPersistence, _kernels, cubical_diagram
from topophys.testing import assert_diagrams_equal

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
    axes = [periodic] * f.ndim if isinstance(periodic, bool) else list(periodic)
    if any(axes):
        cc = gudhi.PeriodicCubicalComplex(**{key: f}, periodic_dimensions=axes)
    else:
        cc = gudhi.CubicalComplex(**{key: f})
    cc.compute_persistence()
    rows = [
        (d, b, e)
        for d in range(f.ndim + 1)
        for b, e in cc.persistence_intervals_in_dimension(d).tolist()
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
@pytest.mark.parametrize("filtration", FILTRATIONS)
@pytest.mark.parametrize("periodic", [False, True, (True, False), (False, True)])
def test_2d_fields_periodic_along_some_axes_match_gudhi(construction, filtration, periodic):
    for f in FIELDS[1:5]:
        ours = cubical_diagram(
            f,
            construction=construction,
            filtration=filtration,
            periodic=periodic,
            homology_dimensions=ALL_DIMS,
        )
        reference = gudhi_diagram(f if filtration == "sublevel" else -f, construction, periodic)
        np.testing.assert_array_equal(ours, reference, err_msg=f"field of shape {f.shape}")


FIELDS_3D = [
    smooth_field(10, (7, 9, 8), 1.0),
    smooth_field(11, (5, 6, 4), 0.7, decimals=1),  # ties
    np.random.default_rng(12).integers(0, 3, size=(4, 5, 3)).astype(float),  # plateaus
    smooth_field(13, (2, 6, 5), 1.0),  # thinnest allowed
]


@pytest.mark.parametrize("construction", ["top", "vertex"])
@pytest.mark.parametrize("filtration", FILTRATIONS)
@pytest.mark.parametrize("periodic", [False, True, (True, False, True), (False, False, True)])
def test_3d_fields_match_gudhi_in_every_dimension(construction, filtration, periodic):
    for f in FIELDS_3D:
        ours = cubical_diagram(
            f,
            construction=construction,
            filtration=filtration,
            periodic=periodic,
            homology_dimensions=(0, 1, 2, 3),
        )
        reference = gudhi_diagram(f if filtration == "sublevel" else -f, construction, periodic)
        np.testing.assert_array_equal(ours, reference, err_msg=f"field of shape {f.shape}")


def test_periodic_axes_follow_the_array_axes():
    # f = column index: the sublevel set is a band of columns, which closes a loop at once
    # around a periodic axis 0 (rows) and only when every column is in around axis 1.
    f = np.tile(np.arange(5.0), (4, 1)) + 1e-3 * np.arange(20).reshape(4, 5) % 7
    rows = cubical_diagram(f, periodic=(True, False))
    cols = cubical_diagram(f, periodic=(False, True))
    assert rows[(rows[:, 0] == 1) & np.isinf(rows[:, 2]), 1] < 0.1
    assert cols[(cols[:, 0] == 1) & np.isinf(cols[:, 2]), 1] >= 4.0
    g = f[None].repeat(3, 0)  # the same along a third axis
    assert np.isinf(cubical_diagram(g, periodic=(False, True, False))[:, 2]).sum() == 2


def test_a_3d_torus_has_the_betti_numbers_1_3_3_1():
    f = smooth_field(20, (6, 7, 8), 1.0)
    for construction in ("top", "vertex"):
        d = cubical_diagram(
            f, construction=construction, periodic=True, homology_dimensions=(0, 1, 2, 3)
        )
        essential = d[np.isinf(d[:, 2]), 0]
        assert [int((essential == k).sum()) for k in range(4)] == [1, 3, 3, 1]


def test_transform_takes_a_batch_of_3d_fields():
    fields = np.stack([smooth_field(s, (5, 6, 7), 1.0) for s in range(3)])
    cp = CubicalPersistence(periodic=(True, True, False), homology_dimensions=(0, 1, 2))
    diagrams = cp.fit_transform(fields)
    for f, d in zip(fields, diagrams, strict=True):
        np.testing.assert_array_equal(
            d, cubical_diagram(f, periodic=(True, True, False), homology_dimensions=(0, 1, 2))
        )


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
    # HomCloud's bitmap filtrations (type "cubical" and "bitmap" alike) take the pixels as
    # vertices: our "vertex" construction (checked: "top" differs). It reports superlevel values
    # in the field's sign, with birth > death, where we report those of -f: from_homcloud
    # turns them around (each PD says so in its sign_flipped).
    ours = cubical_diagram(f, construction="vertex", filtration=filtration, periodic=periodic)
    theirs = Diagrams.from_homcloud([[pdlist.dth_diagram(dim) for dim in (0, 1)]])
    assert_diagrams_equal(theirs.nontrivial(), [ours[ours[:, 0] <= 1]], rtol=1e-12)


# Small integer fields have many ties, where the order of pixels of equal value, the wrap of
# every neighbourhood and the windings around a torus only 2 pixels wide are all exercised.
tiny_fields = hnp.arrays(
    np.float64,
    st.tuples(st.integers(2, 7), st.integers(2, 7)),
    elements=st.integers(-2, 2).map(float),
)


@settings(max_examples=150, deadline=None)
@given(tiny_fields)
def test_periodic_matches_gudhi_on_tiny_fields_with_ties(f):
    for construction, filtration in itertools.product(("top", "vertex"), FILTRATIONS):
        ours = cubical_diagram(
            f,
            construction=construction,
            filtration=filtration,
            periodic=True,
            homology_dimensions=ALL_DIMS,
        )
        reference = gudhi_diagram(f if filtration == "sublevel" else -f, construction, True)
        np.testing.assert_array_equal(ours, reference, err_msg=f"{construction} {filtration}")


@pytest.mark.parametrize("seed", range(3))
def test_periodic_matches_gudhi_on_rough_fields(seed):
    # White noise: thousands of basins, so the spanning tree takes many Borůvka rounds.
    f = np.random.default_rng(seed).standard_normal((48, 40))
    for construction in ("top", "vertex"):
        ours = cubical_diagram(
            f, construction=construction, periodic=True, homology_dimensions=ALL_DIMS
        )
        np.testing.assert_array_equal(ours, gudhi_diagram(f, construction, periodic=True))


@pytest.mark.parametrize("construction", ["top", "vertex"])
@pytest.mark.parametrize("transpose", [False, True])
def test_stripes_wind_around_the_torus_in_one_direction_first(construction, transpose):
    # f = row index: {f <= t} is a band around the torus from t = 0 (one essential loop), and
    # the whole torus, with the loop the other way and the 2-cell, only at the last row.
    height, width = 6, 9
    f = np.repeat(np.arange(height, dtype=float)[:, None], width, axis=1)
    f = f.T if transpose else f
    got = cubical_diagram(f, construction=construction, periodic=True, homology_dimensions=ALL_DIMS)
    last = height - 1.0
    np.testing.assert_array_equal(
        got, [[0, 0.0, np.inf], [1, 0.0, np.inf], [1, last, np.inf], [2, last, np.inf]]
    )


def kruskal_reference(basin_min, basin_value, head, tail, level):
    """Finite H0 pairs of a basin graph: plain Kruskal, components rooted at their oldest."""
    parent = list(range(basin_min.size))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    def age(b):
        return (basin_value[b], basin_min[b])

    pairs = []
    for e in np.argsort(level, kind="stable"):
        a, b = find(head[e]), find(tail[e])
        if a == b:
            continue
        older, younger = sorted((a, b), key=age)
        if level[e] > basin_value[younger]:
            pairs.append((basin_value[younger], level[e]))
        parent[younger] = older
    return sorted(pairs)


def test_elder_sweep_matches_plain_kruskal_whatever_the_order_of_ties():
    elder_sweep = _kernels.elder_sweep_kernel()
    rng = np.random.default_rng(7)
    for n_basins, n_extra in [(1, 0), (2, 1), (30, 80), (400, 2000)]:
        basin_min = np.sort(rng.choice(5 * n_basins, n_basins, replace=False))
        basin_value = rng.integers(0, 20, n_basins).astype(float)  # ties on purpose
        # A random spanning tree keeps the graph connected; extra edges add cycles and repeats.
        head = np.concatenate([np.arange(1, n_basins), rng.integers(0, n_basins, n_extra)])
        tail = np.concatenate(
            [rng.integers(0, np.arange(1, n_basins)), rng.integers(0, n_basins, n_extra)]
        )
        keep = head != tail
        head, tail = head[keep], tail[keep]
        floor = np.maximum(basin_value[head], basin_value[tail])
        level = floor + rng.integers(0, 4, head.size)  # edges never enter before their ends
        gain = np.zeros(head.size, np.int64)
        expected = kruskal_reference(basin_min, basin_value, head, tail, level)
        for order in (np.argsort(level, kind="stable"), np.argsort(level + 0.0)[::-1]):
            order = order[np.argsort(level[order], kind="stable")]  # ties in either order
            births, deaths, loops = elder_sweep(
                basin_min, basin_value, head, tail, level, gain, order, False
            )
            assert loops.size == 0
            assert sorted(zip(births.tolist(), deaths.tolist(), strict=True)) == expected


def test_basin_graph_counts_the_edges_it_had_no_room_for():
    # The caller sizes a second run by that count when its first guess was too small.
    f = np.random.default_rng(5).standard_normal((24, 20))
    for connectivity, dual in itertools.product((4, 8), (False, True)):
        basin_graph, _ = _kernels.kernels(connectivity, dual)
        full = basin_graph(f, *_kernels.work_arrays(f.size), 0)
        cramped = basin_graph(f, *_kernels.work_arrays(f.size), 5)
        assert cramped[2].size == 5
        assert cramped[-1] >= full[-1] == full[2].size > 5
        roomy = basin_graph(f, *_kernels.work_arrays(f.size), cramped[-1])
        for a, b in zip(full, roomy, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_compiles_in_memory_when_no_cache_directory_is_writable(tmp_path):
    # Numba refuses cache=True when neither the package's __pycache__ nor a user cache
    # directory is writable (e.g. a read-only install, run as a user without a home). Take
    # every cache locator away from numba to stand for that: diagrams must still come out,
    # with no warning at all.
    script = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("error")
        from numba.core import caching
        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in 0.61
        impl._locator_classes = []
        import json
        import numpy as np
        from topophys.homology import cubical_diagram
        f = np.arange(12.0).reshape(3, 4) % 5
        print(json.dumps(cubical_diagram(f, periodic=True).tolist()))
        """
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    expected = cubical_diagram(np.arange(12.0).reshape(3, 4) % 5, periodic=True)
    assert json.loads(done.stdout) == expected.tolist()
    assert not any(tmp_path.iterdir())  # nothing was cached


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


def test_threads_give_the_same_diagrams_and_start_no_process():
    from topophys import parallel

    parallel.shutdown()
    fields = [smooth_field(s, (16 + s, 18), 1.0) for s in range(7)]  # ragged sizes are fine
    for periodic in (False, True):
        serial = CubicalPersistence(periodic=periodic).transform(fields)
        threaded = CubicalPersistence(periodic=periodic, n_jobs=2).transform(fields)
        assert threaded == serial
    everyone = CubicalPersistence(n_jobs=-1).transform(fields)
    assert everyone == Diagrams.from_list([cubical_diagram(f) for f in fields])
    assert not parallel._pools  # no worker process was started


def test_an_error_in_a_thread_reaches_the_caller(monkeypatch):
    from topophys.homology import cubical

    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cubical, "_diagrams_of_chunk", fail)
    with pytest.raises(RuntimeError, match="boom"):
        CubicalPersistence(n_jobs=2).transform(np.zeros((4, 3, 3)))


def test_threads_and_fresh_work_arrays_give_the_same_diagrams(monkeypatch):
    # The periodic kernels release the GIL and keep work arrays per thread; fields too large
    # to keep them for get fresh ones.
    fields = [smooth_field(s, (20 + 3 * s, 17), 1.0) for s in range(6)]
    serial = [cubical_diagram(f, periodic=True, construction="vertex") for f in fields]
    with ThreadPoolExecutor(2) as pool:
        threaded = list(
            pool.map(lambda f: cubical_diagram(f, periodic=True, construction="vertex"), fields)
        )
    monkeypatch.setattr(_kernels, "_REUSE_MAX_PIXELS", 100)
    fresh = [cubical_diagram(f, periodic=True, construction="vertex") for f in fields]
    for a, b, c in zip(serial, threaded, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


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
        (np.zeros((1, 1, 8)), r"X\[0\] must be at least 2 pixels along every axis"),
        (np.zeros((1, 4, 1, 8)), r"X\[0\] must be at least 2 pixels along every axis"),
        ([np.zeros((4, 4)), np.zeros(4)], r"X\[1\] must be a 2-D field"),
        (np.zeros((1, 2, 2, 2, 2)), r"X must have shape \(n, H, W\) or \(n, D, H, W\)"),
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
        ({"homology_dimensions": (0, 4)}, ValueError, "homology_dimensions"),
        ({"periodic": (True, 1)}, TypeError, "periodic must be True or False, or a tuple"),
        ({"periodic": (True,)}, ValueError, "periodic must have one bool per axis"),
        ({"periodic": (True, False, True)}, ValueError, "periodic has 3 entries but X\\[0\\]"),
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


_VARIANTS_SCRIPT = """
import json, sys
import numpy as np
from topophys.homology import cubical_diagram
f = np.random.default_rng(0).standard_normal((48, 48))
out = {}
for key in sys.argv[1].split(","):
    construction, filtration = key.split("-")
    d = cubical_diagram(f, construction=construction, filtration=filtration, periodic=True)
    out[key] = d.tolist()
print(json.dumps(out))
"""


def test_each_kernel_variant_has_its_own_numba_cache_index(tmp_path):
    # Regression: the four compiled variants once shared one cache index, and two processes
    # compiling different variants at once (a pool's workers) could leave an index that maps one
    # variant's key to another's machine code, which crashed on return in later processes. With
    # one index per variant, concurrent writers of an index compile the same code.
    import json
    import subprocess
    import sys

    keys = ["top-sublevel", "vertex-sublevel", "top-superlevel", "vertex-superlevel"]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    for _ in range(2):  # compile and write the cache, then load from it
        done = subprocess.run(
            [sys.executable, "-c", _VARIANTS_SCRIPT, ",".join(keys)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    indexes = sorted(p.name for p in tmp_path.rglob("*basin_graph*.nbi"))
    assert len(indexes) == 4, indexes
    loaded = json.loads(done.stdout)
    f = np.random.default_rng(0).standard_normal((48, 48))
    for key in keys:
        construction, filtration = key.split("-")
        expected = cubical_diagram(
            f, construction=construction, filtration=filtration, periodic=True
        )
        np.testing.assert_array_equal(np.array(loaded[key]).reshape(-1, 3), expected)


def test_open_3d_fields_without_cubical_ripser_fall_back_to_gudhi(monkeypatch):
    from topophys.homology import cubical

    f = FIELDS_3D[1]
    with_ripser = cubical_diagram(f, homology_dimensions=(0, 1, 2))
    monkeypatch.setattr(cubical, "_cripser", lambda: None)
    for construction in ("top", "vertex"):
        ours = cubical_diagram(f, construction=construction, homology_dimensions=(0, 1, 2))
        np.testing.assert_array_equal(ours, gudhi_diagram(f, construction, False))
    np.testing.assert_array_equal(cubical_diagram(f, homology_dimensions=(0, 1, 2)), with_ripser)
