"""U-Net generator: shapes, unit spins, periodicity, determinism, bad inputs."""

import itertools

import numpy as np
import pytest
import torch

from topophys.models.unet import (
    BOND_MARGIN,
    BOND_WALL,
    UNetGenerator,
    calibrate_wave_stiffness,
    count_parameters,
    generate,
    harmonic_spin_waves,
    load_generator,
    mean_bond_energy,
    residual_angles,
    save_generator,
)
from topophys.observables.charge import plaquette_charge, spins_to_angles, wrap_angle
from topophys.simulate.xy import defect_field, pair_charge_map

PAPER_DISTANCES = (0.0, 1.0, 1.41, 2.0, 2.24, 2.83, 3.0, 3.16, 3.61, 4.0, 4.12, 4.47, 5.0)

T = 0.1


def pair_map(batch: int, side: int) -> torch.Tensor:
    q = torch.zeros(batch, side, side)
    q[:, 3, 4] = 1.0
    q[:, 9, 11] = -1.0
    return q


@pytest.fixture(scope="module")
def small() -> UNetGenerator:
    torch.manual_seed(0)
    return UNetGenerator(width=0.125, noise_channels=4)


@pytest.mark.parametrize("side", [16, 32, 64])
def test_shapes_and_unit_norm_at_any_multiple_of_16(small: UNetGenerator, side: int) -> None:
    spins = small(pair_map(3, side), torch.full((3,), T))
    assert spins.shape == (3, 2, side, side)
    assert torch.allclose(spins.norm(dim=1), torch.ones(3, side, side), atol=1e-6)


def test_paper_channels_and_width() -> None:
    g = UNetGenerator()
    assert [c.out_channels for c in g.encoders] == [64, 128, 256, 256]
    assert [c.out_channels for c in g.decoders] == [256, 128, 64, 2]
    half = UNetGenerator(width=0.5)
    assert [c.out_channels for c in half.encoders] == [32, 64, 128, 128]
    assert [c.out_channels for c in half.decoders] == [128, 64, 32, 2]
    # Convolution weights scale with the square of the width.
    assert 3.5 < count_parameters(g) / count_parameters(half) < 4.1
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.padding_mode == "circular" for m in convs)


def test_roll_of_the_charge_map_rolls_the_output(small: UNetGenerator) -> None:
    # The network commutes with translations by multiples of 16 sites (4 poolings); at L = 32 a
    # roll by 16 moves the 2×2 bottleneck noise by one pixel.
    torch.manual_seed(1)
    q = pair_map(2, 32)
    q[:, 20, 30] = 1.0
    q[:, 30, 2] = -1.0
    noise = small.sample_noise(2, 32)
    out = small(q, T, noise)
    shifted = small(torch.roll(q, (16, 16), dims=(1, 2)), T, torch.roll(noise, (1, 1), dims=(2, 3)))
    assert torch.allclose(shifted, torch.roll(out, (16, 16), dims=(2, 3)), atol=1e-5)
    # Only the row shift: the output moves only along rows.
    shifted = small(torch.roll(q, 16, dims=1), T, torch.roll(noise, 1, dims=2))
    assert torch.allclose(shifted, torch.roll(out, 16, dims=2), atol=1e-5)


def test_periodic_tiling_reproduces_the_small_lattice(small: UNetGenerator) -> None:
    # With circular padding a 32-lattice holding four copies of a 16-lattice (and the same noise
    # in every bottleneck pixel) is the 16-lattice field repeated: no boundary effects.
    torch.manual_seed(2)
    q16 = pair_map(2, 16)
    z16 = small.sample_noise(2, 16)
    out16 = small(q16, T, z16)
    out32 = small(q16.repeat(1, 2, 2), T, z16.repeat(1, 1, 2, 2))
    assert torch.allclose(out32, out16.repeat(1, 1, 2, 2), atol=1e-5)


def test_fixed_noise_is_deterministic_and_noise_matters(small: UNetGenerator) -> None:
    q = pair_map(2, 16)
    z = small.sample_noise(2, 16, generator=torch.Generator().manual_seed(5))
    assert torch.equal(small(q, T, z), small(q, T, z))
    assert not torch.equal(small(q, T, z), small(q, T, z + 1.0))
    # The temperature is an input too.
    assert not torch.equal(small(q, T, z), small(q, 1.0, z))


def test_every_parameter_receives_a_gradient(small: UNetGenerator) -> None:
    small.zero_grad()
    spins = small(pair_map(2, 16), T)
    (spins[:, 0] * torch.linspace(-1, 1, 16)).sum().backward()
    for name, p in small.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    small.zero_grad()


def test_generate_shapes_determinism_and_batching(small: UNetGenerator) -> None:
    charges = pair_map(2, 16).numpy()
    a = generate(small, charges, [0.1, 0.5], n_per_condition=3, seed=7)
    assert a.shape == (2, 3, 16, 16)
    assert a.dtype == np.float32
    assert np.all(np.abs(a) <= np.pi + 1e-6)
    np.testing.assert_array_equal(a, generate(small, charges, [0.1, 0.5], 3, seed=7))
    b = generate(small, charges, [0.1, 0.5], 3, seed=7, batch_size=2)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.array_equal(a, generate(small, charges, [0.1, 0.5], 3, seed=8))
    # Generated angles are those of the forward pass.
    z = torch.randn(small.noise_shape(6, 16), generator=torch.Generator().manual_seed(7))
    direct = spins_to_angles(
        small(
            torch.as_tensor(charges).repeat_interleave(3, 0), torch.tensor([0.1] * 3 + [0.5] * 3), z
        )
    )
    np.testing.assert_allclose(a.reshape(6, 16, 16), direct.detach().numpy(), atol=1e-5)


def test_save_and_load_round_trip(small: UNetGenerator, tmp_path) -> None:
    save_generator(small, tmp_path / "g.pt")
    loaded = load_generator(tmp_path / "g.pt")
    q = pair_map(2, 32)
    z = small.sample_noise(2, 32)
    assert torch.equal(loaded(q, T, z), small(q, T, z))


@pytest.mark.parametrize(
    ("charges", "temperatures", "match"),
    [
        (torch.zeros(2, 15, 15), T, "multiple of 16"),
        (torch.zeros(2, 24, 24), T, "multiple of 16"),
        (torch.zeros(2, 16, 32), T, r"shape \(batch, L, L\)"),
        (torch.zeros(16, 16), T, r"shape \(batch, L, L\)"),
        (torch.zeros(2, 16, 16), 0.0, "> 0"),
        (torch.zeros(2, 16, 16), torch.tensor([0.1, -0.1]), "> 0"),
        (torch.zeros(2, 16, 16), torch.tensor([0.1, float("nan")]), "finite"),
        (torch.zeros(2, 16, 16), torch.tensor([0.1, 0.1, 0.1]), r"shape \(2,\)"),
    ],
)
def test_bad_conditions(small: UNetGenerator, charges, temperatures, match) -> None:
    with pytest.raises(ValueError, match=match):
        small(charges, temperatures)


def test_bad_noise_and_arguments(small: UNetGenerator) -> None:
    with pytest.raises(ValueError, match="noise must have shape"):
        small(torch.zeros(2, 16, 16), T, torch.zeros(2, 4, 2, 2))
    with pytest.raises(TypeError, match=r"charges must be a torch\.Tensor"):
        small(np.zeros((2, 16, 16)), T)
    with pytest.raises(ValueError, match="end in 2"):
        UNetGenerator(decoder_channels=(256, 128, 64, 3))
    with pytest.raises(ValueError, match="4 entries"):
        UNetGenerator(decoder_channels=(128, 64, 2))
    with pytest.raises(ValueError, match="width"):
        UNetGenerator(width=0.0)
    with pytest.raises(ValueError, match="n_per_condition"):
        generate(small, np.zeros((1, 16, 16)), T, n_per_condition=0)
    with pytest.raises(ValueError, match="> 0"):
        generate(small, np.zeros((1, 16, 16)), -1.0, n_per_condition=1)


def test_kaiming_init_keeps_the_signal_and_the_noise_alive() -> None:
    torch.manual_seed(3)
    g = UNetGenerator(width=0.5, init="kaiming")
    w = g.decoders[1].weight
    gain = (2.0 / (1.0 + 0.2**2)) ** 0.5
    assert float(w.detach().std()) == pytest.approx(gain / w[0].numel() ** 0.5, rel=0.05)
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in g.decoders)
    q = pair_map(4, 16)
    spread = {}
    for init in ("pytorch", "kaiming"):
        torch.manual_seed(3)
        gen = UNetGenerator(width=0.5, init=init)
        with torch.no_grad():
            a, b = gen(q, T), gen(q, T)
        spread[init] = float((1 - (a * b).sum(dim=1)).mean())
    # PyTorch's default init all but ignores the noise; the variance-keeping one does not.
    assert spread["pytorch"] < 1e-5 < 1e-3 < spread["kaiming"]
    with pytest.raises(ValueError, match="init"):
        UNetGenerator(init="xavier")


# -- beyond the paper: defect-residual output and noise at every scale ---------------------------
def residual(noise_injection: str = "bottleneck", seed: int = 0) -> UNetGenerator:
    torch.manual_seed(seed)
    return UNetGenerator(
        width=0.125,
        noise_channels=4,
        init="kaiming",
        output="defect_residual",
        noise_injection=noise_injection,
    )


def paper_maps(side: int) -> torch.Tensor:
    return torch.stack([torch.as_tensor(pair_charge_map(side, d)) for d in PAPER_DISTANCES])


def max_bond(theta: torch.Tensor) -> float:
    dx = wrap_angle(torch.roll(theta, -1, dims=-1) - theta)
    dy = wrap_angle(torch.roll(theta, -1, dims=-2) - theta)
    return float(torch.maximum(dx.abs().amax(), dy.abs().amax()))


@pytest.mark.parametrize("noise_injection", ["bottleneck", "all"])
@pytest.mark.parametrize("side", [16, 32])
def test_residual_output_keeps_every_charge_map_even_with_huge_corrections(
    noise_injection: str, side: int
) -> None:
    g = residual(noise_injection)
    q = paper_maps(side).repeat(2, 1, 1)
    for scale in (1.0, 1e4):  # as trained, and corrections far beyond every bond's room
        with torch.no_grad():
            g.decoders[-1].weight.mul_(scale)
            spins = g(q.float(), T)
        assert spins.shape == (len(q), 2, side, side)
        assert torch.allclose(spins.norm(dim=1), torch.ones(len(q), side, side), atol=1e-6)
        theta = spins_to_angles(spins)
        assert torch.equal(plaquette_charge(theta), q.long())
        assert max_bond(theta) <= np.pi - BOND_MARGIN / 2
    # The huge corrections were scaled down until the worst bond touched π − margin.
    assert max_bond(theta) == pytest.approx(np.pi - BOND_MARGIN, abs=1e-4)


def test_residual_output_is_the_rotated_defect_field_plus_the_correction() -> None:
    g = residual()
    q = paper_maps(16)[[0, 3, 10]].float()
    z = g.sample_noise(3, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        g.decoders[-1].weight.zero_()  # no correction at all
        theta = spins_to_angles(g(q, T, z)).double()
    phi = torch.atan2(z[:, 1].mean(dim=(-2, -1)), z[:, 0].mean(dim=(-2, -1))).double()
    for i in range(3):
        expected = defect_field(q[i].numpy().astype(int), angle=float(phi[i]))
        np.testing.assert_allclose(
            wrap_angle(theta[i] - torch.as_tensor(expected)).numpy(), 0.0, atol=2e-6
        )
    # Other noise, same condition: the same field turned by the difference of the angles.
    with torch.no_grad():
        again = spins_to_angles(g(q[:1], T, z[[1]])).double()
    turned = wrap_angle(again[0] - theta[0])
    assert float(turned.std()) < 1e-5
    assert float(turned.mean()) == pytest.approx(float(wrap_angle(phi[1] - phi[0])), abs=1e-5)


def test_residual_rotation_is_uniform_over_noise() -> None:
    g = residual()
    z = g.sample_noise(4000, 16, generator=torch.Generator().manual_seed(2))
    mean = z[:, :2].mean(dim=(-2, -1))
    phi = torch.atan2(mean[:, 1], mean[:, 0]).numpy()
    counts = np.histogram(phi, bins=8, range=(-np.pi, np.pi))[0]
    assert counts.min() > 400 and counts.max() < 600  # 500 ± 22 expected per bin


def test_residual_angles_leaves_small_corrections_alone_and_passes_gradients() -> None:
    base = torch.as_tensor(defect_field(pair_charge_map(16, 2.0)))[None].repeat(2, 1, 1)
    small_corr = 0.01 * torch.randn(2, 16, 16, dtype=torch.float64)
    assert torch.equal(residual_angles(base, small_corr), base + small_corr)
    big = (10.0 * torch.randn(2, 16, 16, dtype=torch.float64)).requires_grad_(True)
    out = residual_angles(base, big)
    assert torch.equal(plaquette_charge(out.detach()), plaquette_charge(base))
    out.sum().backward()
    assert big.grad is not None and bool(big.grad.abs().sum() > 0)
    # A step of 3.5 rad pushes two columns of bonds past the wall: they are clipped at the wall
    # by moving only their ends; the rest of the correction survives.
    flat = torch.zeros(1, 16, 16, dtype=torch.float64)
    step = flat.clone()
    step[..., 8:] = 3.5
    out = residual_angles(flat, step)
    assert torch.equal(out[..., 1:7], step[..., 1:7])
    assert torch.equal(out[..., 9:15], step[..., 9:15])
    assert max_bond(out) == pytest.approx(np.pi - BOND_WALL, abs=1e-9)
    assert torch.equal(plaquette_charge(out), torch.zeros(1, 16, 16, dtype=torch.long))
    # Where several bonds of one site are clipped the moves add up: conservative, never unsafe.
    bump = small_corr.clone()
    bump[:, 3, 3] += 3.5
    out = residual_angles(base, bump)
    assert max_bond(out) <= np.pi - BOND_WALL + 1e-9
    assert torch.equal(plaquette_charge(out), plaquette_charge(base))
    with pytest.raises(ValueError, match="same shape"):
        residual_angles(base, small_corr[0])
    at_pi = torch.zeros(1, 4, 4, dtype=torch.float64)
    at_pi[0, :, 2:] = np.pi
    with pytest.raises(ValueError, match="within margin"):
        residual_angles(at_pi, torch.zeros_like(at_pi))


@pytest.mark.parametrize("noise_injection", ["bottleneck", "all"])
def test_residual_generator_determinism_gradients_and_round_trip(
    noise_injection: str, tmp_path
) -> None:
    g = residual(noise_injection)
    q = paper_maps(16)[[0, 4]].float()
    z = g.sample_noise(2, 16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(g(q, T, z), g(q, T, z))
    assert not torch.equal(g(q, T, z), g(q, T, z + 0.5))
    g.zero_grad()
    (g(q, T, z)[:, 0] * torch.linspace(-1, 1, 16)).sum().backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name
    save_generator(g, tmp_path / "g.pt")
    loaded = load_generator(tmp_path / "g.pt")
    assert loaded.output == "defect_residual" and loaded.noise_injection == noise_injection
    assert torch.equal(loaded(q, T, z), g(q, T, z))
    a = generate(g, q.numpy(), T, n_per_condition=4, seed=5)
    np.testing.assert_array_equal(a, generate(g, q.numpy(), T, n_per_condition=4, seed=5))
    np.testing.assert_allclose(
        a, generate(g, q.numpy(), T, n_per_condition=4, seed=5, batch_size=3), atol=1e-5
    )
    assert (plaquette_charge(a) == q.numpy()[:, None]).all()


def test_noise_at_every_scale_has_full_resolution_and_local_effect() -> None:
    torch.manual_seed(4)
    g = UNetGenerator(width=0.125, noise_channels=3, init="kaiming", noise_injection="all")
    assert g.noise_shape(2, 32) == (2, 3, 32, 32)
    assert [c.in_channels for c in g.decoders] == [67, 67, 35, 19]  # up + skip + 3 noise
    q = pair_map(1, 32)
    z = g.sample_noise(1, 32, generator=torch.Generator().manual_seed(4))
    bumped = z.clone()
    bumped[0, :, 5, 5] += 3.0
    with torch.no_grad():
        change = (1 - (g(q, T, bumped) * g(q, T, z)).sum(dim=1))[0]
    # A one-pixel change of the noise moves the spins around it more than far away.
    assert float(change[4:7, 4:7].mean()) > 10 * float(change[20:28, 20:28].mean())
    # Periodic tiling with tiled noise still reproduces the 16-lattice.
    q16, z16 = pair_map(1, 16), g.sample_noise(1, 16)
    assert torch.allclose(g(q16.repeat(1, 2, 2), T, z16.repeat(1, 1, 2, 2)),
                          g(q16, T, z16).repeat(1, 1, 2, 2), atol=1e-5)  # fmt: skip


def test_spin_wave_prior_is_the_harmonic_law_before_training() -> None:
    torch.manual_seed(6)
    g = UNetGenerator(
        width=0.125,
        noise_channels=3,
        output="defect_residual",
        noise_injection="all",
        spin_waves=True,
    )
    with torch.no_grad():
        g.decoders[-1].weight.zero_()  # the network adds nothing: only the prior is left
    n, temp = 400, 0.2
    q = torch.zeros(n, 16, 16)
    z = g.sample_noise(n, 16, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        theta = spins_to_angles(g(q, temp, z)).double()
    bonds = wrap_angle(torch.roll(theta, -1, dims=-1) - theta)
    # Harmonic theory: bond differences of variance T/2·(N − 1)/N (±2.5 % at 10⁵ bonds).
    assert float(bonds.var()) == pytest.approx(temp / 2 * 255 / 256, rel=0.03)
    # It is exactly the harmonic field of noise channel 2, rotated.
    phi = harmonic_spin_waves(z[:, 2], torch.full((n,), temp)).double()
    assert float(wrap_angle(theta - phi).std(dim=(-2, -1)).max()) < 1e-5
    # With a pair, the map still holds whatever the waves do at a hot temperature.
    pairs = paper_maps(16)[1:].repeat(8, 1, 1).float()
    with torch.no_grad():
        hot = spins_to_angles(g(pairs, 2.0))
    assert torch.equal(plaquette_charge(hot), pairs.long())
    assert float(harmonic_spin_waves(torch.zeros(2, 16, 16), torch.ones(2)).abs().max()) == 0.0


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="output"):
        UNetGenerator(output="angles")
    with pytest.raises(ValueError, match="noise_injection"):
        UNetGenerator(noise_injection="input")
    with pytest.raises(ValueError, match="noise_channels must be at least 2"):
        UNetGenerator(width=0.125, noise_channels=1, output="defect_residual")
    with pytest.raises(ValueError, match="spin_waves=True"):
        UNetGenerator(width=0.125, noise_channels=3, output="defect_residual", spin_waves=True)
    with pytest.raises(ValueError, match="spin_waves=True"):
        UNetGenerator(width=0.125, noise_channels=2, noise_injection="all", spin_waves=True,
                      output="defect_residual")  # fmt: skip
    with pytest.raises(TypeError, match="spin_waves"):
        UNetGenerator(spin_waves=1)
    g = residual()
    bad = paper_maps(16)[:2].float()
    bad[0, 0, 0] = 1.0  # total charge 1: no field on the torus carries it
    with pytest.raises(ValueError, match="sum to 1"):
        g(bad, T)
    with pytest.raises(ValueError, match="integer"):
        g(paper_maps(16)[:2].float() * 0.5, T)


def test_nearest_upsampling_paints_no_pattern_on_a_uniform_input() -> None:
    """A uniform input (the defect-free map, spatially constant noise) gives a uniform output
    with resize-convolutions; a transposed convolution at the 1-pixel bottleneck paints a fixed
    wave of period L instead (the d = 0 artefact of the transposed generator)."""
    spreads = {}
    for upsample in ("nearest", "transposed"):
        torch.manual_seed(0)
        g = UNetGenerator(width=0.125, noise_channels=4, output="defect_residual",
                          noise_injection="all", init="kaiming", upsample=upsample)  # fmt: skip
        with torch.no_grad():
            g.decoders[-1].weight.mul_(10.0)  # an untrained correction of visible size
            z = torch.randn(3, 4, 1, 1).expand(3, 4, 16, 16).contiguous()
            theta = spins_to_angles(g(torch.zeros(3, 16, 16), T, z)).double()
        spreads[upsample] = float(wrap_angle(theta - theta[:, :1, :1]).abs().max())
    assert spreads["nearest"] < 1e-5
    assert spreads["transposed"] > 1e-3


def test_relaxed_base_is_the_quenched_field_and_keeps_every_map() -> None:
    from topophys.simulate.xy import relaxed_defect_field

    g = UNetGenerator(width=0.125, noise_channels=4, output="defect_residual",
                      noise_injection="all", defect_base="relaxed")  # fmt: skip
    q = paper_maps(16)[[0, 3, 10]].float()
    z = g.sample_noise(3, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        g.decoders[-1].weight.zero_()
        theta = spins_to_angles(g(q, T, z)).double()
    for i in range(3):
        expected = torch.as_tensor(relaxed_defect_field(q[i].numpy().astype(int)))
        turned = wrap_angle(theta[i] - expected)
        assert float((turned - turned[0, 0]).abs().max()) < 1e-5
    assert torch.equal(plaquette_charge(theta), q.long())
    with pytest.raises(ValueError, match="defect_base"):
        UNetGenerator(defect_base="exact")
    with pytest.raises(ValueError, match="upsample"):
        UNetGenerator(upsample="bilinear")


def test_scha_prior_has_the_renormalized_bond_variance() -> None:
    from topophys.observables.spins import scha_stiffness

    torch.manual_seed(6)
    g = UNetGenerator(
        width=0.125,
        noise_channels=3,
        output="defect_residual",
        noise_injection="all",
        spin_waves=True,
        spin_wave_stiffness="scha",
    )
    with torch.no_grad():
        g.decoders[-1].weight.zero_()
    n, temp = 400, 0.9
    z = g.sample_noise(n, 16, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        theta = spins_to_angles(g(torch.zeros(n, 16, 16), temp, z)).double()
    stiff = scha_stiffness(temp, n_sites=256)
    phi = harmonic_spin_waves(z[:, 2].double(), torch.full((n,), temp, dtype=torch.float64),
                              torch.full((n,), stiff, dtype=torch.float64))  # fmt: skip
    # The prior, rotated, except where a wave pressed a bond against the wall at π (rare).
    exact = wrap_angle(theta - phi).std(dim=(-2, -1)) < 1e-4
    assert float(exact.double().mean()) > 0.95
    bonds = torch.roll(phi, -1, dims=-1) - phi  # unwrapped: the Gaussian law itself
    assert float(bonds.var()) == pytest.approx(temp / (2 * stiff) * 255 / 256, rel=0.03)


def test_blend_base_follows_its_calibration_and_round_trips(tmp_path) -> None:
    from topophys.simulate.xy import blended_defect_field

    g = UNetGenerator(width=0.125, noise_channels=4, output="defect_residual",
                      noise_injection="all", defect_base="blend")  # fmt: skip
    g.set_base_weights([0.2, 1.0], [0.9, 0.1])
    q = paper_maps(16)[[3, 10]].float()
    temps = torch.tensor([0.2, 0.6])
    z = g.sample_noise(2, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        g.decoders[-1].weight.zero_()
        theta = spins_to_angles(g(q, temps, z)).double()
    for i, w in enumerate((0.9, 0.5)):  # 0.6 lies halfway between the calibrated points
        expected = torch.as_tensor(blended_defect_field(q[i].numpy().astype(int), w))
        turned = wrap_angle(theta[i] - expected)
        assert float((turned - turned[0, 0]).abs().max()) < 1e-5
    path = tmp_path / "g.pt"
    save_generator(g, path)
    again = load_generator(path)
    torch.testing.assert_close(again.base_weight(temps), g.base_weight(temps))
    with pytest.raises(ValueError, match="ascend"):
        g.set_base_weights([1.0, 0.2], [0.5, 0.5])
    with pytest.raises(ValueError, match="blend"):
        residual().set_base_weights([0.1], [0.5])


def test_fine_noise_reaches_only_the_two_finest_blocks() -> None:
    """With noise_injection='fine' the bottleneck and the coarse decoder blocks get zeros and
    the two finest the same noise as with 'all'; the network's output at a fixed noise then
    does not change when the coarse levels' noise would."""
    kwargs = {"width": 0.125, "noise_channels": 4, "output": "defect_residual"}
    fine = UNetGenerator(noise_injection="fine", **kwargs)
    full = UNetGenerator(noise_injection="all", **kwargs)
    z = fine.sample_noise(2, 32, generator=torch.Generator().manual_seed(0))
    a, b = fine._noise_pyramid(z), full._noise_pyramid(z)
    assert [tuple(x.shape[-2:]) for x in a] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    for level, (x, y) in enumerate(zip(a, b, strict=True)):
        if level < 2:
            assert torch.equal(x, y)
        else:
            assert not bool(x.any()) and bool(y.any())


def calibrated(defect_base: str = "relaxed") -> UNetGenerator:
    torch.manual_seed(0)
    return UNetGenerator(width=0.125, noise_channels=3, output="defect_residual",
                         noise_injection="fine", spin_waves=True, defect_base=defect_base,
                         spin_wave_stiffness="calibrated")  # fmt: skip


def prior_fields(g: UNetGenerator, maps: torch.Tensor, temp: float, stiffness: float,
                 n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """n fields per map of the prior at a known stiffness: angles, charges, temperatures."""
    q = maps.repeat_interleave(n, dim=0)
    t = torch.full((q.shape[0],), temp, dtype=torch.float64)
    white = torch.randn(q.shape, generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64)  # fmt: skip
    theta = g.prior_angles(q, t, white, torch.full_like(t, stiffness))
    return theta, q, t


def test_calibration_recovers_a_known_stiffness_and_is_monotone() -> None:
    """Training fields drawn from the prior itself at J_eff = x give back x at every T, with
    other noise; the hotter the fields at one T, the softer the waves. At T = 1.3 soft waves
    are scaled back by the charge-keeping guarantee, so the prior's energy has a second root at
    small J_eff; the calibration must return the physical (largest) one."""
    g = calibrated()
    maps = paper_maps(16)[[0, 3, 10]].float()
    cases = [(0.3, (0.8, 0.9, 1.0)), (0.9, (0.6, 0.7, 0.8)), (1.3, (0.55, 0.65, 0.75))]
    for temp, stiffnesses in cases:
        data = [prior_fields(g, maps, temp, x, 64, seed=i) for i, x in enumerate(stiffnesses)]
        theta = torch.cat([d[0] for d in data])
        q = torch.cat([d[1] for d in data])
        # One temperature per stiffness: distinct keys, so that each is fitted on its own.
        t = torch.cat([d[2] + 1e-3 * i for i, d in enumerate(data)])
        grid, found = calibrate_wave_stiffness(g, theta, q, t, seed=7)
        np.testing.assert_allclose(grid, [temp, temp + 1e-3, temp + 2e-3])
        np.testing.assert_allclose(found, stiffnesses, rtol=0.03)
        assert (np.diff(found) > 0).all()
        # |M| of the prior as the observable: the same stiffnesses.
        _, by_m = calibrate_wave_stiffness(g, theta, q, t, seed=7, observable="magnetization")
        np.testing.assert_allclose(by_m, stiffnesses, rtol=0.05)
    # The prior's energy per bond falls with J_eff above the root at T = 1.3 (what bisection
    # needs), and rises again at small J_eff, where residual_angles scales the waves back.
    q = maps.repeat_interleave(32, dim=0)
    t = torch.full((q.shape[0],), 1.3, dtype=torch.float64)
    white = torch.randn(q.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    grid_j = [0.02, 0.1, 0.4, 0.55, 0.7, 1.0, 2.0]
    e = [float(mean_bond_energy(g.prior_angles(q, t, white, torch.full_like(t, x))).mean())
         for x in grid_j]  # fmt: skip
    assert all(a > b for a, b in itertools.pairwise(e[2:]))
    assert e[0] < max(e)


def test_calibrated_forward_uses_the_interpolated_stiffness_and_round_trips(tmp_path) -> None:
    g = calibrated("blend")
    g.set_base_weights([0.2, 1.0], [0.9, 0.1])
    temps = torch.tensor([0.1, 0.2, 0.6, 1.0, 1.5], dtype=torch.float64)
    from topophys.observables.spins import scha_stiffness

    # Before calibration: the SCHA's.
    torch.testing.assert_close(g.wave_stiffness(temps, 256), scha_stiffness(temps, n_sites=256))
    g.set_wave_stiffnesses([0.2, 1.0], [0.9, 0.5])
    # Linear between, constant beyond.
    torch.testing.assert_close(
        g.wave_stiffness(temps), torch.tensor([0.9, 0.9, 0.7, 0.5, 0.5], dtype=torch.float64)
    )
    assert g.wave_stiffness(temps.float()).dtype == torch.float32
    q = paper_maps(16)[[0, 3, 10, 0, 3]].float()
    z = g.sample_noise(5, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        g.decoders[-1].weight.zero_()
        g.decoders[-1].bias.zero_()
        theta = spins_to_angles(g(q, temps.float(), z)).double()
        prior = g.prior_angles(q, temps.float(), z[:, 2])
    turned = wrap_angle(theta - prior.double())
    assert float((turned - turned[:, :1, :1]).abs().max()) < 1e-4
    # Differs from the SCHA's prior (0.7 at T = 0.6 against its 0.85).
    scha = g.prior_angles(q, temps.float(), z[:, 2], scha_stiffness(temps.float(), n_sites=256))
    assert float((scha - prior).abs().max()) > 1e-2
    path = tmp_path / "g.pt"
    save_generator(g, path)
    again = load_generator(path)
    torch.testing.assert_close(again.wave_stiffness(temps), g.wave_stiffness(temps))
    torch.testing.assert_close(again.base_weight(temps), g.base_weight(temps))
    with torch.no_grad():
        assert torch.equal(again(q, temps.float(), z), g(q, temps.float(), z))
    # An uncalibrated generator round-trips too (empty buffers).
    save_generator(calibrated(), path)
    assert load_generator(path).wave_temperatures.numel() == 0


def test_calibrated_stiffness_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="spin_wave_stiffness"):
        UNetGenerator(spin_wave_stiffness="fitted")
    with pytest.raises(ValueError, match="spin_waves=True"):
        UNetGenerator(width=0.125, noise_channels=3, output="defect_residual",
                      noise_injection="fine", spin_wave_stiffness="calibrated")  # fmt: skip
    g = calibrated()
    for temps, values, match in [
        ([1.0, 0.5], [0.5, 0.5], "ascend"),
        ([0.5, 0.5], [0.5, 0.5], "ascend"),
        ([0.5, 1.0], [0.5], "shape of temperatures"),
        ([], [], "non-empty"),
        ([0.0, 1.0], [0.5, 0.5], "temperatures must be finite and > 0"),
        ([0.5, 1.0], [0.5, -0.1], "stiffnesses"),
        ([0.5, 1.0], [0.5, float("nan")], "stiffnesses"),
    ]:
        with pytest.raises(ValueError, match=match):
            g.set_wave_stiffnesses(temps, values)
    with pytest.raises(ValueError, match="calibrated"):
        residual().set_wave_stiffnesses([0.1], [0.5])
    theta, q, t = prior_fields(g, paper_maps(16)[:1].float(), 0.5, 0.8, 8, seed=0)
    with pytest.raises(ValueError, match="angles"):
        calibrate_wave_stiffness(g, theta[0], q, t)
    with pytest.raises(ValueError, match="charges"):
        calibrate_wave_stiffness(g, theta, q[:4], t)
    with pytest.raises(ValueError, match="temperatures"):
        calibrate_wave_stiffness(g, theta, q, -t)
    with pytest.raises(ValueError, match="bounds"):
        calibrate_wave_stiffness(g, theta, q, t, bounds=(1.0, 0.5))
    with pytest.raises(ValueError, match="max_fields"):
        calibrate_wave_stiffness(g, theta, q, t, max_fields=0)
    with pytest.raises(ValueError, match="observable"):
        calibrate_wave_stiffness(g, theta, q, t, observable="helicity")
    with pytest.raises(ValueError, match="scan"):
        calibrate_wave_stiffness(g, theta, q, t, scan=1)
    with pytest.raises(ValueError, match="defect_residual"):
        calibrate_wave_stiffness(small_spins(), theta, q, t)
    with pytest.raises(TypeError, match="generator"):
        calibrate_wave_stiffness(None, theta, q, t)  # type: ignore[arg-type]
    # Out of reach: fields far colder than the stiffest prior's waves allow.
    with pytest.warns(UserWarning, match="hotter"):
        _, found = calibrate_wave_stiffness(g, theta * 0 + 0.3, q, t, bounds=(0.05, 2.0))
    assert found[0] == 2.0


def small_spins() -> UNetGenerator:
    return UNetGenerator(width=0.125, noise_channels=4)
