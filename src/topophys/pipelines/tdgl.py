"""The TDGL sweep as a pipeline: simulate, then write figures and metrics to a run directory.

A run directory holds ``config.yaml`` (the exact configuration, loadable with
:meth:`TDGLSweepConfig.from_yaml`), ``fields.zarr``, ``snapshots.png``, ``t_init.png`` and
``metrics.json``. Running it again on the same directory resumes the sweep.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import atomic_write_text
from ..simulate.sweep import TDGLSweepConfig, run_tdgl_sweep

DEMO_CONFIG = TDGLSweepConfig(
    alphas=tuple(float(a) for a in np.round(np.linspace(1.0, 4.0, 13), 4)),
    seeds=(0, 1),
    batch_size=4,
)
"""The sweep ``make demo`` runs: 13 anisotropies × 2 seeds on the papers' parameters, 128²."""


def run(
    config: TDGLSweepConfig,
    run_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    device: str = "cpu",
    progress: bool | None = None,
) -> Path:
    """Run (or resume) the sweep into ``run_dir`` and write its figures and metrics.

    Returns
    -------
    pathlib.Path
        ``run_dir``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plot.fields import snapshot_grid, t_init_plot

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.yaml"
    if config_path.exists() and TDGLSweepConfig.from_yaml(config_path) != config:
        raise ValueError(f"{run_dir} holds a run of another configuration; use a new directory")
    config.to_yaml(config_path)
    start = time.perf_counter()
    store = run_tdgl_sweep(
        config,
        run_dir / "fields.zarr",
        workers=workers,
        scheduler=scheduler,
        device=device,
        progress=progress,
    )
    wall = time.perf_counter() - start
    ds = store.dataset()
    fig = snapshot_grid(ds)
    fig.savefig(run_dir / "snapshots.png", dpi=110)
    plt.close(fig)
    fig = t_init_plot(ds)
    fig.savefig(run_dir / "t_init.png", dpi=110)
    plt.close(fig)

    alpha = ds["alpha"].values
    t_init = ds["T_init"].values
    by_alpha: dict[str, float | None] = {}
    for a in np.unique(alpha):
        values = t_init[(alpha == a) & np.isfinite(t_init)]
        by_alpha[f"{a:g}"] = round(float(values.mean()), 6) if values.size else None
    metrics = {
        "runs": int(alpha.size),
        "steps_per_run": config.tdgl.n_steps,
        "grid": config.tdgl.size,
        "simulate_wall_s": round(wall, 3),
        "T_init_mean_by_alpha": by_alpha,
    }
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return run_dir
