"""Generated XY fields per second against Monte Carlo's decorrelated fields per second.

The paper's argument for the cWGAN is speed: one forward pass replaces a long Markov chain. This
script measures, in the same run, on the same device and thread count:

* the U-Net generator's throughput (fields/s, batched, noise included) for some widths and
  lattice sides (the network is fully convolutional, so an L = 16 generator runs at L = 32);
* the reference: the charge-constrained Monte Carlo (Metropolis + ``--overrelaxation``
  over-relaxation sweeps) at the same L and T, as decorrelated fields per second of a bank of
  equilibrated chains: replicas / (seconds per sweep · max(1, 2 τ_int)), with τ_int the
  integrated autocorrelation time of the energy measured here on the same chains;
* with ``--train``, the seconds of one critic step and one generator step of the cWGAN at batch
  64 (the cost of training, which the generator's speed must pay back).

Untrained weights run as fast as trained ones, so no training is needed for the throughput.

Usage: ``python benchmarks/xy_gan.py [--widths 0.25,0.5,1] [--sizes 16,32] [--device cpu]
[--train]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from topophys.models.unet import UNetGenerator, count_parameters, generate
from topophys.simulate.xy import (
    XYSampler,
    defect_field,
    integrated_autocorrelation_time,
    pair_charge_map,
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_generator(width: float, L: int, n: int, device: torch.device, repeats: int) -> dict:
    g = UNetGenerator(width=width).to(device).eval()
    q = pair_charge_map(L, 2)[None]
    generate(g, q, 0.1, min(n, 64), device=device)  # warm-up
    times = []
    for r in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        generate(g, q, 0.1, n, seed=r, batch_size=256, device=device)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {
        "width": width,
        "L": L,
        "parameters": count_parameters(g),
        "fields": n,
        "samples_per_s": float(f"{n / float(np.median(times)):.4g}"),
    }


def bench_mc(
    L: int, T: float, replicas: int, overrelaxation: int, device: torch.device, sweeps: int
) -> dict:
    base = defect_field(pair_charge_map(L, 2))
    rng = np.random.default_rng(0)
    theta = base[None] + rng.uniform(-np.pi, np.pi, (replicas, 1, 1))
    s = XYSampler(theta, T, constrained=True, seed=0, device=device)
    for i in range(100):  # equilibrate, tuning δ as the datasets do
        s.sweep(1, overrelaxation)
        if (i + 1) % 10 == 0 and i < 50:
            s.tune_step_size()
    energies = []
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(sweeps):
        s.sweep(1, overrelaxation)
        energies.append(s.energy())
    _sync(device)
    per_sweep = (time.perf_counter() - t0) / sweeps
    tau = integrated_autocorrelation_time(torch.stack(energies).cpu().numpy())
    per_sample = per_sweep / replicas * max(1.0, 2.0 * tau)
    return {
        "L": L,
        "T": T,
        "replicas": replicas,
        "overrelaxation": overrelaxation,
        "tau_int_sweeps": round(tau, 3),
        "seconds_per_sweep": float(f"{per_sweep:.4g}"),
        "decorrelated_samples_per_s": float(f"{1.0 / per_sample:.4g}"),
    }


def bench_train(width: float, device: torch.device, repeats: int) -> dict:
    from topophys.training.wgan import CWGANConfig, CWGANModule, gradient_penalty

    module = CWGANModule(CWGANConfig(width=width, critic_width=width)).to(device)
    g, c = module.generator, module.critic
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4)
    opt_c = torch.optim.Adam(c.parameters(), lr=1e-4)
    q = torch.as_tensor(pair_charge_map(16, 2), dtype=torch.float32, device=device)
    q = q.expand(64, 16, 16).contiguous()
    t = torch.full((64,), 0.1, device=device)
    real = torch.nn.functional.normalize(torch.randn(64, 2, 16, 16, device=device), dim=1)

    def critic_step() -> None:
        with torch.no_grad():
            fake = g(q, t)
        loss = c(fake, q, t).mean() - c(real, q, t).mean()
        loss = loss + 10 * gradient_penalty(c, real, fake, q, t)
        opt_c.zero_grad()
        loss.backward()
        opt_c.step()

    def generator_step() -> None:
        loss = -c(g(q, t), q, t).mean()
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()

    out = {"width": width, "batch": 64}
    for name, fn in (("critic_step_s", critic_step), ("generator_step_s", generator_step)):
        fn()
        times = []
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - t0)
        out[name] = round(float(np.median(times)), 4)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", default="0.25,0.5,1.0")
    p.add_argument("--sizes", default="16,32")
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--fields", type=int, default=512, help="fields generated per timing")
    p.add_argument("--replicas", type=int, default=256, help="Monte Carlo chains")
    p.add_argument("--sweeps", type=int, default=200, help="timed Monte Carlo sweeps")
    p.add_argument("--overrelaxation", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--train", action="store_true", help="also time one cWGAN step per network")
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    device = torch.device(args.device)
    widths = [float(w) for w in args.widths.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    mc = {
        L: bench_mc(L, args.temperature, args.replicas, args.overrelaxation, device, args.sweeps)
        for L in sizes
    }
    generator = []
    for L in sizes:
        for w in widths:
            rec = bench_generator(w, L, args.fields, device, args.repeats)
            rec["over_mc"] = round(rec["samples_per_s"] / mc[L]["decorrelated_samples_per_s"], 3)
            generator.append(rec)
    out = {
        "machine": platform.processor() or platform.machine(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "reference_mc": list(mc.values()),
        "generator": generator,
    }
    if args.train:
        out["training"] = [bench_train(w, device, args.repeats) for w in widths]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
