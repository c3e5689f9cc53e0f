"""Resumable TDGL sweeps over anisotropy and seed, written to a :class:`~topophys.data.FieldStore`.

Runs are the product ``alphas × seeds`` (alpha-major) cut into fixed batches of ``batch_size``
runs that advance together. Batches run on local worker processes or a Dask cluster
(:mod:`topophys.parallel`) and are written by this process as each finishes. Running the same
sweep again skips the finished batches; a batch interrupted by a kill is simply redone, and the
fixed batch cut makes the result identical to an uninterrupted sweep.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .. import __version__, _validate
from ..config import Config
from ..data.fields import FieldStore
from ..parallel import as_completed
from .tdgl import ALPHA_RANGE, TDGLConfig, field_at, simulate, snapshot_steps

__all__ = ["TDGLSweepConfig", "run_tdgl_sweep"]


@dataclass(frozen=True)
class TDGLSweepConfig(Config):
    """A sweep of TDGL runs: the physics plus the grid of anisotropies and seeds.

    Parameters
    ----------
    tdgl
        Physics, discretization and snapshot schedule shared by every run.
    alphas
        Anisotropies α (papers: [1, 4]).
    seeds
        Random seeds; each fixes a disorder realization λ(r) and initial noise.
    batch_size
        Runs advanced together in one batched simulation (and written together).
    """

    tdgl: TDGLConfig = field(default_factory=TDGLConfig)
    alphas: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
    seeds: tuple[int, ...] = (0,)
    batch_size: int = 8

    def __post_init__(self) -> None:
        if not self.alphas:
            raise ValueError("alphas must name at least one anisotropy")
        for i, a in enumerate(self.alphas):
            _validate.in_range(f"alphas[{i}]", a, *ALPHA_RANGE)
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        for i, s in enumerate(self.seeds):
            _validate.nonnegative_int(f"seeds[{i}]", s)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        _validate.positive_int("batch_size", self.batch_size)

    def runs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(alpha, seed)`` of every run, alpha-major: two ``(runs,)`` arrays."""
        pairs = list(itertools.product(self.alphas, self.seeds))
        return (
            np.array([a for a, _ in pairs], dtype=np.float64),
            np.array([s for _, s in pairs], dtype=np.int64),
        )

    def batches(self) -> list[slice]:
        """The fixed cut of the run indices into batches."""
        n = len(self.alphas) * len(self.seeds)
        return [slice(i, min(i + self.batch_size, n)) for i in range(0, n, self.batch_size)]


def _simulate_batch(
    job: tuple[slice, np.ndarray, np.ndarray], config: TDGLConfig, device: str
) -> tuple[slice, np.ndarray, np.ndarray]:
    runs, alpha, seed = job
    result = simulate(config, alpha, seed, device=device, progress=False)
    return runs, result.fields, result.t_init


def run_tdgl_sweep(
    config: TDGLSweepConfig,
    store: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    device: str = "cpu",
    progress: bool | None = None,
) -> FieldStore:
    """Simulate every run of ``config`` not yet in ``store`` and write it there.

    Parameters
    ----------
    config
        The sweep.
    store
        Path of the Zarr field store; created when missing, resumed when present.
    workers
        Local worker processes (one torch thread each). Ignored with ``scheduler``.
    scheduler
        Dask scheduler address or ``distributed.Client`` to run the batches on.
    device
        torch device for the simulations (``"cuda"`` on a GPU machine).
    progress
        Progress bar over runs (``None``: only on a terminal).

    Returns
    -------
    FieldStore
        The complete store.

    Raises
    ------
    ValueError
        If ``store`` exists but was made by a different configuration.
    """
    _validate.instance("config", config, TDGLSweepConfig)
    store = _validate.path("store", store)
    _validate.torch_device("device", device)  # checked before the store is created
    _validate.workers("workers", workers)
    text = config.to_yaml()
    if store.exists():
        fields = FieldStore.open(store, mode="r+")
        stored = fields.attrs.get("config")
        if stored is None or yaml.safe_load(stored) != yaml.safe_load(text):
            raise ValueError(
                f"store {store} was made by a different configuration; choose another path "
                "or delete it to start over"
            )
    else:
        tdgl = config.tdgl
        steps = snapshot_steps(tdgl)
        alpha, seed = config.runs()
        fields = FieldStore.create(
            store,
            alpha=alpha,
            seed=seed,
            t=steps * tdgl.dt,
            h=field_at(tdgl, steps * tdgl.dt),
            shape=(tdgl.size, tdgl.size),
            dtype=tdgl.dtype,
            attrs={"config": text, "kind": "tdgl", "topophys_version": __version__},
        )
    alpha, seed = config.runs()
    done = fields.verified_done()  # finished and intact; damaged runs are redone
    jobs = [(b, alpha[b], seed[b]) for b in config.batches() if not done[b].all()]
    work = partial(_simulate_batch, config=config.tdgl, device=device)
    for _, (runs, batch_fields, t_init) in as_completed(
        work, jobs, workers=workers, scheduler=scheduler, desc="TDGL batches", progress=progress
    ):
        fields.write_runs(runs, batch_fields, t_init)
    return fields
