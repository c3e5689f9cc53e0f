"""Bottleneck and Wasserstein distances between diagrams: exact against GUDHI (and POT)."""

import itertools
import warnings

import gudhi
import numpy as np
import pytest

from topophys.diagrams import Diagrams, pairwise_distances


def random_diagrams(seed, sizes, essential=1, dim=1):
    rng = np.random.default_rng(seed)
    out = []
    for k in sizes:
        birth = rng.uniform(0.0, 1.0, k)
        finite = np.c_[np.full(k, dim), birth, birth + rng.exponential(0.3, k)]
        ess = np.c_[
            np.full(essential, dim), rng.uniform(0, 1, essential), np.full(essential, np.inf)
        ]
        other = np.array([[dim + 1, 0.0, 1.0]])  # another dimension, ignored
        out.append(np.vstack([finite, ess, other]))
    return Diagrams.from_list(out)


X = random_diagrams(0, [0, 1, 4, 12, 40])
Y = random_diagrams(1, [3, 25])


def test_bottleneck_matches_gudhi_exact_mode():
    ours = pairwise_distances(X, Y, dim=1)
    for i, j in itertools.product(range(len(X)), range(len(Y))):
        theirs = gudhi.bottleneck_distance(X.pairs(i, 1), Y.pairs(j, 1), 0.0)
        # GUDHI rounds the distance to the diagonal once more than (death - birth) / 2
        assert ours[i, j] == pytest.approx(theirs, rel=1e-14, abs=0), (i, j)


@pytest.mark.parametrize(
    ("p", "internal_p"), [(1.0, np.inf), (2.0, np.inf), (2.0, 2.0), (3.0, 1.0)]
)
def test_wasserstein_matches_gudhi_and_pot(p, internal_p):
    wasserstein = pytest.importorskip("gudhi.wasserstein")
    ours = pairwise_distances(X, Y, dim=1, metric="wasserstein", p=p, internal_p=internal_p)
    for i, j in itertools.product(range(len(X)), range(len(Y))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # POT on an empty diagram
            theirs = wasserstein.wasserstein_distance(
                X.pairs(i, 1), Y.pairs(j, 1), order=p, internal_p=internal_p
            )
        assert ours[i, j] == pytest.approx(theirs, rel=1e-12, abs=1e-14), (i, j)


def _brute_force(a, b, p, bottleneck):
    """Every matching of two tiny finite diagrams, points unmatched going to the diagonal."""
    best = np.inf
    diag_a, diag_b = (a[:, 1] - a[:, 0]) / 2, (b[:, 1] - b[:, 0]) / 2
    slots = list(range(len(b))) + [None] * len(a)
    for choice in set(itertools.permutations(slots, len(a))):
        costs = []
        for i, j in enumerate(choice):
            costs.append(diag_a[i] if j is None else np.abs(a[i] - b[j]).max())
        costs += [diag_b[j] for j in range(len(b)) if j not in choice]
        costs = np.array(costs)
        value = costs.max(initial=0.0) if bottleneck else (costs**p).sum() ** (1 / p)
        best = min(best, value)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_tiny_diagrams_match_every_matching_tried(seed):
    d = random_diagrams(seed, [3, 4], essential=0)
    a, b = d.pairs(0, 1), d.pairs(1, 1)
    assert pairwise_distances(d, dim=1)[0, 1] == pytest.approx(_brute_force(a, b, 1, True))
    for p in (1.0, 2.0):
        w = pairwise_distances(d, dim=1, metric="wasserstein", p=p)[0, 1]
        assert w == pytest.approx(_brute_force(a, b, p, False), rel=1e-12)


@pytest.mark.parametrize("metric", ["bottleneck", "wasserstein"])
def test_a_metric_on_diagrams(metric):
    d = pairwise_distances(X, dim=1, metric=metric)
    assert d.shape == (5, 5)
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    assert (d[~np.eye(5, dtype=bool)] > 0).all()
    # triangle inequality
    assert (d[:, :, None] <= d[:, None, :] + d.T[None, :, :] + 1e-12).all()
    np.testing.assert_array_equal(X.distances(dim=1, metric=metric), d)


def test_essential_points_are_matched_by_birth_and_must_be_as_many():
    a = Diagrams.from_list([np.array([[0, 0.0, np.inf], [0, 0.5, 0.7]])])
    b = Diagrams.from_list([np.array([[0, 0.3, np.inf]])])
    c = Diagrams.from_list([np.array([[0, 0.3, np.inf], [0, 0.0, np.inf]])])
    assert pairwise_distances(a, b, dim=0)[0, 0] == pytest.approx(0.3)
    w = pairwise_distances(a, b, dim=0, metric="wasserstein", p=2)[0, 0]
    assert w == pytest.approx(np.hypot(0.3, 0.1))
    assert np.isinf(pairwise_distances(a, c, dim=0)).all()
    assert np.isinf(pairwise_distances(a, c, dim=0, metric="wasserstein")).all()


def test_agrees_with_persim():
    persim = pytest.importorskip("persim")
    a, b = X.pairs(3, 1), Y.pairs(1, 1)
    a, b = a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])]
    fa = Diagrams.from_list([np.c_[np.ones(len(a)), a]])
    fb = Diagrams.from_list([np.c_[np.ones(len(b)), b]])
    assert pairwise_distances(fa, fb, dim=1)[0, 0] == pytest.approx(persim.bottleneck(a, b))
    # persim's Wasserstein distance is of order 1 with the Euclidean ground distance
    w = pairwise_distances(fa, fb, dim=1, metric="wasserstein", p=1, internal_p=2)[0, 0]
    assert w == pytest.approx(persim.wasserstein(a, b), rel=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dim": -1}, ValueError, "dim"),
        ({"dim": 1.5}, TypeError, "dim"),
        ({"dim": 1, "metric": "earth"}, ValueError, "metric"),
        ({"dim": 1, "metric": "wasserstein", "p": 0.5}, ValueError, "p must be >= 1"),
        ({"dim": 1, "metric": "wasserstein", "internal_p": 0.5}, ValueError, "internal_p"),
        ({"dim": 1, "internal_p": 2.0}, ValueError, "internal_p must be inf for the bottleneck"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        pairwise_distances(X, **kwargs)


def test_bad_diagrams():
    with pytest.raises(TypeError, match="Y"):
        pairwise_distances(X, np.zeros((3, 3)), dim=1)
