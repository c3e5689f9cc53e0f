"""TDGL step time against the floor of the scheme: one rfft2 + irfft2 pair of the same shape.

Prints JSON. Each case times our full step (``TDGLModel.step``) and, in the same run and
process, a bare ``rfft2`` + ``irfft2`` round trip on an array of the same shape and dtype; the
ratio step/floor is what counts on a shared machine (goal on CPU: ≤ 1.5). On CUDA the 512²,
batch-8 case is added (reference point: mumax³ reports about 2·10⁹ cell evaluations/s on an
H100 for a heavier micromagnetic workload).

Usage: ``python benchmarks/tdgl.py [--threads 1] [--repeats 7]``
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

from topophys.simulate.tdgl import TDGLConfig, TDGLModel, disorder_field


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_per_call(fn, device: torch.device, repeats: int, min_time: float = 0.2) -> float:
    """Median seconds per call over ``repeats`` timed blocks of enough calls to last min_time."""
    fn()
    _sync(device)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time / 4 or calls < 3:
        fn()
        calls += 1
    _sync(device)
    per_block = max(3, int(calls * 4 * min_time / max(time.perf_counter() - start, 1e-9) / 4))
    samples = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(per_block):
            fn()
        _sync(device)
        samples.append((time.perf_counter() - t0) / per_block)
    return float(np.median(samples))


def bench_case(size: int, batch: int, device: torch.device, dtype: str, repeats: int) -> dict:
    config = TDGLConfig(size=size, dtype=dtype)
    alpha = np.linspace(1.0, 4.0, batch)
    disorder = np.stack([disorder_field(s, size, config.disorder_std) for s in range(batch)])
    model = TDGLModel(config, alpha, disorder, device=device)
    phi = model.initial_state(np.random.default_rng(0).normal(0, 0.01, (batch, size, size)))
    step_s = _time_per_call(lambda: model.step(phi, 1.0), device, repeats)

    x = torch.randn((batch, size, size), dtype=config.torch_dtype, device=device)
    spec = torch.fft.rfft2(x)

    def fft_pair() -> None:
        torch.fft.rfft2(x, out=spec)
        torch.fft.irfft2(spec, s=x.shape[-2:], out=x)

    floor_s = _time_per_call(fft_pair, device, repeats)
    cells = batch * size * size
    return {
        "device": device.type,
        "size": size,
        "batch": batch,
        "dtype": dtype,
        "step_us": round(step_s * 1e6, 2),
        "fft_pair_us": round(floor_s * 1e6, 2),
        "step_over_fft_pair": round(step_s / floor_s, 3),
        "cell_updates_per_s": float(f"{cells / step_s:.4g}"),
        "goal_step_over_fft_pair": 1.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = []
    cpu = torch.device("cpu")
    for size in (128, 256):
        for batch in (1, 8):
            cases.append(bench_case(size, batch, cpu, "float32", args.repeats))
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        for size, batch in ((256, 8), (512, 8), (1024, 8)):
            cases.append(bench_case(size, batch, gpu, "float32", args.repeats))
    report = {
        "benchmark": "tdgl_step",
        "torch": torch.__version__,
        "cpu_threads": args.threads,
        "machine": platform.machine(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "cases": cases,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
