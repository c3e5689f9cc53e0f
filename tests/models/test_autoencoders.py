"""Autoencoders of the reduced-potential model: shapes, argument checks, periodic convolutions."""

import pytest
import torch

from topophys.models.autoencoders import ConvAutoencoder, MLPAutoencoder


@pytest.mark.parametrize("latent_dim", [1, 2, 5])
def test_mlp_shapes(latent_dim):
    torch.manual_seed(0)
    ae = MLPAutoencoder(12, latent_dim=latent_dim, hidden=(10, 6))
    x = torch.randn(7, 12)
    z = ae.encode(x)
    assert z.shape == (7, latent_dim)
    assert ae.decode(z).shape == (7, 12)
    assert torch.equal(ae(x), ae.decode(ae.encode(x)))
    assert ae.input_shape == (12,)
    assert ae.latent_dim == latent_dim


def test_mlp_decoder_mirrors_encoder():
    ae = MLPAutoencoder(12, latent_dim=3, hidden=(10, 6))
    enc = [(m.in_features, m.out_features) for m in ae.encoder if isinstance(m, torch.nn.Linear)]
    dec = [(m.in_features, m.out_features) for m in ae.decoder if isinstance(m, torch.nn.Linear)]
    assert enc == [(12, 10), (10, 6), (6, 3)]
    assert dec == [(b, a) for a, b in enc[::-1]]
    # The last layer of each half is linear: z and x̂ are not squashed into an activation's range.
    assert isinstance(ae.encoder[-1], torch.nn.Linear)
    assert isinstance(ae.decoder[-1], torch.nn.Linear)


def test_mlp_is_smooth_in_its_input():
    # SiLU everywhere: the encoder's Jacobian varies continuously (no ReLU kinks), so a tiny
    # change of the input changes the Jacobian by a tiny amount.
    torch.manual_seed(1)
    ae = MLPAutoencoder(4, latent_dim=2, hidden=(16,)).double()
    x = torch.randn(4, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: ae.encode(v[None])[0], x)
    jac2 = torch.autograd.functional.jacobian(lambda v: ae.encode(v[None])[0], x + 1e-7)
    assert torch.allclose(jac, jac2, atol=1e-6)
    assert jac.abs().max() > 1e-3


@pytest.mark.parametrize("bad", [(7, 11), (7,), (2, 3, 12)])
def test_mlp_encode_rejects_bad_shapes(bad):
    ae = MLPAutoencoder(12, latent_dim=2, hidden=(6,))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 12\)"):
        ae.encode(torch.randn(bad))


@pytest.mark.parametrize("bad", [(7, 3), (7,), (1, 7, 2)])
def test_mlp_decode_rejects_bad_shapes(bad):
    ae = MLPAutoencoder(12, latent_dim=2, hidden=(6,))
    with pytest.raises(ValueError, match=r"z must have shape \(n, 2\)"):
        ae.decode(torch.randn(bad))


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n_features": 0}, ValueError, "n_features"),
        ({"n_features": 4.0}, TypeError, "n_features"),
        ({"latent_dim": 0}, ValueError, "latent_dim"),
        ({"hidden": ()}, ValueError, "hidden"),
        ({"hidden": (4, 0)}, ValueError, "hidden"),
        ({"hidden": 4}, TypeError, "hidden"),
    ],
)
def test_mlp_rejects_bad_arguments(kwargs, error, name):
    args = {"n_features": 6, "latent_dim": 2, "hidden": (4,)} | kwargs
    with pytest.raises(error, match=name):
        MLPAutoencoder(**args)


@pytest.mark.parametrize(("size", "channels"), [(16, (4, 8)), (8, (3,)), (32, (2, 4, 4))])
def test_conv_shapes(size, channels):
    torch.manual_seed(0)
    ae = ConvAutoencoder(size, latent_dim=3, channels=channels, hidden=8)
    x = torch.randn(5, size, size)
    z = ae.encode(x)
    assert z.shape == (5, 3)
    assert ae.decode(z).shape == (5, size, size)
    assert ae(x).shape == (5, size, size)
    assert ae.input_shape == (size, size)


def test_conv_size_must_be_divisible():
    with pytest.raises(ValueError, match=r"size=12 must be divisible by 2\*\*len\(channels\)=8"):
        ConvAutoencoder(12, channels=(2, 2, 2), hidden=4)
    ConvAutoencoder(12, channels=(2, 2), hidden=4)  # 12 is divisible by 4


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"size": 0}, ValueError, "size"),
        ({"latent_dim": -1}, ValueError, "latent_dim"),
        ({"channels": ()}, ValueError, "channels"),
        ({"hidden": 0}, ValueError, "hidden"),
    ],
)
def test_conv_rejects_bad_arguments(kwargs, error, name):
    args = {"size": 8, "latent_dim": 2, "channels": (2,), "hidden": 4} | kwargs
    with pytest.raises(error, match=name):
        ConvAutoencoder(**args)


@pytest.mark.parametrize("bad", [(2, 8, 16), (2, 16), (2, 1, 16, 16), (2, 8, 8)])
def test_conv_encode_rejects_bad_shapes(bad):
    ae = ConvAutoencoder(16, latent_dim=2, channels=(2, 2), hidden=4)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 16, 16\)"):
        ae.encode(torch.randn(bad))


@pytest.mark.parametrize("bad", [(2, 3), (2,), (2, 2, 1)])
def test_conv_decode_rejects_bad_shapes(bad):
    ae = ConvAutoencoder(16, latent_dim=2, channels=(2, 2), hidden=4)
    with pytest.raises(ValueError, match=r"z must have shape \(n, 2\)"):
        ae.decode(torch.randn(bad))


def test_conv_stacks_commute_with_lattice_translations():
    # What the circular padding guarantees: the convolutional part of the encoder commutes with
    # translations by multiples of 2**depth (the bottom map moves by one pixel per 2**depth), and
    # the convolutional part of the decoder turns a one-pixel shift of the bottom map into a
    # shift by 2**depth. The fully connected layers around z break translation symmetry, so
    # E and D as a whole are neither invariant nor equivariant.
    torch.manual_seed(0)
    channels = (3, 4)
    ae = ConvAutoencoder(16, latent_dim=2, channels=channels, hidden=8).double()
    step = 2 ** len(channels)
    features = ae.encoder[: 2 * len(channels)]  # the (conv, SiLU) stages
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    for dy, dx in [(step, 0), (0, step), (step, 2 * step)]:
        shifted = features(torch.roll(x, (dy, dx), dims=(2, 3)))
        expected = torch.roll(features(x), (dy // step, dx // step), dims=(2, 3))
        torch.testing.assert_close(shifted, expected)
    h = torch.randn(2, *ae._bottom, dtype=torch.float64)
    out = ae.decoder_conv(torch.roll(h, (1, 1), dims=(2, 3)))
    torch.testing.assert_close(out, torch.roll(ae.decoder_conv(h), (step, step), dims=(2, 3)))
    assert all(m.padding_mode == "circular" for m in ae.modules() if isinstance(m, torch.nn.Conv2d))
