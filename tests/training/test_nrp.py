"""Training the Neural Reduced Potential: data checks, the joint loss, Lightning fits, and the
synthetic gradient system with a known potential that the issue asks for."""

import csv
import itertools
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from topophys.evaluate.nrp import (
    encode_trajectories,
    monotone_fraction,
    potential_values,
    rollout_errors,
)
from topophys.models.autoencoders import ConvAutoencoder, MLPAutoencoder
from topophys.models.nrp import ReducedPotentialModel
from topophys.models.potential import PotentialNet
from topophys.training.nrp import (
    NRPConfig,
    Trajectories,
    build_model,
    fit_nrp,
    load_model,
    nrp_loss,
    time_derivative,
)

# --- synthetic data ------------------------------------------------------------------------


def double_well(n_runs=16, n_times=12, dim=16, t_end=3.0, seed=0):
    """Gradient flow of U(u, a) = a·(u₁² − 1)²/4 + u₂²/2 seen through a fixed nonlinear map.

    The hidden state u ∈ R² follows du/dt = −∂U/∂u (integrated finely, so the snapshots are
    the exact flow to plotting accuracy), with one well depth a ∈ [0.5, 1.5] per run given to
    V as its condition. Each snapshot is x = tanh(0.7·u W + b) ∈ R^dim with W and b fixed
    (independent of ``seed``), so an autoencoder has to undo the map to find the flow.
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 1.5, n_runs)
    u = rng.uniform(-1.6, 1.6, (n_runs, 2))
    t = np.linspace(0.0, t_end, n_times)
    states = [u]
    for t0, t1 in itertools.pairwise(t):
        h = (t1 - t0) / 50
        for _ in range(50):
            force = np.stack([a * u[:, 0] * (u[:, 0] ** 2 - 1), u[:, 1]], axis=1)
            u = u - h * force
        states.append(u)
    us = np.stack(states, axis=1)
    w = np.random.default_rng(123).standard_normal((2, dim))
    b = 0.3 * np.random.default_rng(124).standard_normal(dim)
    x = np.tanh(0.7 * us @ w + b)
    cond = np.repeat(a[:, None, None], n_times, axis=1)
    return Trajectories(x, np.tile(t, (n_runs, 1)), cond, ("a",))


def tiny(n_runs=4, n_times=5, n_features=6, n_conditions=1, seed=0):
    """Random trajectories on a non-uniform grid, for plumbing tests."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.1, 0.5, (n_runs, n_times)), axis=1)
    return Trajectories(
        rng.standard_normal((n_runs, n_times, n_features)),
        t,
        rng.standard_normal((n_runs, n_times, n_conditions)),
    )


TINY = NRPConfig(epochs=2, batch_size=4, hidden=(8,), potential_hidden=(8,), lr=1e-2)


def _fit(data, config, run_dir, **kwargs):
    model = build_model("mlp", data.shape, config, data.conditions.shape[2])
    history = fit_nrp(model, data, config, run_dir, progress=False, **kwargs)
    return model, history


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# --- NRPConfig -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"loss_norm": "l1"}, ValueError),
        ({"derivative": "backward"}, ValueError),
        ({"lambda_v": -0.1}, ValueError),
        ({"epochs": 0}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"lr": 0.0}, ValueError),
        ({"latent_dim": 2.5}, TypeError),
        ({"devices": 0}, ValueError),
    ],
)
def test_config_rejects_bad_values(change, error):
    (name,) = change
    with pytest.raises(error, match=name):
        NRPConfig(**change)


def test_config_defaults_follow_the_papers_and_survive_yaml(tmp_path):
    cfg = NRPConfig()
    assert (cfg.latent_dim, cfg.lambda_v, cfg.loss_norm) == (2, 0.1, "l2")
    custom = cfg.replace(hidden=(12, 4), derivative="central", lambda_v=0.5)
    path = tmp_path / "nrp.yaml"
    custom.to_yaml(path)
    back = NRPConfig.from_yaml(path)
    assert back == custom
    assert back.hidden == (12, 4)


# --- Trajectories --------------------------------------------------------------------------


def test_trajectories_basics():
    data = tiny(n_runs=3, n_times=4, n_features=5, n_conditions=2)
    assert (data.n_runs, data.n_times, data.shape) == (3, 4, (5,))
    assert data.x.dtype == np.float32
    assert data.condition_names == ("c0", "c1")
    with pytest.raises(ValueError, match="read-only"):
        data.x[0, 0, 0] = 1.0
    images = Trajectories(
        np.zeros((2, 3, 8, 8)), np.tile(np.arange(3.0), (2, 1)), np.zeros((2, 3, 0))
    )
    assert images.shape == (8, 8)
    assert images.condition_names == ()


def test_trajectories_subset():
    data = tiny(n_runs=4)
    sub = data.subset([2, 0])
    np.testing.assert_array_equal(sub.x, data.x[[2, 0]])
    np.testing.assert_array_equal(sub.t, data.t[[2, 0]])
    np.testing.assert_array_equal(sub.conditions, data.conditions[[2, 0]])
    masked = data.subset(np.array([True, False, False, True]))
    np.testing.assert_array_equal(masked.x, data.x[[0, 3]])
    assert masked.condition_names == data.condition_names
    with pytest.raises(ValueError, match="selects no runs"):
        data.subset(np.zeros(4, dtype=bool))


def test_from_runs_stacks_and_rejects_different_lengths():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((5, 3)) for _ in range(2)]
    ts = [np.arange(5.0), np.arange(5.0) * 2]
    cs = [np.ones((5, 1)), 2 * np.ones((5, 1))]
    data = Trajectories.from_runs(xs, ts, cs, ["alpha"])
    assert data.x.shape == (2, 5, 3)
    assert data.condition_names == ("alpha",)
    with pytest.raises(ValueError, match=r"runs of different lengths.*\[5, 4\]"):
        Trajectories.from_runs([xs[0], xs[1][:4]], [ts[0], ts[1][:4]], [cs[0], cs[1][:4]])
    with pytest.raises(ValueError, match="same, non-zero number of runs"):
        Trajectories.from_runs(xs, ts[:1], cs)
    with pytest.raises(ValueError, match="same, non-zero number of runs"):
        Trajectories.from_runs([], [], [])


@pytest.mark.parametrize(
    ("what", "match"),
    [
        ("x_nan", r"x has non-finite values \(first at run 1, time index 2\)"),
        ("x_inf", r"x has non-finite values"),
        ("t_nan", r"t has non-finite values \(first in run 2\)"),
        ("c_nan", r"conditions has non-finite values \(first in run 0\)"),
        ("t_unsorted", r"t must increase strictly within each run; run 1 has t\[2\]=3 >= t\[3\]=2"),
        ("t_repeated", r"t must increase strictly within each run; run 0"),
        ("c_2d", r"conditions must have shape \(3, 4, C\)"),
        ("c_wrong_runs", r"conditions must have shape \(3, 4, C\)"),
        ("t_wrong", r"t must have shape \(3, 4\)"),
        ("x_2d", r"x must have shape \(runs, times, \*shape\)"),
        ("one_time", r"at least 2 snapshots"),
        ("names", r"condition_names has 2 names for 1 conditions"),
    ],
)
def test_trajectories_reject_bad_input(what, match):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5))
    t = np.tile(np.arange(4.0), (3, 1))
    c = np.ones((3, 4, 1))
    names = ()
    if what == "x_nan":
        x[1, 2, 3] = np.nan
    elif what == "x_inf":
        x[0, 0, 0] = np.inf
    elif what == "t_nan":
        t[2, 1] = np.nan
    elif what == "c_nan":
        c[0, 3, 0] = np.nan
    elif what == "t_unsorted":
        t[1] = [0.0, 1.0, 3.0, 2.0]
    elif what == "t_repeated":
        t[0, 1] = 0.0
    elif what == "c_2d":
        c = np.ones((3, 4))
    elif what == "c_wrong_runs":
        c = np.ones((2, 4, 1))
    elif what == "t_wrong":
        t = t[:, :3]
    elif what == "x_2d":
        x, t, c = x[:, :, 0], t, c
    elif what == "one_time":
        x, t, c = x[:, :1], t[:, :1], c[:, :1]
    elif what == "names":
        names = ("a", "b")
    with pytest.raises(ValueError, match=match):
        Trajectories(x, t, c, names)


# --- build_model ---------------------------------------------------------------------------


def test_build_model_kinds_and_seed():
    cfg = NRPConfig(latent_dim=3, hidden=(8,), conv_channels=(2, 4), conv_hidden=8)
    mlp = build_model("mlp", (10,), cfg, 2)
    assert isinstance(mlp.autoencoder, MLPAutoencoder)
    assert mlp.latent_dim == 3
    assert mlp.potential.n_conditions == 2
    conv = build_model("conv", (16, 16), cfg, 0)
    assert isinstance(conv.autoencoder, ConvAutoencoder)
    assert conv.encode(torch.zeros(2, 16, 16)).shape == (2, 3)
    # The same seed gives the same weights and leaves the global RNG alone.
    state = torch.random.get_rng_state()
    _assert_same_weights(mlp, build_model("mlp", (10,), cfg, 2))
    assert torch.equal(state, torch.random.get_rng_state())
    other = build_model("mlp", (10,), cfg.replace(seed=1), 2)
    assert not torch.equal(other.potential.net[0].weight, mlp.potential.net[0].weight)


@pytest.mark.parametrize(
    ("kind", "shape", "match"),
    [
        ("mlp", (4, 4), r"'mlp' model takes vectors \(F,\)"),
        ("conv", (16,), r"'conv' model takes square images"),
        ("conv", (16, 8), r"'conv' model takes square images"),
        ("gnn", (16,), r"kind must be one of"),
    ],
)
def test_build_model_rejects_bad_kind_or_shape(kind, shape, match):
    with pytest.raises(ValueError, match=match):
        build_model(kind, shape, NRPConfig(hidden=(4,)), 1)


# --- time_derivative -----------------------------------------------------------------------


def _grid(rng, b, m):
    return torch.as_tensor(np.cumsum(rng.uniform(0.05, 2.0, (b, m)), axis=1))


def test_forward_difference_is_exact_for_linear_motion():
    rng = np.random.default_rng(0)
    t = _grid(rng, 6, 2)
    p, q = torch.as_tensor(rng.normal(size=(6, 1, 3))), torch.as_tensor(rng.normal(size=(6, 1, 3)))
    z = p + q * t[:, :, None]
    torch.testing.assert_close(time_derivative(z, t, "forward"), q[:, 0])


def test_forward_difference_is_first_order():
    # z = r·t²: the forward difference gives r·(t₀ + t₁), off from 2r·t₀ by exactly r·h.
    rng = np.random.default_rng(1)
    t = _grid(rng, 6, 2)
    r = torch.as_tensor(rng.normal(size=(6, 1, 2)))
    z = r * t[:, :, None] ** 2
    err = time_derivative(z, t, "forward") - 2 * r[:, 0] * t[:, :1]
    torch.testing.assert_close(err, r[:, 0] * (t[:, 1:] - t[:, :1]))


def test_central_difference_is_exact_for_quadratic_motion_on_nonuniform_grids():
    rng = np.random.default_rng(2)
    t = _grid(rng, 8, 3)
    assert not torch.allclose(t[:, 1] - t[:, 0], t[:, 2] - t[:, 1])  # truly non-uniform
    p, q, r = (torch.as_tensor(rng.normal(size=(8, 1, 3))) for _ in range(3))
    z = p + q * t[:, :, None] + r * t[:, :, None] ** 2
    got = time_derivative(z, t, "central")
    torch.testing.assert_close(got, q[:, 0] + 2 * r[:, 0] * t[:, 1:2])
    # ... and not for cubic motion (the estimate is second order, not better).
    z3 = z + t[:, :, None] ** 3
    assert not torch.allclose(time_derivative(z3, t, "central"), got + 3 * t[:, 1:2] ** 2)


# --- nrp_loss ------------------------------------------------------------------------------


class ShiftAE(nn.Module):
    """encode = identity, decode = z + shift: a known reconstruction error."""

    def __init__(self, dim, shift):
        super().__init__()
        self.latent_dim = dim
        self.shift = shift
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, x):
        return x

    def decode(self, z):
        return z + self.shift


class Quadratic(PotentialNet):
    """V(z, a) = a·|z|²/2."""

    def __init__(self, latent_dim):
        super().__init__(latent_dim, n_conditions=1, hidden=(1,))

    def forward(self, z, conditions=None):
        return 0.5 * conditions[:, 0].to(z.dtype) * (z * z).sum(1)


def _hand_model(dim=2, shift=0.0):
    return ReducedPotentialModel(ShiftAE(dim, shift), Quadratic(dim)).double()


@pytest.mark.parametrize("norm", ["l2", "mse"])
@pytest.mark.parametrize("lam", [0.1, 2.0])
def test_nrp_loss_forward_by_hand(norm, lam):
    rng = np.random.default_rng(0)
    b, dim = 5, 3
    x = torch.as_tensor(rng.normal(size=(b, 2, dim)))
    t = torch.as_tensor(np.cumsum(rng.uniform(0.1, 1.0, (b, 2)), axis=1))
    a = torch.as_tensor(rng.uniform(0.5, 2.0, (b, 2, 1)))
    cfg = NRPConfig(loss_norm=norm, lambda_v=lam)
    out = nrp_loss(_hand_model(dim, shift=0.5), x, t, a, cfg)
    # Residual of the potential term at the window's first snapshot.
    res = (x[:, 1] - x[:, 0]) / (t[:, 1] - t[:, 0])[:, None] + a[:, 0] * x[:, 0]
    if norm == "l2":
        ae = 0.5 * math.sqrt(dim)  # every entry is off by 0.5; mean of per-sample norms
        v = float(res.norm(dim=1).mean())
    else:
        ae = 0.25
        v = float((res**2).mean())
    assert out["ae"].item() == pytest.approx(ae, rel=1e-9)
    assert out["v"].item() == pytest.approx(v, rel=1e-9)
    assert out["loss"].item() == pytest.approx(ae + lam * v, rel=1e-9)


@pytest.mark.parametrize("norm", ["l2", "mse"])
def test_nrp_loss_central_by_hand(norm):
    rng = np.random.default_rng(1)
    b, dim = 4, 2
    x = torch.as_tensor(rng.normal(size=(b, 3, dim)))
    t = torch.as_tensor(np.cumsum(rng.uniform(0.1, 1.0, (b, 3)), axis=1))
    a = torch.as_tensor(rng.uniform(0.5, 2.0, (b, 3, 1)))
    out = nrp_loss(_hand_model(dim), x, t, a, NRPConfig(loss_norm=norm, derivative="central"))
    # Anchored at the middle snapshot: its derivative estimate, its state and its condition.
    res = time_derivative(x, t, "central") + a[:, 1] * x[:, 1]
    v = res.norm(dim=1).mean() if norm == "l2" else (res**2).mean()
    assert out["v"].item() == pytest.approx(float(v), rel=1e-9)
    assert out["ae"].item() < 1e-5  # perfect reconstruction (l2 keeps a 1e-6 floor)


def test_nrp_loss_vanishes_on_the_models_own_flow():
    # z₁ = z₀ − Δt·∂V/∂z(z₀) is an Euler step of the model: the forward L_V is zero. With
    # central differences, a quadratic-in-time z(t) whose slope at t₁ equals −a·z(t₁) is
    # differentiated exactly: L_V is zero too.
    rng = np.random.default_rng(3)
    b, dim = 6, 2
    z0 = torch.as_tensor(rng.normal(size=(b, dim)))
    t = torch.as_tensor(np.cumsum(rng.uniform(0.1, 1.0, (b, 3)), axis=1))
    a = torch.as_tensor(rng.uniform(0.5, 2.0, (b, 1)))
    cond = a[:, None, :].expand(b, 3, 1)
    z1 = z0 - (t[:, 1] - t[:, 0])[:, None] * a * z0
    cfg = NRPConfig(loss_norm="mse")
    out = nrp_loss(_hand_model(dim), torch.stack([z0, z1], 1), t[:, :2], cond[:, :2], cfg)
    assert out["v"].item() < 1e-24
    q, r = torch.as_tensor(rng.normal(size=(b, dim))), torch.as_tensor(rng.normal(size=(b, dim)))
    t1 = t[:, 1:2]
    p = -(q + 2 * r * t1) / a - q * t1 - r * t1**2  # so that ż(t₁) = −a·z(t₁)
    z = p[:, None] + q[:, None] * t[:, :, None] + r[:, None] * t[:, :, None] ** 2
    out = nrp_loss(_hand_model(dim), z, t, cond, cfg.replace(derivative="central"))
    assert out["v"].item() < 1e-20


def test_nrp_loss_trains_encoder_through_both_terms_and_potential_only_through_lv():
    data = tiny(n_runs=2, n_times=3, n_features=6)
    x = torch.tensor(data.x[:, :2])
    t = torch.tensor(data.t[:, :2], dtype=torch.float32)
    c = torch.tensor(data.conditions[:, :2], dtype=torch.float32)
    for lam in (0.1, 0.0):
        model = build_model("mlp", (6,), TINY.replace(lambda_v=lam), 1)
        out = nrp_loss(model, x, t, c, TINY.replace(lambda_v=lam))
        out["loss"].backward()
        pot = [p.grad for name, p in model.potential.net.named_parameters() if "weight" in name]
        if lam:
            assert all(g is not None and g.abs().max() > 0 for g in pot)
        else:
            assert all(g is None or g.abs().max() == 0 for g in pot)
    # L_V alone moves the encoder: the potential shapes the latent space.
    model = build_model("mlp", (6,), TINY, 1)
    nrp_loss(model, x, t, c, TINY)["v"].backward()
    assert model.autoencoder.encoder[0].weight.grad.abs().max() > 0
    assert model.autoencoder.decoder[0].weight.grad is None
    # With a snapshot repeated (dz/dt = 0), L_V = ‖∂V/∂z(E(x))‖ reaches the encoder only through
    # the potential's gradient at z = E(x): that path must stay in the graph as well.
    model = build_model("mlp", (6,), TINY, 1)
    still = x[:, :1].expand(-1, 2, -1).contiguous()
    nrp_loss(model, still, t, c, TINY)["v"].backward()
    # (measured 5e-3; the dz/dt path alone leaves only rounding, ~1e-8)
    assert model.autoencoder.encoder[0].weight.grad.abs().max() > 1e-4


def test_nrp_loss_without_conditions():
    data = tiny(n_conditions=0)
    model = build_model("mlp", (6,), TINY, 0)
    x = torch.tensor(data.x[:, :2])
    t = torch.tensor(data.t[:, :2], dtype=torch.float32)
    c = torch.tensor(data.conditions[:, :2], dtype=torch.float32)
    out = nrp_loss(model, x, t, c, TINY)
    assert torch.isfinite(out["loss"])


# --- fit_nrp: artifacts, determinism, resume ------------------------------------------------


def test_fit_writes_artifacts_and_a_history_matching_the_csv_log(tmp_path):
    data = tiny()
    model, history = _fit(data, TINY.replace(epochs=3), tmp_path, val=tiny(n_runs=2, seed=1))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "model.pt").is_file()
    assert json.loads((tmp_path / "history.json").read_text()) == history
    assert history["epoch"] == [0.0, 1.0, 2.0]
    for key in ("train_loss", "train_ae", "train_v", "val_loss", "val_ae", "val_v"):
        assert len(history[key]) == 3
        assert all(math.isfinite(v) for v in history[key])
    # The history holds each epoch's own means (not the previous epoch's): same as the CSV log.
    (log,) = tmp_path.glob("logs/*/metrics.csv")
    rows = [r for r in csv.DictReader(log.open()) if r["train_loss"]]
    assert [float(r["train_loss"]) for r in rows] == pytest.approx(history["train_loss"])
    for lv, ae, v in zip(
        history["train_loss"], history["train_ae"], history["train_v"], strict=True
    ):
        assert lv == pytest.approx(ae + TINY.lambda_v * v, rel=1e-5)
    # The saved weights are the model's final weights, condition scaling included.
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)
    flat = torch.tensor(data.conditions.reshape(-1, 1))
    torch.testing.assert_close(model.potential.condition_mean, flat.mean(0).float())


def test_fit_is_deterministic_under_a_seed(tmp_path):
    data = tiny()
    a, ha = _fit(data, TINY, tmp_path / "a")
    b, hb = _fit(data, TINY, tmp_path / "b")
    _assert_same_weights(a, b)
    assert ha == hb
    c, _ = _fit(data, TINY.replace(seed=1), tmp_path / "c")
    assert not torch.equal(a.potential.net[0].weight, c.potential.net[0].weight)


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    data = tiny()
    cfg = TINY.replace(epochs=6)
    full, h_full = _fit(data, cfg, tmp_path / "full")
    _, h3 = _fit(data, cfg.replace(epochs=3), tmp_path / "split")
    resumed, h6 = _fit(data, cfg, tmp_path / "split", resume=True)
    assert h6["epoch"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert h6["train_loss"][:3] == h3["train_loss"]
    # A fresh model continued from the checkpoint (not from its own initial weights), with the
    # optimizer state and the epoch's shuffling order: the same run as an uninterrupted one.
    _assert_same_weights(resumed, full)
    assert h6["train_loss"] == pytest.approx(h_full["train_loss"], rel=1e-6)
    # Without resume, the fit starts over.
    _, again = _fit(data, cfg.replace(epochs=2), tmp_path / "split", resume=False)
    assert again["epoch"] == [0.0, 1.0]
    assert again["train_loss"] == pytest.approx(h_full["train_loss"][:2], rel=1e-6)


def test_load_model_round_trip(tmp_path):
    data = tiny(n_conditions=2)
    cfg = TINY.replace(latent_dim=3)
    model, _ = _fit(data, cfg, tmp_path)
    loaded = load_model("mlp", data.shape, cfg, 2, tmp_path / "model.pt")
    _assert_same_weights(model, loaded)
    z = encode_trajectories(loaded, data)
    np.testing.assert_array_equal(z, encode_trajectories(model, data))
    np.testing.assert_array_equal(
        potential_values(loaded, z, data.conditions), potential_values(model, z, data.conditions)
    )
    with pytest.raises(RuntimeError):  # a different architecture does not load silently
        load_model("mlp", data.shape, cfg.replace(hidden=(9,)), 2, tmp_path / "model.pt")


def test_lambda_zero_leaves_the_potential_untouched(tmp_path):
    data = tiny()
    cfg = TINY.replace(lambda_v=0.0)
    init = build_model("mlp", data.shape, cfg, 1)
    model, history = _fit(data, cfg, tmp_path)
    for p0, p1 in zip(
        init.potential.net.parameters(), model.potential.net.parameters(), strict=True
    ):
        assert torch.equal(p0, p1)
    assert not torch.equal(init.autoencoder.encoder[0].weight, model.autoencoder.encoder[0].weight)
    assert history["train_loss"] == pytest.approx(history["train_ae"])


def test_fit_conv_model_with_central_differences(tmp_path):
    rng = np.random.default_rng(0)
    t = np.tile([0.0, 0.5, 0.7, 1.5], (3, 1))
    data = Trajectories(rng.standard_normal((3, 4, 8, 8)), t, rng.uniform(1, 4, (3, 4, 2)))
    cfg = TINY.replace(derivative="central", conv_channels=(2,), conv_hidden=4, batch_size=3)
    model = build_model("conv", (8, 8), cfg, 2)
    history = fit_nrp(model, data, cfg, tmp_path, progress=False)
    assert len(history["train_loss"]) == 2
    assert all(math.isfinite(v) for v in history["train_v"])


def test_fit_rejects_bad_input(tmp_path):
    data = tiny(n_conditions=2)
    model = build_model("mlp", data.shape, TINY, 1)
    with pytest.raises(ValueError, match="train has 2 conditions, the potential expects 1"):
        fit_nrp(model, data, TINY, tmp_path, progress=False)
    with pytest.raises(TypeError, match="train must be Trajectories"):
        fit_nrp(model, data.x, TINY, tmp_path, progress=False)
    model = build_model("mlp", data.shape, TINY, 2)
    with pytest.raises(ValueError, match="val snapshots have shape"):
        fit_nrp(model, data, TINY, tmp_path, val=tiny(n_features=7, n_conditions=2))
    short = tiny(n_times=2, n_conditions=2)
    with pytest.raises(ValueError, match="needs runs of ≥ 3 snapshots"):
        fit_nrp(model, short, TINY.replace(derivative="central"), tmp_path, progress=False)


# --- the synthetic gradient system -----------------------------------------------------------

DOUBLE_WELL = NRPConfig(
    epochs=120,
    batch_size=64,
    lr=1e-2,
    hidden=(32, 32),
    potential_hidden=(32, 32),
    lambda_v=0.1,
    loss_norm="l2",
)


@pytest.fixture(scope="module")
def double_well_fits(tmp_path_factory):
    """The same model trained with λ = 0.1 and with λ = 0 (no potential term)."""
    train = double_well(n_runs=16, seed=0)
    held_out = double_well(n_runs=8, seed=1)  # unseen well depths and starting points
    out = {}
    for lam in (0.1, 0.0):
        cfg = DOUBLE_WELL.replace(lambda_v=lam)
        model, history = _fit(train, cfg, tmp_path_factory.mktemp(f"dw{lam}"))
        scores = {}
        for name, data in (("train", train), ("held_out", held_out)):
            z = encode_trajectories(model, data)
            v = potential_values(model, z, data.conditions)
            scores[name] = {"monotone": monotone_fraction(v), **rollout_errors(model, data, 1, z=z)}
        out[lam] = (history, scores)
    return out


@pytest.mark.parametrize("split", ["train", "held_out"])
def test_double_well_potential_decreases_and_carries_the_dynamics(double_well_fits, split):
    history, scores = double_well_fits[0.1]
    s = scores[split]
    # Measured (train, held out): monotone 1.0, 1.0; ratio 0.69, 0.68; latent 0.25, 0.20;
    # decoded-baseline 0.59, 0.58. Seeds 1–3 gave monotone 1.0, ratio 0.56–0.91, latent
    # 0.23–0.30, decoded-baseline 0.55–0.67.
    assert s["monotone"] >= 0.9
    assert s["ratio"] < 0.95
    assert s["latent_ratio"] < 0.5
    assert s["decoded_baseline_ratio"] < 0.8
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]


@pytest.mark.parametrize("split", ["train", "held_out"])
def test_double_well_fails_without_the_potential_term(double_well_fits, split):
    # λ = 0 trains the autoencoder alone; V stays a random function of z, so it neither decreases
    # reliably along the flow nor predicts the next snapshot better than "nothing changes".
    with_v = double_well_fits[0.1][1][split]
    without = double_well_fits[0.0][1][split]
    # Measured (train, held out): monotone 0.44, 0.38; latent 1.003, 1.017; decoded-baseline
    # 1.002, 1.011; ratio 0.96, 1.09 (the data-space ratio also reflects how well the
    # autoencoder reconstructs, so it is compared with the λ = 0.1 model, not with 1). Seeds
    # 1–3: monotone ≤ 0.5, latent ≥ 0.99, decoded-baseline ≥ 0.99, ratio gap ≥ 0.10.
    assert without["monotone"] <= 0.75
    assert without["latent_ratio"] > 0.9
    assert without["decoded_baseline_ratio"] > 0.95
    assert without["monotone"] < with_v["monotone"] - 0.2
    assert without["latent_ratio"] > 2 * with_v["latent_ratio"]
    assert without["ratio"] > with_v["ratio"] + 0.05


def test_diverging_training_raises_instead_of_saving_nan_weights(tmp_path):
    data = tiny()
    huge = Trajectories(np.asarray(data.x) * 1e25, data.t, data.conditions)
    with pytest.raises(ValueError, match="non-finite train loss"):
        _fit(huge, TINY, tmp_path)
    assert not (tmp_path / "model.pt").exists()


def test_large_absolute_times_train_in_float32(tmp_path):
    data = tiny()
    shifted = Trajectories(data.x, data.t + 1e8, data.conditions)  # steps of ~0.1 at t ~ 1e8
    _, history = _fit(shifted, TINY, tmp_path)
    assert np.isfinite(history["train_loss"]).all()


# --- L_V residual forms ---------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["l2", "mse"])
@pytest.mark.parametrize("derivative", ["forward", "central"])
def test_step_and_relative_residuals_by_hand(norm, derivative):
    data = tiny(n_times=6)
    m = 2 if derivative == "forward" else 3
    cfg = TINY.replace(loss_norm=norm, derivative=derivative)
    model = build_model("mlp", data.shape, cfg, 1)
    x = torch.as_tensor(np.array(data.x[:, :m]), dtype=torch.float32)
    t = torch.as_tensor(np.array(data.t[:, :m]), dtype=torch.float32)
    c = torch.as_tensor(np.array(data.conditions[:, :m]), dtype=torch.float32)
    z = model.encode(x.reshape(-1, 6)).reshape(4, m, -1).detach()
    k = 0 if derivative == "forward" else 1
    grad = model.gradient(z[:, k], c[:, k])
    dzdt = time_derivative(z, t, derivative)
    tau = (t[:, 1] - t[:, 0]) if derivative == "forward" else (t[:, 2] - t[:, 0]) / 2

    def reduce(r):
        return (r.norm(dim=1).mean() if norm == "l2" else (r**2).mean()).item()

    step = reduce(tau[:, None] * (dzdt + grad))
    relative = step / reduce(tau[:, None] * dzdt)
    for residual, expected in (("step", step), ("relative", relative)):
        out = nrp_loss(model, x, t, c, cfg.replace(residual=residual))
        assert out["v"].item() == pytest.approx(expected, rel=1e-5), residual


def test_relative_residual_is_blind_to_the_scale_of_time():
    # Rescaling time rescales dz/dt and the fitted ∂V/∂z; the relative L_V only sees the ratio.
    data = tiny(n_times=4)
    cfg = TINY.replace(residual="relative")
    model = build_model("mlp", data.shape, cfg, 1)
    x = torch.as_tensor(np.array(data.x[:, :2]), dtype=torch.float32)
    t = torch.as_tensor(np.array(data.t[:, :2]), dtype=torch.float32)
    c = torch.as_tensor(np.array(data.conditions[:, :2]), dtype=torch.float32)
    zero = nrp_loss(model, x, t, c, cfg.replace(lambda_v=0.0))
    assert nrp_loss(model, x, t, c, cfg)["loss"] > zero["loss"]
    # A potential with no gradient leaves the one-step error equal to no change: exactly 1.
    with torch.no_grad():
        for p in model.potential.parameters():
            p.zero_()
    for scale in (1e-3, 1.0, 1e3):
        out = nrp_loss(model, x, t * scale, c, cfg)
        assert out["v"].item() == pytest.approx(1.0, rel=1e-5)


def test_config_rejects_unknown_residual_and_negative_patience():
    with pytest.raises(ValueError, match="residual"):
        NRPConfig(residual="acceleration")
    with pytest.raises(ValueError, match="early_stopping_patience"):
        NRPConfig(early_stopping_patience=-1)
    with pytest.raises(ValueError, match="potential_form"):
        NRPConfig(potential_form="quadratic")


def test_field_coupled_potential_trains(tmp_path):
    data = tiny(n_conditions=2)
    cfg = TINY.replace(potential_form="field-coupled", epochs=3)
    model, history = _fit(data, cfg, tmp_path)
    assert type(model.potential).__name__ == "FieldCoupledPotential"
    assert np.isfinite(history["train_loss"]).all()
    again = load_model("mlp", data.shape, cfg, 2, tmp_path / "model.pt")
    _assert_same_weights(model, again)


# --- early stopping, reuse of finished fits, kills and planted checkpoints -------------------


def test_early_stopping_keeps_the_best_epoch_and_stops(tmp_path):
    data, val = tiny(), tiny(n_runs=2, seed=1)
    cfg = TINY.replace(epochs=40, lr=0.05, early_stopping_patience=3)
    model, history = _fit(data, cfg, tmp_path, val=val)
    record = json.loads((tmp_path / "fit.json").read_text())
    best = int(np.argmin(history["val_loss"]))
    assert record["selected_epoch"] == best
    assert record["epochs_run"] == len(history["epoch"])
    # It stopped exactly `patience` epochs after the best one (or ran out of epochs).
    assert len(history["epoch"]) == min(best + 1 + 3, 40)
    assert record["stopped_early"] == (len(history["epoch"]) < 40)
    # The kept weights are the best epoch's: their validation loss is the best one.
    windows = [(r, i) for r in range(val.n_runs) for i in range(val.n_times - 1)]

    def stack(a):
        return torch.as_tensor(np.stack([a[r, i : i + 2] for r, i in windows]), dtype=torch.float32)

    rel_t = val.t - val.t[:, :1]
    loss = nrp_loss(model, stack(val.x), stack(rel_t), stack(val.conditions), cfg)["loss"].item()
    assert loss == pytest.approx(history["val_loss"][best], rel=1e-4)


def test_a_finished_fit_is_reused_without_training_or_new_logs(tmp_path):
    data = tiny()
    first, h1 = _fit(data, TINY, tmp_path)
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    second, h2 = _fit(data, TINY, tmp_path)
    assert h2 == h1
    _assert_same_weights(first, second)
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == logs
    # Another config is trained, not reused.
    _, h3 = _fit(data, TINY.replace(epochs=3), tmp_path)
    assert len(h3["epoch"]) == 3


_KILLABLE = """
import sys, time
import numpy as np
import lightning.pytorch as pl
sys.path.insert(0, {tests!r})
from training.test_nrp import TINY, tiny, _fit

class Slow(pl.Callback):
    def on_train_epoch_end(self, trainer, module):
        time.sleep(0.3)

cfg = TINY.replace(epochs=int(sys.argv[2]))
pl_trainer = pl.Trainer
def slow_trainer(*args, callbacks=(), **kwargs):
    return pl_trainer(*args, callbacks=[*callbacks, Slow()], **kwargs)
pl.Trainer = slow_trainer
_fit(tiny(), cfg, sys.argv[1])
"""


def test_a_killed_fit_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    cfg = TINY.replace(epochs=12)
    full, h_full = _fit(tiny(), cfg, tmp_path / "full")
    script = tmp_path / "killable.py"
    script.write_text(_KILLABLE.format(tests=str(Path(__file__).parents[1])))
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(run_dir), "12"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpt.is_file():
                epoch = torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"]
                if epoch >= 3:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the fit ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (run_dir / "model.pt").exists()
    assert not (run_dir / "fit.json").exists()
    resumed, h_resumed = _fit(tiny(), cfg, run_dir)
    _assert_same_weights(resumed, full)
    assert h_resumed["epoch"] == h_full["epoch"]
    assert h_resumed["train_loss"] == pytest.approx(h_full["train_loss"], rel=1e-6)


def test_a_planted_checkpoint_is_refused_not_executed(tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(pickle.dumps({"epoch": 0, "payload": Payload()}, protocol=2))
    with pytest.raises(ValueError, match=r"last\.ckpt.*refus"):
        _fit(tiny(), TINY, tmp_path)
    assert not marker.exists()


# --- L_V in integral form over several steps ------------------------------------------------


def test_multistep_lv_vanishes_on_the_models_own_euler_flow_and_reduces_to_the_papers():
    rng = np.random.default_rng(5)
    b, dim, k = 5, 2, 4
    t = torch.as_tensor(np.cumsum(rng.uniform(0.1, 0.6, (b, k + 1)), axis=1))
    a = torch.as_tensor(rng.uniform(0.5, 2.0, (b, 1)))
    cond = a[:, None, :].expand(b, k + 1, 1)
    states = [torch.as_tensor(rng.normal(size=(b, dim)))]
    for j in range(k):
        states.append(states[-1] - (t[:, j + 1] - t[:, j])[:, None] * a * states[-1])
    z = torch.stack(states, 1)
    cfg = NRPConfig(loss_norm="mse", lv_steps=k)
    assert nrp_loss(_hand_model(dim), z, t, cond, cfg)["v"].item() < 1e-24
    # A perturbed trajectory: the multi-step L_V is the mean over j of the residual at step j.
    noisy = z + 0.1 * torch.as_tensor(rng.normal(size=z.shape))
    out = nrp_loss(_hand_model(dim), noisy, t, cond, cfg)["v"].item()
    expected, state = [], noisy[:, 0]
    for j in range(1, k + 1):
        state = state - (t[:, j] - t[:, j - 1])[:, None] * a * state
        expected.append((((state - noisy[:, j]) / (t[:, j] - t[:, 0])[:, None]) ** 2).mean())
    assert out == pytest.approx(torch.stack(expected).mean().item(), rel=1e-10)
    # One step is exactly the papers' forward residual.
    one = nrp_loss(_hand_model(dim), noisy[:, :2], t[:, :2], cond[:, :2], cfg.replace(lv_steps=1))
    assert out != pytest.approx(one["v"].item())
    state = noisy[:, 0] - (t[:, 1] - t[:, 0])[:, None] * a * noisy[:, 0]
    first = (((state - noisy[:, 1]) / (t[:, 1] - t[:, 0])[:, None]) ** 2).mean()
    assert one["v"].item() == pytest.approx(first.item(), rel=1e-10)


def test_multistep_lv_needs_forward_velocity_residuals():
    with pytest.raises(ValueError, match="lv_steps=3"):
        NRPConfig(lv_steps=3, derivative="central")
    with pytest.raises(ValueError, match="lv_steps=3"):
        NRPConfig(lv_steps=3, residual="relative")


def test_fit_with_multistep_lv_uses_longer_windows(tmp_path):
    data = tiny(n_times=6)
    _, history = _fit(data, TINY.replace(lv_steps=3), tmp_path)
    assert np.isfinite(history["train_v"]).all()
    with pytest.raises(ValueError, match="needs runs of ≥ 7 snapshots"):
        _fit(data, TINY.replace(lv_steps=6), tmp_path / "long")


def test_a_finished_fit_is_reused_on_other_hardware_settings(tmp_path):
    data = tiny()
    _, h1 = _fit(data, TINY, tmp_path)
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    _, h2 = _fit(data, TINY.replace(accelerator="auto"), tmp_path)
    assert h2 == h1
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == logs
