"""Spin observables: analytic values on uniform and twisted fields, FFT correlation, jackknife."""

import math

import numpy as np
import pytest
import torch

from topophys.observables.spins import (
    bond_sums,
    correlation,
    energy,
    helicity,
    helicity_modulus,
    jackknife,
    magnetization,
    scha_stiffness,
    specific_heat,
    spin_energy,
    structure_factor_shells,
    susceptibility,
)


def twist(L, wx=0, wy=0, phase=0.0):
    y, x = np.mgrid[0:L, 0:L]
    return phase + 2 * np.pi * (wx * x + wy * y) / L


def test_uniform_field():
    theta = np.full((3, 8, 8), 0.7)
    np.testing.assert_allclose(energy(theta), -2.0)
    np.testing.assert_allclose(energy(theta, J=2.5), -5.0)
    np.testing.assert_allclose(magnetization(theta), 1.0)
    np.testing.assert_allclose(helicity(theta), 0.0, atol=1e-12)
    assert helicity_modulus(theta, T=0.3) == pytest.approx(1.0)
    assert specific_heat(theta, T=0.3) == pytest.approx(0.0, abs=1e-20)
    assert susceptibility(theta, T=0.3) == pytest.approx(0.0, abs=1e-20)
    assert susceptibility(theta, T=0.5, connected=False) == pytest.approx(64 / 0.5)


def test_twisted_field_energy_current_and_correlation():
    L = 12
    theta = twist(L, wx=1)
    k = 2 * np.pi / L
    assert float(energy(theta)) == pytest.approx(-(1 + math.cos(k)))
    assert float(helicity(theta)) == pytest.approx(math.sin(k))
    assert float(magnetization(theta)) == pytest.approx(0.0, abs=1e-12)
    s = bond_sums(theta)
    assert s["sin_x"] == pytest.approx(L * L * math.sin(k))
    assert s["sin_y"] == pytest.approx(0.0, abs=1e-9)
    # G(r) of a twist along x, averaged over each distance shell, by brute force
    r, G = correlation(theta)
    d = np.minimum(np.arange(L), L - np.arange(L))
    dist = np.sqrt(d[:, None] ** 2 + d[None, :] ** 2)
    cos_dx = np.cos(k * np.arange(L))[None, :].repeat(L, 0)  # S_0·S_Δ depends on Δx only
    expected = [cos_dx[np.isclose(dist, ri)].mean() for ri in r]
    np.testing.assert_allclose(G, expected, atol=1e-12)
    assert r[0] == 0 and r[1] == 1 and r[2] == pytest.approx(math.sqrt(2))
    assert r[-1] == pytest.approx(math.sqrt(2) * L / 2)


def test_correlation_brute_force_on_random_fields():
    rng = np.random.default_rng(3)
    theta = rng.uniform(-np.pi, np.pi, (2, 6, 6))
    r, G = correlation(theta, per_sample=True)
    assert G.shape == (2, r.size)
    L = 6
    for s in range(2):
        sums, counts = np.zeros(r.size), np.zeros(r.size)
        for i in range(L):
            for j in range(L):
                for a in range(L):
                    for b in range(L):
                        dy, dx = min(abs(i - a), L - abs(i - a)), min(abs(j - b), L - abs(j - b))
                        k = np.argmin(np.abs(r - math.hypot(dy, dx)))
                        sums[k] += math.cos(theta[s, i, j] - theta[s, a, b])
                        counts[k] += 1
        np.testing.assert_allclose(G[s], sums / counts, atol=1e-12)
    np.testing.assert_allclose(correlation(theta)[1], G.mean(axis=0))
    np.testing.assert_allclose(G[:, 0], 1.0)


def test_helicity_modulus_fluctuation_term():
    # An ensemble of uniform twists ±1 along x: <cos> = L² cos k, I_x = ±L² sin k.
    L, T = 8, 0.7
    k = 2 * np.pi / L
    theta = np.stack([twist(L, wx=1), twist(L, wx=-1)])
    n = L * L
    expected = (n * math.cos(k) - (n * math.sin(k)) ** 2 / T + n) / (2 * n)
    assert helicity_modulus(theta, T) == pytest.approx(expected)


def test_specific_heat_is_scaled_energy_variance():
    rng = np.random.default_rng(0)
    theta = rng.normal(0, 0.4, (50, 8, 8))
    e = energy(theta)
    assert specific_heat(theta, 0.2) == pytest.approx(64 * e.var() / 0.04)
    m = magnetization(theta)
    assert susceptibility(theta, 0.2) == pytest.approx(64 * m.var() / 0.2)


def test_torch_input_and_jackknife():
    rng = np.random.default_rng(1)
    theta = rng.normal(0, 0.3, (60, 8, 8))
    np.testing.assert_allclose(energy(torch.as_tensor(theta)), energy(theta))
    value, err = jackknife(lambda t: energy(t).mean(), theta, n_blocks=60)
    # For the mean the jackknife reproduces the standard error of the mean exactly.
    e = energy(theta)
    assert value == pytest.approx(e.mean())
    assert err == pytest.approx(e.std(ddof=1) / math.sqrt(60))
    c, c_err = jackknife(specific_heat, theta, n_blocks=10, T=0.3)
    assert np.isfinite(c) and c_err > 0
    r_g, g_err = jackknife(lambda t: correlation(t)[1], theta, n_blocks=5)
    assert r_g.shape == g_err.shape == correlation(theta)[0].shape


def test_bad_inputs():
    with pytest.raises(ValueError, match="T must be > 0"):
        specific_heat(np.zeros((2, 4, 4)), T=0.0)
    with pytest.raises(ValueError, match="at least 2 fields"):
        helicity_modulus(np.zeros((1, 4, 4)), T=1.0)
    with pytest.raises(ValueError, match=r"\(n, L, L\)"):
        susceptibility(np.zeros((4, 4)), T=1.0)
    with pytest.raises(ValueError, match="square"):
        energy(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        magnetization(np.full((4, 4), np.inf))
    with pytest.raises(ValueError, match="n_blocks"):
        jackknife(specific_heat, np.zeros((3, 4, 4)), n_blocks=5, T=1.0)
    with pytest.raises(TypeError, match="real angles"):
        energy(np.zeros((4, 4), dtype=complex))


def test_one_bond_formula_for_numpy_angles_and_torch_spins():
    """energy, bond_sums and spin_energy agree with the cosines and sines of the angle
    differences, in numpy and in torch, and the torch energy has the analytic gradient."""
    torch = pytest.importorskip("torch")
    from topophys.observables.charge import angles_to_spins

    theta = np.random.default_rng(3).uniform(-np.pi, np.pi, (5, 8, 8))
    dx = np.roll(theta, -1, axis=-1) - theta
    dy = np.roll(theta, -1, axis=-2) - theta
    s = bond_sums(theta, J=0.5)
    np.testing.assert_allclose(s["cos_x"], 0.5 * np.cos(dx).sum(axis=(-2, -1)), rtol=1e-12)
    np.testing.assert_allclose(s["sin_y"], 0.5 * np.sin(dy).sum(axis=(-2, -1)), rtol=1e-12)
    direct = -(np.cos(dx) + np.cos(dy)).mean(axis=(-2, -1))
    np.testing.assert_allclose(energy(theta), direct, rtol=1e-12)
    t = torch.from_numpy(theta).requires_grad_(True)
    e = spin_energy(angles_to_spins(t))
    np.testing.assert_allclose(e.detach().numpy(), direct, rtol=1e-12)
    e.sum().backward()
    # dE/dθ_i = (1/N) Σ_j sin(θ_i − θ_j) over the four neighbours j of i.
    grad = (
        sum(
            np.sin(theta - np.roll(theta, shift, axis=axis))
            for shift in (1, -1)
            for axis in (-1, -2)
        )
        / theta[0].size
    )
    np.testing.assert_allclose(t.grad.numpy(), grad, atol=1e-14)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, L, L\)"):
        spin_energy(np.zeros((3, 4, 4)))


def test_scha_stiffness_is_the_self_consistent_gaussian_stiffness():
    T = np.array([0.05, 0.3, 0.9, 1.3])
    x = scha_stiffness(T, n_sites=256)
    bond_variance = T / (2 * x) * 255 / 256  # of the Gaussian field of stiffness x
    np.testing.assert_allclose(x, np.exp(-bond_variance / 2), rtol=1e-12)
    assert scha_stiffness(0.01) == pytest.approx(1 - 0.01 / 4, abs=1e-5)  # J(1 − T/4 + …)
    assert scha_stiffness(0.5, J=2.0) == pytest.approx(2 * scha_stiffness(0.25))
    assert scha_stiffness(3.0) == pytest.approx(1 / math.e)  # beyond the SCHA transition
    np.testing.assert_allclose(scha_stiffness(torch.as_tensor(T), n_sites=256).numpy(), x)
    assert (np.diff(x) < 0).all()


def test_structure_factor_shells_of_plane_waves_and_random_fields() -> None:
    L = 8
    x = np.arange(L)
    # A spin wave of wave vector 2π/L along x puts all N of S(q) on one mode of shell 1.
    wave = np.broadcast_to(2 * np.pi * x / L, (L, L))
    spins = np.stack([np.cos(wave), np.sin(wave)])
    np.testing.assert_allclose(structure_factor_shells(spins), [0.0, L * L / 4, 0.0], atol=1e-9)
    # Along the diagonal: shell 2.
    diagonal = 2 * np.pi * (x[:, None] + x[None, :]) / L
    spins = np.stack([np.cos(diagonal), np.sin(diagonal)])
    np.testing.assert_allclose(structure_factor_shells(spins), [0.0, 0.0, L * L / 4], atol=1e-9)
    # Random fields: shell 0 is N·m², numpy and torch agree, gradients flow.
    rng = np.random.default_rng(0)
    theta = rng.normal(0.0, 0.7, (5, L, L))
    spins = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    shells = structure_factor_shells(spins)
    m2 = np.abs(np.exp(1j * theta).mean(axis=(-2, -1))) ** 2
    np.testing.assert_allclose(shells[:, 0], L * L * m2, rtol=1e-12)
    t = torch.tensor(spins, requires_grad=True)
    out = structure_factor_shells(t)
    np.testing.assert_allclose(out.detach().numpy(), shells, rtol=1e-12)
    out.sum().backward()
    assert t.grad is not None and bool(torch.isfinite(t.grad).all())
    with pytest.raises(ValueError, match="spins must have shape"):
        structure_factor_shells(spins[:, 0])
