"""ReducedPotentialModel: encode/decode delegation, energy, gradient flow steps and rollouts."""

import math

import pytest
import torch

from topophys.models.autoencoders import ConvAutoencoder, MLPAutoencoder
from topophys.models.nrp import ReducedPotentialModel
from topophys.models.potential import PotentialNet


class Quadratic(PotentialNet):
    """V(z, a) = a·|z|²/2 (a = the one condition), so ∂V/∂z = a·z and the flow is z₀·e^{−a t}."""

    def __init__(self, latent_dim):
        super().__init__(latent_dim, n_conditions=1, hidden=(1,))

    def forward(self, z, conditions=None):
        return 0.5 * conditions[:, 0].to(z.dtype) * (z * z).sum(1)


def _model(latent_dim=2, n_conditions=1, seed=0):
    torch.manual_seed(seed)
    ae = MLPAutoencoder(6, latent_dim, hidden=(8,))
    v = PotentialNet(latent_dim, n_conditions, hidden=(16, 16))
    return ReducedPotentialModel(ae, v).double()


def _identity_quadratic(latent_dim=2):
    ae = MLPAutoencoder(latent_dim, latent_dim, hidden=(1,))  # encode/decode unused here
    return ReducedPotentialModel(ae, Quadratic(latent_dim)).double()


def test_delegates_to_autoencoder_and_potential():
    m = _model()
    x = torch.randn(4, 6, dtype=torch.float64)
    z = m.encode(x)
    torch.testing.assert_close(z, m.autoencoder.encode(x))
    torch.testing.assert_close(m.decode(z), m.autoencoder.decode(z))
    c = torch.randn(4, 1, dtype=torch.float64)
    torch.testing.assert_close(m.energy(z, c), m.potential(z, c))
    torch.testing.assert_close(m.gradient(z, c), m.potential.gradient(z, c))
    assert m.latent_dim == 2


def test_works_with_the_conv_autoencoder():
    torch.manual_seed(0)
    m = ReducedPotentialModel(
        ConvAutoencoder(8, 3, channels=(2,), hidden=4), PotentialNet(3, 2, hidden=(4,))
    )
    x = torch.randn(5, 8, 8)
    z = m.encode(x)
    assert z.shape == (5, 3)
    assert m.decode(m.step(z, torch.zeros(5, 2), 0.1)).shape == (5, 8, 8)


def test_latent_dims_must_agree():
    with pytest.raises(ValueError, match="latent_dim=3 differs from potential latent_dim=2"):
        ReducedPotentialModel(MLPAutoencoder(6, 3, hidden=(4,)), PotentialNet(2, 0, hidden=(4,)))
    with pytest.raises(ValueError, match="latent_dim=None"):
        ReducedPotentialModel(torch.nn.Linear(2, 2), PotentialNet(2, 0, hidden=(4,)))


def test_step_is_an_explicit_euler_step():
    m = _identity_quadratic()
    z = torch.tensor([[1.0, -2.0], [0.5, 0.0]], dtype=torch.float64)
    a = torch.tensor([[2.0], [3.0]], dtype=torch.float64)
    out = m.step(z, a, 0.1)
    torch.testing.assert_close(out, z * (1 - 0.1 * a))


def test_step_with_per_sample_dt_and_substeps():
    m = _identity_quadratic()
    z = torch.tensor([[1.0, -2.0], [0.5, 0.25]], dtype=torch.float64)
    a = torch.tensor([[2.0], [3.0]], dtype=torch.float64)
    dt = torch.tensor([0.1, 0.3], dtype=torch.float64)
    out = m.step(z, a, dt, substeps=4)
    expected = z * (1 - dt[:, None] / 4 * a) ** 4
    torch.testing.assert_close(out, expected)
    # More substeps converge to the exact flow z·e^{−a·dt}.
    fine = m.step(z, a, dt, substeps=2000)
    torch.testing.assert_close(fine, z * torch.exp(-a * dt[:, None]), atol=1e-3, rtol=0)
    torch.testing.assert_close(m.step(z, a, 0.0), z)


@pytest.mark.parametrize("substeps", [0, -1])
def test_step_rejects_bad_substeps(substeps):
    m = _identity_quadratic()
    with pytest.raises(ValueError, match="substeps"):
        m.step(torch.zeros(1, 2), torch.ones(1, 1), 0.1, substeps=substeps)


def test_small_steps_decrease_the_potential():
    # Along −∂V/∂z, V(z − h∇V) = V(z) − h|∇V|² + O(h²): a small step lowers a generic V.
    m = _model(latent_dim=3, n_conditions=2, seed=7)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 3, dtype=torch.float64, generator=g) * 2
    c = torch.randn(64, 2, dtype=torch.float64, generator=g)
    grad = m.gradient(z, c)
    assert (grad.norm(dim=1) > 1e-6).all()
    with torch.no_grad():
        v0 = m.energy(z, c)
    h = 1e-3
    with torch.no_grad():
        v1 = m.energy(m.step(z, c, h), c)
    assert (v1 < v0).all()
    # First order: the decrease is h·|∇V|² to leading order.
    torch.testing.assert_close(v0 - v1, h * (grad**2).sum(1), rtol=5e-2, atol=1e-9)


def test_rollout_along_a_constant_condition_never_raises_v():
    m = _model(latent_dim=2, n_conditions=1, seed=3)
    z0 = torch.randn(8, 2, dtype=torch.float64)
    times = torch.linspace(0, 1, 51, dtype=torch.float64).expand(8, 51)
    c = torch.full((8, 51, 1), 0.7, dtype=torch.float64)
    path = m.rollout(z0, c, times)
    with torch.no_grad():
        v = m.energy(path.reshape(-1, 2), c.reshape(-1, 1)).reshape(8, 51)
    assert (v.diff(dim=1) <= 1e-12).all()


def test_rollout_shape_first_state_and_condition_timing():
    m = _identity_quadratic()
    z0 = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.0, 3.0]], dtype=torch.float64)
    times = torch.tensor(
        [[0.0, 0.1, 0.3, 0.6], [1.0, 1.05, 1.1, 1.5], [0.0, 0.2, 0.4, 0.6]], dtype=torch.float64
    )
    a = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)  # a changes along the run
    c = a[None, :, None].expand(3, 4, 1)
    path = m.rollout(z0, c, times)
    assert path.shape == (3, 4, 2)
    torch.testing.assert_close(path[:, 0], z0)
    expected = z0.clone()
    for i in range(3):
        dt = times[:, i + 1] - times[:, i]
        expected = expected * (1 - dt[:, None] * a[i])  # the condition at the interval's start
        torch.testing.assert_close(path[:, i + 1], expected)
    # The last condition value is never used.
    c2 = c.clone()
    c2[:, -1] = 100.0
    torch.testing.assert_close(m.rollout(z0, c2, times), path)


def test_rollout_without_conditions():
    torch.manual_seed(0)
    m = ReducedPotentialModel(MLPAutoencoder(4, 2, hidden=(4,)), PotentialNet(2, 0, hidden=(4,)))
    path = m.rollout(torch.zeros(2, 2), None, torch.tensor([[0.0, 0.5], [0.0, 1.0]]))
    assert path.shape == (2, 2, 2)
    g = m.gradient(torch.zeros(2, 2))
    torch.testing.assert_close(path[:, 1], -torch.tensor([[0.5], [1.0]]) * g)


def test_rollout_converges_to_the_exact_flow():
    m = _identity_quadratic(latent_dim=1)
    z0 = torch.ones(1, 1, dtype=torch.float64)
    times = torch.linspace(0, 1, 11, dtype=torch.float64)[None]
    c = torch.full((1, 11, 1), 2.0, dtype=torch.float64)
    coarse = m.rollout(z0, c, times)[0, -1, 0]
    fine = m.rollout(z0, c, times, substeps=100)[0, -1, 0]
    exact = math.exp(-2.0)
    assert coarse == pytest.approx(0.8**10)
    assert abs(fine - exact) < abs(coarse - exact) / 50


@pytest.mark.parametrize("shape", [(3,), (2, 4), (3, 4, 1)])
def test_rollout_rejects_bad_times(shape):
    m = _identity_quadratic()
    with pytest.raises(ValueError, match=r"times must have shape \(n, k\+1\)"):
        m.rollout(torch.zeros(3, 2), torch.ones(3, 4, 1), torch.zeros(shape))
