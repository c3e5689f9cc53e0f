"""U-Net generator: shapes, unit spins, periodicity, determinism, bad inputs."""

import numpy as np
import pytest
import torch

from topophys.models.unet import (
    UNetGenerator,
    count_parameters,
    generate,
    load_generator,
    save_generator,
)
from topophys.observables.charge import spins_to_angles

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
