"""Diagrams: construction, indexing, filters, conversions (GUDHI, torch, Zarr) and validation."""

from __future__ import annotations

import pickle

import gudhi
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from topophys.diagrams import Diagrams, as_diagrams
from topophys.testing import assert_diagrams_equal

INF = np.inf


@st.composite
def diagram(draw: st.DrawFn, max_points: int = 12) -> np.ndarray:
    """One (k, 3) diagram with dims 0..2, some essential points, k possibly 0."""
    k = draw(st.integers(0, max_points))
    dims = draw(hnp.arrays(np.int64, k, elements=st.integers(0, 2)))
    births = draw(hnp.arrays(np.float64, k, elements=st.floats(-10, 10, width=32)))
    pers = draw(hnp.arrays(np.float64, k, elements=st.floats(0, 5, width=32)))
    essential = draw(hnp.arrays(np.bool_, k))
    deaths = np.where(essential, INF, births + pers)
    return np.column_stack([dims, births, deaths]).reshape(k, 3)


diagram_lists = st.lists(diagram(), max_size=8)


def small() -> list[np.ndarray]:
    return [
        np.array([[0, 0.0, 1.0], [1, 0.5, INF], [1, 0.2, 0.3]]),
        np.empty((0, 3)),
        np.array([[0, -1.0, INF]]),
    ]


# ---------------------------------------------------------------- construction and indexing


@given(diagram_lists)
@settings(max_examples=60, deadline=None)
def test_from_list_round_trips_every_diagram(x: list[np.ndarray]) -> None:
    d = Diagrams.from_list(x)
    assert len(d) == len(x)
    assert d.sizes().tolist() == [len(a) for a in x]
    for i, a in enumerate(x):
        np.testing.assert_array_equal(d[i], a)
        np.testing.assert_array_equal(d[i - len(x)], a)
    for got, a in zip(d, x, strict=True):
        np.testing.assert_array_equal(got, a)
    assert d.data.dtype == np.float64
    assert d.offsets.dtype == np.int64


@given(diagram_lists, st.data())
@settings(max_examples=40, deadline=None)
def test_slicing_and_fancy_indexing_match_list_indexing(x: list[np.ndarray], data) -> None:
    d = Diagrams.from_list(x)
    n = len(x)
    start = data.draw(st.integers(-n - 1, n + 1))
    stop = data.draw(st.integers(-n - 1, n + 1))
    step = data.draw(st.sampled_from([1, 2, -1]))
    assert d[start:stop:step] == Diagrams.from_list(x[start:stop:step])
    if n:
        idx = data.draw(st.lists(st.integers(-n, n - 1), max_size=6))
        assert d[np.array(idx, dtype=np.int64)] == Diagrams.from_list([x[i] for i in idx])
        mask = data.draw(hnp.arrays(np.bool_, n))
        assert d[mask] == Diagrams.from_list([a for a, m in zip(x, mask, strict=True) if m])


@given(diagram_lists, st.integers(0, 8))
@settings(max_examples=40, deadline=None)
def test_concat_inverts_splitting(x: list[np.ndarray], k: int) -> None:
    d = Diagrams.from_list(x)
    assert Diagrams.concat([d[:k], d[k:]]) == d
    assert Diagrams.concat([d, Diagrams.empty(2)]).sizes().tolist() == [len(a) for a in x] + [0, 0]


def test_empty_diagrams_are_valid_everywhere() -> None:
    d = Diagrams.empty(3)
    assert len(d) == 3
    assert d.sizes().tolist() == [0, 0, 0]
    assert d[1].shape == (0, 3)
    assert d.select(1) == d
    assert d.finite() == d
    assert d.essential() == d
    assert d.pairs(2).shape == (0, 2)
    assert d.to_gudhi(0) == []
    assert len(Diagrams.empty(0)) == 0
    assert len(Diagrams.concat([])) == 0
    assert Diagrams.from_list([[], np.empty((0, 3))]).sizes().tolist() == [0, 0]


def test_index_errors() -> None:
    d = Diagrams.from_list(small())
    with pytest.raises(IndexError, match="out of range"):
        d[3]
    with pytest.raises(IndexError, match="out of range"):
        d[-4]
    with pytest.raises(IndexError, match="out of range"):
        d[[0, 3]]
    with pytest.raises(IndexError, match="boolean index"):
        d[np.array([True, False])]
    with pytest.raises(TypeError, match="integer"):
        d[1.0]


def test_views_are_read_only_so_invariants_hold() -> None:
    d = Diagrams.from_list(small())
    view = d[0]
    assert np.shares_memory(view, d.data)
    with pytest.raises(ValueError, match="read-only"):
        view[0, 2] = -5.0
    source = np.array([[0, 0.0, 1.0]])
    d2 = Diagrams(source, [0, 1])
    source[0, 2] = -1.0  # the constructor copied: this cannot corrupt d2
    assert d2[0][0, 2] == 1.0


# ---------------------------------------------------------------- filters


@given(diagram_lists)
@settings(max_examples=40, deadline=None)
def test_select_finite_essential_partition_each_diagram(x: list[np.ndarray]) -> None:
    d = Diagrams.from_list(x)
    by_dim = [d.select(k) for k in range(3)]
    finite, essential = d.finite(), d.essential()
    for i, a in enumerate(x):
        for k in range(3):
            np.testing.assert_array_equal(by_dim[k][i], a[a[:, 0] == k])
            np.testing.assert_array_equal(d.pairs(i, k), a[a[:, 0] == k, 1:])
        np.testing.assert_array_equal(finite[i], a[np.isfinite(a[:, 2])])
        np.testing.assert_array_equal(essential[i], a[np.isinf(a[:, 2])])
        np.testing.assert_array_equal(d.pairs(i), a[:, 1:])
    assert sum(s.sizes() for s in by_dim).tolist() == d.sizes().tolist()
    assert (finite.sizes() + essential.sizes()).tolist() == d.sizes().tolist()


def test_essential_points_are_kept_by_default() -> None:
    d = Diagrams.from_list(small())
    assert np.isinf(d.data[:, 2]).sum() == 2
    assert d.essential().sizes().tolist() == [1, 0, 1]
    assert d.dims() == [0, 1]


# ---------------------------------------------------------------- conversions


def rips_persistence(seed: int) -> list[tuple[int, tuple[float, float]]]:
    pts = np.random.default_rng(seed).uniform(size=(25, 2))
    st_ = gudhi.RipsComplex(points=pts, max_edge_length=0.6).create_simplex_tree(max_dimension=2)
    return st_.persistence()


def test_gudhi_round_trip_and_intervals_agree() -> None:
    pers = [rips_persistence(s) for s in range(3)] + [[]]
    d = Diagrams.from_gudhi(pers)
    assert len(d) == 4
    for i, p in enumerate(pers):
        assert d.to_gudhi(i) == p
    # Cross-check against GUDHI's own per-dimension intervals.
    pts = np.random.default_rng(0).uniform(size=(25, 2))
    tree = gudhi.RipsComplex(points=pts, max_edge_length=0.6).create_simplex_tree(max_dimension=2)
    tree.persistence()
    for dim in (0, 1):
        ours = d.pairs(0, dim)
        theirs = tree.persistence_intervals_in_dimension(dim)
        np.testing.assert_array_equal(ours[np.lexsort(ours.T)], theirs[np.lexsort(theirs.T)])
    assert np.isinf(d.pairs(0, 0)[:, 1]).sum() >= 1  # the essential H0 class survives


def test_from_gudhi_rejects_a_single_unwrapped_list() -> None:
    with pytest.raises(TypeError, match=r"persistences\[0\]\[0\]"):
        Diagrams.from_gudhi([(0, (0.0, INF))])


def test_homcloud_pairs_are_finite_pairs_of_one_dimension() -> None:
    d = Diagrams.from_list(small())
    np.testing.assert_array_equal(d.to_homcloud_pairs(0, 1), [[0.2, 0.3]])
    np.testing.assert_array_equal(d.to_homcloud_pairs(0, 0), [[0.0, 1.0]])
    np.testing.assert_array_equal(d.to_homcloud_essential_births(0, 1), [0.5])
    assert d.to_homcloud_pairs(2, 0).shape == (0, 2)


def test_to_torch_copies_values() -> None:
    d = Diagrams.from_list(small())
    data, offsets = d.to_torch()
    assert data.dtype == torch.float64
    assert offsets.dtype == torch.int64
    np.testing.assert_array_equal(data.numpy(), d.data)
    np.testing.assert_array_equal(offsets.numpy(), d.offsets)
    one = d.to_torch(-1, dtype=torch.float32)
    assert one.dtype == torch.float32
    assert tuple(one.shape) == (1, 3)
    assert torch.isinf(one[0, 2])


def test_as_diagrams_accepts_lists_and_rejects_a_bare_2d_array() -> None:
    x = small()
    assert as_diagrams(x) == Diagrams.from_list(x)
    d = Diagrams.from_list(x)
    assert as_diagrams(d) is d
    with pytest.raises(TypeError, match="wrap a single diagram"):
        as_diagrams(x[0])
    with pytest.raises(TypeError, match="sequence"):
        as_diagrams(3)


def test_pickle_round_trip_keeps_read_only_arrays() -> None:
    d = Diagrams.from_list(small())
    e = pickle.loads(pickle.dumps(d))
    assert e == d
    assert not e.data.flags.writeable


def test_equality_and_allclose() -> None:
    x = small()
    d = Diagrams.from_list(x)
    moved = [a.copy() for a in x]
    moved[0][0, 1] += 1e-12
    e = Diagrams.from_list(moved)
    assert d != e
    assert d.allclose(e, atol=1e-9)
    assert not d.allclose(e, atol=1e-14)
    other_dim = [a.copy() for a in x]
    other_dim[0][0, 0] = 2
    assert not d.allclose(Diagrams.from_list(other_dim))
    assert not d.allclose(d[:2])
    finite_instead = [a.copy() for a in x]
    finite_instead[2][0, 2] = 1e300
    assert not d.allclose(Diagrams.from_list(finite_instead), atol=1e301)


# ---------------------------------------------------------------- Zarr IO


@given(diagram_lists)
@settings(max_examples=15, deadline=None)
def test_zarr_round_trip_is_exact(x: list[np.ndarray]) -> None:
    d = Diagrams.from_list(x)
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w")
    d.save(group, "pd")
    assert Diagrams.load(group, "pd") == d


def test_zarr_path_round_trip_and_overwrite(tmp_path) -> None:
    path = tmp_path / "store.zarr"
    d = Diagrams.from_list(small())
    d.save(path)
    assert Diagrams.load(path) == d
    assert Diagrams.load(str(path)) == d
    with pytest.raises(FileExistsError, match="overwrite=True"):
        d.save(path)
    d[:1].save(path, overwrite=True)
    assert Diagrams.load(path) == d[:1]
    # Several batches side by side in one store.
    Diagrams.empty(2).save(path, name="other")
    assert Diagrams.load(path, name="other") == Diagrams.empty(2)
    assert Diagrams.load(path) == d[:1]


def test_zarr_interrupted_write_is_refused(tmp_path) -> None:
    path = tmp_path / "store.zarr"
    Diagrams.from_list(small()).save(path)
    group = zarr.open_group(str(path), mode="a")
    # What a write killed before its last step leaves behind.
    group["diagrams"].attrs["complete"] = False
    with pytest.raises(ValueError, match="incomplete"):
        Diagrams.load(path)


def test_zarr_write_killed_midway_leaves_nothing_loadable(tmp_path, monkeypatch) -> None:
    path = tmp_path / "store.zarr"
    d = Diagrams.from_list(small())
    d.save(path)
    real_create_array = zarr.Group.create_array

    def dies_on_offsets(self, name, **kwargs):
        if name == "offsets":
            raise KeyboardInterrupt  # the process is killed after `data` is written
        return real_create_array(self, name, **kwargs)

    monkeypatch.setattr(zarr.Group, "create_array", dies_on_offsets)
    with pytest.raises(KeyboardInterrupt):
        d[:1].save(path, overwrite=True)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="incomplete"):
        Diagrams.load(path)
    d.save(path, overwrite=True)  # and writing again repairs it
    assert Diagrams.load(path) == d


def test_zarr_load_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        Diagrams.load(tmp_path / "missing.zarr")
    path = tmp_path / "store.zarr"
    Diagrams.empty(1).save(path)
    with pytest.raises(FileNotFoundError, match="'nope'"):
        Diagrams.load(path, name="nope")
    zarr.open_group(str(path), mode="a").create_group("foreign")
    with pytest.raises(ValueError, match="not a diagrams group"):
        Diagrams.load(path, name="foreign")
    with pytest.raises(TypeError, match="group_or_path"):
        Diagrams.load(42)


@pytest.mark.parametrize("damage", ["n_diagrams", "data"])
def test_zarr_load_of_a_damaged_group_is_a_value_error(tmp_path, damage) -> None:
    # Both were TypeErrors ('str' + int; a group indexed with ...), not the documented ValueError.
    path = tmp_path / "store.zarr"
    Diagrams.from_list([np.array([[0, 0.0, 1.0]]), np.array([[1, 0.5, 2.0]])]).save(path)
    group = zarr.open_group(str(path), mode="a")["diagrams"]
    if damage == "n_diagrams":
        group.attrs["n_diagrams"] = "2"
    else:
        del group["data"]
        group.create_group("data")
    with pytest.raises(ValueError, match=damage):
        Diagrams.load(path)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ([0, np.nan, 1.0], "NaN"),
        ([0, 0.0, np.nan], "NaN"),
        ([np.nan, 0.0, 1.0], "NaN"),
        ([0, 1.0, 0.5], "death"),
        ([0, 1.0, -INF], "death"),
        ([0, INF, INF], "birth"),
        ([0, -INF, 1.0], "birth"),
        ([-1, 0.0, 1.0], "dim"),
        ([0.5, 0.0, 1.0], "dim"),
        ([INF, 0.0, 1.0], "dim"),
    ],
)
def test_invalid_rows_are_rejected_with_their_location(row: list[float], match: str) -> None:
    good = [[0, 0.0, 1.0], [1, 0.0, INF]]
    with pytest.raises(ValueError, match=match) as info:
        Diagrams.from_list([np.array(good), np.array([good[0], row])])
    assert "row 1 of diagram 1" in str(info.value)
    with pytest.raises(ValueError, match=match):
        Diagrams(np.array([row]), [0, 1])


@pytest.mark.parametrize(
    ("offsets", "error", "match"),
    [
        ([1, 2], ValueError, "start at 0"),
        ([0, 1], ValueError, "end at len"),
        ([0, 2, 1, 2], ValueError, "non-decreasing"),
        ([], ValueError, "shape"),
        ([[0, 2]], ValueError, "shape"),
        ([0.0, 2.0], TypeError, "integer"),
        ([False, True], TypeError, "integer"),
    ],
)
def test_bad_offsets(offsets: list, error: type[Exception], match: str) -> None:
    data = np.array([[0, 0.0, 1.0], [0, 0.0, 2.0]])
    with pytest.raises(error, match=match):
        Diagrams(data, offsets)


def test_bad_data_shapes_and_types() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        Diagrams(np.zeros((2, 2)), [0, 2])
    with pytest.raises(TypeError, match="numeric"):
        Diagrams([["a", "b", "c"]], [0, 1])
    with pytest.raises(ValueError, match=r"diagrams\[1\] must have shape \(k, 3\)"):
        Diagrams.from_list([np.zeros((1, 3)), np.zeros((2, 2))])
    with pytest.raises(TypeError, match="sequence"):
        Diagrams.from_list(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="n must be"):
        Diagrams.empty(-1)
    with pytest.raises(ValueError, match="dim must be"):
        Diagrams.empty(1).select(-1)
    with pytest.raises(TypeError, match=r"parts\[1\]"):
        Diagrams.concat([Diagrams.empty(1), [np.zeros((0, 3))]])


# ---------------------------------------------------------------- giotto-tda, persim, HomCloud


def test_to_giotto_pads_each_dimension_as_giotto_tda_does() -> None:
    # giotto-tda (gtda.homology._utils._postprocess_diagrams): one block per dimension in
    # ascending order, as long as the largest count (at least 1), padded with [m, m, dim]
    # where m is that dimension's smallest birth in the batch (0 when it has none).
    d = Diagrams.from_list(
        [
            np.array([[1, 0.7, 0.9], [0, 0.3, 1.0], [0, 0.1, INF]]),
            np.array([[0, 0.2, 0.5], [2, 0.4, 0.4]]),  # a diagonal point: left out
        ]
    )
    expected = np.array(
        [
            [[0.3, 1.0, 0], [0.1, INF, 0], [0.7, 0.9, 1], [0.0, 0.0, 2]],
            [[0.2, 0.5, 0], [0.1, 0.1, 0], [0.7, 0.7, 1], [0.0, 0.0, 2]],
        ]
    )
    np.testing.assert_array_equal(d.to_giotto(homology_dimensions=[0, 1, 2]), expected)
    clipped = d.to_giotto(infinity=5.0)
    assert clipped.shape == (2, 4, 3) and clipped[0, 1, 1] == 5.0
    assert_diagrams_equal(Diagrams.from_giotto(expected), d.nontrivial())
    assert_diagrams_equal(Diagrams.from_giotto(clipped, infinity=5.0), d.nontrivial())
    np.testing.assert_array_equal(Diagrams.empty(2).to_giotto(), np.zeros((2, 1, 3)))


@given(diagram_lists)
@settings(max_examples=60, deadline=None)
def test_giotto_round_trip_keeps_every_off_diagonal_point(x: list[np.ndarray]) -> None:
    d = Diagrams.from_list(x)
    X = d.to_giotto()
    assert X.ndim == 3 and X.shape[0] == len(d) and (X[:, :, 1] >= X[:, :, 0]).all()
    assert_diagrams_equal(Diagrams.from_giotto(X), d.nontrivial())
    finite_max = max([10.0, *d.data[np.isfinite(d.data[:, 2]), 2].tolist()]) + 1.0
    assert_diagrams_equal(
        Diagrams.from_giotto(d.to_giotto(infinity=finite_max), infinity=finite_max),
        d.nontrivial(),
    )


def test_from_giotto_refuses_what_it_cannot_convert() -> None:
    with pytest.raises(ValueError, match=r"\(n_samples, n_points, 3\)"):
        Diagrams.from_giotto(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="stacked diagrams"):
        Diagrams.from_giotto(np.array([[[0.0, 1.0, INF]]]))
    with pytest.raises(ValueError, match="death"):
        Diagrams.from_giotto(np.array([[[1.0, 0.0, 0]]]))


def test_persim_round_trip_and_ripser_agrees_with_gudhi_rips() -> None:
    ripser = pytest.importorskip("ripser")
    persim = pytest.importorskip("persim")
    points = np.random.default_rng(0).normal(size=(30, 2))
    dgms = ripser.ripser(points, maxdim=1)["dgms"]
    ours = Diagrams.from_persim([dgms])
    for a, b in zip(ours.to_persim(maxdim=1)[0], dgms, strict=True):
        assert_diagrams_equal([np.column_stack([np.zeros(len(a)), a])],
                              [np.column_stack([np.zeros(len(b)), b])])  # fmt: skip
    st = gudhi.RipsComplex(points=points).create_simplex_tree(max_dimension=2)
    reference = Diagrams.from_gudhi([st.persistence()]).nontrivial()
    assert_diagrams_equal(ours.nontrivial(), reference, atol=1e-6)
    h1 = ours.to_persim()[0][1]
    assert persim.bottleneck(h1, h1) == 0.0
    # One point each, 0.25 apart in death and 0.5 or more from the diagonal: distance 0.25.
    a, b = Diagrams.from_list([np.array([[1, 0.0, 1.0]]), np.array([[1, 0.0, 1.25]])]).to_persim()
    assert persim.bottleneck(a[1], b[1]) == pytest.approx(0.25, abs=1e-12)


def test_persim_layout_and_bad_input() -> None:
    d = Diagrams.from_list(small())
    out = d.to_persim()
    assert [len(per) for per in out] == [2, 2, 2]
    assert out[1][0].shape == (0, 2)
    np.testing.assert_array_equal(out[0][1], [[0.5, INF], [0.2, 0.3]])
    assert Diagrams.from_persim(out) == Diagrams.from_list(
        [np.array([[0, 0.0, 1.0], [1, 0.5, INF], [1, 0.2, 0.3]]), np.empty((0, 3)),
         np.array([[0, -1.0, INF]])]
    )  # fmt: skip
    with pytest.raises(TypeError, match=r"\[ripser\(X\)\['dgms'\]\]"):
        Diagrams.from_persim([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"shape \(k, 2\)"):
        Diagrams.from_persim([[np.zeros((3, 3))]])


@pytest.mark.parametrize("mode", ["sublevel", "superlevel"])
def test_homcloud_diagrams_of_a_field_are_ours_superlevel_orientation_included(mode) -> None:
    hc = pytest.importorskip("homcloud.interface")
    from topophys.homology import cubical_diagram

    f = np.random.default_rng(1).normal(size=(9, 11))
    pdlist = hc.PDList.from_bitmap_levelset(f, mode=mode, type="bitmap")
    pds = [pdlist.dth_diagram(dim) for dim in (0, 1)]
    theirs = Diagrams.from_homcloud([pds])  # superlevel read from each PD's sign_flipped
    ours = Diagrams.from_list([cubical_diagram(f, construction="vertex", filtration=mode)])
    assert_diagrams_equal(theirs.nontrivial(), ours)
    superlevel = mode == "superlevel"
    for dim, pd in zip((0, 1), pds, strict=True):
        pairs = ours.to_homcloud_pairs(0, dim, superlevel=superlevel)
        if superlevel:
            assert (pairs[:, 0] > pairs[:, 1]).all()  # HomCloud's orientation
        hc_pairs = np.column_stack([pd.births, pd.deaths])
        hc_pairs = hc_pairs[hc_pairs[:, 0] != hc_pairs[:, 1]]
        np.testing.assert_allclose(np.sort(pairs, axis=0), np.sort(hc_pairs, axis=0))
        np.testing.assert_allclose(
            np.sort(ours.to_homcloud_essential_births(0, dim, superlevel=superlevel)),
            np.sort(pd.essential_births),
        )


def test_from_homcloud_needs_homcloud_diagrams() -> None:
    with pytest.raises(TypeError, match="HomCloud PD"):
        Diagrams.from_homcloud([[np.zeros((2, 2))]])


def test_nontrivial_drops_diagonal_points_only() -> None:
    d = Diagrams.from_list([np.array([[0, 1.0, 1.0], [0, 1.0, 2.0], [1, 3.0, INF]])])
    np.testing.assert_array_equal(d.nontrivial()[0], [[0, 1.0, 2.0], [1, 3.0, INF]])
