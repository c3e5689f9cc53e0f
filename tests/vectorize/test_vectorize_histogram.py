"""PersistenceHistogram against numpy.histogram2d, and its normalization and standardization."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from topophys.diagrams import Diagrams
from topophys.vectorize import PersistenceHistogram
from topophys.vectorize.histogram import bin_index

INF = np.inf


@st.composite
def diagram(draw: st.DrawFn, max_points: int = 15) -> np.ndarray:
    """(k, 3) diagram; births/deaths often on bin edges, sometimes outside [0, 8], some inf."""
    k = draw(st.integers(0, max_points))
    coord = st.one_of(
        st.floats(-2, 10, width=32), st.integers(-4, 20).map(lambda v: v * 0.5)
    )  # multiples of 0.5 sit exactly on bin edges of 16 bins over [0, 8]
    dims = draw(hnp.arrays(np.int64, k, elements=st.integers(0, 2)))
    births = draw(hnp.arrays(np.float64, k, elements=coord))
    pers = draw(hnp.arrays(np.float64, k, elements=st.floats(0, 6, width=32)))
    essential = draw(hnp.arrays(np.bool_, k))
    deaths = np.where(essential, INF, births + pers)
    return np.column_stack([dims, births, deaths]).reshape(k, 3)


def reference(x: list[np.ndarray], bins, brange, drange, dim=1, clip=False, ess="drop"):
    """numpy.histogram2d of each diagram, rows flattened (birth-major), raw counts."""
    out = []
    for a in x:
        a = a[a[:, 0] == dim]
        b, d = a[:, 1], a[:, 2].copy()
        if ess == "drop":
            b, d = b[np.isfinite(d)], d[np.isfinite(d)]
        else:
            d[np.isinf(d)] = drange[1]
        if clip:
            b, d = np.clip(b, *brange), np.clip(d, *drange)
        h, _, _ = np.histogram2d(b, d, bins=bins, range=[brange, drange])
        out.append(h.ravel())
    return np.array(out).reshape(len(x), -1)


@given(
    st.lists(diagram(), min_size=1, max_size=5),
    st.sampled_from([16, (16, 8), (3, 5)]),
    st.booleans(),
    st.sampled_from(["drop", "clip"]),
)
@settings(max_examples=60, deadline=None)
def test_counts_match_numpy_histogram2d(x, bins, clip, essential) -> None:
    h = PersistenceHistogram(
        bins=bins,
        normalize="none",
        standardize="none",
        outside="clip" if clip else "drop",
        essential=essential,
    )
    got = h.fit_transform(x)
    want = reference(x, bins, (0.0, 8.0), (0.0, 8.0), clip=clip, ess=essential)
    np.testing.assert_array_equal(got, want)


@given(st.lists(diagram(), min_size=1, max_size=5))
@settings(max_examples=40, deadline=None)
def test_probability_rows_sum_to_one_or_stay_zero(x) -> None:
    got = PersistenceHistogram(bins=8, standardize="none").fit_transform(x)
    counts = reference(x, 8, (0.0, 8.0), (0.0, 8.0)).sum(axis=1)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got.sum(axis=1), np.where(counts > 0, 1.0, 0.0), atol=1e-12)
    assert (got >= 0).all()


def test_bin_index_agrees_with_numpy_on_edges_and_rounding_cases() -> None:
    edges = np.linspace(0.0, 8.0, 129)
    x = np.concatenate([edges, np.nextafter(edges, -INF)[1:], np.nextafter(edges, INF)[:-1]])
    x = np.concatenate([x, np.random.default_rng(0).uniform(0, 8, 1000)])
    want = np.searchsorted(edges, x, side="right") - 1
    want[x == 8.0] = 127  # the last bin is closed
    np.testing.assert_array_equal(bin_index(x, 0.0, 8.0, 128), want)


def test_paper_configuration_dims_and_ranges() -> None:
    """H1 on [0, 8]^2 with 128 x 128 bins: other dims, out-of-range and essential points vanish."""
    x = [
        np.array(
            [
                [1, 0.0, 0.01],  # first bin
                [1, 7.99, 8.0],  # last bin (closed)
                [1, 2.0, 9.0],  # death outside -> dropped
                [1, 1.0, INF],  # essential -> dropped by default
                [0, 1.0, 2.0],  # other dimension -> ignored
            ]
        )
    ]
    h = PersistenceHistogram(standardize="none", normalize="none").fit(x)
    got = h.transform(x).reshape(128, 128)
    assert got.sum() == 2
    assert got[0, 0] == 1
    assert got[127, 127] == 1
    clipped = PersistenceHistogram(
        standardize="none", normalize="none", outside="clip", essential="clip"
    ).fit_transform(x)
    clipped = clipped.reshape(128, 128)
    assert clipped.sum() == 4
    assert clipped[32, 127] == 1  # (2, 9) -> death clipped to 8
    assert clipped[16, 127] == 1  # (1, inf) -> death 8


def test_standardization_statistics() -> None:
    rng = np.random.default_rng(1)
    x = []
    for _ in range(30):
        b = rng.uniform(0, 2, 50)
        x.append(np.column_stack([np.ones(50), b, b + rng.uniform(0, 2, 50)]))
    raw = PersistenceHistogram(bins=4, standardize="none").fit_transform(x)
    z = PersistenceHistogram(bins=4, standardize="zscore").fit(x)
    zx = z.transform(x)
    varying = raw.max(axis=0) > raw.min(axis=0)
    assert varying.sum() >= 2
    assert (~varying).sum() >= 1  # bins beyond the data are constant zero
    np.testing.assert_allclose(zx.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(zx.std(axis=0)[varying], 1.0, atol=1e-12)
    np.testing.assert_array_equal(zx[:, ~varying], 0.0)
    np.testing.assert_allclose(z.scale_[varying], raw.std(axis=0)[varying])
    mm = PersistenceHistogram(bins=4, standardize="minmax").fit_transform(x)
    np.testing.assert_allclose(mm.min(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(mm.max(axis=0)[varying], 1.0, atol=1e-12)
    # Statistics are fitted on training data only and reused as is.
    test = [x[0][:10]]
    np.testing.assert_allclose(
        z.transform(test), (raw_of(test) - raw.mean(axis=0)[None]) / z.scale_, atol=1e-12
    )


def raw_of(x):
    return PersistenceHistogram(bins=4, standardize="none").fit_transform(x)


@given(st.integers(1, 4))
@settings(max_examples=10, deadline=None)
def test_constant_features_never_give_nan(n: int) -> None:
    x = [np.array([[1, 1.0, 2.0]])] * n + [np.empty((0, 3))]
    for mode in ("zscore", "minmax"):
        out = PersistenceHistogram(bins=8, standardize=mode).fit_transform(x)
        assert np.isfinite(out).all()
    only_empty = PersistenceHistogram(bins=8).fit_transform(Diagrams.empty(3))
    np.testing.assert_array_equal(only_empty, 0.0)


def test_size_independence_of_probability_descriptor() -> None:
    """Repeating every point k times (a bigger periodic cell) leaves the descriptor unchanged."""
    rng = np.random.default_rng(2)
    b = rng.uniform(0, 4, 40)
    one = np.column_stack([np.ones(40), b, b + rng.uniform(0, 3, 40)])
    h = PersistenceHistogram(bins=16, standardize="none")
    np.testing.assert_allclose(
        h.fit_transform([one]), h.fit_transform([np.concatenate([one] * 5)]), atol=1e-15
    )


def test_errors() -> None:
    x = [np.array([[1, 0.0, 1.0]])]
    with pytest.raises(NotFittedError):
        PersistenceHistogram().transform(x)
    with pytest.raises(NotFittedError):
        PersistenceHistogram().get_feature_names_out()
    cases = [
        ({"bins": 0}, ValueError, "bins"),
        ({"bins": (4, 4, 4)}, ValueError, "bins"),
        ({"bins": 2.5}, TypeError, "bins"),
        ({"birth_range": (8.0, 0.0)}, ValueError, "birth_range"),
        ({"death_range": (0.0, np.nan)}, ValueError, "death_range"),
        ({"death_range": 8.0}, TypeError, "death_range"),
        ({"dim": -1}, ValueError, "dim"),
        ({"normalize": "l1"}, ValueError, "normalize"),
        ({"standardize": "robust"}, ValueError, "standardize"),
        ({"outside": "keep"}, ValueError, "outside"),
        ({"essential": "keep"}, ValueError, "essential"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            PersistenceHistogram(**kwargs).fit(x)
    with pytest.raises(ValueError, match="NaN"):
        PersistenceHistogram().fit([np.array([[1, 0.0, np.nan]])])
    with pytest.raises(ValueError, match="at least one diagram"):
        PersistenceHistogram().fit(Diagrams.empty(0))
    fitted = PersistenceHistogram(standardize="none").fit(x)
    with pytest.raises(ValueError, match="NaN"):
        fitted.transform([np.array([[1, np.nan, 1.0]])])


def test_feature_names() -> None:
    h = PersistenceHistogram(bins=(2, 3), dim=0).fit([np.array([[0, 0.0, 1.0]])])
    names = h.get_feature_names_out()
    assert names.tolist() == [f"h0_b{i}_d{j}" for i in range(2) for j in range(3)]
    assert h.n_features_out_ == 6
