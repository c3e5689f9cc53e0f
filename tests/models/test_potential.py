"""The potential network V(z, c): autograd gradient, condition standardization, argument checks."""

import pytest
import torch

from topophys.models.potential import PotentialNet


def _potential(latent_dim=3, n_conditions=2, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault("hidden", (16, 8))
    return PotentialNet(latent_dim, n_conditions, **kwargs).double()


def test_shapes():
    v = _potential()
    z, c = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    assert v(z, c).shape == (5,)
    assert v.gradient(z, c).shape == (5, 3)


@pytest.mark.parametrize("activation", ["softplus", "tanh", "silu"])
def test_gradient_matches_finite_differences(activation):
    v = _potential(activation=activation, seed=1)
    g = torch.Generator().manual_seed(2)
    z = torch.randn(4, 3, dtype=torch.float64, generator=g)
    c = torch.randn(4, 2, dtype=torch.float64, generator=g) * 3 + 1
    v.set_condition_scaling(torch.randn(50, 2, dtype=torch.float64, generator=g) * 2 + 1)
    grad = v.gradient(z, c)
    eps = 1e-6
    fd = torch.empty_like(z)
    with torch.no_grad():
        for j in range(3):
            e = torch.zeros(3, dtype=torch.float64)
            e[j] = eps
            fd[:, j] = (v(z + e, c) - v(z - e, c)) / (2 * eps)
    torch.testing.assert_close(grad, fd, atol=1e-8, rtol=1e-6)
    assert grad.abs().max() > 1e-4  # not vacuous


def test_gradient_rows_are_independent():
    # ∂V/∂z of row i depends on row i only (the batch sum in the autograd call must not mix).
    v = _potential(seed=3)
    z, c = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    full = v.gradient(z, c)
    for i in range(6):
        torch.testing.assert_close(full[i : i + 1], v.gradient(z[i : i + 1], c[i : i + 1]))


def test_gradient_leaves_input_alone_and_detaches_by_default():
    v = _potential()
    z = torch.randn(3, 3, dtype=torch.float64)
    c = torch.randn(3, 2, dtype=torch.float64)
    grad = v.gradient(z, c)
    assert not z.requires_grad
    assert not grad.requires_grad
    with torch.no_grad():  # evaluation code calls it under no_grad: it must still work
        torch.testing.assert_close(v.gradient(z, c), grad)


def test_create_graph_lets_a_loss_of_the_gradient_train_both_networks():
    # Training backpropagates ‖dz/dt + ∂V/∂z‖ into V's weights and, through z, into the encoder.
    v = _potential()
    enc = torch.nn.Linear(4, 3).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    z = enc(x)
    grad = v.gradient(z, torch.randn(5, 2, dtype=torch.float64), create_graph=True)
    assert grad.requires_grad
    (grad**2).sum().backward()
    # Every weight shapes ∂V/∂z; there is no output bias (a constant no gradient can train).
    weights = [p for name, p in v.net.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in weights)
    assert v.net[-1].bias is None
    assert enc.weight.grad is not None and enc.weight.grad.abs().max() > 0


def test_condition_standardization():
    v = _potential(seed=4)
    alpha = torch.linspace(1.0, 4.0, 12, dtype=torch.float64)
    h = torch.linspace(0.0, 1.5, 12, dtype=torch.float64).flip(0)
    c = torch.stack([alpha, h], dim=1)
    v.set_condition_scaling(c)
    torch.testing.assert_close(v.condition_mean, c.mean(0))
    torch.testing.assert_close(v.condition_scale, c.std(0, unbiased=False))
    z = torch.randn(12, 3, dtype=torch.float64)
    # V sees standardized conditions: the same as a raw net fed (c - mean) / std.
    scaled = (c - c.mean(0)) / c.std(0, unbiased=False)
    torch.testing.assert_close(v(z, c), v.net(torch.cat([z, scaled], 1))[:, 0])
    # The scaling is part of the saved state.
    assert {"condition_mean", "condition_scale"} <= set(v.state_dict())


def test_constant_condition_is_shifted_not_divided_by_zero():
    v = _potential(seed=5)
    c = torch.stack([torch.full((8,), 2.5), torch.linspace(0, 1, 8)], 1).double()
    v.set_condition_scaling(c)
    assert v.condition_scale[0] == 1.0
    assert v.condition_mean[0] == 2.5
    out = v(torch.randn(8, 3, dtype=torch.float64), c)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_condition_scaling_rejects_non_finite(bad):
    v = _potential()
    c = torch.ones(4, 2, dtype=torch.float64)
    c[1, 1] = bad
    with pytest.raises(ValueError, match="conditions must be finite"):
        v.set_condition_scaling(c)


def test_condition_scaling_rejects_wrong_number_of_conditions():
    # (4, 3) has 12 entries and would silently reshape to (6, 2): it must be refused instead.
    v = _potential(n_conditions=2)
    with pytest.raises(ValueError, match="conditions"):
        v.set_condition_scaling(torch.ones(4, 3, dtype=torch.float64))


def test_unconditioned_potential():
    v = _potential(latent_dim=2, n_conditions=0)
    z = torch.randn(4, 2, dtype=torch.float64)
    assert v(z).shape == (4,)
    assert v.gradient(z).shape == (4, 2)
    assert v.net[0].in_features == 2


@pytest.mark.parametrize(
    ("z_shape", "c_shape", "match"),
    [
        ((4, 2), (4, 2), r"z must have shape \(n, 3\)"),
        ((4,), (4, 2), r"z must have shape \(n, 3\)"),
        ((4, 3), (4, 1), r"conditions must have shape \(4, 2\)"),
        ((4, 3), (3, 2), r"conditions must have shape \(4, 2\)"),
        ((4, 3), None, r"conditions must have shape \(4, 2\), got None"),
    ],
)
def test_rejects_bad_shapes(z_shape, c_shape, match):
    v = _potential()
    z = torch.randn(z_shape, dtype=torch.float64)
    c = None if c_shape is None else torch.randn(c_shape, dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        v(z, c)
    with pytest.raises(ValueError, match=match):
        v.gradient(z, c)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"latent_dim": 0}, ValueError, "latent_dim"),
        ({"n_conditions": -1}, ValueError, "n_conditions"),
        ({"hidden": ()}, ValueError, "hidden"),
        ({"activation": "relu"}, ValueError, "activation"),
    ],
)
def test_rejects_bad_arguments(kwargs, error, name):
    args = {"latent_dim": 2, "n_conditions": 1, "hidden": (4,)} | kwargs
    with pytest.raises(error, match=name):
        PotentialNet(**args)


def test_float32_conditions_with_float64_latents():
    # Conditions come from numpy float64 while z is float32 in training, or the other way round.
    v = _potential()
    z = torch.randn(3, 3, dtype=torch.float64)
    c = torch.randn(3, 2, dtype=torch.float32)
    assert v(z, c).dtype == torch.float64


# --- the field-coupled form V = U(z, α) − h·m(z) ------------------------------------------------


def test_field_coupled_potential_is_affine_in_the_field_with_slope_minus_m():
    from topophys.models.potential import FieldCoupledPotential

    torch.manual_seed(0)
    v = FieldCoupledPotential(3, n_conditions=2, hidden=(16, 16))
    v.set_condition_scaling(torch.tensor([[1.0, 0.0], [4.0, 1.5], [2.0, 0.7]]))
    z = torch.randn(6, 3, dtype=torch.float64)
    v = v.double()
    alpha = torch.linspace(1, 4, 6, dtype=torch.float64)
    at = [v(z, torch.stack([alpha, torch.full_like(alpha, h)], 1)) for h in (0.0, 0.5, 1.5)]
    m = v.magnetization(z)
    torch.testing.assert_close(at[1], at[0] - 0.5 * m)
    torch.testing.assert_close(at[2], at[0] - 1.5 * m)
    # The field's own scaling buffers play no part: h enters in its own units.
    assert v.field_index == 1


def test_field_coupled_gradient_matches_finite_differences():
    from topophys.models.potential import FieldCoupledPotential

    torch.manual_seed(1)
    v = FieldCoupledPotential(2, n_conditions=2, hidden=(8,)).double()
    z = torch.randn(4, 2, dtype=torch.float64)
    c = torch.rand(4, 2, dtype=torch.float64)
    grad = v.gradient(z, c)
    eps = 1e-6
    for j in range(2):
        dz = torch.zeros_like(z)
        dz[:, j] = eps
        fd = (v(z + dz, c) - v(z - dz, c)) / (2 * eps)
        torch.testing.assert_close(grad[:, j], fd, rtol=1e-6, atol=1e-8)


def test_field_coupled_potential_field_index_and_errors():
    from topophys.models.potential import FieldCoupledPotential

    torch.manual_seed(2)
    first = FieldCoupledPotential(2, n_conditions=2, hidden=(4,), field_index=0)
    z, c = torch.randn(3, 2), torch.rand(3, 2)
    swapped = c.flip(1)
    # h in column 0: V(z, (h, α)) changes with column 0 as −m(z)·Δh.
    bumped = swapped.clone()
    bumped[:, 0] += 1.0
    torch.testing.assert_close(first(z, bumped), first(z, swapped) - first.magnetization(z))
    with pytest.raises(ValueError, match="field_index"):
        FieldCoupledPotential(2, n_conditions=2, field_index=2)
    with pytest.raises(ValueError, match="n_conditions"):
        FieldCoupledPotential(2, n_conditions=0)
    with pytest.raises(ValueError, match="conditions must have shape"):
        first(z, None)


@pytest.mark.parametrize("form", ["mlp", "field-coupled"])
def test_every_parameter_of_the_potential_gets_a_gradient_from_a_loss_of_its_gradient(form):
    # DDP requires it: a parameter L_V cannot train (an output bias: a gauge constant) would
    # stop plain strategy="ddp" with an "unused parameters" error.
    from topophys.models.potential import FieldCoupledPotential

    torch.manual_seed(0)
    cls = PotentialNet if form == "mlp" else FieldCoupledPotential
    v = cls(3, n_conditions=2, hidden=(8, 8))
    z = torch.randn(5, 3, requires_grad=True)
    loss = (v.gradient(z, torch.rand(5, 2), create_graph=True) ** 2).sum()
    loss.backward()
    for name, p in v.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_weights_saved_with_an_output_bias_still_load():
    # topophys 0.1.0 gave the output layer a bias (a gauge constant that never trained).
    v = PotentialNet(2, n_conditions=2, hidden=(4,))
    state = v.state_dict()
    state["net.2.bias"] = torch.tensor([0.7])
    fresh = PotentialNet(2, n_conditions=2, hidden=(4,))
    fresh.load_state_dict(state)
    z, c = torch.randn(3, 2), torch.randn(3, 2)
    torch.testing.assert_close(fresh.gradient(z, c), v.gradient(z, c))
    # A genuinely foreign key is still refused.
    state["net.0.extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        fresh.load_state_dict(state)


def test_field_coupled_weights_saved_with_output_biases_still_load():
    from topophys.models.potential import FieldCoupledPotential

    v = FieldCoupledPotential(2, hidden=(4,))
    state = v.state_dict()
    state["internal.2.bias"] = torch.tensor([0.1])
    state["magnetization_net.2.bias"] = torch.tensor([0.2])
    FieldCoupledPotential(2, hidden=(4,)).load_state_dict(state)
    state["internal.0.bias_extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        FieldCoupledPotential(2, hidden=(4,)).load_state_dict(state)
