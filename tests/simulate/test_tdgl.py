"""Physics and numerics of the TDGL simulator."""

import dataclasses

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from topophys.simulate.tdgl import (
    TDGLBlowUpError,
    TDGLConfig,
    TDGLModel,
    dipolar_symbol,
    disorder_field,
    field_at,
    lattice_kernel,
    local_equilibrium,
    simulate,
    snapshot_steps,
)


def _model(config, alpha, seed=0):
    alpha = np.atleast_1d(alpha).astype(float)
    lam = np.stack(
        [disorder_field(seed + i, config.size, config.disorder_std) for i in range(alpha.size)]
    )
    return TDGLModel(config, alpha, lam)


@pytest.mark.parametrize("dt", [0.05, 0.25])
@pytest.mark.parametrize("kernel", ["continuum", "lattice"])
def test_energy_never_increases_at_constant_field(dt, kernel):
    # Gradient flow: with the automatic stabilizer, the discrete energy must not rise.
    cfg = TDGLConfig(
        size=32,
        dt=dt,
        sweep_rate=0.0,
        h_init=0.3,
        t_end=200 * dt,
        dtype="float64",
        dipolar_kernel=kernel,
        initial="random",
        initial_noise=0.5,
    )
    model = _model(cfg, [1.0, 2.5, 4.0])
    phi = model.initial_state(np.random.default_rng(0).normal(0, 0.5, (3, 32, 32)))
    energies = [model.energy(phi, cfg.h_init)]
    for _ in range(200):
        model.step(phi, cfg.h_init)
        energies.append(model.energy(phi, cfg.h_init))
    energies = np.array(energies)
    rises = np.diff(energies, axis=0)
    assert rises.max() <= 1e-9 * np.abs(energies).max()
    assert energies[-1].max() < energies[0].min()  # and it really moved


def test_force_is_gradient_of_energy():
    # δH/δφ from `force` equals the finite-difference derivative of `energy` / dx².
    cfg = TDGLConfig(size=8, dtype="float64", sweep_rate=0.0, t_end=1.0)
    model = _model(cfg, 2.0)
    rng = np.random.default_rng(1)
    phi = torch.tensor(rng.normal(0, 0.7, (1, 8, 8)))
    force = model.force(phi, 0.4).numpy()
    eps = 1e-6
    for y, x in [(0, 0), (3, 5), (7, 2)]:
        up, down = phi.clone(), phi.clone()
        up[0, y, x] += eps
        down[0, y, x] -= eps
        fd = (model.energy(up, 0.4) - model.energy(down, 0.4))[0] / (2 * eps) / cfg.dx**2
        assert fd == pytest.approx(force[0, y, x], rel=1e-6, abs=1e-6)


def test_lattice_operator_equals_direct_real_space_sum():
    size, dx, images = 6, 0.5, 1
    cfg = TDGLConfig(
        size=size,
        dx=dx,
        beta=0.0,
        gamma=1.0,
        dipolar_factor=1.0,
        dipolar_kernel="lattice",
        lattice_images=images,
        dtype="float64",
        sweep_rate=0.0,
        t_end=1.0,
        n_snapshots=2,
    )
    model = TDGLModel(cfg, [1.0], np.zeros((1, size, size)))
    phi = np.random.default_rng(2).normal(size=(size, size))
    fourier = model.apply_linear(torch.tensor(phi[None]))[0].numpy()

    reach = (images + 0.5) * size
    direct = np.zeros((size, size))
    for y in range(size):
        for x in range(size):
            total = 0.0
            for yy in range(size):
                for xx in range(size):
                    for ry in range(y - yy - 3 * size, y - yy + 3 * size + 1, size):
                        for rx in range(x - xx - 3 * size, x - xx + 3 * size + 1, size):
                            if (ry, rx) == (0, 0) or abs(ry) > reach or abs(rx) > reach:
                                continue
                            total += phi[yy, xx] * dx**2 / (dx * np.hypot(ry, rx)) ** 3
            direct[y, x] = total
    np.testing.assert_allclose(fourier, direct, rtol=1e-10, atol=1e-10)


def test_continuum_kernel_is_the_lattice_sum_less_its_k0_constant_at_long_wavelength():
    # ∫(1 − cos k·r)/r³ d²r = 2π|k|: the lattice symbol falls by 2π|k| from its k = 0 value.
    cfg = TDGLConfig(size=64, dx=0.25, dipolar_kernel="lattice", lattice_images=6)
    lattice = dipolar_symbol(cfg)
    continuum = dipolar_symbol(dataclasses.replace(cfg, dipolar_kernel="continuum"))
    for iy, ix in [(1, 0), (0, 1), (1, 1), (2, 1)]:
        drop = lattice[iy, ix] - lattice[0, 0]
        assert drop == pytest.approx(continuum[iy, ix], rel=0.08)
    assert continuum[0, 0] == 0.0


def test_lattice_kernel_is_symmetric_and_positive():
    g = lattice_kernel(9, 0.3, 2)
    assert g[0, 0] > 0  # images of the origin
    np.testing.assert_allclose(g, np.roll(np.flip(g, (0, 1)), 1, axis=(0, 1)))  # g(n) = g(−n)
    np.testing.assert_allclose(g, g.T)


def test_uniform_field_stays_uniform_and_follows_the_local_ode():
    cfg = TDGLConfig(
        size=16,
        dt=0.01,
        t_end=5.0,
        disorder_std=0.0,
        initial_noise=0.0,
        dtype="float64",
        h_init=0.8,
        sweep_rate=0.1,
        initial="saturated",
    )
    alpha = 2.0
    result = simulate(cfg, [alpha], [3], progress=False)
    fields = result.fields[0]
    assert np.ptp(fields, axis=(1, 2)).max() < 1e-12

    def rhs(t, y):
        return -alpha * (y**3 - y) + field_at(cfg, t)

    phi0 = local_equilibrium(np.array(alpha), cfg.h_init)
    ode = solve_ivp(rhs, (0, cfg.end_time), [float(phi0)], t_eval=result.t, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fields[:, 0, 0], ode.y[0], atol=2e-2)


def test_periodic_shift_of_disorder_and_field_shifts_the_result():
    cfg = TDGLConfig(size=24, dt=0.05, dtype="float64", sweep_rate=0.0, h_init=0.2, t_end=5.0)
    rng = np.random.default_rng(4)
    lam = rng.normal(0, 0.3, (1, 24, 24))
    noise = rng.normal(0, 0.3, (1, 24, 24))
    shift = (5, -7)
    a = TDGLModel(cfg, [3.0], lam)
    b = TDGLModel(cfg, [3.0], np.roll(lam, shift, axis=(1, 2)))
    pa, pb = a.initial_state(noise), b.initial_state(np.roll(noise, shift, axis=(1, 2)))
    for _ in range(100):
        a.step(pa, 0.2)
        b.step(pb, 0.2)
    np.testing.assert_allclose(np.roll(pa.numpy(), shift, axis=(1, 2)), pb.numpy(), atol=1e-11)


def test_reversal_onset_grows_with_anisotropy():
    # Papers' phenomenology: reversed domains appear later the stronger the anisotropy.
    cfg = TDGLConfig(size=32, dt=0.05, n_snapshots=4)
    alphas = [1.0, 2.0, 3.0, 4.0]
    result = simulate(cfg, np.repeat(alphas, 2), [0, 1] * 4, progress=False)
    t_init = result.t_init.reshape(4, 2).mean(axis=1)
    assert np.all(np.isfinite(t_init))
    assert np.all(np.diff(t_init) > 0), t_init
    assert t_init[-1] > 20 * t_init[0]


def test_same_seed_gives_identical_output_independent_of_batch():
    cfg = TDGLConfig(size=16, dt=0.05, t_end=20.0, sweep_rate=0.01, n_snapshots=5)
    together = simulate(cfg, [1.5, 3.0], [7, 8], progress=False)
    again = simulate(cfg, [1.5, 3.0], [7, 8], progress=False)
    alone = simulate(cfg, [3.0], [8], progress=False)
    np.testing.assert_array_equal(together.fields, again.fields)
    np.testing.assert_array_equal(together.t_init, again.t_init)
    # pocketfft vectorizes across the batch, so batch-mates change rounding (not the scheme:
    # the stabilizer is per run); sweeps cut batches at fixed positions to stay bitwise exact.
    np.testing.assert_allclose(together.fields[1], alone.fields[0], rtol=0, atol=1e-4)
    other = simulate(cfg, [3.0], [9], progress=False)
    assert not np.allclose(other.fields[0, -1], alone.fields[0, -1])


def test_float32_and_float64_agree_on_t_init():
    cfg = TDGLConfig(size=24, dt=0.05, n_snapshots=3)
    single = simulate(cfg, [1.0, 3.0], [0, 0], progress=False)
    double = simulate(dataclasses.replace(cfg, dtype="float64"), [1.0, 3.0], [0, 0], progress=False)
    assert single.fields.dtype == np.float32 and double.fields.dtype == np.float64
    np.testing.assert_allclose(single.t_init, double.t_init, rtol=0.02)


def test_blow_up_names_the_run_time_and_a_smaller_dt():
    cfg = TDGLConfig(size=16, dt=2.0, stabilizer=0.0, t_end=400.0, n_snapshots=3)
    with pytest.raises(TDGLBlowUpError, match=r"run \d .*alpha=4.*t=.*dt=1"):
        simulate(cfg, [4.0], [0], progress=False)


def test_snapshot_schedule_is_dense_early_and_spans_the_run():
    cfg = TDGLConfig(dt=0.02, n_snapshots=40)
    steps = snapshot_steps(cfg)
    assert steps[0] == 0 and steps[-1] == cfg.n_steps and steps.size == 40
    assert np.all(np.diff(steps) > 0)
    gaps = np.diff(steps)
    assert gaps[:5].mean() < gaps[-5:].mean() / 10
    tight = TDGLConfig(dt=0.5, t_end=10.0, n_snapshots=21)  # every step is a snapshot
    np.testing.assert_array_equal(snapshot_steps(tight), np.arange(21))


def test_field_protocol_matches_the_papers():
    cfg = TDGLConfig()
    assert cfg.field_off_time == pytest.approx(150.0)
    assert cfg.end_time == pytest.approx(300.0)
    np.testing.assert_allclose(field_at(cfg, [0.0, 75.0, 150.0, 299.0]), [1.5, 0.75, 0.0, 0.0])


def test_local_equilibrium_solves_the_cubic():
    a = np.array([0.1, 1.0, 4.0, 7.5])
    phi = local_equilibrium(a, 1.5)
    np.testing.assert_allclose(a * (phi**3 - phi), 1.5, rtol=1e-12)
    assert np.all(phi > 1)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("dt", -0.1, "dt"),
        ("dt", 0.0, "dt"),
        ("size", 0, "size"),
        ("size", 2.5, "size"),
        ("dipolar_kernel", "ewald", "dipolar_kernel"),
        ("laplacian", "nine-point", "laplacian"),
        ("disorder_floor", 0.0, "disorder_floor"),
        ("n_snapshots", 10**9, "n_snapshots"),
        ("sweep_rate", -1.0, "sweep_rate"),
    ],
)
def test_bad_config_names_the_field(field, value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TDGLConfig(**{field: value})


def test_bad_alpha_is_rejected_with_its_index():
    cfg = TDGLConfig(size=8, t_end=1.0, n_snapshots=2)
    with pytest.raises(ValueError, match=r"alpha\[1\]"):
        TDGLModel(cfg, [1.0, 100.0], np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="same length"):
        simulate(cfg, [1.0, 2.0], [0], progress=False)
    with pytest.raises(ValueError, match="disorder"):
        TDGLModel(cfg, [1.0], np.zeros((1, 4, 4)))


def test_zero_sweep_rate_needs_an_end_time():
    with pytest.raises(ValueError, match="t_end"):
        TDGLConfig(sweep_rate=0.0)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    cfg = TDGLConfig(size=32, dt=0.05, t_end=30.0, n_snapshots=4, dtype="float64")
    cpu = simulate(cfg, [1.0, 3.0], [0, 1], progress=False)
    gpu = simulate(cfg, [1.0, 3.0], [0, 1], device="cuda", progress=False)
    np.testing.assert_allclose(gpu.fields, cpu.fields, atol=1e-8)
    np.testing.assert_array_equal(gpu.t_init, cpu.t_init)


# --- tdgl_energy: the public energy of stored snapshots ----------------------------------------


def test_tdgl_energy_is_the_schemes_energy_and_falls_at_constant_field():
    from topophys.simulate.tdgl import TDGLModel, disorder_field, tdgl_energy

    cfg = TDGLConfig(size=24, dt=0.05, sweep_rate=0.0, t_end=6.0, n_snapshots=10, dtype="float64")
    res = simulate(cfg, alpha=[1.5, 3.0], seed=[4, 9])
    energy = tdgl_energy(cfg, res.fields, res.alpha, res.seed, res.h)
    assert energy.shape == (2, 10)
    assert (np.diff(energy[:, 1:], axis=1) <= 1e-9 * np.abs(energy[:, 1:-1])).all()
    # The same numbers as the model the simulation ran with, built by hand from the seeds.
    disorder = np.stack([disorder_field(s, 24, cfg.disorder_std) for s in (4, 9)])
    model = TDGLModel(cfg, [1.5, 3.0], disorder)
    for i in (0, 5, 9):
        np.testing.assert_allclose(
            energy[:, i], model.energy(torch.as_tensor(res.fields[:, i]), cfg.h_init), rtol=1e-12
        )
    # One snapshot per run: (R, S, S) fields and a scalar field give (R,).
    last = tdgl_energy(cfg, res.fields[:, -1], res.alpha, res.seed, cfg.h_init)
    np.testing.assert_allclose(last, energy[:, -1], rtol=1e-12)


def test_tdgl_energy_is_affine_in_the_field_with_slope_minus_the_magnetization():
    from topophys.simulate.tdgl import tdgl_energy

    cfg = TDGLConfig(size=16, dt=0.05, n_snapshots=4, t_end=2.0)
    phi = np.random.default_rng(0).standard_normal((3, 16, 16))
    e0, e1 = (tdgl_energy(cfg, phi, [1.0, 2.0, 3.0], [0, 1, 2], h) for h in (0.0, 0.7))
    np.testing.assert_allclose(e1 - e0, -0.7 * phi.sum(axis=(1, 2)) * cfg.dx**2, rtol=1e-10)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"fields": np.zeros((2, 3, 8, 8))}, "fields must have shape"),
        ({"fields": np.full((2, 16, 16), np.nan)}, "non-finite"),
        ({"fields": np.zeros((2, 16, 16), dtype=complex)}, "real float"),
        ({"alpha": [1.0]}, "one value per run"),
        ({"seed": [0.5, 1.5]}, "seed must be integers"),
        ({"h": [0.0, 1.0]}, "one value per snapshot"),
        ({"config": "cfg"}, "TDGLConfig"),
    ],
)
def test_tdgl_energy_rejects_bad_input(change, match):
    from topophys.simulate.tdgl import tdgl_energy

    args = {
        "config": TDGLConfig(size=16, dt=0.05, n_snapshots=4, t_end=2.0),
        "fields": np.zeros((2, 16, 16)),
        "alpha": [1.0, 2.0],
        "seed": [0, 1],
        "h": 0.0,
        **change,
    }
    with pytest.raises((ValueError, TypeError), match=match):
        tdgl_energy(**args)
