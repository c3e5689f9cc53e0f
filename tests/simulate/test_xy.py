"""XY Monte Carlo: defect builders, the charge constraint, spin-wave energy, determinism, errors."""

import math

import numpy as np
import pytest
import torch

from topophys.observables import plaquette_charge
from topophys.observables.spins import energy, helicity_modulus
from topophys.simulate.xy import (
    XYConfig,
    XYSampler,
    _assemble,
    _field,
    _sublattices,
    blend_weight_table,
    blended_defect_field,
    charge_map_image,
    defect_blend_weight,
    defect_field,
    field_image,
    integrate_bonds,
    integrated_autocorrelation_time,
    pair_charge_map,
    pair_displacement,
    relaxed_defect_field,
    simulate_condition,
)

PAPER_DISTANCES = [0, 1, 1.41, 2, 2.24, 2.83, 3, 3.16, 3.61, 4.0, 4.12, 4.47, 5]


def test_pair_displacement():
    assert pair_displacement(math.sqrt(13)) == (2, 3)
    assert pair_displacement(3.61) == (2, 3)
    assert pair_displacement(5.0) == (0, 5)
    for bad in (0.5, 1.2, math.sqrt(3), math.sqrt(7)):
        with pytest.raises(ValueError, match="not a lattice distance"):
            pair_displacement(bad)
    with pytest.raises(ValueError, match=">= 0"):
        pair_displacement(-1)


@pytest.mark.parametrize("d", PAPER_DISTANCES)
def test_every_paper_distance_builds_its_exact_map(d):
    k = pair_charge_map(16, d)
    assert k.sum() == 0 and np.abs(k).sum() == (0 if d == 0 else 2)
    (i1, j1), (i2, j2) = np.argwhere(k != 0) if d else ((0, 0), (0, 0))
    assert math.hypot(i2 - i1, j2 - j1) == pytest.approx(d, abs=0.01)
    theta = defect_field(k, angle=0.3)
    np.testing.assert_array_equal(plaquette_charge(theta), k)
    # ... also in float32, the dtype the sampler holds and the datasets store
    np.testing.assert_array_equal(plaquette_charge(theta.astype(np.float32)), k)
    if d == 0:
        np.testing.assert_allclose(theta, 0.3)


def test_defect_field_general_map_and_least_twist():
    rng = np.random.default_rng(5)
    k = np.zeros((12, 12), dtype=int)
    sites = rng.choice(144, size=8, replace=False)
    k.flat[sites[:4]], k.flat[sites[4:]] = 1, -1
    theta = defect_field(k)
    np.testing.assert_array_equal(plaquette_charge(theta), k)
    # an adjacent ±1 pair along y (a shared bond at exactly π before the tie-break)
    k = np.zeros((8, 8), dtype=int)
    k[3, 3], k[4, 3] = 1, -1
    np.testing.assert_array_equal(plaquette_charge(defect_field(k)), k)
    # A lone pair far from the seam needs no twist: energy below that of any one-twist state.
    e_pair = energy(defect_field(pair_charge_map(16, 2)))
    assert e_pair < -2 + (1 - math.cos(2 * math.pi / 16))


@pytest.mark.parametrize("T", [1.3, 2.0])
def test_defect_field_realizes_thermal_maps_above_the_transition(T):
    # Unconstrained samples above T_BKT: dozens of free vortices, often adjacent. A single
    # pull-back pass once left some of these maps wrong.
    cfg = XYConfig(
        temperatures=(T,),
        distances=(0.0,),
        samples=128,
        n_replicas=64,
        equilibration_sweeps=100,
        decorrelation_sweeps=5,
        constrained=False,
    )
    maps = simulate_condition(cfg, T, 0.0).charge
    assert np.abs(maps).sum(axis=(1, 2)).mean() > 20
    for k in maps:
        np.testing.assert_array_equal(plaquette_charge(defect_field(k)), k)
    # The densest map, alternating ±1 on every plaquette, is realized too.
    checker = np.where(np.add.outer(np.arange(16), np.arange(16)) % 2 == 0, 1, -1)
    np.testing.assert_array_equal(plaquette_charge(defect_field(checker)), checker)


def test_defect_field_bad_maps():
    k = np.zeros((8, 8), dtype=int)
    k[2, 2] = 1
    with pytest.raises(ValueError, match="zero"):
        defect_field(k)
    with pytest.raises(TypeError, match="integers"):
        defect_field(np.full((8, 8), 0.5))
    with pytest.raises(ValueError, match="square"):
        defect_field(np.zeros((8, 6), dtype=int))
    # A whole row of +1 next to a row of −1 needs bonds of exactly ±π: no field has it.
    stripes = np.repeat(np.where(np.arange(8) % 2 == 0, 1, -1)[:, None], 8, axis=1)
    with pytest.raises(ValueError, match="could not realize"):
        defect_field(stripes)
    with pytest.raises(ValueError, match="L/2"):
        pair_charge_map(8, 5)


def test_sublattice_layout_and_local_field():
    rng = np.random.default_rng(0)
    theta = torch.as_tensor(rng.uniform(-np.pi, np.pi, (3, 8, 8)))
    sub = _sublattices(theta)
    assert sub.shape == (4, 3, 4, 4)
    torch.testing.assert_close(_assemble(sub), theta)
    c = torch.cos(theta)
    full = sum(torch.roll(c, s, d) for s in (1, -1) for d in (-1, -2))
    field = torch.stack([_field(_sublattices(c), 0), _field(_sublattices(c), 1)])  # (2, 2, ...)
    expected = _sublattices(full)
    torch.testing.assert_close(field.reshape(4, 3, 4, 4), expected)
    sampler = XYSampler(theta, 1.0, dtype="float64")
    np.testing.assert_allclose(sampler.energy().numpy(), energy(theta.numpy()), atol=1e-12)


def test_constrained_metropolis_holds_the_map_while_energy_equilibrates():
    k = pair_charge_map(16, 2)
    theta0 = np.broadcast_to(defect_field(k), (16, 16, 16))
    sampler = XYSampler(theta0, 0.1, constrained=True, seed=3)
    e0 = float(sampler.energy().mean())
    energies = []
    for _ in range(6):
        sampler.sweep(50, overrelaxation=1)
        np.testing.assert_array_equal(
            plaquette_charge(sampler.theta.numpy()), np.broadcast_to(k, (16, 16, 16))
        )
        energies.append(float(sampler.energy().mean()))
    # From the T = 0 field the energy rises by about T/2 per spin and then stays there.
    assert energies[-1] - e0 == pytest.approx(0.05, abs=0.01)
    assert abs(energies[-1] - energies[2]) < 0.005
    # The same chain without the constraint annihilates the pair.
    free = XYSampler(theta0, 0.1, constrained=False, seed=3)
    free.sweep(300)
    assert (np.abs(plaquette_charge(free.theta.numpy())).sum(axis=(1, 2)) == 0).mean() > 0.9


def test_constraint_holds_a_defect_free_map_above_the_transition():
    theta0 = np.zeros((8, 8, 8))
    held = XYSampler(theta0, 1.5, constrained=True, seed=1)
    free = XYSampler(theta0, 1.5, constrained=False, seed=1)
    for s in (held, free):
        s.sweep(100, overrelaxation=1)
    assert np.abs(plaquette_charge(held.theta.numpy())).sum() == 0
    assert np.abs(plaquette_charge(free.theta.numpy())).sum() > 0


@pytest.mark.parametrize(("dtype", "atol"), [("float64", 1e-10), ("float32", 2e-6)])
def test_overrelaxation_keeps_energy_and_charges(dtype, atol):
    """Both backends (float64: torch; float32: numba, whose reflection is algebraic and whose
    atan2 a polynomial) conserve the energy to their precision and hold the map."""
    theta0 = defect_field(pair_charge_map(8, 1.41))[None] + np.random.default_rng(0).normal(
        0, 0.3, (8, 8, 8)
    )
    target = plaquette_charge(theta0)
    for constrained in (False, True):
        s = XYSampler(theta0, 0.3, constrained=constrained, dtype=dtype)
        before = s.energy()
        for _ in range(5):
            s.overrelaxation_sweep()
        torch.testing.assert_close(s.energy(), before, atol=atol, rtol=0)
        np.testing.assert_allclose(np.cos(s.theta.double().numpy()), s._chains.spins()[:, 0],
                                   atol=1e-6)  # fmt: skip
        assert not torch.equal(s.theta, torch.as_tensor(theta0))
        if constrained:
            np.testing.assert_array_equal(plaquette_charge(s.theta.numpy()), target)


@pytest.mark.parametrize("T", [0.1, 0.2])
def test_low_temperature_spin_wave_energy(T):
    """Detailed balance: e = −2J + (T/2)(N − 1)/N + T²/16 (harmonic + first anharmonic term)."""
    L, chains = 8, 64
    s = XYSampler(np.zeros((chains, L, L)), T, seed=7)
    for i in range(200):
        s.sweep(1)
        if (i + 1) % 10 == 0 and i < 100:
            s.tune_step_size()
    series = []
    for _ in range(300):
        s.sweep(1, overrelaxation=1)
        series.append(s.energy().numpy())
    series = np.array(series)  # (time, chains)
    per_chain = series.mean(axis=0)
    err = per_chain.std(ddof=1) / math.sqrt(chains)
    expected = -2 + T / 2 * (L * L - 1) / (L * L) + T**2 / 16
    assert abs(per_chain.mean() - expected) < 4 * err + 2e-4
    assert 0.3 < float(s.acceptance.mean()) < 0.7


def test_acceptance_counts_every_proposal_once():
    s = XYSampler(np.zeros((3, 8, 8)), 1e9, seed=0)  # at huge T every move is accepted
    s.sweep(4)
    np.testing.assert_allclose(s.acceptance.numpy(), 1.0)
    frozen = XYSampler(np.zeros((3, 8, 8)), 1e-9, step_size=1.0, seed=0)
    frozen.sweep(4)  # ... and at T → 0 from the ground state almost none is: in float32
    # cos(δ) rounds to 1 for |δ| < 2.4e-4, a move of zero energy cost (about 1 in 4000 here)
    assert (frozen.acceptance.numpy() < 0.01).all()


def test_determinism_under_seed():
    theta0 = np.zeros((4, 8, 8))
    a, b, c = (XYSampler(theta0, 0.5, seed=s, constrained=True) for s in (11, 11, 12))
    for s in (a, b, c):
        s.sweep(10, overrelaxation=1)
    assert torch.equal(a.theta, b.theta)
    assert not torch.equal(a.theta, c.theta)


def test_simulate_condition_small_and_deterministic():
    cfg = XYConfig(
        L=8, temperatures=(0.1,), distances=(1,), samples=12, n_replicas=4,
        equilibration_sweeps=40, decorrelation_sweeps=3,
    )  # fmt: skip
    r = simulate_condition(cfg, 0.1, 1, progress=False)
    assert r.theta.shape == (12, 8, 8) and r.theta.dtype == np.float32
    assert r.charge.dtype == np.int8
    np.testing.assert_array_equal(r.charge, np.broadcast_to(r.target, r.charge.shape))
    assert r.held == 1.0 and r.d == 1.0 and r.T == 0.1
    assert 0.5 <= r.tau_int < 50 and 0.2 < r.acceptance < 0.8
    np.testing.assert_allclose(r.energy, energy(r.theta))
    again = simulate_condition(cfg, 0.1, 1, progress=False)
    np.testing.assert_array_equal(again.theta, r.theta)


def test_autocorrelation_time():
    rng = np.random.default_rng(0)
    assert integrated_autocorrelation_time(rng.normal(size=(4000, 3))) == pytest.approx(
        0.5, abs=0.1
    )
    assert integrated_autocorrelation_time(np.ones(10)) == 0.5
    with pytest.raises(ValueError, match="n_steps"):
        integrated_autocorrelation_time(np.ones(2))


def test_bad_inputs():
    with pytest.raises(ValueError, match="even"):
        XYSampler(np.zeros((2, 7, 7)), 1.0)
    with pytest.raises(ValueError, match="even"):
        XYConfig(L=15)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        XYSampler(np.zeros((2, 8, 8)), 0.0)
    with pytest.raises(ValueError, match=r"temperature\[1\] must be > 0"):
        XYSampler(np.zeros((2, 8, 8)), [1.0, -1.0])
    with pytest.raises(ValueError, match=r"temperatures\[0\] must be > 0"):
        XYConfig(temperatures=(0.0,))
    with pytest.raises(ValueError, match="one per replica"):
        XYSampler(np.zeros((2, 8, 8)), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="not a lattice distance"):
        XYConfig(distances=(1.7,))
    with pytest.raises(ValueError, match="shape"):
        XYSampler(np.zeros((8, 8)), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        XYSampler(np.full((1, 8, 8), np.nan), 1.0)
    with pytest.raises(ValueError, match="dtype"):
        XYConfig(dtype="float16")
    cfg = XYConfig.from_yaml("temperatures: [0.1, 1]\ndistances: [0, 2]\n")
    assert cfg.temperatures == (0.1, 1.0) and cfg.conditions[-1] == (1.0, 2.0)
    assert XYConfig.from_yaml(cfg.to_yaml()) == cfg


def wolff_reference(L, T, n_updates, seed):
    """An independent sampler: Wolff single-cluster updates (plain numpy, slow)."""
    rng = np.random.default_rng(seed)
    theta = np.zeros((L, L))
    out_e = []
    for step in range(n_updates):
        r = rng.uniform(0, 2 * np.pi)
        proj = np.cos(theta - r)
        i, j = rng.integers(L, size=2)
        cluster = np.zeros((L, L), bool)
        cluster[i, j] = True
        stack = [(i, j)]
        while stack:
            a, b = stack.pop()
            for c, d in (((a + 1) % L, b), ((a - 1) % L, b), (a, (b + 1) % L), (a, (b - 1) % L)):
                if not cluster[c, d]:
                    p = 1 - math.exp(min(0.0, -2 * proj[a, b] * proj[c, d] / T))
                    if rng.random() < p:
                        cluster[c, d] = True
                        stack.append((c, d))
        theta[cluster] = 2 * r + np.pi - theta[cluster]  # reflect about the plane ⟂ r
        if step > n_updates // 5 and step % 5 == 0:
            out_e.append(theta.copy())
    fields = np.array(out_e)
    return energy(fields).mean(), helicity_modulus(fields, T)


@pytest.mark.slow
@pytest.mark.parametrize("T", [0.5, 0.9, 1.3])
def test_agrees_with_an_independent_wolff_sampler(T):
    L = 8
    e_ref, y_ref = wolff_reference(L, T, 30000, seed=1)
    s = XYSampler(np.zeros((128, L, L)), T, seed=2)
    for i in range(400):
        s.sweep(1, overrelaxation=2)
        if i < 200 and (i + 1) % 10 == 0:
            s.tune_step_size()
    fields = []
    for _ in range(100):
        s.sweep(5, overrelaxation=2)
        fields.append(s.theta.double().numpy())
    fields = np.concatenate(fields)
    assert energy(fields).mean() == pytest.approx(e_ref, abs=0.01)
    assert helicity_modulus(fields, T) == pytest.approx(y_ref, abs=0.04)


@pytest.mark.slow
def test_helicity_modulus_crosses_the_universal_line_near_bkt():
    """Υ_L(T) − 2T/π changes sign between T = 0.8 and 1.1 at L = 16 (T_BKT = 0.8929)."""
    L = 16
    values = {}
    for T in (0.8, 1.1):
        s = XYSampler(np.zeros((128, L, L)), T, seed=4)
        for i in range(600):
            s.sweep(1, overrelaxation=2)
            if i < 300 and (i + 1) % 10 == 0:
                s.tune_step_size()
        fields = []
        for _ in range(60):
            s.sweep(5, overrelaxation=2)
            fields.append(s.theta.double().numpy())
        values[T] = helicity_modulus(np.concatenate(fields), T) - 2 * T / math.pi
    assert values[0.8] > 0.05 and values[1.1] < -0.05


@pytest.mark.gpu
def test_cuda_matches_cpu_statistics():
    theta0 = np.zeros((256, 16, 16))
    means = []
    for device in ("cpu", "cuda"):
        s = XYSampler(theta0, 0.5, seed=0, device=device, constrained=True)
        s.sweep(300, overrelaxation=1)
        means.append(float(s.energy().mean()))
    assert means[0] == pytest.approx(means[1], abs=0.01)


def test_symmetry_images_of_fields_carry_the_images_of_their_maps():
    rng = np.random.default_rng(0)
    for d in (1, 1.41, 2.24, 4.12):
        theta = defect_field(pair_charge_map(16, d)) + rng.normal(0, 0.2, (16, 16))
        k = plaquette_charge(theta)
        for turns in range(4):
            for reflect in (False, True):
                shift = tuple(int(s) for s in rng.integers(0, 16, 2))
                image = field_image(theta, shift=shift, quarter_turns=turns, reflect=reflect)
                expected = charge_map_image(k, shift=shift, quarter_turns=turns, reflect=reflect)
                np.testing.assert_array_equal(plaquette_charge(image), expected)
                assert energy(image) == pytest.approx(energy(theta), abs=1e-12)
    with pytest.raises(TypeError, match="reflect"):
        charge_map_image(k, reflect=1)
    with pytest.raises(TypeError, match="shift"):
        field_image(theta, shift=3)


@pytest.mark.parametrize("d", [1, 1.41, 2, 4.12, 5])
def test_relaxed_defect_field_lowers_the_xy_energy_and_keeps_the_map(d):
    k = pair_charge_map(16, d)
    theta = relaxed_defect_field(k)
    np.testing.assert_array_equal(plaquette_charge(theta), k)
    # d = 1: the analytic pair already presses its shared bond against π − 0.05
    assert energy(theta) < energy(defect_field(k)) - (1e-4 if d > 1 else -1e-5)
    bonds = [np.angle(np.exp(1j * (np.roll(theta, -1, a) - theta))) for a in (0, 1)]
    assert max(np.abs(b).max() for b in bonds) <= np.pi - 0.05 + 1e-9
    np.testing.assert_array_equal(relaxed_defect_field(k), theta)  # deterministic
    with pytest.raises(ValueError, match="sweeps"):
        relaxed_defect_field(k, sweeps=10)


@pytest.mark.parametrize(("T", "constrained"), [(0.5, False), (0.9, False), (0.5, True)])
def test_numba_and_torch_sample_the_same_law(T, constrained):
    """Energy and helicity modulus of the compiled and the vectorized sampler agree within
    their errors (different orders of updates and random streams, one Boltzmann law)."""
    L, chains = 8, 96
    start = np.broadcast_to(defect_field(pair_charge_map(L, 2)), (chains, L, L))
    stats = {}
    for backend in ("numba", "torch"):
        s = XYSampler(start, T, constrained=constrained, seed=5, backend=backend)
        assert s.backend == backend
        s.sweep(100, overrelaxation=1)
        fields = []
        for _ in range(40):
            s.sweep(3, overrelaxation=1)
            fields.append(s.theta.double().numpy())
        fields = np.stack(fields, axis=1)  # (chain, time, L, L): chains are independent
        e = energy(fields).mean(axis=1)
        y = [helicity_modulus(f, T) for f in np.array_split(fields.reshape(-1, L, L), 8)]
        stats[backend] = (e.mean(), e.std(ddof=1) / chains**0.5, np.mean(y), np.std(y) / 8**0.5)
        if constrained:
            np.testing.assert_array_equal(
                plaquette_charge(fields[:, -1]), np.broadcast_to(pair_charge_map(L, 2), start.shape)
            )
    (e1, de1, y1, dy1), (e2, de2, y2, dy2) = stats["numba"], stats["torch"]
    assert abs(e1 - e2) < 4 * math.hypot(de1, de2) + 1e-4
    assert abs(y1 - y2) < 4 * math.hypot(dy1, dy2) + 1e-3


def test_numba_constraint_never_changes_a_map_in_hot_sweeps():
    """At T = 1.5, where free vortices would appear at every sweep, the compiled constrained
    kernel holds a map with four defects through thousands of sweeps."""
    k = pair_charge_map(16, 2.24) + np.roll(pair_charge_map(16, 3), 5, axis=0)
    s = XYSampler(np.broadcast_to(defect_field(k), (16, 16, 16)), 1.5, constrained=True, seed=1)
    for _ in range(20):
        s.sweep(100, overrelaxation=1)
        np.testing.assert_array_equal(
            plaquette_charge(s.theta.numpy()), np.broadcast_to(k, (16, 16, 16))
        )
    assert 0.2 < float(s.acceptance.mean()) < 0.8


def test_backend_choice():
    assert XYSampler(np.zeros((2, 8, 8)), 1.0).backend == "numba"
    assert XYSampler(np.zeros((2, 8, 8)), 1.0, dtype="float64").backend == "torch"
    with pytest.raises(ValueError, match="float32 on the CPU"):
        XYSampler(np.zeros((2, 8, 8)), 1.0, dtype="float64", backend="numba")
    with pytest.raises(ValueError, match="backend"):
        XYSampler(np.zeros((2, 8, 8)), 1.0, backend="cuda")


@pytest.mark.parametrize("d", [1, 2.24, 4.12])
def test_blended_defect_field_keeps_the_map_between_its_two_ends(d):
    k = pair_charge_map(16, d)
    ends = {0.0: defect_field(k), 1.0: relaxed_defect_field(k)}
    for w in (0.0, 0.3, 0.7, 1.0):
        field = blended_defect_field(k, w)
        np.testing.assert_array_equal(plaquette_charge(field), k)
        if w in ends:  # the ends, up to a global rotation
            turned = np.angle(np.exp(1j * (field - ends[w])))
            assert np.abs(turned - turned[0, 0]).max() < 1e-9
    with pytest.raises(ValueError, match="weight"):
        blended_defect_field(k, 1.5)


def test_integrate_bonds_inverts_the_bond_differences():
    theta = defect_field(pair_charge_map(8, 2.24)) + np.random.default_rng(0).normal(0, 0.2, (8, 8))
    bx = np.angle(np.exp(1j * (np.roll(theta, -1, -1) - theta)))
    by = np.angle(np.exp(1j * (np.roll(theta, -1, -2) - theta)))
    back = integrate_bonds(bx, by)
    np.testing.assert_allclose(np.angle(np.exp(1j * (back - theta + theta[0, 0]))), 0, atol=1e-12)
    torch.testing.assert_close(
        integrate_bonds(torch.as_tensor(bx), torch.as_tensor(by)), torch.as_tensor(back)
    )


def test_blend_weight_is_recovered_from_fields_and_tabulated_per_temperature():
    rng = np.random.default_rng(1)
    fields, maps, temps = [], [], []
    for T, w in ((0.2, 0.8), (0.6, 0.3)):
        for d in (2, 4.12):
            k = pair_charge_map(16, d)
            base = blended_defect_field(k, w)
            noisy = base[None] + rng.normal(0, 0.1, (40, 16, 16)) + rng.uniform(-3, 3, (40, 1, 1))
            assert defect_blend_weight(noisy, k) == pytest.approx(w, abs=0.05)
            fields.append(noisy)
            maps.append(np.broadcast_to(k, noisy.shape))
            temps.append(np.full(40, T))
    grid, weights = blend_weight_table(np.concatenate(fields), np.concatenate(maps),
                                       np.concatenate(temps))  # fmt: skip
    np.testing.assert_allclose(grid, [0.2, 0.6])
    np.testing.assert_allclose(weights, [0.8, 0.3], atol=0.05)
    assert defect_blend_weight(np.zeros((3, 16, 16)), np.zeros((16, 16), int)) is None
