"""Cyclo-octane conformers: the 16 constraints hold, the set is seeded, bad input is refused."""

import math

import numpy as np
import pytest

from topophys.simulate.cyclooctane import (
    BOND_ANGLE,
    BOND_LENGTH,
    cyclooctane_conformers,
    ring_residuals,
)


def _angles(x: np.ndarray) -> np.ndarray:
    a = np.roll(x, 1, axis=-2) - x
    b = np.roll(x, -1, axis=-2) - x
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(cos))


def test_bond_lengths_and_angles_hold_to_1e6_angstrom():
    x, attempts = cyclooctane_conformers(60, seed=1, return_attempts=True)
    assert x.shape == (60, 8, 3)
    bonds = np.linalg.norm(x - np.roll(x, -1, axis=1), axis=-1)
    assert np.abs(bonds - BOND_LENGTH).max() < 1e-6
    # Independent of ring_residuals: the angle itself, from the two bond vectors.
    assert np.abs(_angles(x) - BOND_ANGLE).max() < 1e-5
    assert np.abs(ring_residuals(x)).max() < 1e-6
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-12)
    assert attempts <= 66  # the issue measured 500/500 starts converging


def test_conformers_are_puckered_and_differ():
    x = cyclooctane_conformers(30, seed=2)
    # A planar 8-ring would need 135° angles: every conformer leaves its best-fit plane.
    centred = x - x.mean(axis=1, keepdims=True)
    smallest = np.linalg.svd(centred, compute_uv=False)[:, -1]
    assert (smallest > 0.1).all()
    # Rigid-motion invariant: sorted pair distances differ between conformers.
    d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1).reshape(30, -1)
    d.sort(axis=1)
    gaps = np.linalg.norm(d[:, None] - d[None], axis=-1)[np.triu_indices(30, 1)]
    assert gaps.min() > 1e-3


def test_other_geometry_is_honoured():
    x = cyclooctane_conformers(5, seed=0, bond_length=1.0, bond_angle=110.0)
    assert np.abs(ring_residuals(x, 1.0, 110.0)).max() < 1e-6
    d13 = np.linalg.norm(x - np.roll(x, -2, axis=1), axis=-1)
    np.testing.assert_allclose(d13, 2 * math.sin(math.radians(55.0)), atol=1e-6)


def test_seeded():
    a = cyclooctane_conformers(4, seed=7)
    np.testing.assert_array_equal(a, cyclooctane_conformers(4, seed=7))
    assert not np.allclose(a, cyclooctane_conformers(4, seed=8))


def test_ring_residuals_of_a_stretched_ring():
    x = cyclooctane_conformers(1, seed=0)[0]
    r = ring_residuals(1.1 * x)
    np.testing.assert_allclose(r[:8], 0.1 * BOND_LENGTH, atol=1e-6)
    assert r.shape == (16,)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be a positive integer"),
        ({"n": 2.0}, TypeError, "n must be a positive integer"),
        ({"n": 1, "seed": -1}, ValueError, "seed"),
        ({"n": 1, "bond_length": 0.0}, ValueError, "bond_length"),
        ({"n": 1, "bond_angle": 140.0}, ValueError, r"bond_angle must lie in \[90, 135\)"),
        ({"n": 1, "noise": -1.0}, ValueError, "noise"),
        ({"n": 1, "tol": 0.0}, ValueError, "tol"),
        ({"n": 1, "max_attempts": 0}, ValueError, "max_attempts"),
        ({"n": 1, "return_attempts": 1}, TypeError, "return_attempts"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        cyclooctane_conformers(**kwargs)


def test_unreachable_tolerance_raises():
    with pytest.raises(RuntimeError, match="converged"):
        cyclooctane_conformers(2, seed=0, tol=1e-30, max_attempts=3)


def test_ring_residuals_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"coords must have shape \(n, 8, 3\)"):
        ring_residuals(np.zeros((7, 3)))
