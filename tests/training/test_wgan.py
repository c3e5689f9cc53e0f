"""WGAN-GP training: gradient penalty, physics loss, config, a tiny run, determinism, resume."""

import csv
import dataclasses
import math

import numpy as np
import pytest
import torch

from topophys.models.unet import UNetGenerator, load_generator
from topophys.observables.charge import angles_to_spins, plaquette_charge, soft_charge
from topophys.observables.spins import spin_bond_sums, spin_energy, structure_factor_shells
from topophys.training.wgan import (
    CWGANConfig,
    CWGANModule,
    _calibrate,
    _condition_moments,
    current_moments_loss,
    energy_moments_loss,
    generate,
    gradient_penalty,
    moments_penalty,
    physics_loss,
    spectrum_moments_loss,
    train_cwgan,
)

L = 16


# -- gradient penalty ---------------------------------------------------------------------------
class LinearCritic(torch.nn.Module):
    """D(x) = <w, x>: its gradient is w everywhere, so the penalty is (|w| - 1)^2."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, charges, temperatures):
        return (x * self.w).flatten(1).sum(dim=1)


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_a_linear_critic(scale: float) -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(2, L, L, generator=g, dtype=torch.float64)
    w = scale * w / w.norm()
    critic = LinearCritic(w)
    real = torch.randn(5, 2, L, L, generator=g, dtype=torch.float64)
    fake = torch.randn(5, 2, L, L, generator=g, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake, torch.zeros(5, L, L), torch.full((5,), 0.1))
    assert gp.item() == pytest.approx((scale - 1.0) ** 2, abs=1e-9)
    # Differentiable in the critic's parameters: d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|.
    gp.backward()
    expected = 2 * (scale - 1.0) * w / scale
    assert torch.allclose(critic.w.grad, expected, atol=1e-9)


def test_gradient_penalty_checks_shapes() -> None:
    critic = LinearCritic(torch.ones(2, L, L))
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(
            critic, torch.zeros(2, 2, L, L), torch.zeros(3, 2, L, L), None, torch.ones(2)
        )


# -- physics loss -------------------------------------------------------------------------------
def pair_field(side: int = L, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Vortex at plaquette (4, 4) and antivortex at (4, 9): a defect pair on the torus."""
    y, x = np.mgrid[0:side, 0:side].astype(float)
    theta = np.zeros((side, side))
    # Sum over periodic images keeps the field close to periodic.
    for dy in (-side, 0, side):
        for dx in (-side, 0, side):
            theta += np.arctan2(y - 4.5 + dy, x - 4.5 + dx)
            theta -= np.arctan2(y - 4.5 + dy, x - 9.5 + dx)
    theta += np.random.default_rng(seed).normal(0, noise, theta.shape)
    return theta


def test_physics_loss_analytic_value() -> None:
    spins = angles_to_spins(torch.zeros(2, L, L))  # uniform: every soft charge is 0
    q = torch.zeros(2, L, L)
    q[:, 2, 3], q[:, 8, 8] = 1.0, -1.0
    # Two defects, each (0 - ±1)^2 weighted by N = L^2.
    assert physics_loss(spins, q).item() == pytest.approx(2 * L * L)
    assert physics_loss(spins, q, defect_weight=3.0).item() == pytest.approx(6.0)
    # A target of 0.5 on the defects and 0.25 elsewhere.
    target = 0.25 * torch.ones(2, L, L)
    target[q != 0] = 0.5
    expected = 2 * L * L * 0.25 + (L * L - 2) * 0.0625
    assert physics_loss(spins, q, target).item() == pytest.approx(expected)


def test_physics_loss_gradients_flow_to_the_generator() -> None:
    torch.manual_seed(0)
    g = UNetGenerator(width=0.125, noise_channels=2)
    q = torch.zeros(2, L, L)
    q[:, 4, 4], q[:, 4, 9] = 1.0, -1.0
    for charge in ("soft", "straight_through"):
        g.zero_grad()
        physics_loss(g(q, 0.1), q, charge=charge).backward()
        grads = [p.grad for p in g.parameters()]
        assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
        assert sum(float(gr.abs().sum()) for gr in grads) > 0


def test_straight_through_charge_is_exact_and_silent_on_correct_maps() -> None:
    theta = torch.as_tensor(pair_field(noise=0.2), dtype=torch.float64)
    q = plaquette_charge(theta).to(torch.float64)[None]
    assert q.abs().sum() == 2
    spins = angles_to_spins(theta)[None].requires_grad_(True)
    # The exact charge matches the map: no loss and no force, while eq. (3) reads less than 1.
    loss = physics_loss(spins, q, charge="straight_through")
    loss.backward()
    assert loss.item() == 0.0
    assert spins.grad.abs().max() == 0.0
    assert physics_loss(spins, q).item() > 0.0
    # A wrong map gives the loss of integer charges and eq. (3)'s gradient direction.
    wrong = torch.zeros_like(q)
    spins.grad = None
    loss = physics_loss(spins, wrong, charge="straight_through", defect_weight=1.0)
    assert loss.item() == pytest.approx(2.0)
    loss.backward()
    soft_spins = spins.detach().clone().requires_grad_(True)
    k_soft = soft_charge(soft_spins)
    exact = plaquette_charge(torch.atan2(soft_spins[:, 1], soft_spins[:, 0])).to(k_soft.dtype)
    (2 * (exact - wrong) * k_soft).sum().backward()
    assert torch.allclose(spins.grad, soft_spins.grad)


def test_physics_loss_bad_inputs() -> None:
    spins = angles_to_spins(torch.zeros(2, L, L))
    with pytest.raises(ValueError, match="charges must have shape"):
        physics_loss(spins, torch.zeros(2, L, L + 1))
    with pytest.raises(ValueError, match="target must have the shape"):
        physics_loss(spins, torch.zeros(2, L, L), torch.zeros(1, L, L))
    with pytest.raises(ValueError, match="charge must be one of"):
        physics_loss(spins, torch.zeros(2, L, L), charge="exact")


# -- energy moments -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("m", "sd", "expected"), [(0.0, 1.0, 0.0), (1.0, 1.0, 2.0), (0.0, 2.0, 9.0)]
)
def test_moments_penalty_is_unbiased(m: float, sd: float, expected: float) -> None:
    # E[penalty] = m² + (m² + sd² − 1)² for independent samples, whatever the batch size.
    g = torch.Generator().manual_seed(0)
    z = m + sd * torch.randn(20000, 16, generator=g, dtype=torch.float64)
    values = torch.stack([moments_penalty(row) for row in z])
    se = float(values.std()) / math.sqrt(values.shape[0])
    assert float(values.mean()) == pytest.approx(expected, abs=4 * se)
    # The squares of batch means, by contrast, are biased by about (1 + Var z²)/B.
    biased = (z.mean(dim=1) ** 2 + (z.pow(2).mean(dim=1) - 1) ** 2).mean()
    if expected == 0.0:
        assert float(biased) > 0.15 > 4 * se


def test_moments_penalty_descent_finds_the_target_moments() -> None:
    # Stochastic descent on z = m + s·ε must settle at m = 0, s² = 1; the biased squares of
    # batch means settle about 4 % low in s² at this batch size.
    g = torch.Generator().manual_seed(1)
    m = torch.tensor(0.5, requires_grad=True)
    log_s = torch.tensor(0.4, requires_grad=True)
    opt = torch.optim.Adam([m, log_s], lr=1e-2)
    tail = []
    for step in range(3000):
        z = m + log_s.exp() * torch.randn(64, generator=g)
        opt.zero_grad()
        moments_penalty(z).backward()
        opt.step()
        if step >= 2000:
            tail.append((float(m.detach()), float(log_s.detach().exp() ** 2)))
    mean_m, var = np.mean(tail, axis=0)
    assert abs(mean_m) < 0.05
    assert var == pytest.approx(1.0, abs=0.02)


def test_moments_penalty_per_group_sees_offsets_that_cancel_in_the_pool() -> None:
    # Two temperatures whose standardized values run high (+0.8) and low (−0.8) with variance
    # 0.36: pooled, mean 0 and second moment 1 (no penalty); per group, both are penalized.
    g = torch.Generator().manual_seed(2)
    groups = torch.tensor([0.1, 1.3]).repeat(32)
    z = torch.where(groups < 1, 0.8, -0.8) + 0.6 * torch.randn(20000, 64, generator=g)
    pooled = torch.stack([moments_penalty(row) for row in z]).mean()
    grouped = torch.stack([moments_penalty(row, groups) for row in z]).mean()
    assert abs(float(pooled)) < 0.01
    # Per group the expectation is m² + (m² + s² − 1)² = 0.64 + 0 (s² = 0.36, m² = 0.64).
    assert float(grouped) == pytest.approx(0.64, abs=0.02)
    # One group alone is the plain penalty; groups too small to split are left out.
    row = z[0]
    assert float(moments_penalty(row, torch.zeros(64))) == pytest.approx(
        float(moments_penalty(row))
    )
    lonely = torch.cat([torch.zeros(63), torch.ones(1)])
    assert float(moments_penalty(row, lonely)) == pytest.approx(float(moments_penalty(row[:63])))
    with pytest.raises(ValueError, match="groups must have the shape"):
        moments_penalty(row, groups[:10])
    with pytest.raises(ValueError, match="two samples"):
        moments_penalty(row[:2], torch.tensor([0.0, 1.0]))


def test_energy_moments_loss_standardizes_energies_per_sample() -> None:
    theta = torch.from_numpy(np.random.default_rng(0).normal(0.0, 0.4, (8, 8, 8)))
    spins = angles_to_spins(theta)
    e = spin_energy(spins)
    mu, sd = torch.linspace(-1.9, -1.5, 8, dtype=torch.float64), torch.full((8,), 0.02).double()
    expected = moments_penalty((e - mu) / sd)
    assert float(energy_moments_loss(spins, mu, sd)) == pytest.approx(float(expected))
    # Gradients reach the angles.
    theta.requires_grad_(True)
    energy_moments_loss(angles_to_spins(theta), mu, sd).backward()
    assert theta.grad is not None and float(theta.grad.abs().sum()) > 0


def test_energy_moments_loss_bad_inputs() -> None:
    spins = angles_to_spins(torch.zeros(2, 4, 4))
    ok = torch.ones(2)
    with pytest.raises(ValueError, match="spins must have shape"):
        energy_moments_loss(spins[:, 0], ok, ok)
    with pytest.raises(ValueError, match="mean must have shape"):
        energy_moments_loss(spins, torch.ones(3), ok)
    with pytest.raises(ValueError, match="std must be > 0"):
        energy_moments_loss(spins, ok, torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="B >= 2"):
        moments_penalty(torch.ones(1))


def test_condition_moments_group_by_temperature_and_map() -> None:
    theta, q, t = (torch.as_tensor(a) for a in dataset(16))
    mean, std, c_mean, c_std, s_mean, s_std = _condition_moments(theta, q, t.float())
    spins = angles_to_spins(theta.double())
    e = spin_energy(spins).numpy()
    sums = spin_bond_sums(spins)
    current = torch.stack([sums["sin_x"], sums["sin_y"]], dim=1).numpy() / theta[0].numel()
    shells = structure_factor_shells(spins).numpy()
    # dataset(): the first half carries the pair, temperatures alternate: four conditions.
    pair = np.arange(16) < 8
    hot = np.arange(16) % 2 == 1
    for group in (pair & hot, pair & ~hot, ~pair & hot, ~pair & ~hot):
        np.testing.assert_allclose(mean[group].numpy(), e[group].mean(), rtol=1e-6)
        np.testing.assert_allclose(std[group].numpy(), e[group].std(ddof=1), rtol=1e-5)
        np.testing.assert_allclose(
            c_mean[group].numpy(), np.broadcast_to(current[group].mean(0), (4, 2)), atol=1e-6
        )
        c_expected = np.maximum(current[group].std(0, ddof=1), 1e-6)
        np.testing.assert_allclose(c_std[group].numpy(), np.broadcast_to(c_expected, (4, 2)),
                                   rtol=1e-4)  # fmt: skip
        np.testing.assert_allclose(
            s_mean[group].numpy(), np.broadcast_to(shells[group].mean(0), (4, 3)), rtol=1e-5
        )
        np.testing.assert_allclose(s_std[group].numpy(),
                                   np.broadcast_to(shells[group].std(0, ddof=1), (4, 3)),
                                   rtol=1e-4)  # fmt: skip
    with pytest.raises(ValueError, match="at least two training fields per condition"):
        _condition_moments(theta[:3], q[:3], t[:3].float())  # 2 + 1


def test_spectrum_moments_loss_is_zero_in_expectation_at_the_data_moments() -> None:
    rng = np.random.default_rng(1)
    theta = torch.as_tensor(rng.normal(0, 0.4, (4000, 8, 8)))
    spins = angles_to_spins(theta)
    shells = structure_factor_shells(spins)
    m, s = shells.mean(0).expand(4000, 3), shells.std(0).expand(4000, 3)
    assert abs(float(spectrum_moments_loss(spins, m, s))) < 0.02
    # Long waves twice too strong (the failure it targets): power of shell 1 doubled.
    assert float(spectrum_moments_loss(spins, m * torch.tensor([1.0, 0.5, 1.0]), s)) > 0.5
    with pytest.raises(ValueError, match="mean must have shape"):
        spectrum_moments_loss(spins, m[:, :2], s)
    with pytest.raises(ValueError, match="std must be > 0"):
        spectrum_moments_loss(spins, m, s * 0)


def test_spectrum_moments_loss_descent_damps_excess_long_waves() -> None:
    """Gradient steps on the loss alone take a field ensemble with too much long-wave power
    towards the target's power in the lowest shell."""
    rng = np.random.default_rng(2)
    side, n = 8, 64
    x = np.arange(side)
    target = torch.as_tensor(rng.normal(0, 0.2, (n, side, side)))
    wave = torch.as_tensor(np.cos(2 * np.pi * x / side)[None, :] * rng.normal(0, 0.6, (n, 1)))
    theta = (target + wave[:, None, :].expand(n, side, side)).clone().requires_grad_(True)
    shells = structure_factor_shells(angles_to_spins(target))
    m, s = shells.mean(0).expand(n, 3), shells.std(0).expand(n, 3)
    before = float(structure_factor_shells(angles_to_spins(theta.detach()))[:, 1].mean())
    opt = torch.optim.SGD([theta], lr=0.02)
    for _ in range(100):
        opt.zero_grad()
        spectrum_moments_loss(angles_to_spins(theta), m, s).backward()
        opt.step()
    after = float(structure_factor_shells(angles_to_spins(theta.detach()))[:, 1].mean())
    goal = float(m[0, 1])
    assert before > 2 * goal
    assert abs(after - goal) < 0.5 * abs(before - goal)


def test_current_moments_loss_is_zero_in_expectation_at_the_data_moments() -> None:
    rng = np.random.default_rng(0)
    theta = torch.as_tensor(rng.normal(0, 0.3, (4000, 8, 8)))
    spins = angles_to_spins(theta)
    sums = spin_bond_sums(spins)
    current = torch.stack([sums["sin_x"], sums["sin_y"]], dim=1) / 64
    m, s = current.mean(0).expand(4000, 2), current.std(0).expand(4000, 2)
    assert abs(float(current_moments_loss(spins, m, s))) < 0.01
    assert float(current_moments_loss(spins, m, s / 2)) > 4.0  # variance 4× the target's
    with pytest.raises(ValueError, match="mean must have shape"):
        current_moments_loss(spins, m[:, 0], s)


def test_calibration_reads_the_soft_charge_of_defects() -> None:
    theta = torch.as_tensor(np.stack([pair_field(noise=0.1, seed=s) for s in range(3)]))
    q = plaquette_charge(theta)
    soft = soft_charge(angles_to_spins(theta))
    kappa = _calibrate(theta, q)
    assert kappa == pytest.approx(float((soft * q)[q != 0].mean()))
    assert 0.3 < kappa < 1.0
    assert _calibrate(theta * 0, torch.zeros_like(q)) == 1.0


# -- config -------------------------------------------------------------------------------------
def test_config_defaults_are_the_papers_and_round_trip_yaml() -> None:
    c = CWGANConfig()
    assert (c.epochs, c.batch_size, c.lr, c.n_critic, c.gp_weight) == (120, 64, 1e-4, 4, 10.0)
    assert (c.physics_start_epoch, c.physics_lr) == (40, 1e-5)
    assert CWGANConfig.from_yaml(c.to_yaml()) == c


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"width": 0.0}, ValueError),
        ({"n_critic": 0}, ValueError),
        ({"betas": (0.5, 1.0)}, ValueError),
        ({"betas": (0.5,)}, ValueError),
        ({"physics_charge": "exact"}, ValueError),
        ({"physics_target": "paired", "physics_charge": "straight_through"}, ValueError),
        ({"physics_start_epoch": -1}, ValueError),
        ({"physics_lr": 0.0}, ValueError),
        ({"accelerator": "tpu"}, ValueError),
        ({"epochs": 1.5}, TypeError),
        ({"generator_output": "angles"}, ValueError),
        ({"noise_injection": "input"}, ValueError),
        ({"generator_output": "defect_residual", "noise_channels": 1}, ValueError),
        ({"ema_decay": 1.0}, ValueError),
        ({"critic_lr": 0.0}, ValueError),
        ({"spin_waves": True}, ValueError),
        (
            {"spin_waves": True, "generator_output": "defect_residual", "noise_channels": 8},
            ValueError,
        ),
        ({"ema_decay": 0.0}, ValueError),
        ({"energy_moments_weight": -1.0}, ValueError),
        ({"spectrum_moments_weight": -1.0}, ValueError),
        ({"moments_groups": "map"}, ValueError),
        ({"spin_wave_stiffness": "fitted"}, ValueError),
        ({"spin_wave_stiffness": "calibrated"}, ValueError),  # needs spin_waves=True
    ],
)
def test_config_rejects_bad_values(changes, error) -> None:
    with pytest.raises(error):
        dataclasses.replace(CWGANConfig(), **changes)


# -- training -----------------------------------------------------------------------------------
def dataset(n: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    theta = rng.normal(0.0, 0.3, (n, L, L)) + rng.uniform(-np.pi, np.pi, (n, 1, 1))
    theta[: n // 2] += pair_field()
    theta = theta.astype(np.float32)
    temps = np.where(np.arange(n) % 2 == 0, 0.1, 0.5)
    return theta, plaquette_charge(theta), temps


TINY = CWGANConfig(
    width=0.125,
    critic_width=0.125,
    noise_channels=2,
    epochs=2,
    batch_size=4,
    n_critic=2,
    physics_start_epoch=1,
    physics_target="calibrated",
    monitor_samples=16,
    accelerator="cpu",
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    generator, history = train_cwgan(TINY, *dataset(), run_dir, progress=False)
    return run_dir, generator, history


def weights(g: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in g.state_dict().items()}


def strip_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def test_tiny_training_run(tiny_run) -> None:
    run_dir, generator, history = tiny_run
    assert [r["epoch"] for r in history] == [0, 1]
    # 16 samples / batch 4 = 4 critic steps per epoch, a generator step every second one.
    assert [r["critic_steps"] for r in history] == [4, 8]
    assert [r["generator_steps"] for r in history] == [2, 4]
    # The physics phase starts at epoch 1 with its own learning rate.
    assert [r["physics_on"] for r in history] == [0, 1]
    assert [r["lr"] for r in history] == [1e-4, 1e-5]
    assert history[0]["physics_loss"] is None
    assert history[1]["physics_loss"] > 0
    for key in ("critic_loss", "wasserstein", "gradient_penalty", "generator_loss"):
        assert all(np.isfinite(r[key]) for r in history)
    # The monitor holds all 16 fields: half carry a pair.
    assert history[0]["real_vorticity"] == pytest.approx(np.abs(dataset()[1]).sum() / 16)
    assert history[0]["real_vorticity"] >= 1.0
    for r in history:
        assert 0.0 <= r["charge_fidelity"] <= 1.0
        assert 0.0 <= r["gen_magnetization"] <= 1.0
        assert -2.0 <= r["gen_energy"] <= 2.0
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert CWGANConfig.from_yaml(run_dir / "config.yaml") == TINY
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert rows[0]["physics_loss"] == ""
    assert float(rows[1]["critic_loss"]) == pytest.approx(history[1]["critic_loss"])
    loaded = load_generator(run_dir / "generator.pt")
    q = torch.as_tensor(dataset()[1][:2], dtype=torch.float32)
    z = generator.sample_noise(2, L)
    assert torch.equal(loaded(q, 0.1, z), generator(q, 0.1, z))
    angles = generate(generator, q.numpy(), 0.1, n_per_condition=2, seed=0)
    assert angles.shape == (2, 2, L, L)


def test_training_is_deterministic_under_a_seed(tiny_run, tmp_path) -> None:
    _, generator, history = tiny_run
    again, history2 = train_cwgan(TINY, *dataset(), tmp_path, progress=False)
    assert strip_time(history2) == strip_time(history)
    for k, v in weights(again).items():
        assert torch.equal(v, generator.state_dict()[k]), k
    other, _ = train_cwgan(
        TINY.replace(seed=1, epochs=1), *dataset(), tmp_path / "other", progress=False
    )
    assert not torch.equal(other.encoders[0].weight, generator.encoders[0].weight)


def test_resume_continues_exactly(tiny_run, tmp_path) -> None:
    _, generator, history = tiny_run
    train_cwgan(TINY.replace(epochs=1), *dataset(), tmp_path, progress=False)
    resumed, history2 = train_cwgan(TINY, *dataset(), tmp_path, progress=False)
    assert strip_time(history2) == strip_time(history)
    for k, v in weights(resumed).items():
        assert torch.equal(v, generator.state_dict()[k]), k
    # Resuming a finished run trains nothing more and returns the same history.
    _, history3 = train_cwgan(TINY, *dataset(), tmp_path, progress=False)
    assert strip_time(history3) == strip_time(history)
    with pytest.raises(ValueError, match="differs in lr"):
        train_cwgan(TINY.replace(lr=1e-3), *dataset(), tmp_path, progress=False)
    # resume=False starts afresh.
    _, fresh = train_cwgan(TINY.replace(lr=1e-3, epochs=1), *dataset(), tmp_path, resume=False)
    assert len(fresh) == 1


def test_defect_residual_training_keeps_every_charge_map(tmp_path) -> None:
    cfg = TINY.replace(
        generator_output="defect_residual",
        noise_injection="all",
        noise_channels=3,
        spin_waves=True,
        physics_start_epoch=None,
        epochs=2,
        lr=1e-2,  # large steps: the maps must hold however far the weights move
        ema_decay=0.9,
    )
    assert CWGANConfig.from_yaml(cfg.to_yaml()) == cfg
    generator, history = train_cwgan(cfg, *dataset(), tmp_path / "a", progress=False)
    assert generator.output == "defect_residual" and generator.noise_injection == "all"
    assert [r["charge_fidelity"] for r in history] == [1.0, 1.0]
    assert all(r["physics_loss"] is None for r in history)
    assert all(r["gen_noise_sensitivity"] > 0.05 for r in history)  # the global rotation alone
    q = dataset()[1]
    angles = generate(generator, q, 0.1, n_per_condition=3, seed=0)
    assert (plaquette_charge(angles) == q[:, None]).all()
    # The weight average is what is returned and saved, and it resumes exactly.
    loaded = load_generator(tmp_path / "a" / "generator.pt")
    for k, v in weights(loaded).items():
        assert torch.equal(v, generator.state_dict()[k]), k
    train_cwgan(cfg.replace(epochs=1), *dataset(), tmp_path / "b", progress=False)
    resumed, history2 = train_cwgan(cfg, *dataset(), tmp_path / "b", progress=False)
    assert strip_time(history2) == strip_time(history)
    for k, v in weights(resumed).items():
        assert torch.equal(v, generator.state_dict()[k]), k
    plain, _ = train_cwgan(cfg.replace(ema_decay=None), *dataset(), tmp_path / "c", progress=False)
    assert not torch.equal(plain.decoders[0].weight, generator.decoders[0].weight)


def test_calibrated_spin_waves_are_fitted_on_the_training_fields_and_saved(tmp_path) -> None:
    from topophys.models.unet import calibrate_wave_stiffness
    from topophys.simulate.xy import blend_weight_table

    cfg = TINY.replace(
        generator_output="defect_residual",
        noise_injection="fine",
        noise_channels=3,
        spin_waves=True,
        defect_base="blend",
        spin_wave_stiffness="calibrated",
        physics_start_epoch=None,
        epochs=1,
        ema_decay=0.9,
    )
    assert CWGANConfig.from_yaml(cfg.to_yaml()) == cfg
    theta, q, t = dataset()
    generator, _ = train_cwgan(cfg, theta, q, t, tmp_path / "a", progress=False)
    # The calibration of a fresh generator with the same blend: the network plays no part.
    fresh = CWGANModule(cfg).generator
    fresh.set_base_weights(*blend_weight_table(theta, q, t))
    grid, expected = calibrate_wave_stiffness(fresh, theta, q, t, seed=cfg.seed)
    np.testing.assert_allclose(grid, [0.1, 0.5])
    np.testing.assert_allclose(generator.wave_temperatures.numpy(), grid)
    np.testing.assert_allclose(generator.wave_stiffnesses.numpy(), expected)
    # Fields of one bond spread (white noise of 0.3 rad) at two temperatures: bond variance
    # T/(2 J_eff) the same, so J_eff in proportion to T (0.36 J_eff = T: 0.28 and 1.39).
    assert expected[1] / expected[0] == pytest.approx(5.0, rel=0.1)
    assert expected[0] == pytest.approx(0.1 / 0.36, rel=0.15)
    loaded = load_generator(tmp_path / "a" / "generator.pt")
    torch.testing.assert_close(loaded.wave_stiffnesses, generator.wave_stiffnesses)
    # Resuming restores the calibrated buffers with the weights.
    train_cwgan(cfg.replace(epochs=1), theta, q, t, tmp_path / "b", progress=False)
    resumed, _ = train_cwgan(cfg.replace(epochs=2), theta, q, t, tmp_path / "b", progress=False)
    torch.testing.assert_close(resumed.wave_stiffnesses, generator.wave_stiffnesses)


def test_critic_lr_sets_only_the_critics_optimizer() -> None:
    opt_g, opt_c = CWGANModule(TINY.replace(critic_lr=1e-3)).configure_optimizers()
    assert (opt_g.param_groups[0]["lr"], opt_c.param_groups[0]["lr"]) == (1e-4, 1e-3)
    opt_g, opt_c = CWGANModule(TINY).configure_optimizers()
    assert opt_g.param_groups[0]["lr"] == opt_c.param_groups[0]["lr"] == 1e-4


def test_train_rejects_bad_inputs(tmp_path) -> None:
    theta, q, t = dataset(4)
    cfg = TINY.replace(epochs=1)
    with pytest.raises(ValueError, match="multiple of 16"):
        train_cwgan(cfg, theta[:, :15, :15], q[:, :15, :15], t, tmp_path)
    with pytest.raises(ValueError, match="multiple of 16"):
        train_cwgan(cfg, theta[:, :8, :8], q[:, :8, :8], t, tmp_path)
    with pytest.raises(ValueError, match="charges must have the shape"):
        train_cwgan(cfg, theta, q[:, :8], t, tmp_path)
    with pytest.raises(ValueError, match="> 0"):
        train_cwgan(cfg, theta, q, -t, tmp_path)
    with pytest.raises(ValueError, match="temperatures must be a scalar"):
        train_cwgan(cfg, theta, q, t[:2], tmp_path)
    with pytest.raises(ValueError, match="integer"):
        train_cwgan(cfg, theta, q + 0.5, t, tmp_path)
    with pytest.raises(ValueError, match="not the plaquette charge map"):
        train_cwgan(cfg, theta, np.zeros_like(q), t, tmp_path)
    with pytest.raises(ValueError, match="NaN"):
        train_cwgan(cfg, theta * np.nan, q, t, tmp_path)
    with pytest.raises(TypeError, match="CWGANConfig"):
        train_cwgan({"epochs": 1}, theta, q, t, tmp_path)
