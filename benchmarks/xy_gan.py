"""Generator against Monte Carlo on one CPU thread: speed, at measured accuracy, over L and T.

The paper's argument for the cWGAN is speed: one forward pass replaces a Markov chain. For every
lattice side L and temperature T this script measures, in one process and one thread:

* **Monte Carlo**: the charge-constrained sampler (``XYSampler``, the compiled kernel; one
  sweep = Metropolis + one over-relaxation sweep) on a bank of equilibrated chains holding a
  pair at d = 2: seconds per sweep and field, and the integrated autocorrelation times of the
  energy (τ_E) and of the magnetization |M| (τ_M, the slow long-wave modes that G(r) at large r
  depends on). A running chain gives one independent field per max(1, 2τ) sweeps: decorrelated
  fields per second by τ_M (the figure for G(r)) and by τ_E (for the energy only).
* **Generator**: fields per second of ``models.unet.generate`` (batched, ``inference_mode``,
  channels-last, noise included) of each generator named, on the same maps; the one-off cost of
  a map's relaxed defect field is reported apart (it is cached per map).
* **Accuracy**: at d = 0, 2, √17 each generator draws ``--fields`` fields on a held-out image of
  the map (a translation and a quarter turn); Monte Carlo gives ``--fields`` reference fields
  and as many independent ones (the noise ceiling), two per chain, 2τ_M apart, after
  equilibration. Scores: R² of G(r) at each d and the worst of the three, R² of the energy and
  |M| against d (:func:`topophys.evaluate.xy.compare`).
* **Refined route** (``--refine``): generated fields + k constrained sweeps, against plain Monte
  Carlo from the relaxed defect field + k sweeps (one independent chain per field); for each,
  the cheapest k whose worst G(r) R² reaches ``--target``, and its seconds per field.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/xy_gan.py --generators runs/xy_T/gan/generator.pt \\
        --sizes 16,32,64 --temperatures 0.1,0.3,0.5,0.7,0.9,1.1,1.3 --refine \\
        --out docs/data/xy_speed.json

Without ``--generators`` an untrained demo-sized generator is timed (no accuracy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from _output import finish
from topophys.evaluate.xy import compare, refine_with_mc, summarize
from topophys.models.unet import UNetGenerator, count_parameters, generate, load_generator
from topophys.observables.spins import magnetization
from topophys.pipelines.xy import DEMO_CONFIG
from topophys.simulate.xy import (
    XYSampler,
    charge_map_image,
    integrated_autocorrelation_time,
    pair_charge_map,
    relaxed_defect_field,
)

DISTANCES = (0.0, 2.0, 4.12)


def _bank(L: int, T: float, d: float, chains: int, seed: int) -> XYSampler:
    """Chains started from the relaxed field of the pair map, each turned at random, with δ
    tuned over 100 sweeps (then frozen)."""
    rng = np.random.default_rng([seed, L, round(T * 1000)])
    turns = rng.uniform(-np.pi, np.pi, (chains, 1, 1))
    start = relaxed_defect_field(pair_charge_map(L, d))[None] + turns
    s = XYSampler(start, T, constrained=True, seed=seed)
    for i in range(100):
        s.sweep(1, 1)
        if (i + 1) % 10 == 0:
            s.tune_step_size()
    s.reset_acceptance()
    return s


def bench_mc(L: int, T: float, sweeps: int, seed: int) -> dict[str, Any]:
    """Seconds per sweep and field, τ_E and τ_M of a bank of 65,536 / L² chains (d = 2)."""
    chains = max(8, 65536 // (L * L))
    s = _bank(L, T, 2.0, chains, seed)
    s.sweep(300, 1)  # equilibrate
    w0, c0 = time.perf_counter(), time.process_time()
    s.sweep(50, 1)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    energies, mags = [], []
    for _ in range(sweeps):
        s.sweep(1, 1)
        energies.append(s.energy().numpy())
        mags.append(magnetization(s.theta.double().numpy()))
    tau_e = integrated_autocorrelation_time(np.array(energies))
    tau_m = integrated_autocorrelation_time(np.array(mags))
    per_field = cpu / 50 / chains
    return {
        "chains": chains,
        "sweep_seconds_per_field_cpu": per_field,
        "sweep_seconds_per_field_wall": wall / 50 / chains,
        "tau_int_energy": round(tau_e, 2),
        "tau_int_magnetization": round(tau_m, 2),
        "decorrelated_per_s_by_tau_M": 1.0 / (per_field * max(1.0, 2.0 * tau_m)),
        "decorrelated_per_s_by_tau_E": 1.0 / (per_field * max(1.0, 2.0 * tau_e)),
    }


def mc_reference(L: int, T: float, n: int, tau_m: float, seed: int) -> dict[float, np.ndarray]:
    """``2n`` decorrelated Monte Carlo fields per d: n chains, two fields 2τ_M apart."""
    out = {}
    gap = max(1, round(2 * tau_m))
    for d in DISTANCES:
        s = _bank(L, T, d, n, seed + 1)
        s.sweep(300, 1)
        first = s.theta.numpy().copy()
        s.sweep(gap, 1)
        out[d] = np.concatenate([first, s.theta.numpy()])
    return out


def _held_out(L: int, d: float) -> np.ndarray:
    return charge_map_image(pair_charge_map(L, d), shift=(3, 5), quarter_turns=1)


def _scores(ref: dict, cand: dict, L: int, T: float, maps: dict) -> dict[str, Any]:
    def summaries(fields: dict, targets: dict) -> list:
        # No topological curves: the scores below do not use them, and their cluster search
        # grows as L^4 (minutes per call at L = 64).
        return [
            summarize(fields[d], targets[d], T, d, n_blocks=8, morphology_samples=None)
            for d in DISTANCES
        ]

    ref_maps = {d: pair_charge_map(L, d) for d in DISTANCES}
    s = compare(summaries(ref, ref_maps), summaries(cand, maps), correlation_distances=DISTANCES)
    return {
        "correlation_r2": s["correlation_r2"],
        "correlation_r2_worst": s["correlation_r2_shown_min"],
        "r2_energy": s["r2"]["energy"],
        "r2_magnetization": s["r2"]["magnetization"],
        "match_rate": s["match_rate"]["mean"],
    }


def bench_generator(g: UNetGenerator, L: int, T: float, seconds: float) -> dict[str, Any]:
    """Fields per second of :func:`generate` on one map (its relaxed field already cached)."""
    q = _held_out(L, 2.0)[None]
    generate(g, q, T, 8)
    n, cpu, wall = 0, 0.0, 0.0
    while cpu < seconds:
        batch = max(16, 65536 // (L * L)) * 4
        w0, c0 = time.perf_counter(), time.process_time()
        generate(g, q, T, batch, seed=n)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        n += batch
    t0 = time.perf_counter()
    relaxed_defect_field(_held_out(L, 4.12))
    return {
        "samples_per_s_cpu": n / cpu,
        "samples_per_s_wall": n / wall,
        "relaxed_field_seconds_per_map": time.perf_counter() - t0,
    }


def _forward_seconds(g: UNetGenerator, L: int, batch: int, fmt: Any, mode: Any) -> float:
    """CPU seconds per field of the forward pass alone (best of three, noise drawn before)."""
    q = torch.as_tensor(_held_out(L, 2.0), dtype=torch.float32).expand(batch, L, L).contiguous()
    t = torch.full((batch,), 0.9)
    z = g.sample_noise(batch, L).contiguous(memory_format=fmt)
    g.to(memory_format=fmt)
    best = float("inf")
    with mode():
        g(q, t, z)
        for _ in range(3):
            c0 = time.process_time()
            g(q, t, z)
            best = min(best, time.process_time() - c0)
    g.to(memory_format=torch.contiguous_format)
    return best / batch


def bench_options(g: UNetGenerator, L: int, compile_too: bool) -> dict[str, Any]:
    """µs per field (CPU) of the forward pass under each generation choice, one at a time."""
    nchw, cl = torch.contiguous_format, torch.channels_last
    auto = max(1, 65536 // (L * L))
    rows = {
        "no_grad, NCHW, batch 256": (g, 256, nchw, torch.no_grad),
        "inference_mode, NCHW, batch 256": (g, 256, nchw, torch.inference_mode),
        "inference_mode, channels-last, batch 256": (g, 256, cl, torch.inference_mode),
        f"inference_mode, channels-last, batch {auto} (generate's default)":
            (g, auto, cl, torch.inference_mode),
    }  # fmt: skip
    half = UNetGenerator(**(g.init_kwargs | {"width": g.init_kwargs["width"] / 2})).eval()
    rows[f"same at width {half.init_kwargs['width']:g}"] = (half, auto, cl, torch.inference_mode)
    out = {name: 1e6 * _forward_seconds(m, L, b, f, mode) for name, (m, b, f, mode) in rows.items()}
    if compile_too:
        t0 = time.perf_counter()
        compiled = torch.compile(g, dynamic=False)
        out["torch.compile (NCHW, batch auto)"] = 1e6 * _forward_seconds(
            compiled, L, auto, nchw, torch.inference_mode
        )
        out["torch.compile: compile seconds"] = time.perf_counter() - t0
    return {"L": L, "us_per_field_cpu": out}


def refine_route(
    g: UNetGenerator, ref: dict, L: int, T: float, n: int, ks: list[int], mc: dict, target: float
) -> dict[str, Any]:
    """Generator + k sweeps against plain Monte Carlo from the relaxed field + k sweeps."""
    maps = {d: _held_out(L, d) for d in DISTANCES}
    gen_seconds = 1.0 / mc["generator_samples_per_s_cpu"]
    starts = {
        "generator": ({d: generate(g, maps[d][None], T, n, seed=7)[0] for d in DISTANCES},
                      gen_seconds),
        "relaxed field (plain MC)": ({d: np.broadcast_to(relaxed_defect_field(maps[d]),
                                                         (n, L, L)) for d in DISTANCES}, 0.0),
    }  # fmt: skip
    out: dict[str, Any] = {}
    for name, (fields, start_cost) in starts.items():
        rows = []
        snaps = {}
        for d in DISTANCES:
            r = refine_with_mc(fields[d] + np.random.default_rng(1).uniform(-np.pi, np.pi,
                                                                          (n, 1, 1)),
                               maps[d], T, ks, seed=3)  # fmt: skip
            snaps[d] = r.snapshots
        for k in ks:
            sc = _scores(ref, {d: snaps[d][k] for d in DISTANCES}, L, T, maps)
            seconds = start_cost + k * mc["sweep_seconds_per_field_cpu"]
            rows.append({"k": k, "seconds_per_sample_cpu": seconds} | sc)
        ok = [r for r in rows if r["correlation_r2_worst"] >= target]
        out[name] = {"by_k": rows, "cheapest_at_target": ok[0] if ok else None}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generators", default="", help="comma-separated generator.pt files")
    p.add_argument("--sizes", default="16,32,64")
    p.add_argument("--temperatures", default="0.1,0.3,0.5,0.7,0.9,1.1,1.3")
    p.add_argument("--fields", type=int, default=64, help="fields per d for the accuracy")
    p.add_argument("--sweeps", type=int, default=1000, help="measured sweeps for τ")
    p.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per generator timing")
    p.add_argument("--refine", action="store_true")
    p.add_argument("--ks", default="0,1,2,4,8,16,32,64")
    p.add_argument("--target", type=float, default=0.9)
    p.add_argument("--options", action="store_true", help="time each generation choice")
    p.add_argument("--compile", action="store_true", help="with --options: torch.compile too")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    paths = [Path(x) for x in args.generators.split(",") if x]
    if paths:
        generators = {str(path): load_generator(path) for path in paths}
    else:
        torch.manual_seed(0)
        demo = DEMO_CONFIG.gan
        generators = {"untrained demo generator": UNetGenerator(
            width=demo.width, noise_channels=demo.noise_channels, init=demo.generator_init,
            output=demo.generator_output, noise_injection=demo.noise_injection,
            spin_waves=demo.spin_waves, upsample=demo.upsample, defect_base=demo.defect_base,
        )}  # fmt: skip
    result: dict[str, Any] = {
        "command": "python benchmarks/xy_gan.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items() if v not in (None, False, ""))
        .replace("--refine True", "--refine"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "arch": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": {"start": [round(x, 2) for x in os.getloadavg()]},
        "generators": {
            name: {"parameters": count_parameters(g)} | g.init_kwargs
            for name, g in generators.items()
        },
        "cases": [],
    }  # fmt: skip
    ks = [int(k) for k in args.ks.split(",")]
    for L in (int(x) for x in args.sizes.split(",")):
        for T in (float(x) for x in args.temperatures.split(",")):
            mc = bench_mc(L, T, args.sweeps, seed=0)
            case: dict[str, Any] = {"L": L, "T": T, "mc": mc, "generators": {}}
            ref = half = None
            if paths:
                both = mc_reference(L, T, args.fields, mc["tau_int_magnetization"], seed=0)
                ref = {d: x[: args.fields] for d, x in both.items()}
                half = {d: x[args.fields :] for d, x in both.items()}
                maps = {d: pair_charge_map(L, d) for d in DISTANCES}
                case["mc_independent_half"] = _scores(ref, half, L, T, maps)
            for name, g in generators.items():
                rec = bench_generator(g, L, T, args.seconds)
                rec["over_mc_by_tau_M"] = (
                    rec["samples_per_s_cpu"] / mc["decorrelated_per_s_by_tau_M"]
                )
                rec["over_mc_by_tau_E"] = (
                    rec["samples_per_s_cpu"] / mc["decorrelated_per_s_by_tau_E"]
                )
                if ref is not None:
                    maps = {d: _held_out(L, d) for d in DISTANCES}
                    fields = {d: generate(g, maps[d][None], T, args.fields, seed=5)[0]
                              for d in DISTANCES}  # fmt: skip
                    rec["accuracy"] = _scores(ref, fields, L, T, maps)
                    if args.refine:
                        mc_g = mc | {"generator_samples_per_s_cpu": rec["samples_per_s_cpu"]}
                        rec["refine"] = refine_route(g, ref, L, T, args.fields, ks, mc_g,
                                                     args.target)  # fmt: skip
                case["generators"][name] = rec
            result["cases"].append(case)
            print(json.dumps({"L": L, "T": T, "tau_M": mc["tau_int_magnetization"]}), flush=True)
    if args.options:
        g = next(iter(generators.values()))
        result["generation_options"] = [
            bench_options(g, int(L), args.compile) for L in args.sizes.split(",")
        ]
    finish(result, args.out)


if __name__ == "__main__":
    main()
