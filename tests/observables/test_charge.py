"""Exact and approximate plaquette charges: hand-made defects, invariances, a loop reference."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from topophys.observables import (
    angles_to_spins,
    plaquette_charge,
    soft_charge,
    spins_to_angles,
    total_charge,
    vorticity,
    wrap_angle,
)


def vortex(L, y0, x0, q=1):
    y, x = np.mgrid[0:L, 0:L].astype(float)
    return q * np.arctan2(y - y0, x - x0)


def pair(L=16, plus=(7.5, 5.5), minus=(7.5, 9.5)):
    return vortex(L, *plus) - vortex(L, *minus)


def loop_reference(theta):
    """Charges by walking each plaquette's corners one by one (independent of the vectorization)."""
    L = theta.shape[-1]
    out = np.zeros(theta.shape, dtype=np.int64)
    for i in range(L):
        for j in range(L):
            corners = [(i, j), (i, (j + 1) % L), ((i + 1) % L, (j + 1) % L), ((i + 1) % L, j)]
            total = 0.0
            for (a, b), (c, d) in zip(corners, corners[1:] + corners[:1], strict=True):
                diff = theta[c, d] - theta[a, b]
                total += diff - 2 * math.pi * round(diff / (2 * math.pi))
            out[i, j] = round(total / (2 * math.pi))
    return out


def test_vortex_is_plus_one_and_antivortex_minus_one():
    k = plaquette_charge(vortex(12, 5.5, 4.5))
    assert k.dtype == np.int64
    assert k[5, 4] == 1
    assert k[1:11, 1:11].sum() == 1  # away from the seam only the vortex
    assert np.count_nonzero(k[1:11, 1:11]) == 1
    anti = plaquette_charge(vortex(12, 5.5, 4.5, q=-1))
    assert anti[5, 4] == -1
    assert k.sum() == 0 and anti.sum() == 0  # torus


def test_pair_has_exactly_two_defects():
    k = plaquette_charge(pair())
    expected = np.zeros((16, 16), dtype=np.int64)
    expected[7, 5], expected[7, 9] = 1, -1
    np.testing.assert_array_equal(k, expected)
    assert int(vorticity(pair())) == 2
    assert int(total_charge(k)) == 0


def test_transpose_reverses_orientation():
    rng = np.random.default_rng(1)
    theta = rng.uniform(-np.pi, np.pi, (10, 10))
    np.testing.assert_array_equal(plaquette_charge(theta.T), -plaquette_charge(theta).T)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (5, 5), elements=st.floats(-10, 10)))
def test_matches_loop_reference(theta):
    np.testing.assert_array_equal(plaquette_charge(theta), loop_reference(theta))


def test_random_fields_invariances_and_batch():
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, (6, 8, 8))
    k = plaquette_charge(theta)
    assert k.shape == (6, 8, 8)
    assert set(np.unique(k)) <= {-1, 0, 1}
    np.testing.assert_array_equal(total_charge(k), 0)
    shifted = theta + 2 * np.pi * rng.integers(-3, 4, theta.shape) + 0.0
    np.testing.assert_array_equal(plaquette_charge(shifted), k)
    np.testing.assert_array_equal(plaquette_charge(theta + 1.234), k)  # global rotation
    np.testing.assert_array_equal(vorticity(theta), np.abs(k).sum(axis=(1, 2)))
    torch_k = plaquette_charge(torch.as_tensor(theta))
    assert torch_k.dtype == torch.int64
    np.testing.assert_array_equal(torch_k.numpy(), k)
    # float32 tensors too (the generator's dtype)
    np.testing.assert_array_equal(plaquette_charge(torch.as_tensor(theta, dtype=torch.float32)), k)


def test_soft_charge_sign_on_clean_defects_and_ideal_value():
    theta = pair()
    k = plaquette_charge(theta)
    soft = soft_charge(angles_to_spins(theta))
    assert soft.shape == (16, 16)
    defects = k != 0
    np.testing.assert_array_equal(np.sign(soft[defects]), k[defects])
    assert np.abs(soft[defects]).min() > np.abs(soft[~defects]).max()
    # The ideal lattice vortex (each bond turns by π/2) reads exactly 1.
    y, x = np.mgrid[0:8, 0:8]
    ideal = soft_charge(angles_to_spins(np.arctan2(y - 3.5, x - 3.5)))
    assert ideal[3, 3] == pytest.approx(1.0)


def test_soft_charge_is_differentiable_and_matches_numpy():
    theta = torch.as_tensor(pair(), dtype=torch.float32) + 0.1 * torch.randn(16, 16)
    theta.requires_grad_(True)
    spins = angles_to_spins(theta).unsqueeze(0)  # (1, 2, L, L)
    soft = soft_charge(spins)
    assert soft.shape == (1, 16, 16)
    soft[0, 7, 5].backward()
    grad = theta.grad
    assert torch.isfinite(grad).all()
    # Only the four corners of plaquette (7, 5) feed its charge.
    assert set(map(tuple, grad.nonzero().tolist())) == {(7, 5), (7, 6), (8, 6), (8, 5)}
    np.testing.assert_allclose(
        soft.detach().numpy(), soft_charge(spins.detach().double().numpy()), atol=1e-6
    )


def test_wrap_and_spin_round_trip():
    x = np.linspace(-20, 20, 101)
    w = wrap_angle(x)
    assert np.all(np.abs(w) <= np.pi)
    np.testing.assert_allclose(np.cos(w), np.cos(x), atol=1e-12)
    theta = np.random.default_rng(2).uniform(-np.pi, np.pi, (3, 4, 4))
    np.testing.assert_allclose(spins_to_angles(angles_to_spins(theta)), theta, atol=1e-12)
    t = torch.as_tensor(theta)
    np.testing.assert_allclose(spins_to_angles(angles_to_spins(t)).numpy(), theta, atol=1e-12)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (np.zeros(5), ValueError, "at least 2 dimensions"),
        (np.zeros((4, 5)), ValueError, "square"),
        (np.full((4, 4), np.nan), ValueError, "NaN"),
        (np.zeros((4, 4), dtype=complex), TypeError, "real"),
        ("abc", TypeError, "real numbers"),
    ],
)
def test_bad_theta(value, error, match):
    with pytest.raises(error, match=match):
        plaquette_charge(value)


def test_bad_spins():
    with pytest.raises(ValueError, match="2 channels"):
        soft_charge(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        soft_charge(np.zeros((4, 4)))
