"""Cubical-graph measures: limits, Euler relations, and agreement with scipy graph algorithms."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, shortest_path

from topophys.observables.morphology import edge_weights, morphology_curves


def scipy_reference(wx, wy, t):
    L = wx.shape[-1]
    idx = np.arange(L * L).reshape(L, L)
    src = np.concatenate([idx.ravel(), idx.ravel()])
    dst = np.concatenate([np.roll(idx, -1, 1).ravel(), np.roll(idx, -1, 0).ravel()])
    keep = np.concatenate([wx.ravel(), wy.ravel()]) <= t
    graph = sp.coo_matrix((np.ones(keep.sum()), (src[keep], dst[keep])), shape=(L * L, L * L))
    n_comp, labels = connected_components(graph, directed=False)
    dist = shortest_path(graph, directed=False, unweighted=True)
    ecc = np.where(np.isinf(dist), -1, dist).max(axis=1)
    rad = np.array([ecc[labels == c].min() for c in range(n_comp)])
    dia = np.array([ecc[labels == c].max() for c in range(n_comp)])
    return n_comp, rad[labels].mean(), dia[labels].mean()


def test_limits_uniform_and_below_every_difference():
    L = 6
    c = morphology_curves(np.full((2, L, L), 1.3), thresholds=[0.0, 2.0])
    np.testing.assert_array_equal(c.area, L * L)
    np.testing.assert_array_equal(c.perimeter, 0)
    np.testing.assert_array_equal(c.euler, 0)  # the torus
    np.testing.assert_array_equal(c.euler_edges, -L * L)
    np.testing.assert_array_equal(c.components, 1)
    np.testing.assert_array_equal(c.radius, L)
    np.testing.assert_array_equal(c.diameter, L)
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, (3, L, L))
    c = morphology_curves(theta, thresholds=[-1.0, np.pi])
    np.testing.assert_array_equal(c.area[:, 0], 0)
    np.testing.assert_array_equal(c.euler[:, 0], L * L)
    np.testing.assert_array_equal(c.components[:, 0], L * L)
    np.testing.assert_array_equal(c.radius[:, 0], 0)
    np.testing.assert_array_equal(c.area[:, 1], L * L)
    np.testing.assert_array_equal(c.euler[:, 1], 0)


def rough_field(L=4):
    """A field whose bonds all differ by more than 0.2 (so none enters below Θ = 0.2)."""
    y, x = np.mgrid[0:L, 0:L]
    theta = 2.0 * x + 0.9 * y  # wrapped differences 2.0, 0.9, and 0.28, 2.7 across the seams
    wx, wy = edge_weights(theta)
    assert min(wx.min(), wy.min()) > 0.2
    return theta


def test_single_bond_and_single_square():
    # Only bond (0,0)-(0,1) is aligned: one edge, no face, perimeter 2, one 2-site cluster.
    theta = rough_field()
    theta[0, 1] = theta[0, 0]
    c = morphology_curves(theta, thresholds=[0.1])
    assert c.area[0, 0] == 0 and c.perimeter[0, 0] == 2
    assert c.euler[0, 0] == 15 and c.components[0, 0] == 15
    assert c.radius[0, 0] == pytest.approx(2 / 16) and c.diameter[0, 0] == pytest.approx(2 / 16)
    # A 2×2 block aligned: four edges, one face, perimeter 4, χ = 16 − 4 + 1 = 13.
    theta = rough_field()
    theta[1:3, 1:3] = theta[1, 1]
    c = morphology_curves(theta, thresholds=[0.1])
    assert (c.area[0, 0], c.perimeter[0, 0], c.euler[0, 0]) == (1, 4, 13)
    # a 4-cycle: every site is 2 bonds from the opposite corner
    assert c.radius[0, 0] == pytest.approx(4 * 2 / 16) and c.diameter[0, 0] == pytest.approx(
        4 * 2 / 16
    )


def test_agrees_with_scipy_and_is_monotone():
    rng = np.random.default_rng(4)
    theta = rng.normal(0, 0.8, (3, 6, 6))
    grid = np.linspace(0, np.pi, 9)
    c = morphology_curves(theta, grid)
    wx, wy = edge_weights(theta)
    for s in range(3):
        for g, t in enumerate(grid):
            n_comp, rad, dia = scipy_reference(wx[s], wy[s], t)
            assert c.components[s, g] == n_comp
            assert c.radius[s, g] == pytest.approx(rad)
            assert c.diameter[s, g] == pytest.approx(dia)
    assert np.all(np.diff(c.area, axis=1) >= 0)
    assert np.all(np.diff(c.euler_edges, axis=1) <= 0)
    # Euler relation on the graph: V − E = b0 − (independent cycles) ≤ b0
    assert np.all(c.euler_edges <= c.components)
    means = c.mean()
    assert set(means) == {
        "area", "perimeter", "euler", "euler_edges", "components", "radius", "diameter"
    }  # fmt: skip
    assert means["area"].shape == (9,)


def test_torch_and_single_field_and_grid_options():
    import torch

    theta = np.random.default_rng(0).normal(0, 0.5, (8, 8))
    a = morphology_curves(theta, thresholds=5)
    b = morphology_curves(torch.as_tensor(theta)[None], thresholds=np.linspace(0, np.pi, 5))
    np.testing.assert_array_equal(a.area, b.area)
    assert a.area.shape == (1, 5)
    assert morphology_curves(theta).thresholds.size == 33


@pytest.mark.parametrize(
    ("thresholds", "match"),
    [([0.5, 0.2], "increasing"), (1, "at least 2"), ([], "non-empty"), ([np.nan], "finite")],
)
def test_bad_thresholds(thresholds, match):
    with pytest.raises(ValueError, match=match):
        morphology_curves(np.zeros((4, 4)), thresholds)


def test_bad_theta():
    with pytest.raises(ValueError, match="shape"):
        morphology_curves(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        morphology_curves(np.full((4, 4), np.nan))
