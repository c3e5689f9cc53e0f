"""Inverse analysis: coefficient regions select the right PD points, rings and geometry."""

import numpy as np
import pytest
from ase import Atoms

from topophys.evaluate.inverse import (
    InverseAnalysis,
    energy_regions,
    inverse_analysis,
    points_in_region,
    restrict_births,
)

A = 1.42


def _sheet_with_one_small_ring(noise=0.02, seed=0):
    """A periodic 2-D honeycomb (4 × 4 cells) with one hexagon shrunk by 10 %."""
    a1, a2 = np.array([1.5 * A, np.sqrt(3) / 2 * A]), np.array([1.5 * A, -np.sqrt(3) / 2 * A])
    basis = np.array([[0.0, 0.0], [A, 0.0]])
    pos = np.array([i * a1 + j * a2 + b for i in range(4) for j in range(4) for b in basis])
    cell = np.array([4 * a1, 4 * a2])
    pos += noise * np.random.default_rng(seed).normal(size=pos.shape)
    centre = np.array([2 * A, 0.0])
    frac = np.linalg.solve(cell.T, (pos - centre).T).T
    off = (frac - np.round(frac)) @ cell
    ring = np.flatnonzero(np.linalg.norm(off, axis=1) < A + 0.1)
    pos[ring] = centre + 0.9 * off[ring]
    cell3 = np.diag([1.0, 1.0, 10.0])
    cell3[:2, :2] = cell
    return Atoms("C" * len(pos), positions=np.c_[pos, np.zeros(len(pos))], cell=cell3,
                 pbc=True), ring  # fmt: skip


def test_energy_regions_thresholds_and_quantiles():
    coef = np.linspace(-1.0, 1.0, 100).reshape(10, 10)
    high, low, th = energy_regions(coef, quantile=0.1)
    assert high.sum() == 10 and low.sum() == 10  # top and bottom tenth
    assert np.all(coef[high] > th["high"]) and np.all(coef[low] < th["low"])
    high, low, th = energy_regions(coef, high=0.5, low=-0.9)
    assert th == {"high": 0.5, "low": -0.9}
    assert high.sum() == int((coef > 0.5).sum()) and low.sum() == int((coef < -0.9).sum())
    with pytest.raises(ValueError, match="all zeros"):
        energy_regions(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="low must be below high"):
        energy_regions(coef, high=-1.0, low=0.0)
    with pytest.raises(ValueError, match="quantile"):
        energy_regions(coef, quantile=0.7)


def test_points_in_region_bins_as_the_histogram_does():
    from topophys.diagrams import Diagrams
    from topophys.vectorize import PersistenceHistogram

    rng = np.random.default_rng(0)
    b = rng.uniform(0, 4, 200)
    d = b + rng.uniform(0, 4, 200)
    mask = rng.random((8, 8)) < 0.3
    got = points_in_region(b, d, mask)
    hist = PersistenceHistogram(bins=8, normalize="none", standardize="none")
    rows = np.c_[np.ones(200), b, d]
    h = hist.fit_transform(Diagrams.from_list([rows])).reshape(8, 8)
    assert got.sum() == h[mask].sum()  # same points counted in the masked bins
    assert not points_in_region([9.0], [9.5], np.ones((8, 8), bool))[0]  # outside the window


def test_a_region_around_the_small_ring_maps_back_to_its_atoms():
    atoms, ring = _sheet_with_one_small_ring()
    # Coefficients: high where the shrunk ring dies early (death < 1.75 Å²), low for the others.
    coef = np.zeros((32, 32))
    edges = np.linspace(0.0, 8.0, 33)
    coef[:, edges[1:] <= 1.75] = 1.0
    coef[:, (edges[:-1] >= 1.75) & (edges[1:] <= 2.5)] = -1.0
    coef[edges[1:] > 1.0, :] = 0.0  # only births below 1 Å² (bonds)
    res = inverse_analysis([atoms, atoms], coef, high=0.5, low=-0.5, dimension=2)
    assert [len(f) for f in res.cycles["high"]] == [1, 1]
    np.testing.assert_array_equal(res.atoms("high", 0), np.sort(ring))
    assert len(res.cycles["low"][0]) >= 8  # the other hexagons (or unions of two)
    assert not set(res.atoms("high", 0)) - set(ring)
    np.testing.assert_allclose(res.bond_lengths["high"], 0.9 * A, atol=0.1)
    assert res.bond_lengths["low"].mean() > res.bond_lengths["high"].mean() + 0.1
    m = res.metrics()
    assert m["high"]["rings"] == 2 and m["high"]["bonds"] == 12 and m["high"]["ring_atoms"] == 12
    assert m["low"]["bond_angle_mean_deg"] == pytest.approx(120.0, abs=5.0)
    assert m["thresholds"] == {"high": 0.5, "low": -0.5}


def test_bad_input():
    with pytest.raises(ValueError, match="coef must be"):
        inverse_analysis([], np.zeros(5))
    with pytest.raises(ValueError, match="at least one structure"):
        inverse_analysis([], np.ones((2, 2)), high=0.5, low=-0.5)
    with pytest.raises(ValueError, match="same length"):
        points_in_region([1.0], [1.0, 2.0], np.ones((2, 2), bool))


def test_restricted_coefficients_have_no_region_beyond_the_birth_limit():
    coef = np.arange(64.0).reshape(8, 8) - 30
    out = restrict_births(coef, (0.0, 8.0), 3.0)
    assert (out[:3] == coef[:3]).all() and not out[3:].any()
    assert restrict_births(coef, (0.0, 8.0), None) is coef
    with pytest.raises(ValueError, match="leaves no bin"):
        restrict_births(coef, (0.0, 8.0), 0.5)


def _analysis(lengths_high, lengths_low, angles_high, angles_low):
    empty = {"high": [], "low": []}
    return InverseAnalysis(
        {"high": 1.0, "low": -1.0}, np.ones((2, 2), bool), np.zeros((2, 2), bool), empty,
        {"high": np.asarray(lengths_high, float), "low": np.asarray(lengths_low, float)},
        {"high": np.asarray(angles_high, float), "low": np.asarray(angles_low, float)},
    )  # fmt: skip


def test_ks_distances_between_the_regions_known_answers():
    same = _analysis([1.4, 1.5, 1.6], [1.6, 1.4, 1.5], [100, 120], [120, 100]).metrics()
    assert same["bond_length_ks_distance"] == 0.0 and same["bond_angle_ks_distance"] == 0.0
    apart = _analysis([1.3, 1.35], [1.6, 1.7, 1.8], [60, 70], [110, 120]).metrics()
    assert apart["bond_length_ks_distance"] == 1.0 and apart["bond_angle_ks_distance"] == 1.0
    assert apart["high"]["bond_length_max_A"] == 1.35 and apart["low"]["bond_length_max_A"] == 1.8
    # Half of one sample below the other's: the largest gap of the two CDFs is 1/2.
    half = _analysis([1.0, 3.0], [2.0, 4.0], [1.0], [1.0]).metrics()
    assert half["bond_length_ks_distance"] == 0.5
    none = _analysis([1.0], [], [1.0], []).metrics()
    assert "bond_length_ks_distance" not in none
