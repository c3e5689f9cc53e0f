r"""Evaluations of a trained Neural Reduced Potential (both NRP papers' figures, as numbers).

All functions take a :class:`~topophys.models.nrp.ReducedPotentialModel` and
:class:`~topophys.training.nrp.Trajectories` (or the latent states already encoded from them)
and return numpy arrays or plain dicts, ready for ``metrics.json``.

Definitions (ours; the papers show figures, not scores):

``monotone_fraction``
    The share of runs whose V_NN(z_t, c_t) never rises between consecutive snapshots by more
    than ``tol`` times that run's range of V (paper 1, Fig. 3a). Since V also depends on h(t),
    a V that merely grows with h passes it; ``descent_fraction`` holds the conditions fixed
    (V(z_{t+1}, c_t) ≤ V(z_t, c_t)) and so tests the gradient structure in z.
``rollout_errors``
    For k-step predictions ``x̂_t = D(Φ_k(z_{t−k}))`` (Φ_k: k explicit-Euler steps along −∂V/∂z
    on the run's own times and conditions), the relative error Σ‖x̂_t − x_t‖ / Σ‖x_t‖ and the
    ratios to the no-change baseline ``x_{t−k}`` (data space: what the issue asks; includes the
    autoencoder's reconstruction error), to the decoded no-change ``D(z_{t−k})`` (isolates what
    the potential adds beyond the autoencoder) and, in latent space, Σ‖ẑ_t − z_t‖ /
    Σ‖z_{t−k} − z_t‖. Below 1 means the potential carries the dynamics.
``latent_smoothness``
    Runs are averaged over seeds at each α (α sorted), giving a path Z_j(t) in latent space at
    every time t. With first differences d_j = Z_{j+1} − Z_j and second differences
    s_j = Z_{j+1} − 2Z_j + Z_{j−1}: ``smoothness = 1 − Σ_t Σ_j‖s_j‖ / (2 Σ_t Σ_j‖d_j‖)``, in
    [0, 1] because ‖s_j‖ ≤ ‖d_j‖ + ‖d_{j−1}‖: 1 for states moving along a straight line at a
    constant rate in α, near 0 for a zigzag. ``max_jump_fraction = Σ_t max_j‖d_j‖ / Σ_t Σ_j‖d_j‖``
    is ≈ 1/(A−1) for a smooth path over A anisotropies and → 1 for a single jump. Both are
    invariant to a rescaling of the latent space, so models with different latent scales compare.
``anchored_potential``
    Only ∂V/∂z is trained, so V is defined up to a gauge term g(c) of the conditions, which
    moves ``monotone_fraction`` at will (h(t) changes along every run). ``V(z_t, c_t) −
    V(z̄, c_t)`` for a fixed reference state z̄ cancels any such term; so does
    ``descent_fraction``, which holds c fixed.
``rank_correlation``
    Spearman's rank correlation along each run between two series, e.g. the anchored V and
    the anchored TDGL energy ``H(φ_t, h_t) − H(φ̄, h_t)`` with φ̄ the snapshot whose latent
    state is z̄: 1 when one rises exactly where the other does, whatever the scale.
``continuity_score``
    For per-run vectors (e.g. ∂V/∂z at T_init) averaged over seeds at each α: the largest jump
    between neighbouring α over the largest distance between any two α (Euclidean norms, so
    independent of the latent axes' orientation); 1/(A−1) for a uniform line (paper 2, Fig. 2C).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import _validate
from ..models.nrp import ReducedPotentialModel
from ..training.nrp import Trajectories

__all__ = [
    "anchored_potential",
    "continuity_score",
    "descent_fraction",
    "encode_trajectories",
    "gradient_at_times",
    "interpolate_runs",
    "latent_smoothness",
    "monotone_fraction",
    "one_step_predictions",
    "potential_values",
    "rank_correlation",
    "reference_snapshot",
    "rollout_errors",
    "rollout_errors_by_start",
]


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _batched(fn: Any, arrays: list[np.ndarray], batch_size: int) -> np.ndarray:
    out = []
    n = arrays[0].shape[0]
    for start in range(0, n, batch_size):
        out.append(fn(*(a[start : start + batch_size] for a in arrays)))
    return np.concatenate(out) if out else np.empty((0,))


def encode_trajectories(
    model: ReducedPotentialModel, data: Trajectories, batch_size: int = 256
) -> np.ndarray:
    """Latent states of every snapshot: ``(R, T, L)`` float64."""
    dev = _device(model)
    flat = data.x.reshape(-1, *data.shape)

    @torch.no_grad()
    def enc(x: np.ndarray) -> np.ndarray:
        return model.encode(torch.as_tensor(np.array(x), device=dev)).cpu().double().numpy()

    z = _batched(enc, [flat], batch_size)
    return z.reshape(data.n_runs, data.n_times, -1)


def potential_values(
    model: ReducedPotentialModel, z: np.ndarray, conditions: np.ndarray
) -> np.ndarray:
    """V_NN at latent states ``z (R, T, L)`` with ``conditions (R, T, C)``: ``(R, T)``."""
    dev = _device(model)
    r, t, latent = z.shape
    with torch.no_grad():
        zz = torch.as_tensor(z.reshape(-1, latent), dtype=torch.float32, device=dev)
        cc = torch.tensor(conditions.reshape(r * t, -1), dtype=torch.float32, device=dev)
        v = model.energy(zz, cc if cc.shape[1] else None)
    return v.cpu().double().numpy().reshape(r, t)


def descent_fraction(model: ReducedPotentialModel, z: np.ndarray, conditions: np.ndarray) -> float:
    """Share of snapshot-to-snapshot steps along which V decreases with the conditions held fixed.

    ``V(z_{t+1}, c_t) <= V(z_t, c_t)``: the gradient structure itself, which
    :func:`monotone_fraction` cannot isolate because V also moves with h(t).

    Parameters
    ----------
    z : ndarray, shape (R, T, L)
    conditions : ndarray, shape (R, T, C)
    """
    start = potential_values(model, z[:, :-1], conditions[:, :-1])
    end = potential_values(model, z[:, 1:], conditions[:, :-1])
    return float(np.mean(end <= start))


def anchored_potential(
    model: ReducedPotentialModel, z: np.ndarray, conditions: np.ndarray, z_ref: np.ndarray
) -> np.ndarray:
    """``V(z_t, c_t) − V(z̄, c_t)``: V with any term g(c) of the conditions alone cancelled.

    Parameters
    ----------
    z : ndarray, shape (R, T, L)
    conditions : ndarray, shape (R, T, C)
    z_ref : ndarray, shape (L,)
        The reference state z̄ (see :func:`reference_snapshot`).

    Returns
    -------
    ndarray, shape (R, T)
    """
    z = np.asarray(z, dtype=np.float64)
    z_ref = np.asarray(z_ref, dtype=np.float64)
    if z.ndim != 3 or z_ref.shape != z.shape[2:]:
        raise ValueError(
            f"z must have shape (R, T, L) and z_ref shape (L,), got {z.shape} and {z_ref.shape}"
        )
    ref = np.tile(z_ref, (*z.shape[:2], 1))
    return potential_values(model, z, conditions) - potential_values(model, ref, conditions)


def reference_snapshot(z: np.ndarray, runs: np.ndarray | None = None) -> tuple[int, int]:
    """``(run, time)`` of the snapshot whose latent state is closest to the mean state.

    Parameters
    ----------
    z : ndarray, shape (R, T, L)
    runs : ndarray of bool, shape (R,), optional
        Only these runs are candidates and enter the mean (e.g. the training runs).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 3 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"z must have shape (R ≥ 1, T ≥ 1, L), got {z.shape}")
    mask = np.ones(z.shape[0], bool) if runs is None else np.asarray(runs, dtype=bool)
    if mask.shape != (z.shape[0],) or not mask.any():
        raise ValueError(f"runs must be a boolean mask of shape ({z.shape[0]},) selecting a run")
    candidates = z[mask]
    dist = np.linalg.norm(candidates - candidates.reshape(-1, z.shape[2]).mean(axis=0), axis=2)
    r, t = np.unravel_index(int(np.argmin(dist)), dist.shape)
    return int(np.flatnonzero(mask)[r]), int(t)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation along each row of ``a`` and ``b (R, T)``: ``(R,)``.

    Ties get average ranks. A row that is constant in ``a`` or ``b`` has no defined
    correlation and raises, rather than returning NaN.
    """
    from scipy.stats import rankdata

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"a and b must have the same shape (R, T ≥ 2), got {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite")
    ra = rankdata(a, axis=1) - (a.shape[1] + 1) / 2
    rb = rankdata(b, axis=1) - (a.shape[1] + 1) / 2
    na, nb = np.linalg.norm(ra, axis=1), np.linalg.norm(rb, axis=1)
    flat = np.flatnonzero((na == 0) | (nb == 0))
    if flat.size:
        raise ValueError(f"row {flat[0]} is constant: its rank correlation is undefined")
    return (ra * rb).sum(axis=1) / (na * nb)


def monotone_fraction(values: np.ndarray, tol: float = 0.01) -> float:
    """Share of runs (rows of ``values (R, T)``) along which V never rises by > tol·range."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] < 2:
        raise ValueError(f"values must have shape (runs, times ≥ 2), got {v.shape}")
    _validate.nonnegative("tol", tol)
    rise = np.diff(v, axis=1).max(axis=1)
    span = v.max(axis=1) - v.min(axis=1)
    return float(np.mean(rise <= tol * span))


def _rollout(
    model: ReducedPotentialModel,
    z0: np.ndarray,
    times: np.ndarray,
    conditions: np.ndarray,
    substeps: int,
) -> np.ndarray:
    dev = _device(model)
    zz = torch.as_tensor(z0, dtype=torch.float32, device=dev)
    tt = torch.as_tensor(times, dtype=torch.float32, device=dev)
    cc = torch.as_tensor(conditions, dtype=torch.float32, device=dev)
    out = model.rollout(zz, cc if cc.shape[-1] else None, tt, substeps=substeps)
    return out[:, -1].detach().cpu().double().numpy()


def _decode(model: ReducedPotentialModel, z: np.ndarray, batch_size: int) -> np.ndarray:
    dev = _device(model)

    @torch.no_grad()
    def dec(zz: np.ndarray) -> np.ndarray:
        x = model.decode(torch.as_tensor(zz, dtype=torch.float32, device=dev))
        return x.cpu().numpy()

    return _batched(dec, [z], batch_size)


def _window_errors(
    model: ReducedPotentialModel,
    data: Trajectories,
    k: int,
    z: np.ndarray | None,
    substeps: int,
    batch_size: int,
) -> dict[str, np.ndarray]:
    """Norms of every k-step window's errors: each ``(R, T − k)``, plus ``target``."""
    k = _validate.positive_int("k", k)
    if k >= data.n_times:
        raise ValueError(f"k={k} needs runs of more than {k} snapshots, got {data.n_times}")
    z = encode_trajectories(model, data, batch_size) if z is None else z
    n_starts = data.n_times - k
    r_grid, s_grid = np.meshgrid(np.arange(data.n_runs), np.arange(n_starts), indexing="ij")
    r_idx, s_idx = r_grid.ravel(), s_grid.ravel()
    window = s_idx[:, None] + np.arange(k + 1)
    times = data.t[r_idx[:, None], window]
    conds = data.conditions[r_idx[:, None], window]
    z_pred = np.concatenate(
        [
            _rollout(
                model,
                z[r_idx[i : i + batch_size], s_idx[i : i + batch_size]],
                times[i : i + batch_size],
                conds[i : i + batch_size],
                substeps,
            )
            for i in range(0, r_idx.size, batch_size)
        ]
    )
    z_true = z[r_idx, s_idx + k]
    z_prev = z[r_idx, s_idx]
    x_true = data.x[r_idx, s_idx + k].reshape(r_idx.size, -1).astype(np.float64)
    x_prev = data.x[r_idx, s_idx].reshape(r_idx.size, -1).astype(np.float64)
    x_pred = _decode(model, z_pred, batch_size).reshape(r_idx.size, -1)
    x_dec_prev = _decode(model, z_prev, batch_size).reshape(r_idx.size, -1)

    def norms(a: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a, axis=1).reshape(data.n_runs, n_starts)

    return {
        "target": norms(x_true),
        "error": norms(x_pred - x_true),
        "baseline": norms(x_prev - x_true),
        "decoded_baseline": norms(x_dec_prev - x_true),
        "latent": norms(z_pred - z_true),
        "latent_baseline": norms(z_prev - z_true),
    }


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("inf")


def rollout_errors(
    model: ReducedPotentialModel,
    data: Trajectories,
    k: int = 1,
    *,
    z: np.ndarray | None = None,
    substeps: int = 1,
    batch_size: int = 256,
) -> dict[str, float]:
    """Errors of k-step predictions against the no-change baselines (see module docstring).

    Returns
    -------
    dict
        ``error``, ``baseline_error``, ``ratio`` (data space), ``decoded_baseline_ratio``,
        ``latent_ratio`` and ``n`` (number of predictions).
    """
    w = {
        key: float(v.sum())
        for key, v in _window_errors(model, data, k, z, substeps, batch_size).items()
    }
    if w["target"] == 0:
        raise ValueError("rollout_errors: every target snapshot is zero; relative errors undefined")
    return {
        "error": w["error"] / w["target"],
        "baseline_error": w["baseline"] / w["target"],
        "ratio": _ratio(w["error"], w["baseline"]),
        "decoded_baseline_ratio": _ratio(w["error"], w["decoded_baseline"]),
        "latent_ratio": _ratio(w["latent"], w["latent_baseline"]),
        "n": int(data.n_runs * (data.n_times - k)),
    }


def rollout_errors_by_start(
    model: ReducedPotentialModel,
    data: Trajectories,
    k: int = 1,
    *,
    z: np.ndarray | None = None,
    substeps: int = 1,
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Where the k-step errors come from: the pooled sums of :func:`rollout_errors`, per start.

    Returns
    -------
    dict of ndarray, each shape (T − k,)
        ``t_start`` (the start times, averaged over runs), and summed over runs for each start
        snapshot: ``error``, ``baseline`` (no change, data space), ``decoded_baseline``,
        ``latent`` and ``latent_baseline``. Their ratios, summed over starts, are the ratios of
        :func:`rollout_errors`.
    """
    w = _window_errors(model, data, k, z, substeps, batch_size)
    out = {key: v.sum(axis=0) for key, v in w.items() if key != "target"}
    out["t_start"] = data.t[:, : data.n_times - k].mean(axis=0)
    return out


def one_step_predictions(
    model: ReducedPotentialModel, data: Trajectories, run: int, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Reconstructions and one-step predictions of one run.

    Returns
    -------
    dict
        ``truth (T, *shape)``, ``reconstruction (T, *shape)`` = D(E(x_t)) and
        ``prediction (T, *shape)`` = D(z_{t−1} − Δt ∂V/∂z) (row 0 repeats the reconstruction),
        and ``rmse (T,)``/``baseline_rmse (T,)`` of prediction and of x_{t−1} (row 0 is NaN).
    """
    one = data.subset([run])
    z = encode_trajectories(model, one, batch_size)[0]
    recon = _decode(model, z, batch_size)
    z_next = _rollout(
        model,
        z[:-1],
        np.stack([one.t[0, :-1], one.t[0, 1:]], axis=1),
        np.stack([one.conditions[0, :-1], one.conditions[0, 1:]], axis=1),
        1,
    )
    pred = np.concatenate([recon[:1], _decode(model, z_next, batch_size)])
    truth = one.x[0].astype(np.float64)
    axes = tuple(range(1, truth.ndim))
    rmse = np.sqrt(((pred - truth) ** 2).mean(axis=axes))
    base = np.sqrt(((truth[:-1] - truth[1:]) ** 2).mean(axis=axes))
    rmse[0] = np.nan
    return {
        "truth": truth,
        "reconstruction": recon,
        "prediction": pred,
        "rmse": rmse,
        "baseline_rmse": np.concatenate([[np.nan], base]),
    }


def interpolate_runs(values: np.ndarray, t: np.ndarray, t_query: np.ndarray) -> np.ndarray:
    """Linear interpolation in time, run by run.

    Parameters
    ----------
    values : ndarray, shape (R, T, K)
    t : ndarray, shape (R, T)
        Increasing times.
    t_query : ndarray, shape (R,)
        One time per run; NaN or outside ``[t[r, 0], t[r, -1]]`` gives a NaN row.

    Returns
    -------
    ndarray, shape (R, K)
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full((values.shape[0], values.shape[2]), np.nan)
    for r, tq in enumerate(np.asarray(t_query, dtype=np.float64)):
        if np.isfinite(tq) and t[r, 0] <= tq <= t[r, -1]:
            out[r] = [np.interp(tq, t[r], values[r, :, j]) for j in range(values.shape[2])]
    return out


def gradient_at_times(
    model: ReducedPotentialModel,
    z: np.ndarray,
    data: Trajectories,
    t_query: np.ndarray,
) -> np.ndarray:
    """∂V/∂z at time ``t_query[r]`` of each run, z and conditions interpolated: ``(R, L)``.

    Runs whose ``t_query`` is NaN (e.g. no negative domain ever appeared, so T_init is
    undefined) get NaN rows.
    """
    zq = interpolate_runs(z, data.t, t_query)
    cq = interpolate_runs(data.conditions, data.t, t_query)
    ok = np.isfinite(zq).all(axis=1)
    out = np.full_like(zq, np.nan)
    if ok.any():
        dev = _device(model)
        zz = torch.as_tensor(zq[ok], dtype=torch.float32, device=dev)
        cc = torch.as_tensor(cq[ok], dtype=torch.float32, device=dev)
        grad = model.gradient(zz, cc if cc.shape[1] else None)
        out[ok] = grad.cpu().double().numpy()
    return out


def _by_alpha(alphas: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.shape[0] != values.shape[0]:
        raise ValueError(f"alphas must have shape ({values.shape[0]},), got {alphas.shape}")
    levels = np.unique(alphas)
    means = np.stack([np.nanmean(values[alphas == a], axis=0) for a in levels])
    return levels, means


def latent_smoothness(z: np.ndarray, alphas: np.ndarray) -> dict[str, float]:
    """Smoothness of latent states in α at fixed time (see module docstring).

    Parameters
    ----------
    z : ndarray, shape (R, T, L)
    alphas : ndarray, shape (R,)
        At least three distinct values.

    Returns
    -------
    dict
        ``smoothness`` in [0, 1] (1 smooth) and ``max_jump_fraction`` in [0, 1] (small is smooth).
    """
    levels, zm = _by_alpha(alphas, np.asarray(z, dtype=np.float64))  # (A, T, L)
    if levels.size < 3:
        raise ValueError(f"latent_smoothness needs ≥ 3 distinct α, got {levels.size}")
    d = np.linalg.norm(np.diff(zm, axis=0), axis=2)  # (A-1, T)
    s = np.linalg.norm(np.diff(zm, n=2, axis=0), axis=2)  # (A-2, T)
    path = d.sum()
    if path == 0:
        return {"smoothness": 1.0, "max_jump_fraction": 0.0}
    return {
        "smoothness": float(1.0 - s.sum() / (2.0 * path)),
        "max_jump_fraction": float(d.max(axis=0).sum() / path),
    }


def continuity_score(alphas: np.ndarray, values: np.ndarray) -> float:
    """Largest jump between neighbouring α relative to the spread of the values across α.

    The per-α means ḡ_j (over seeds) form a path; the score is
    ``max_j ‖ḡ_{j+1} − ḡ_j‖ / max_{j,k} ‖ḡ_j − ḡ_k‖``, with Euclidean norms so that it does not
    depend on how the latent axes are oriented. A path moving at constant speed along a line
    scores 1/(A−1) for A anisotropies; a single jump scores 1; constant values score 0.

    Parameters
    ----------
    alphas : ndarray, shape (R,)
    values : ndarray, shape (R, K) or (R,)
        Per-run vectors; NaN rows are ignored. At least two distinct α must have values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    alphas = np.asarray(alphas)
    if alphas.ndim != 1 or alphas.shape[0] != values.shape[0]:
        raise ValueError(f"alphas must have shape ({values.shape[0]},), got {alphas.shape}")
    keep = np.isfinite(values).all(axis=1)
    levels, means = _by_alpha(alphas[keep], values[keep])
    if levels.size < 2:
        raise ValueError("continuity_score needs values at ≥ 2 distinct α")
    jumps = np.linalg.norm(np.diff(means, axis=0), axis=1)
    spread = np.linalg.norm(means[:, None, :] - means[None, :, :], axis=2).max()
    return float(jumps.max() / spread) if spread > 0 else 0.0
