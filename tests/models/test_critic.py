"""Critic: any lattice side, per-sample independence, conditioning, periodicity, bad inputs."""

import pytest
import torch
from torch.nn import functional as F

from topophys.models.critic import Critic


def spins(batch: int, side: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(batch, 2, side, side, generator=g), dim=1)


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "instance_norm"])
def critic(request) -> Critic:
    torch.manual_seed(0)
    return Critic(width=0.125, instance_norm=request.param)


@pytest.mark.parametrize("side", [16, 20, 32])
def test_one_score_per_sample_at_any_side(critic: Critic, side: int) -> None:
    out = critic(spins(3, side), torch.zeros(3, side, side), torch.full((3,), 0.1))
    assert out.shape == (3,)
    assert torch.isfinite(out).all()


def test_samples_are_scored_independently(critic: Critic) -> None:
    # Needed for the per-sample gradient penalty: no statistics shared across the batch.
    s, q, t = spins(4, 16), torch.zeros(4, 16, 16), torch.tensor([0.1, 0.2, 0.3, 0.4])
    q[1, 2, 3], q[1, 7, 7] = 1.0, -1.0
    batch = critic(s, q, t)
    single = torch.cat([critic(s[i : i + 1], q[i : i + 1], t[i : i + 1]) for i in range(4)])
    assert torch.allclose(batch, single, atol=1e-5)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())


def test_instance_norm_is_optional() -> None:
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in Critic(instance_norm=True).modules())
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in Critic().modules())


def test_conditioning_changes_the_score(critic: Critic) -> None:
    s, q = spins(2, 16), torch.zeros(2, 16, 16)
    base = critic(s, q, 0.1)
    assert not torch.allclose(base, critic(s, q, 1.0))
    q[:, 4, 4], q[:, 10, 10] = 1.0, -1.0
    assert not torch.allclose(base, critic(s, q, 0.1))


def test_periodic_translation_invariance(critic: Critic) -> None:
    # Three stride-2 layers: shifts by multiples of 8 sites leave the pooled score unchanged.
    s, q = spins(2, 16), torch.zeros(2, 16, 16)
    q[:, 1, 2], q[:, 14, 15] = 1.0, -1.0
    rolled = critic(torch.roll(s, (8, -8), dims=(2, 3)), torch.roll(q, (8, -8), dims=(1, 2)), 0.1)
    assert torch.allclose(critic(s, q, 0.1), rolled, atol=1e-5)


def test_bad_inputs(critic: Critic) -> None:
    q = torch.zeros(2, 16, 16)
    with pytest.raises(ValueError, match="spins must have shape"):
        critic(spins(2, 32), q, 0.1)
    with pytest.raises(ValueError, match="spins must have shape"):
        critic(torch.zeros(2, 3, 16, 16), q, 0.1)
    with pytest.raises(ValueError, match="same batch size"):
        critic(spins(3, 16), q, torch.tensor(0.1))
    with pytest.raises(ValueError, match="> 0"):
        critic(spins(2, 16), q, torch.tensor([0.1, 0.0]))
    with pytest.raises(ValueError, match=r"shape \(batch, L, L\)"):
        critic(spins(2, 16), torch.zeros(2, 16, 8), 0.1)
    with pytest.raises(TypeError, match="instance_norm"):
        Critic(instance_norm=1)
