"""Scores of generated XY fields: analytic cases for every metric, the baseline's spin-wave law,
and the Monte Carlo refinement keeping the prescribed charge map."""

from __future__ import annotations

import math

import numpy as np
import pytest

from topophys.evaluate.xy import (
    OBSERVABLES,
    EnsembleSummary,
    charge_match_rate,
    compare,
    consistency,
    diversity,
    ensemble_observables,
    r2_score,
    refine_with_mc,
    relative_error,
    spin_wave_baseline,
    summarize,
    topological_accuracy,
)
from topophys.observables.charge import plaquette_charge, wrap_angle
from topophys.observables.spins import energy, jackknife, specific_heat
from topophys.simulate.xy import defect_field, pair_charge_map

L = 16


def test_r2_score_analytic_values() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, y.mean())) == 0.0
    # Σ(y − ŷ)² = 1, Σ(y − ȳ)² = 5 → 0.8
    assert r2_score(y, [1.0, 2.0, 3.0, 5.0]) == pytest.approx(0.8)
    assert r2_score(y, -y) < 0


def test_r2_score_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="constant"):
        r2_score([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="shape"):
        r2_score([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="NaN"):
        r2_score([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        r2_score([1.0], [1.0])


def test_topological_accuracy_on_hand_made_curves() -> None:
    ref = np.array([0.0, 10.0, 20.0, 10.0, 0.0])
    # 5 % of max = 1.0: differences 0.5, 1.5, 0, 0.99, 1.0 → in, out, in, in, out (strict <)
    cand = ref + np.array([0.5, 1.5, 0.0, -0.99, 1.0])
    assert topological_accuracy(ref, cand) == pytest.approx(3 / 5)
    assert topological_accuracy(ref, ref) == 1.0
    assert topological_accuracy(ref, cand, tol=0.1) == 1.0
    # a curve that is negative everywhere is scored against its largest magnitude
    assert topological_accuracy(-ref - 1, -ref - 1 + 0.5) == 1.0
    with pytest.raises(ValueError, match="zero everywhere"):
        topological_accuracy(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="tol"):
        topological_accuracy(ref, ref, tol=0.0)


def test_charge_match_rate() -> None:
    k = pair_charge_map(L, 2)
    theta = defect_field(k)[None] + np.array([0.0, 1.0, 2.0, 3.0])[:, None, None]
    assert charge_match_rate(theta, k) == 1.0
    assert charge_match_rate(theta, np.roll(k, 1, axis=1)) == 0.0
    mixed = np.concatenate([theta[:2], np.zeros((2, L, L))])
    assert charge_match_rate(mixed, k) == 0.5
    per_field = np.stack([k, k, np.zeros_like(k), np.zeros_like(k)])
    assert charge_match_rate(mixed, per_field) == 1.0
    with pytest.raises(ValueError, match="target"):
        charge_match_rate(theta, k[:4, :4])
    with pytest.raises(TypeError, match="integer"):
        charge_match_rate(theta, k + 0.5)


def test_diversity_exact_pair_average_and_limits() -> None:
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, (5, 4, 4))
    pairs = [
        (0.5 * (1 - np.cos(theta[a] - theta[b]))).mean()
        for a in range(5)
        for b in range(5)
        if a != b
    ]
    assert diversity(theta) == pytest.approx(np.mean(pairs), abs=1e-12)
    assert diversity(np.zeros((3, 4, 4))) == 0.0
    base = rng.normal(0, 0.3, (4, 4))
    rotated = base[None] + np.array([0.0, 1.0, 2.5, -2.0])[:, None, None]
    assert diversity(rotated) > 0.2
    assert diversity(rotated, aligned=True) == pytest.approx(0.0, abs=1e-12)
    assert diversity(rng.uniform(-np.pi, np.pi, (400, 8, 8))) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="at least 2"):
        diversity(np.zeros((1, 4, 4)))


def test_ensemble_observables_match_direct_estimates() -> None:
    rng = np.random.default_rng(1)
    theta = defect_field(pair_charge_map(L, 2))[None] + rng.normal(0, 0.1, (40, L, L))
    obs = ensemble_observables(theta, 0.1, n_blocks=8)
    assert set(obs) == set(OBSERVABLES)
    assert obs["energy"][0] == pytest.approx(energy(theta).mean())
    # per-field means use the same delete-one-block jackknife as observables.spins
    assert obs["energy"] == pytest.approx(jackknife(lambda t: energy(t).mean(), theta, 8))
    assert obs["specific_heat"] == pytest.approx(jackknife(specific_heat, theta, 8, T=0.1))
    assert obs["vorticity"] == (2.0, 0.0)  # every field carries the pair
    assert all(err >= 0 for _, err in obs.values())
    with pytest.raises(ValueError, match="T"):
        ensemble_observables(theta, 0.0)
    with pytest.raises(ValueError, match="n_blocks"):
        ensemble_observables(theta, 0.1, n_blocks=41)


def test_relative_error() -> None:
    rel, err = relative_error(1.1, 0.03, 1.0, 0.04)
    assert rel == pytest.approx(0.1)
    assert err == pytest.approx(math.hypot(0.03, 1.1 * 0.04))
    assert relative_error(1.0, 0.1, 0.0, 0.0) is None
    with pytest.raises(ValueError, match="ref_error"):
        relative_error(1.0, 0.1, 1.0, -1.0)


def test_consistency_is_calibrated_on_estimates_of_the_same_law() -> None:
    rng = np.random.default_rng(0)
    truth = np.linspace(0.5, 0.53, 13)  # barely varies: R² would be noise
    sigma, sigma_ref = rng.uniform(0.01, 0.05, 13), rng.uniform(0.01, 0.05, 13)
    draws = [
        consistency(
            truth + sigma * rng.standard_normal(13),
            sigma,
            truth + sigma_ref * rng.standard_normal(13),
            sigma_ref,
        )
        for _ in range(2000)
    ]
    assert np.mean([c["chi2_per_dof"] for c in draws]) == pytest.approx(1.0, abs=0.03)
    p = np.array([c["p_value"] for c in draws])
    assert np.mean(p < 0.05) == pytest.approx(0.05, abs=0.015)  # uniform p-values
    # A 3σ offset at every condition is flagged.
    shifted = consistency(truth + 3 * np.hypot(sigma, sigma_ref), sigma, truth, sigma_ref)
    assert shifted["chi2_per_dof"] == pytest.approx(9.0)
    assert shifted["p_value"] < 1e-15


def test_consistency_skips_conditions_without_error_and_rejects_bad_input() -> None:
    out = consistency([0.0, 2.0, 2.0], [0.0, 0.1, 0.0], [0.0, 2.1, 2.0], [0.0, 0.0, 0.0])
    assert out["dof"] == 1 and out["chi2_per_dof"] == pytest.approx(1.0)
    assert consistency([2.0], [0.0], [2.0], [0.0]) is None
    with pytest.raises(ValueError, match="one shape"):
        consistency([1.0, 2.0], [0.1], [1.0, 2.0], [0.1, 0.1])
    with pytest.raises(ValueError, match="errors and ref_errors must be >= 0"):
        consistency([1.0], [-0.1], [1.0], [0.1])
    with pytest.raises(ValueError, match="ref_values contains NaN"):
        consistency([1.0], [0.1], [np.nan], [0.1])


def test_spin_wave_baseline_has_the_harmonic_law() -> None:
    T, n = 0.2, 400
    theta = spin_wave_baseline(np.zeros((L, L), dtype=int), T, n, seed=3)
    assert theta.shape == (n, L, L) and theta.dtype == np.float32
    # bond differences of a harmonic field: Gaussian with variance T/2·(N−1)/N
    var = T / 2 * (L * L - 1) / (L * L)
    dx = wrap_angle(np.roll(theta, -1, axis=-1) - theta.astype(np.float64))
    assert dx.var() == pytest.approx(var, rel=0.03)
    # hence ⟨cos Δθ⟩ = exp(−var/2) exactly, and the energy per spin −2·exp(−var/2)
    e = energy(theta)
    assert abs(e.mean() + 2 * math.exp(-var / 2)) < 4 * e.std() / math.sqrt(n) + 1e-4
    first = spin_wave_baseline(np.zeros((L, L), int), T, 3, seed=3)
    np.testing.assert_array_equal(first, theta[:3])  # a prefix does not depend on n


def test_scha_baseline_waves_are_softer_by_the_scha_stiffness() -> None:
    from topophys.observables.spins import scha_stiffness

    k = np.zeros((L, L), dtype=int)
    a = spin_wave_baseline(k, 0.9, 8, seed=1).astype(np.float64)
    b = spin_wave_baseline(k, 0.9, 8, seed=1, stiffness="scha").astype(np.float64)
    ratio = (1 / scha_stiffness(0.9, n_sites=L * L)) ** 0.5
    # same noise: the SCHA waves are the bare ones times sqrt(J / J_eff) (up to the rotation)
    da = np.angle(np.exp(1j * (np.roll(a, -1, -1) - a)))
    db = np.angle(np.exp(1j * (np.roll(b, -1, -1) - b)))
    small = np.abs(da) < 0.5
    np.testing.assert_allclose(db[small], ratio * da[small], atol=1e-4)
    with pytest.raises(ValueError, match="stiffness"):
        spin_wave_baseline(k, 0.1, 4, stiffness="renormalized")


def test_relaxed_baseline_puts_the_same_waves_on_the_relaxed_field() -> None:
    from topophys.simulate.xy import relaxed_defect_field

    k = pair_charge_map(L, 2)
    a = spin_wave_baseline(k, 0.1, 4, seed=1).astype(np.float64)
    b = spin_wave_baseline(k, 0.1, 4, seed=1, base="relaxed").astype(np.float64)
    shift = relaxed_defect_field(k) - defect_field(k)
    np.testing.assert_allclose(np.angle(np.exp(1j * (b - a - shift))), 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="base"):
        spin_wave_baseline(k, 0.1, 4, base="exact")


def test_spin_wave_baseline_keeps_the_defects_at_low_temperature() -> None:
    k = pair_charge_map(L, 4.12)
    theta = spin_wave_baseline(k, 0.01, 20, seed=0)
    assert charge_match_rate(theta, k) == 1.0
    with pytest.raises(ValueError, match="sum"):
        spin_wave_baseline(np.eye(L, dtype=int), 0.1, 2)
    with pytest.raises(ValueError, match="T"):
        spin_wave_baseline(k, -1.0, 2)


@pytest.fixture(scope="module")
def ensembles() -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    out = []
    for d in (0.0, 2.0, 4.12):
        base = defect_field(pair_charge_map(L, d))
        out.append(base[None] + rng.normal(0, 0.15, (20, L, L)) + rng.uniform(-3, 3, (20, 1, 1)))
    return out


def _summaries(ensembles: list[np.ndarray], **kw) -> list[EnsembleSummary]:
    return [
        summarize(th, pair_charge_map(L, d), 0.1, d, n_blocks=5, thresholds=9, **kw)
        for th, d in zip(ensembles, (0.0, 2.0, 4.12), strict=False)
    ]


def test_compare_identical_ensembles_scores_perfectly(ensembles) -> None:
    ref = _summaries(ensembles, morphology_samples=5)
    out = compare(ref, ref)
    assert out["r2"]["energy"] == 1.0 and out["r2"]["vorticity"] == 1.0
    assert all(v == 1.0 for v in out["correlation_r2"].values())
    assert set(out["correlation_r2"]) == {"d=0", "d=2", "d=4.12"}
    assert out["correlation_r2_shown_min"] == out["correlation_r2_all_min"] == 1.0
    assert out["correlation_r2_all_mean"] == 1.0
    assert out["topological_accuracy_by_tol"] == {"0.05": 1.0, "0.02": 1.0, "0.01": 1.0}
    assert all(v == 1.0 for v in out["topological_accuracy_mean"].values())
    value, err = ref[1].observables["energy"]
    # identical values, independent errors assumed: √2·σ/|E|
    assert out["relative_error"]["energy"][1] == pytest.approx([0.0, math.sqrt(2) * err / -value])
    assert out["relative_error"]["vorticity"][0] is None  # no defects: O_sim = 0
    assert out["match_rate"]["mean"] == 1.0
    assert out["diversity"]["ratio"] == 1.0
    assert out["consistency"]["specific_heat"]["chi2_per_dof"] == 0.0
    assert out["consistency"]["specific_heat"]["p_value"] == 1.0
    # a reference curve that is zero on the whole grid has no eq.-5 score
    ref[0].morphology["perimeter"] = np.zeros_like(ref[0].morphology["perimeter"])
    out = compare(ref, ref)
    assert out["topological_accuracy"]["d=0"]["perimeter"] is None
    assert out["topological_accuracy_mean"]["perimeter"] == 1.0  # the other two distances


def test_compare_detects_a_collapsed_generator(ensembles) -> None:
    ref = _summaries(ensembles, morphology_samples=None)
    collapsed = [np.repeat(th[:1], 20, axis=0) for th in ensembles]
    out = compare(ref, _summaries(collapsed, morphology_samples=None))
    assert out["diversity"]["candidate"] == 0.0
    assert out["diversity"]["aligned_ratio"] == 0.0
    assert out["topological_accuracy"] == {}  # no curves were computed
    with pytest.raises(ValueError, match="conditions differ"):
        compare(ref, ref[::-1])
    with pytest.raises(ValueError, match="same non-empty"):
        compare(ref, ref[:2])


def test_summary_round_trips_through_a_dict(ensembles) -> None:
    s = _summaries(ensembles[:1], morphology_samples=3)[0]
    back = EnsembleSummary.from_dict(s.to_dict())
    assert back.observables == s.observables
    np.testing.assert_array_equal(back.G, s.G)
    np.testing.assert_array_equal(back.morphology["euler"], s.morphology["euler"])


def test_refine_with_mc_repairs_and_holds_the_target_map() -> None:
    k = pair_charge_map(L, 2)
    rng = np.random.default_rng(4)
    good = defect_field(k)[None] + rng.normal(0, 0.05, (3, L, L))
    bad = rng.uniform(-np.pi, np.pi, (3, L, L))  # random fields: a wrong map
    start = np.concatenate([good, bad])
    out = refine_with_mc(start, k, 0.1, [0, 3, 10], seed=1)
    np.testing.assert_array_equal(out.repaired, [False] * 3 + [True] * 3)
    for snap in out.snapshots.values():
        assert snap.shape == start.shape
        assert (plaquette_charge(snap) == k).all()
    np.testing.assert_allclose(
        np.cos(out.snapshots[0][:3] - good), 1.0, atol=1e-5
    )  # unrepaired starts kept
    again = refine_with_mc(start, k, 0.1, [0, 3, 10], seed=1)
    np.testing.assert_array_equal(again.snapshots[10], out.snapshots[10])
    assert out.seconds_per_sweep > 0
    with pytest.raises(ValueError, match="ascending"):
        refine_with_mc(start, k, 0.1, [3, 3])


def test_scores_along_T_need_two_temperatures_and_a_common_distance() -> None:
    from topophys.evaluate.xy import OBSERVABLES, EnsembleSummary, across_temperatures

    def summary(T: float, d: float) -> EnsembleSummary:
        one = np.ones(1)
        return EnsembleSummary(
            T=T,
            d=d,
            n=10,
            observables=dict.fromkeys(OBSERVABLES, (T + d, 0.1)),
            r=one,
            G=one,
            G_err=0 * one,
            match_rate=1.0,
            diversity=0.5,
            diversity_aligned=0.1,
        )

    def ensembles(T: float, ds: tuple[float, ...]) -> dict[str, list[EnsembleSummary]]:
        return {name: [summary(T, d) for d in ds] for name in ("reference", "generated")}

    one = {"T=0.1": ensembles(0.1, (0.0, 2.0))}
    assert across_temperatures(one) == {}
    disjoint = {"T=0.1": ensembles(0.1, (0.0,)), "T=0.5": ensembles(0.5, (2.0,))}
    assert across_temperatures(disjoint) == {}
    # √101 and 10 would share the key "d=10" at three digits: they stay apart.
    far = (10.0, 101**0.5)
    out = across_temperatures({"T=0.5": ensembles(0.5, far), "T=0.1": ensembles(0.1, far)})
    assert out["temperatures"] == [0.1, 0.5]
    assert [e["d"] for e in out["by_distance"]] == [10.0, 101**0.5]
