"""Evaluation scores of the reduced-potential model, against analytic values on hand-built models.

The hand-built models use an identity "autoencoder" (x = z) and an exact potential
V(z, a) = a·|z|²/2 whose gradient flow z(t) = z₀·e^{−a t} generates the data, so every prediction
error has a closed form.
"""

import math

import numpy as np
import pytest
from torch import nn

from topophys.evaluate.nrp import (
    continuity_score,
    descent_fraction,
    encode_trajectories,
    gradient_at_times,
    interpolate_runs,
    latent_smoothness,
    monotone_fraction,
    one_step_predictions,
    potential_values,
    rollout_errors,
)
from topophys.models.nrp import ReducedPotentialModel
from topophys.models.potential import PotentialNet
from topophys.training.nrp import Trajectories


class Identity(nn.Module):
    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim

    def encode(self, x):
        return x

    def decode(self, z):
        return z


class Quadratic(PotentialNet):
    """V(z, a) = a·|z|²/2; ``scale=0`` gives a flat potential (zero gradient)."""

    def __init__(self, latent_dim, scale=1.0):
        super().__init__(latent_dim, n_conditions=1, hidden=(1,))
        self.scale = scale

    def forward(self, z, conditions=None):
        return self.scale * 0.5 * conditions[:, 0].to(z.dtype) * (z * z).sum(1)


def _model(latent_dim=3, scale=1.0):
    return ReducedPotentialModel(Identity(latent_dim), Quadratic(latent_dim, scale))


def _decay(n_runs=4, times=None, a=None, latent_dim=3, seed=0):
    """Exact trajectories z₀·e^{−a t} of the quadratic potential, one rate a per run."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, 11) if times is None else np.asarray(times, dtype=float)
    t = np.broadcast_to(t, (n_runs, t.shape[-1])).copy()
    a = rng.uniform(0.5, 2.0, n_runs) if a is None else np.broadcast_to(a, (n_runs,))
    z0 = rng.uniform(0.5, 2.0, (n_runs, latent_dim)) * rng.choice([-1, 1], (n_runs, latent_dim))
    x = z0[:, None, :] * np.exp(-a[:, None, None] * t[:, :, None])
    cond = np.broadcast_to(a[:, None, None], (n_runs, t.shape[1], 1))
    return Trajectories(x, t, cond, ("a",)), a


# --- monotone_fraction ---------------------------------------------------------------------


def test_monotone_fraction_hand_made():
    v = np.array(
        [
            [3.0, 2.0, 1.0, 0.0],  # strictly decreasing
            [3.0, 2.0, 2.02, 0.0],  # rises by 0.02 ≤ 1% of the range 3: tolerated
            [3.0, 2.0, 2.1, 0.0],  # rises by 0.1 > 0.03: not monotone
            [1.0, 1.0, 1.0, 1.0],  # flat
        ]
    )
    assert monotone_fraction(v) == 0.75
    assert monotone_fraction(v, tol=0.0) == 0.5
    assert monotone_fraction(v, tol=0.05) == 1.0
    assert monotone_fraction(-v[:1]) == 0.0  # increasing


def test_monotone_fraction_is_scale_invariant():
    rng = np.random.default_rng(0)
    v = np.cumsum(rng.normal(-1.0, 0.8, (30, 12)), axis=1)
    f = monotone_fraction(v, tol=0.02)
    assert 0 < f < 1
    assert monotone_fraction(1e4 * v + 7.0, tol=0.02) == f


@pytest.mark.parametrize("shape", [(5,), (5, 1), (2, 3, 4)])
def test_monotone_fraction_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="values must have shape"):
        monotone_fraction(np.zeros(shape))


def test_monotone_fraction_rejects_negative_tol():
    with pytest.raises(ValueError, match="tol"):
        monotone_fraction(np.zeros((2, 3)), tol=-0.1)


# --- encode / potential / gradient ---------------------------------------------------------


def test_encode_trajectories_and_potential_values():
    data, a = _decay()
    m = _model()
    z = encode_trajectories(m, data, batch_size=7)  # batches that straddle runs
    assert z.shape == (4, 11, 3)
    assert z.dtype == np.float64
    np.testing.assert_allclose(z, data.x, rtol=0, atol=0)
    v = potential_values(m, z, data.conditions)
    assert v.shape == (4, 11)
    np.testing.assert_allclose(v, 0.5 * a[:, None] * (data.x.astype(float) ** 2).sum(2), rtol=1e-6)
    assert monotone_fraction(v, tol=0.0) == 1.0


def test_interpolate_runs_is_linear_in_time():
    t = np.array([[0.0, 1.0, 3.0], [0.0, 0.5, 1.0]])
    values = np.stack([2 * t + 1, -t], axis=2)  # (R, T, 2), linear in t
    out = interpolate_runs(values, t, np.array([2.0, 0.25]))
    np.testing.assert_allclose(out, [[5.0, -2.0], [1.5, -0.25]])
    # End points are inside; beyond them, and NaN, give NaN rows.
    np.testing.assert_allclose(interpolate_runs(values, t, np.array([3.0, 0.0])), [[7, -3], [1, 0]])
    out = interpolate_runs(values, t, np.array([3.5, np.nan]))
    assert np.isnan(out).all()
    out = interpolate_runs(values, t, np.array([-0.1, 1.0]))
    assert np.isnan(out[0]).all()
    np.testing.assert_allclose(out[1], [3.0, -1.0])


def test_interpolate_runs_is_piecewise_linear():
    t = np.array([[0.0, 1.0, 2.0]])
    values = np.array([[[0.0], [10.0], [0.0]]])
    np.testing.assert_allclose(interpolate_runs(values, t, np.array([1.5])), [[5.0]])


def test_gradient_at_times():
    data, a = _decay(times=[0.0, 0.1, 0.4, 1.0])
    m = _model()
    tq = np.array([0.25, np.nan, 1.0, 0.05])
    z = encode_trajectories(m, data)
    g = gradient_at_times(m, z, data, tq)
    assert g.shape == (4, 3)
    assert np.isnan(g[1]).all()
    ok = [0, 2, 3]
    zq = interpolate_runs(data.x, data.t, tq)
    np.testing.assert_allclose(g[ok], a[ok, None] * zq[ok], rtol=1e-6)


def test_gradient_at_times_interpolates_conditions():
    # With a(t) changing along the run, ∂V/∂z at t_q uses a(t_q), interpolated like z.
    data, _ = _decay(n_runs=1, times=[0.0, 1.0])
    cond = np.array([[[1.0], [3.0]]])
    data = Trajectories(data.x, data.t, cond, ("a",))
    g = gradient_at_times(_model(), data.x.astype(float), data, np.array([0.5]))
    zq = 0.5 * (data.x[0, 0] + data.x[0, 1])
    np.testing.assert_allclose(g[0], 2.0 * zq, rtol=1e-6)


# --- rollout_errors ------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("substeps", [1, 4])
def test_rollout_errors_exact_potential_closed_form(k, substeps):
    # Every run decays at the same rate a on a uniform grid, so each k-step Euler prediction
    # (1 − a·dt/s)^{s·k}·z_s misses the truth e^{−a·k·dt}·z_s by the same factor of |z_s| as the
    # no-change baseline z_s does: the ratio is a closed form, whatever z_s.
    a, dt = 1.5, 0.1
    data, _ = _decay(n_runs=3, a=a, times=np.arange(8) * dt)
    m = _model()
    out = rollout_errors(m, data, k, substeps=substeps)
    euler = (1 - a * dt / substeps) ** (substeps * k)
    exact = math.exp(-a * k * dt)
    ratio = (exact - euler) / (1 - exact)
    assert out["n"] == 3 * (8 - k)
    assert out["ratio"] == pytest.approx(ratio, rel=1e-4)
    assert out["latent_ratio"] == pytest.approx(ratio, rel=1e-4)
    assert out["decoded_baseline_ratio"] == pytest.approx(ratio, rel=1e-4)
    assert out["ratio"] < 0.2  # the potential carries the dynamics
    assert out["error"] / out["baseline_error"] == pytest.approx(out["ratio"])
    # baseline_error = Σ‖x_s − x_{s+k}‖ / Σ‖x_{s+k}‖ = (1 − e^{−akdt}) / e^{−akdt}.
    assert out["baseline_error"] == pytest.approx((1 - exact) / exact, rel=1e-5)


def test_rollout_errors_nonuniform_grid_against_a_direct_computation():
    data, a = _decay(n_runs=4, times=[0.0, 0.05, 0.2, 0.3, 0.6, 0.65])
    out = rollout_errors(_model(), data, 2)
    x, t = data.x.astype(float), data.t
    err = base = scale = 0.0
    for r in range(4):
        for s in range(4):
            pred = (
                x[r, s]
                * (1 - a[r] * (t[r, s + 1] - t[r, s]))
                * (1 - a[r] * (t[r, s + 2] - t[r, s + 1]))
            )
            err += np.linalg.norm(pred - x[r, s + 2])
            base += np.linalg.norm(x[r, s] - x[r, s + 2])
            scale += np.linalg.norm(x[r, s + 2])
    assert out["error"] == pytest.approx(err / scale, rel=1e-4)
    assert out["baseline_error"] == pytest.approx(base / scale, rel=1e-6)
    assert out["ratio"] == pytest.approx(err / base, rel=1e-4)
    assert out["ratio"] < 1


def test_rollout_errors_flat_potential_is_the_baseline():
    # ∂V/∂z = 0: the prediction is the no-change state itself, so every ratio is exactly 1.
    data, _ = _decay()
    out = rollout_errors(_model(scale=0.0), data, 2)
    assert out["latent_ratio"] == 1.0
    assert out["ratio"] == pytest.approx(1.0, rel=1e-12)
    assert out["decoded_baseline_ratio"] == pytest.approx(1.0, rel=1e-12)


def test_rollout_errors_wrong_sign_is_worse_than_the_baseline():
    data, _ = _decay()
    out = rollout_errors(_model(scale=-1.0), data, 1)  # dz/dt = +a·z: the flow runs backwards
    assert out["ratio"] > 1
    assert out["latent_ratio"] > 1


def test_rollout_errors_accepts_precomputed_latents():
    data, _ = _decay()
    m = _model()
    z = encode_trajectories(m, data)
    assert rollout_errors(m, data, 1, z=z, batch_size=5) == rollout_errors(m, data, 1)


@pytest.mark.parametrize(("k", "error"), [(0, ValueError), (11, ValueError), (1.5, TypeError)])
def test_rollout_errors_rejects_bad_k(k, error):
    data, _ = _decay()
    with pytest.raises(error, match="k"):
        rollout_errors(_model(), data, k)


def test_one_step_predictions():
    data, a = _decay(times=[0.0, 0.1, 0.3, 0.35])
    out = one_step_predictions(_model(), data, run=2)
    x, t = data.x[2].astype(float), data.t[2]
    np.testing.assert_allclose(out["truth"], x)
    np.testing.assert_allclose(out["reconstruction"], x, rtol=1e-6)
    expected = np.concatenate([x[:1], x[:-1] * (1 - a[2] * np.diff(t))[:, None]])
    np.testing.assert_allclose(out["prediction"], expected, rtol=1e-5)
    assert np.isnan(out["rmse"][0]) and np.isnan(out["baseline_rmse"][0])
    rmse = np.sqrt(((expected - x) ** 2).mean(axis=1))
    np.testing.assert_allclose(out["rmse"][1:], rmse[1:], rtol=1e-3)
    base = np.sqrt(((x[:-1] - x[1:]) ** 2).mean(axis=1))
    np.testing.assert_allclose(out["baseline_rmse"][1:], base)
    assert (out["rmse"][1:] < out["baseline_rmse"][1:]).all()


# --- latent_smoothness ---------------------------------------------------------------------


def _latent_path(points):
    """z (R, T=2, L=2) with run r at points[r] at both times (the second time scaled by 3)."""
    p = np.asarray(points, dtype=float)
    return np.stack([p, 3 * p + 1], axis=1)


def test_latent_smoothness_straight_line():
    alphas = np.linspace(1.0, 4.0, 7)
    z = _latent_path(np.stack([alphas, -2 * alphas], axis=1))
    out = latent_smoothness(z, alphas)
    assert out["smoothness"] == pytest.approx(1.0)
    assert out["max_jump_fraction"] == pytest.approx(1 / 6)


def test_latent_smoothness_zigzag_and_step():
    alphas = np.arange(11.0)
    zigzag = _latent_path(np.stack([alphas % 2, np.zeros(11)], axis=1))
    out = latent_smoothness(zigzag, alphas)
    # ‖s_j‖ = 2‖d_j‖: smoothness = 1 − 2·9 / (2·10) = 1/(A−1).
    assert out["smoothness"] == pytest.approx(0.1)
    step = _latent_path(np.stack([(alphas > 4.5).astype(float), np.zeros(11)], axis=1))
    out = latent_smoothness(step, alphas)
    assert out["smoothness"] == pytest.approx(0.0)
    assert out["max_jump_fraction"] == pytest.approx(1.0)


def test_latent_smoothness_invariances():
    rng = np.random.default_rng(1)
    alphas = np.repeat(np.linspace(1, 4, 6), 3)  # three seeds per α
    z = rng.normal(size=(18, 5, 2)) + alphas[:, None, None]
    ref = latent_smoothness(z, alphas)
    assert 0 < ref["smoothness"] < 1
    perm = rng.permutation(18)
    for key, value in latent_smoothness(z[perm], alphas[perm]).items():
        assert value == pytest.approx(ref[key])
    for key, value in latent_smoothness(50 * z - 3, alphas).items():
        assert value == pytest.approx(ref[key])


def test_latent_smoothness_averages_seeds():
    # Two seeds per α scattered symmetrically about a straight line average to the line.
    alphas = np.linspace(1, 3, 5)
    line = np.stack([alphas, alphas**0 * 2], axis=1)
    noise = np.random.default_rng(2).normal(size=(5, 2))
    z = _latent_path(np.concatenate([line + noise, line - noise]))
    out = latent_smoothness(z, np.concatenate([alphas, alphas]))
    assert out["smoothness"] == pytest.approx(1.0)
    assert out["max_jump_fraction"] == pytest.approx(0.25)


def test_latent_smoothness_constant_states():
    out = latent_smoothness(np.ones((4, 3, 2)), np.arange(4.0))
    assert out == {"smoothness": 1.0, "max_jump_fraction": 0.0}


def test_latent_smoothness_rejects_bad_input():
    with pytest.raises(ValueError, match="≥ 3 distinct α"):
        latent_smoothness(np.zeros((4, 3, 2)), np.array([1.0, 1.0, 2.0, 2.0]))
    with pytest.raises(ValueError, match="alphas must have shape"):
        latent_smoothness(np.zeros((4, 3, 2)), np.arange(5.0))


# --- continuity_score ----------------------------------------------------------------------


def test_continuity_score_line_step_and_rotation_invariance():
    alphas = np.linspace(1, 4, 7)
    line = 2.0 * alphas - 1
    assert continuity_score(alphas, line) == pytest.approx(1 / 6)
    step = (alphas > 2.2).astype(float)
    assert continuity_score(alphas, step) == pytest.approx(1.0)
    assert continuity_score(alphas, np.full(7, 3.0)) == 0.0
    # A 2-D path: rotating the latent axes does not change the score.
    path = np.stack([np.cos(alphas), np.sin(alphas)], axis=1)
    c, s_ = np.cos(0.7), np.sin(0.7)
    rotated = path @ np.array([[c, -s_], [s_, c]])
    assert continuity_score(alphas, rotated) == pytest.approx(continuity_score(alphas, path))


def test_continuity_score_averages_seeds_and_ignores_nan_rows():
    alphas = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0])
    values = np.array([[0.0], [2.0], [2.0], [2.0], [3.0], [np.nan], [4.0]])
    # Means per α: 1, 2, 3, 4 → jumps of 1 over a range of 3.
    assert continuity_score(alphas, values) == pytest.approx(1 / 3)
    shuffled = np.random.default_rng(0).permutation(7)
    assert continuity_score(alphas[shuffled], values[shuffled]) == pytest.approx(1 / 3)


def test_continuity_score_rejects_bad_input():
    with pytest.raises(ValueError, match="≥ 2 distinct α"):
        continuity_score(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="alphas must have shape"):
        continuity_score(np.arange(3.0), np.zeros((4, 2)))


# --- descent_fraction ------------------------------------------------------------------------


def test_descent_fraction_follows_the_flow_and_not_its_reverse():
    data, _ = _decay()
    z = np.asarray(data.x, dtype=np.float64)
    model = _model()
    assert descent_fraction(model, z, data.conditions) == 1.0
    assert descent_fraction(model, z[:, ::-1].copy(), data.conditions) == 0.0


# --- the gauge: anchored potential, reference state, rank correlation ------------------------


class Gauged(Quadratic):
    """The quadratic potential plus a term of the condition alone: same ∂V/∂z, other V."""

    def forward(self, z, conditions=None):
        a = conditions[:, 0].to(z.dtype)
        return super().forward(z, conditions) + 7.0 * a**3 - 2.0 * a


def test_anchored_potential_cancels_any_term_of_the_conditions():
    from topophys.evaluate.nrp import anchored_potential

    data, _ = _decay()
    z = np.asarray(data.x, dtype=np.float64)
    plain = _model()
    gauged = ReducedPotentialModel(Identity(3), Gauged(3))
    # The raw values differ by the gauge term, the trained quantity ∂V/∂z does not ...
    assert not np.allclose(
        potential_values(plain, z, data.conditions), potential_values(gauged, z, data.conditions)
    )
    # ... and the anchored values agree to float32 precision.
    ref = z[1, 3]
    a = anchored_potential(plain, z, data.conditions, ref)
    b = anchored_potential(gauged, z, data.conditions, ref)
    np.testing.assert_allclose(a, b, atol=1e-4)
    # Analytic: a_r·(|z|² − |z̄|²)/2.
    expected = 0.5 * data.conditions[..., 0] * ((z**2).sum(2) - (ref**2).sum())
    np.testing.assert_allclose(a, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="z_ref"):
        anchored_potential(plain, z, data.conditions, ref[:2])


def test_reference_snapshot_is_nearest_to_the_mean_of_the_chosen_runs():
    from topophys.evaluate.nrp import reference_snapshot

    z = np.zeros((3, 4, 2))
    z[0] = [[0, 0], [1, 1], [2, 2], [3, 3]]  # mean (1.5, 1.5): nearest are (1, 1) and (2, 2)
    z[1] = 10.0
    z[2] = [[1.4, 1.6], [0, 0], [0, 0], [0, 0]]
    assert reference_snapshot(z, np.array([True, False, False])) == (0, 1)
    # With run 2 included the mean moves to ((6 + 1.4)/8, (6 + 1.6)/8) = (0.925, 0.95).
    assert reference_snapshot(z, np.array([True, False, True])) == (0, 1)
    assert reference_snapshot(z[2:]) == (0, 1)
    with pytest.raises(ValueError, match="runs"):
        reference_snapshot(z, np.zeros(3, bool))


def test_rank_correlation_agrees_with_scipy_and_ignores_monotone_maps():
    from scipy.stats import spearmanr

    from topophys.evaluate.nrp import rank_correlation

    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 12))
    b = a + 0.8 * rng.standard_normal((5, 12))
    b[0, :3] = b[0, 3]  # ties
    expected = [spearmanr(a[i], b[i]).statistic for i in range(5)]
    np.testing.assert_allclose(rank_correlation(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(rank_correlation(a, np.exp(3 * a) - 5), 1.0)
    np.testing.assert_allclose(rank_correlation(a, -a), -1.0)
    with pytest.raises(ValueError, match="row 1 is constant"):
        rank_correlation(a[:2], np.stack([a[0], np.ones(12)]))
    with pytest.raises(ValueError, match="same shape"):
        rank_correlation(a, b[:, :5])
    with pytest.raises(ValueError, match="finite"):
        rank_correlation(a, np.where(a > 0, np.nan, b))


def test_rollout_errors_by_start_add_up_to_the_pooled_ratios():
    from topophys.evaluate.nrp import rollout_errors_by_start

    data, _ = _decay(times=[0.0, 0.1, 0.25, 0.5, 0.8, 1.2])
    model = _model(scale=0.7)  # an inexact potential: every start has an error
    for k in (1, 3):
        pooled = rollout_errors(model, data, k)
        by = rollout_errors_by_start(model, data, k)
        assert by["error"].shape == by["t_start"].shape == (6 - k,)
        np.testing.assert_allclose(by["t_start"], data.t[0, : 6 - k])
        assert by["error"].sum() / by["baseline"].sum() == pytest.approx(pooled["ratio"])
        assert by["latent"].sum() / by["latent_baseline"].sum() == pytest.approx(
            pooled["latent_ratio"]
        )
        assert (by["error"] > 0).all()
