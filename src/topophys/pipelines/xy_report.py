"""``report.html`` of the XY pipeline: the scores of :mod:`topophys.evaluate.xy` in tables and
the figures of :mod:`topophys.plot.xy`, one function per block of the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..report import Report

__all__ = ["write_report"]

_LABELS = {
    "reference": "simulated",
    "generated": "generated",
    "baseline": "harmonic baseline",
    "baseline_scha": "SCHA baseline",
    "mc_independent": "MC (independent half)",
}
_ENSEMBLE_NOTE = (
    "simulated: held-out Monte Carlo fields; generated: the cWGAN; harmonic baseline: the "
    "analytic (harmonic) defect field plus harmonic spin waves at T; SCHA baseline: the "
    "generator's own base field plus spin waves of the self-consistent harmonic stiffness at T, "
    "the generator without its network (neither learns); MC (independent "
    "half): Monte Carlo fields from the training half, as many as the reference: the best any "
    "method can score with this many samples."
)
_OBS_LABELS = {
    "vorticity": "vorticity ν",
    "magnetization": "⟨|M|⟩/N",
    "energy": "⟨E⟩/N",
    "specific_heat": "C_v",
    "susceptibility": "χ",
    "helicity_modulus": "Υ",
    "helicity": "helicity",
}
_MEASURE_LABELS = {
    "area": "area A",
    "perimeter": "perimeter P",
    "euler": "Euler χ",
    "euler_edges": "edge Euler χ_E",
    "components": "clusters b₀",
    "radius": "radius R",
    "diameter": "diameter D",
}


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _fmt(x: Any, digits: int = 3) -> Any:
    if x is None:
        return "—"
    if isinstance(x, float):
        return round(x, digits)
    return x


def _pm(pair: Any) -> str:
    if pair is None:
        return "—"
    value, error = pair
    return f"{100 * value:+.2f} ± {100 * error:.2f} %"


def _mean_defined(values: dict[str, Any]) -> float | None:
    """Mean of the values that are not ``None`` (``None`` if there are none)."""
    defined = [v for v in values.values() if v is not None]
    return float(np.mean(defined)) if defined else None


def _tag(key: str) -> str:
    """A file-name part of a temperature key: "T=0.1" → "T0.1"."""
    return key.replace("=", "")


def _picked(summaries: list[Any], distances: Any) -> list[int]:
    out = []
    for d in distances:
        for i, s in enumerate(summaries):
            if abs(s.d - d) < 0.01:
                out.append(i)
                break
    return out


def _is_reduced(config: Any, n_train_total: int) -> bool:
    gan = config.gan
    return gan.width < 1.0 or gan.epochs < 120 or n_train_total < 200_000


def _beyond_paper(gan: Any) -> list[str]:
    """Plain-language list of the generator options of this run that the paper does not use."""
    out = []
    if gan.generator_output == "defect_residual":
        out.append(
            "it adds a learned correction to the analytic defect field of the map, built so "
            "that the exact charge map cannot change, and turns the field by a random global angle"
        )
    if gan.spin_waves:
        out.append("the correction starts from harmonic spin waves at T")
    if gan.defect_base == "blend":
        out.append(
            "the field it corrects lies between the analytic one and its quench in the XY energy, "
            "with a weight per temperature calibrated on the training fields"
        )
    if gan.defect_base == "relaxed":
        out.append(
            "the field it corrects is the analytic one quenched in the XY energy (the relaxed "
            "defect field), not the harmonic solution"
        )
    if gan.upsample == "nearest":
        out.append("it upsamples by nearest neighbour and a 3×3 convolution, not transposed")
    if gan.spin_waves and gan.spin_wave_stiffness == "scha":
        out.append("the waves have the self-consistent harmonic stiffness at T, not J")
    if gan.spin_waves and gan.spin_wave_stiffness == "calibrated":
        out.append(
            "the waves have a stiffness per temperature calibrated on the training fields' "
            "energy, not J"
        )
    if gan.noise_injection == "all":
        out.append("noise enters every decoder block at full resolution, not only the bottleneck")
    if gan.noise_injection == "fine":
        out.append("noise enters the two finest decoder blocks only, not the bottleneck")
    if gan.critic_lr is not None and gan.critic_lr != gan.lr:
        out.append(f"critic learning rate {gan.critic_lr:g} against the generator's {gan.lr:g}")
    if gan.ema_decay is not None:
        out.append(f"moving average of the generator's weights (decay {gan.ema_decay:g})")
    if gan.current_moments_weight > 0:
        out.append(
            "the generator loss matches the mean and variance of the net spin current per "
            f"condition (weight {gan.current_moments_weight:g})"
        )
    if gan.energy_moments_weight > 0:
        out.append(
            "the generator loss matches the mean and variance of the energy per condition "
            f"(weight {gan.energy_moments_weight:g})"
        )
    if gan.spectrum_moments_weight > 0:
        out.append(
            "the generator loss matches the mean and variance of the power of the longest spin "
            "waves (the three lowest shells of the structure factor) per condition "
            f"(weight {gan.spectrum_moments_weight:g})"
        )
    return out


_ACROSS_T_OBSERVABLES = ("energy", "magnetization", "specific_heat", "helicity_modulus")


def _chi2(entry: Any) -> str:
    if entry is None:
        return "—"
    return f"{entry['chi2_per_dof']:.2f} (p {entry['p_value']:.2g})"


def write_report(
    run_dir: Path,
    *,
    config: Any,
    data: Any,
    targets: np.ndarray,
    generated: np.ndarray,
    baseline: np.ndarray,
    history: list[dict[str, Any]],
    summaries: dict[str, dict[str, list[Any]]],
    scores: dict[str, dict[str, Any]],
    across_temperatures: dict[str, Any] | None = None,
    speed: dict[str, Any],
    refine: dict[str, Any] | None,
    transfer: dict[str, Any] | None,
    transfer_fields: dict[str, dict[str, Any]] | None = None,
    summary: dict[str, Any],
    train_info: dict[str, Any],
    timings: dict[str, float],
) -> Path:
    """Draw every figure to PNG in ``run_dir`` and write ``report.html`` embedding them.

    ``targets`` are the maps the generated and ``baseline`` fields were drawn on (held-out
    images of the training maps when ``config.heldout_maps``). ``transfer_fields`` maps
    "L=<size>" to one example field per transfer distance:
    ``{"d": (k,), "simulated": (k, size, size), "generated": (k, size, size)}``.
    """
    report = Report("Spin fields from defect maps: XY Monte Carlo against a conditional WGAN-GP")
    _intro(report, config, summary, train_info)
    for T, ens in summaries.items():
        _fields_block(report, run_dir, config, data, targets, generated, baseline, T, ens)
    _training_block(report, run_dir, config, history, train_info)
    for T, ens in summaries.items():
        _observables_block(report, run_dir, T, ens, scores[T])
        _correlation_block(report, run_dir, config, T, ens, scores[T])
        _topology_block(report, run_dir, config, T, ens, scores[T])
        _fidelity_block(report, T, ens, scores[T])
    if across_temperatures:
        _across_temperature_block(report, run_dir, summaries, across_temperatures)
    _speed_block(report, speed)
    if refine is not None:
        _refine_block(report, run_dir, refine)
    if transfer is not None:
        _transfer_block(report, run_dir, transfer, transfer_fields or {}, summary["L"])
    report.add_heading("Timings")
    report.add_table(
        {k: round(v, 1) for k, v in timings.items()},
        caption="Seconds per stage (a resumed run keeps the times of the stages it reused)",
    )
    return report.write(run_dir / "report.html")


def _intro(report: Report, config: Any, summary: dict[str, Any], info: dict[str, Any]) -> None:
    gan = config.gan
    n_train_total = int(info["training_fields"])
    report.add_text(
        f"XY model on a periodic {summary['L']}×{summary['L']} lattice at T = "
        f"{', '.join(f'{t:g}' for t in summary['temperatures'])} with one vortex–antivortex pair "
        f"held by the charge-constrained Monte Carlo at d = "
        f"{', '.join(f'{d:.3g}' for d in summary['distances'])} (0: no defects). The cWGAN "
        f"(U-Net width {gan.width:g}, critic width {gan.critic_width:g}) trained "
        f"{info['epochs']} epochs on {n_train_total} fields "
        f"({summary['training_fields_per_condition']} per condition); each condition is scored "
        f"on {summary['reference_fields_per_condition']} held-out simulated fields against "
        f"{summary['eval_fields_per_condition']} generated ones (Klos et al. 2024, eqs. 4–5)."
    )
    if config.heldout_maps:
        report.add_text(
            "Generated and baseline fields are drawn on charge maps the generator was not "
            "trained on: each pair moved and turned by a random symmetry of the lattice (the "
            "defect-free map has no other image). The XY energy is invariant, so the Monte "
            "Carlo fields of the training map are the reference of its image."
        )
    ours = _beyond_paper(gan)
    if ours:
        report.add_text(
            "The generator uses options beyond the paper (ours, see docs/xy_pipeline.md): "
            + "; ".join(ours)
            + "."
        )
    if _is_reduced(config, n_train_total):
        report.add_text(
            "This is a reduced-scale run (the CPU demo): the paper trains the full-width U-Net "
            "for 120 epochs on 250,000 fields per temperature. A generator trained for minutes on "
            "a CPU is not expected to match the paper's fidelity; the scores below show what this "
            "run measured. The large configuration (`topophys run xy --scale large`) is the "
            "paper's scale and is meant for a GPU."
        )


def _fields_block(
    report: Report,
    run_dir: Path,
    config: Any,
    data: Any,
    targets: np.ndarray,
    generated: np.ndarray,
    baseline: np.ndarray,
    T: str,
    ens: dict[str, list[Any]],
) -> None:
    from ..plot.xy import field_grid

    ref = ens["reference"]
    idx = _picked(ref, config.correlation_distances)
    c_idx = np.flatnonzero(np.isclose(data.T, ref[0].T))
    first_reference = data.theta.shape[1] - config.reference_samples
    sources = {
        "simulated": lambda c: data.theta[c, first_reference],
        "generated": lambda c: generated[c, 0],
        "SCHA baseline": lambda c: baseline[c, 0],
    }
    fields = [[get(c_idx[i]) for i in idx] for get in sources.values()]
    titles = [[f"{name}, d = {ref[i].d:.3g}" for i in idx] for name in sources]
    report.add_heading(f"Fields ({T})")
    report.add_figure(
        _save(field_grid(fields, titles), run_dir / f"fields_{_tag(T)}.png"),
        "One field per ensemble (rows: simulated, generated, SCHA baseline) for the pair "
        "distances of the paper's Fig. 4 (columns). Colour: the angle θ (cyclic); arrows: the "
        "spins; circles: the exact plaquette charges of the drawn field (red +1, blue −1). "
        + (
            "The generated and baseline rows are drawn on the held-out image of the simulated map."
            if not np.array_equal(targets, data.target)
            else "The conditioning map of each column is that of the simulated field."
        ),
    )


def _training_block(
    report: Report, run_dir: Path, config: Any, history: list[dict[str, Any]], info: dict[str, Any]
) -> None:
    from ..plot.xy import training_figure

    report.add_heading("Training (paper Fig. 3)")
    report.add_figure(
        _save(training_figure(history), run_dir / "training.png"),
        f"Per epoch, on {config.gan.monitor_samples} fixed training conditions with fixed noise: "
        "the mean vorticity (defects per field), magnetization and energy per spin of generated "
        "fields (light) against the same conditions' simulated fields (dark), and the share of "
        "generated fields whose exact charge map equals the condition. The dotted line marks "
        "the start of the physics loss.",
    )
    report.add_table(
        {k: _fmt(v, 4) for k, v in info["final"].items()},
        caption=f"Last epoch ({info['epochs']}; {info['epoch_seconds']:.1f} s per epoch)",
    )


def _names(ens: dict[str, list[Any]]) -> list[str]:
    return [n for n in ("reference", "generated", "baseline", "baseline_scha") if n in ens]


def _observables_block(
    report: Report, run_dir: Path, T: str, ens: dict[str, list[Any]], sc: dict[str, Any]
) -> None:
    from ..evaluate.xy import OBSERVABLES
    from ..plot.xy import observable_grid

    dist = [s.d for s in ens["reference"]]
    series = {
        obs: {
            _LABELS[n]: (
                [s.observables[obs][0] for s in ens[n]],
                [s.observables[obs][1] for s in ens[n]],
            )
            for n in _names(ens)
        }
        for obs in OBSERVABLES
    }
    report.add_heading(f"Observables against the pair distance ({T}; paper Figs. 4a, 5a)")
    report.add_figure(
        _save(observable_grid(dist, series, _OBS_LABELS), run_dir / f"observables_{_tag(T)}.png"),
        "Ensemble observables against d, with jackknife error bars: vorticity (defects per "
        "field), magnetization and energy per spin, specific heat, susceptibility, helicity "
        "modulus and helicity (net spin current per spin). " + _ENSEMBLE_NOTE,
    )
    report.add_table(
        [
            {"observable": _OBS_LABELS[o]} | {_LABELS[n]: _fmt(sc[n]["r2"][o]) for n in sc}
            for o in OBSERVABLES
        ],
        caption="R² against d (paper eq. 4; paper: 0.92–0.99 for most, C_v fails). — : the "
        "simulated observable does not vary with d, R² undefined.",
    )
    report.add_table(
        [
            {"observable": _OBS_LABELS[o]}
            | {_LABELS[n]: _chi2(sc[n]["consistency"][o]) for n in sc}
            for o in OBSERVABLES
        ],
        caption="Consistency with the simulated ensemble across d: χ²/dof of the differences "
        "over their jackknife errors, with its p-value. Two ensembles of the same law give "
        "χ²/dof ≈ 1 whether or not the observable varies with d (where R² cannot tell); "
        "large values mean a real difference. — : every error is 0 (exact charge maps).",
    )
    rel = sc["generated"]["relative_error"]
    report.add_table(
        [
            {"d": f"{d:.3g}"} | {_OBS_LABELS[o]: _pm(rel[o][i]) for o in OBSERVABLES}
            for i, d in enumerate(dist)
        ],
        caption="Generated against simulated: relative error (O_gen − O_sim)/|O_sim| with "
        "jackknife error bars (— where O_sim = 0)",
    )


def _correlation_block(
    report: Report, run_dir: Path, config: Any, T: str, ens: dict[str, list[Any]], sc: Any
) -> None:
    from ..plot.xy import correlation_grid

    ref = ens["reference"]
    panels = [
        (ref[i].r, {_LABELS[n]: (ens[n][i].G, ens[n][i].G_err) for n in _names(ens)},
         f"d = {ref[i].d:.3g}")
        for i in _picked(ref, config.correlation_distances)
    ]  # fmt: skip
    report.add_heading(f"Correlation functions ({T}; paper Fig. 4b)")
    report.add_figure(
        _save(correlation_grid(panels), run_dir / f"correlation_{_tag(T)}.png"),
        "Spin correlation G(r) = ⟨S_i·S_j⟩ against minimum-image distance r for no defects, "
        "a close and a far pair, with jackknife bands. " + _ENSEMBLE_NOTE,
    )
    rows = []
    for n in sc:
        row = {"ensemble": _LABELS[n]}
        row |= {k: _fmt(v) for k, v in sc[n]["correlation_r2"].items()}
        row["worst of those"] = _fmt(sc[n]["correlation_r2_shown_min"])
        row["mean over all d"] = _fmt(sc[n]["correlation_r2_all_mean"])
        row["worst over all d"] = _fmt(sc[n]["correlation_r2_all_min"])
        rows.append(row)
    report.add_table(
        rows,
        caption="R² of G(r) against r at the distances shown (paper Fig. 4b), the smallest of "
        "them (the headline score), and the mean and smallest over every simulated distance "
        "(paper: ≈ 0.70 on average)",
    )


def _topology_block(
    report: Report, run_dir: Path, config: Any, T: str, ens: dict[str, list[Any]], sc: Any
) -> None:
    from ..evaluate.xy import MORPHOLOGY_MEASURES
    from ..plot.xy import threshold_grid

    ref = ens["reference"]
    idx = _picked(ref, config.correlation_distances)
    if not any(ref[i].morphology for i in idx):
        return
    labels = {m: _MEASURE_LABELS[m] for m in MORPHOLOGY_MEASURES}
    curves = [
        {
            m: {_LABELS[n]: ens[n][i].morphology[m] for n in _names(ens) if ens[n][i].morphology}
            for m in labels
        }
        for i in idx
    ]
    fig = threshold_grid(
        [ref[i].thresholds for i in idx], curves, labels, [f"d = {ref[i].d:.3g}" for i in idx]
    )
    report.add_heading(f"Topological measures against Θ ({T}; paper Figs. 4c, 5c)")
    report.add_figure(
        _save(fig, run_dir / f"topology_{_tag(T)}.png"),
        f"Mean over {config.morphology_samples} fields of the measures of the cubical "
        "graph K(Θ) (sites; bonds whose wrapped angle difference is ≤ Θ; plaquettes with "
        "all four bonds) against Θ: area, perimeter, Euler characteristic of the complex "
        "and of its edge graph, number of clusters, and the mean radius and diameter of "
        "the cluster a site belongs to. " + _ENSEMBLE_NOTE,
    )
    report.add_table(
        [
            {"measure": label}
            | {
                _LABELS[n]: _fmt(sc[n]["topological_accuracy_mean"].get(m))
                for n in sc
                if sc[n]["topological_accuracy_mean"]
            }
            for m, label in labels.items()
        ],
        caption=f"Accuracy within {100 * config.topo_tol:g} % of the curve's maximum "
        "(paper eq. 5; paper: 0.66–0.99), mean over the distances shown",
    )


def _fidelity_block(report: Report, T: str, ens: dict[str, list[Any]], sc: Any) -> None:
    report.add_heading(f"Charge fidelity and diversity ({T})")
    report.add_table(
        [
            {
                "ensemble": _LABELS[n],
                "charge-map match rate": _fmt(sc[n]["match_rate"]["mean"]),
                "diversity": _fmt(sc[n]["diversity"]["candidate"]),
                "diversity / simulated": _fmt(sc[n]["diversity"]["ratio"]),
                "aligned diversity": _fmt(sc[n]["diversity"]["aligned_candidate"], 4),
                "aligned / simulated": _fmt(sc[n]["diversity"]["aligned_ratio"]),
            }
            for n in sc
        ],
        caption="Share of fields whose exact charge map equals the conditioning map; "
        "diversity: mean (1 − S_a·S_b)/2 over pairs of fields of one condition and sites "
        "(½ for independent global rotations), aligned: after rotating each field's "
        "magnetization to x (spin-wave and defect structure only; 0 if the generator ignores "
        f"its noise). Simulated: {sc['generated']['diversity']['reference']:.3f} and "
        f"{sc['generated']['diversity']['aligned_reference']:.4f}.",
    )
    report.add_table(
        [
            {"d": f"{s.d:.3g}", "match rate": _fmt(m)}
            for s, m in zip(ens["reference"], sc["generated"]["match_rate"]["by_d"], strict=True)
        ],
        caption="Generated fields: charge-map match rate per distance",
    )


def _across_temperature_block(
    report: Report,
    run_dir: Path,
    summaries: dict[str, dict[str, list[Any]]],
    across: dict[str, Any],
) -> None:
    """Observables against T at each pair distance simulated at every temperature."""
    from ..evaluate.xy import OBSERVABLES
    from ..plot.xy import temperature_grid

    keys = sorted(summaries, key=lambda k: summaries[k]["reference"][0].T)
    names = _names(summaries[keys[0]])
    rows = []
    for entry in across["by_distance"]:
        d = entry["d"]
        per: dict[str, Any] = {}
        for obs in _ACROSS_T_OBSERVABLES:
            per[obs] = {}
            for n in names:
                picked = [
                    next(s for s in summaries[k][n] if abs(s.d - d) < 1e-9).observables[obs]
                    for k in keys
                ]
                per[obs][_LABELS[n]] = ([p[0] for p in picked], [p[1] for p in picked])
        rows.append((f"d = {d:.3g}", per))
    report.add_heading("Across temperatures (beyond the paper: up to and across BKT)")
    report.add_figure(
        _save(
            temperature_grid(across["temperatures"], rows, _OBS_LABELS),
            run_dir / "temperatures.png",
        ),
        "Observables against temperature at fixed pair distance (rows), with jackknife error "
        "bars; dotted: 2T/π. In the free XY model the helicity modulus Υ drops to 0 where it "
        "crosses 2T/π (the BKT transition, T ≈ 0.89 J), because vortex pairs unbind. The charge "
        "constraint forbids every vortex but the prescribed ones, so these constrained ensembles "
        "have no transition: Υ falls smoothly through 2T/π (spin waves only). They test the "
        "generator over a wide range of spin-wave temperatures, not the unbinding itself. "
        + _ENSEMBLE_NOTE,
    )
    table = [
        {"d": f"{entry['d']:.3g}", "ensemble": _LABELS[n]}
        | {
            _OBS_LABELS[o]: f"{_fmt(sc['r2'][o])} / {_chi2(sc['consistency'][o])}"
            for o in OBSERVABLES
            if o != "vorticity"
        }
        for entry in across["by_distance"]
        for n, sc in entry["scores"].items()
    ]
    report.add_table(
        table,
        caption="Along T at fixed d: R² (paper eq. 4 taken along T) / χ²/dof of the differences "
        "over their jackknife errors (p-value).",
    )


def _speed_block(report: Report, speed: dict[str, Any]) -> None:
    report.add_heading("Speed")
    rows = [
        {
            "T": T,
            "generator samples/s": _fmt(speed["generator_samples_per_s"], 1),
            "MC decorrelated samples/s": _fmt(v["mc_decorrelated_samples_per_s"], 1),
            "τ_int (sweeps)": _fmt(v["tau_int_sweeps"], 2),
            "MC dataset samples/s (incl. equilibration)": _fmt(v["mc_dataset_samples_per_s"], 1),
            "generator / decorrelated MC": _fmt(v["speedup_vs_decorrelated"], 2),
        }
        for T, v in speed.items()
        if isinstance(v, dict)
    ]
    report.add_table(
        rows,
        caption=f"On {speed['device']}, same L and T. Monte Carlo: "
        "one independent sample per 2τ_int sweeps of a running chain bank (τ_int of the energy, "
        "at least one sweep); the dataset rate also pays for equilibration. Generator: one "
        "forward pass per field, batched.",
    )


def _refine_block(report: Report, run_dir: Path, refine: dict[str, Any]) -> None:
    from ..plot.xy import refine_figure

    report.add_heading("Beyond the paper: generator as a proposal + k Monte Carlo sweeps")
    for T, per in refine.items():
        if T == "sweeps":
            continue
        starts = [
            name for name in ("generator", "baseline", "baseline_scha", "analytic") if name in per
        ]
        repaired = ", ".join(
            f"{name} {100 * per[name]['repaired_fraction']:.1f} %" for name in starts
        )
        report.add_figure(
            _save(
                refine_figure({s: per[s]["by_k"] for s in starts}),
                run_dir / f"refine_{_tag(T)}.png",
            ),
            "R² (against the simulated reference) of the energy, of |M| and of G(r) (the "
            "smallest over all d) after k sweeps of the charge-constrained Monte Carlo started "
            "from generated fields (violet), from the non-learned harmonic (green) or SCHA "
            "(blue) baselines, or from the analytic defect field (orange: plain Monte Carlo "
            "after k equilibration sweeps); right: against wall time per sample (the start "
            "included). "
            "Dotted: R² = 0.99. Starts with a wrong charge map "
            f"({repaired}) are replaced by the analytic field before the sweeps, so every "
            "refined field has the target map. C_v is in the table: its R² is noise-bound at "
            "this sample size, its χ²/dof is not.",
        )
        rows = [
            {
                "start": name,
                "k": r["k"],
                "ms/sample": _fmt(r["seconds_per_sample"] * 1e3, 3),
                "R² E": _fmt(r["r2"]["energy"]),
                "R² |M|": _fmt(r["r2"]["magnetization"]),
                "R² C_v": _fmt(r["r2"]["specific_heat"]),
                "χ²/dof C_v": _chi2(r.get("consistency", {}).get("specific_heat")),
                "R² Υ": _fmt(r["r2"]["helicity_modulus"]),
                "R² G (worst d)": _fmt(r["correlation_r2_all_min"]),
                "R² G (mean)": _fmt(r["correlation_r2_all_mean"]),
                "topo acc (mean)": _fmt(_mean_defined(r["topological_accuracy_mean"])),
                "match rate": _fmt(r["match_rate"]),
            }
            for name in starts
            for r in per[name]["by_k"]
        ]
        report.add_table(
            rows,
            caption=f"Scores against k ({T}). χ²/dof C_v: consistency of C_v with the "
            "simulated reference across d (≈ 1 when both sample one law; see above).",
        )


def _transfer_block(
    report: Report,
    run_dir: Path,
    transfer: dict[str, Any],
    transfer_fields: dict[str, dict[str, Any]],
    L: int,
) -> None:
    from ..plot.xy import field_grid

    report.add_heading("Beyond the paper: the L-trained generator on larger lattices")
    for size, fields in transfer_fields.items():
        dists = list(fields["d"])
        names = ("simulated", "generated")
        fig = field_grid(
            [list(fields[name]) for name in names],
            [[f"{name}, {size}, d = {d:.3g}" for d in dists] for name in names],
            arrows=False, panel=(3.2, 3.2),
        )  # fmt: skip
        report.add_figure(
            _save(fig, run_dir / f"transfer_{_tag(size)}.png"),
            f"At {size}: one Monte Carlo field (top) and one field of the generator trained at "
            f"L = {L} (bottom) per pair distance; colour: the angle, circles: exact "
            "charges (red +1, blue −1).",
        )
    entries = [
        (size, T, v)
        for size, per in transfer.items()
        for T, v in per.items()
        if isinstance(v, dict)
    ]
    rows = [
        {"lattice": size, "T": T, "ensemble": _LABELS.get(n, n)}
        | {_OBS_LABELS[o]: _fmt(s["r2"][o]) for o in ("energy", "magnetization", "specific_heat")}
        | {
            "R² G (worst d)": _fmt(s["correlation_r2_all_min"]),
            "R² G (mean)": _fmt(s["correlation_r2_all_mean"]),
            "match rate": _fmt(s["match_rate"]["mean"]),
            "aligned diversity ratio": _fmt(s["diversity"]["aligned_ratio"]),
        }
        for size, T, v in entries
        for n, s in v["scores"].items()
    ]
    report.add_table(
        rows,
        caption="R² against d (over the transfer distances) of energy, magnetization and "
        "C_v, mean R² of G(r), and charge fidelity of the generator trained at "
        f"L = {L} and run unchanged on larger lattices (fully convolutional, "
        "circular padding), beside the baseline, against Monte Carlo at that size; "
        "'+ k sweeps': after k sweeps of the constrained Monte Carlo from the generated "
        "fields or from the analytic defect field (plain Monte Carlo)",
    )
    observed = ("vorticity", "magnetization", "energy", "specific_heat")
    rows = [
        {"lattice": size, "T": T, "ensemble": _LABELS.get(n, n), "d": f"{d:.3g}"}
        | {_OBS_LABELS[o]: f"{obs[o][0]:.4g} ± {obs[o][1]:.2g}" for o in observed}
        for size, T, v in entries
        for n, lst in v["observables"].items()
        for d, obs in zip(v["distances"], lst, strict=True)
    ]
    report.add_table(rows, caption="Observables on the larger lattices (jackknife errors)")
