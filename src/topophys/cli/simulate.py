"""``topophys simulate tdgl|amorphous|xy``: simulations into resumable stores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import _checks as check
from ._common import DeviceOpt, RepairOpt, SchedulerOpt, WorkersOpt
from ._config import Opt, command

__all__ = ["amorphous", "tdgl", "xy"]


def _tdgl(
    sweep: Any,
    out: Annotated[
        Path, typer.Argument(metavar="OUT", help="Zarr store to write (resumed when it exists).")
    ],
    repair: RepairOpt = False,
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Sweep TDGL magnetic-domain runs over anisotropy α and seeds into a Zarr store.

    Re-running the same command skips finished runs (after checking that their data read back
    intact) and redoes interrupted or damaged ones.
    """
    from ..data.fields import FieldStore
    from ..simulate.sweep import TDGLSweepConfig, run_tdgl_sweep

    check.device(device)
    check.output_path(out, "OUT")
    if repair:
        stored = FieldStore.open(check.store_to_repair(out))
        sweep = check.stored_config(TDGLSweepConfig, stored.attrs.get("config"), sweep, out)
    with check.scheduler_client(scheduler) as client:
        store = run_tdgl_sweep(sweep, out, workers=workers, scheduler=client, device=device)
    check.report_units(store, out, "runs")


def tdgl() -> Any:
    from ..simulate.sweep import TDGLSweepConfig

    return command(
        TDGLSweepConfig,
        _tdgl,
        {
            "alpha": Opt(
                ("alphas",), help="Anisotropies: '1,2,3' or START:STOP:COUNT, e.g. 1:4:7."
            ),
            "seeds": Opt(("seeds",), help="Seeds: '0,1' or START:STOP."),
            "size": "tdgl.size",
            "dt": "tdgl.dt",
            "snapshots": "tdgl.n_snapshots",
            "dtype": "tdgl.dtype",
            "batch-size": "batch_size",
        },
    )


def _amorphous(
    quench: Any,
    out: Annotated[
        Path,
        typer.Argument(
            metavar="OUT", help="Output folder: one extxyz file per run (resumed when present)."
        ),
    ],
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
) -> None:
    """Melt-quench amorphous carbon with LAMMPS (the PH-descriptor papers' protocol).

    Writes OUT/<N>atom_amorphous/rho<ρ>_run<r>.xyz, the layout of the published set.
    Re-running the same command skips finished runs.
    """
    from ..simulate.amorphous import run_melt_quench

    check.output_path(out, "OUT")
    with check.scheduler_client(scheduler) as client:
        paths = run_melt_quench(quench, out, workers=workers, scheduler=client)
    typer.echo(f"{len(paths)} runs ({quench.frames_per_run} frames each) in {out}")


def amorphous() -> Any:
    from ..simulate.amorphous import MeltQuenchConfig

    return command(
        MeltQuenchConfig,
        _amorphous,
        {
            "densities": Opt(
                ("densities",),
                help="Densities in g/cm³: '2.0,3.0' or START:STOP:COUNT, e.g. 1.5:3.5:5.",
            ),
            "runs": "runs",
            "atoms": Opt(("n_atoms",), help="Atoms per box, a cube n³ (216, 512)."),
            "potential": "potential",
            "label-potential": Opt(
                ("label_potential",), help="Relabel the frames with this potential (e.g. snap)."
            ),
            "engine": "engine",
            "time-scale": "time_scale",
            "diamond": "diamond",
            "seed": "seed",
        },
    )


def _xy(
    xy_config: Any,
    out: Annotated[
        Path, typer.Argument(metavar="OUT", help="Zarr store to write (resumed when it exists).")
    ],
    repair: RepairOpt = False,
    device: DeviceOpt = "cpu",
) -> None:
    """XY-model fields with prescribed vortex–antivortex pairs (Metropolis, charge constraint).

    Writes angles, charge maps, T and d per sample, and per (T, d) the integrated autocorrelation
    time of the energy. Re-running the same command skips finished conditions (after checking
    that they read back intact) and redoes interrupted or damaged ones.
    """
    from ..data.spins import SpinStore
    from ..simulate.xy import XYConfig, write_dataset

    check.device(device)
    check.output_path(out, "OUT")
    if repair:
        stored = SpinStore.open(check.store_to_repair(out))
        xy_config = check.stored_config(XYConfig, stored.config_yaml, xy_config, out)
    store = write_dataset(xy_config, out, device=device)
    ds = store.dataset()
    typer.echo("T        d      tau_int  acceptance  held")
    for T, d, tau, acc, held in zip(
        ds["cond_T"].values, ds["cond_d"].values, ds["tau_int"].values,
        ds["acceptance"].values, ds["held"].values, strict=True,
    ):  # fmt: skip
        typer.echo(f"{T:<8.4g} {d:<6.3g} {tau:<8.3g} {acc:<11.3f} {held:.3f}")
    check.report_units(store, out, f"conditions × {store.samples} fields")


def xy() -> Any:
    from ..simulate.xy import XYConfig

    return command(
        XYConfig,
        _xy,
        {
            "L": Opt(("L",), decls=("--L",)),
            "temperatures": Opt(
                ("temperatures",), help="Temperatures: '0.1,0.5' or START:STOP:COUNT."
            ),
            "distances": Opt(("distances",), help="Pair distances (0 = no defects): '0,1,1.41,2'."),
            "samples": "samples",
            "replicas": "n_replicas",
            "sweeps": "equilibration_sweeps",
            "decorrelation": "decorrelation_sweeps",
            "overrelaxation": "overrelaxation",
            "constrained": Opt(("constrained",), decls=("--constrained/--unconstrained",)),
            "seed": "seed",
            "dtype": "dtype",
        },
    )
