"""The ``topophys`` command line.

Heavy modules (torch, xarray, matplotlib) are imported inside the commands so that
``topophys --help`` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="topophys: physical systems → persistent homology → learned models a physicist can read.",
    no_args_is_help=True,
    add_completion=False,
)
simulate_app = typer.Typer(
    help="Run simulations and write them to Zarr stores.", no_args_is_help=True
)
plot_app = typer.Typer(help="Draw figures of stores and runs.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.add_typer(plot_app, name="plot")

WorkersOpt = Annotated[
    int, typer.Option("--workers", "-j", min=1, help="Local worker processes (one thread each).")
]
SchedulerOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option(
        help="Dask scheduler address (tcp://HOST:PORT) to run on instead of local workers."
    ),
]
DeviceOpt = Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1, ...")]


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"topophys {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """topophys command line."""


def parse_floats(text: str, name: str) -> tuple[float, ...]:
    """Parse ``"a,b,c"`` or ``"start:stop:count"`` (inclusive, evenly spaced) into floats."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            n = int(count)
            if n < 1:
                raise ValueError
            step = 0.0 if n == 1 else (float(stop) - float(start)) / (n - 1)
            return tuple(round(float(start) + i * step, 10) for i in range(n))
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected comma-separated numbers or START:STOP:COUNT", param_hint=name
        ) from None


def parse_ints(text: str, name: str) -> tuple[int, ...]:
    """Parse ``"0,1,2"`` or ``"0:N"`` (range, N excluded) into ints."""
    try:
        if ":" in text:
            start, stop = text.split(":")
            return tuple(range(int(start), int(stop)))
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected comma-separated integers or START:STOP", param_hint=name
        ) from None


@simulate_app.command("tdgl")
def simulate_tdgl(
    out: Annotated[Path, typer.Argument(help="Zarr store to write (resumed when it exists).")],
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Sweep YAML (as written by --dump-config); flags below override it."),
    ] = None,
    alpha: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Anisotropies: '1,2,3' or START:STOP:COUNT, e.g. 1:4:7."),
    ] = None,
    seeds: Annotated[
        Optional[str], typer.Option(help="Seeds: '0,1' or START:STOP.")  # noqa: UP045
    ] = None,
    size: Annotated[Optional[int], typer.Option(help="Grid points per side.")] = None,  # noqa: UP045
    dt: Annotated[Optional[float], typer.Option(help="Time step.")] = None,  # noqa: UP045
    snapshots: Annotated[
        Optional[int], typer.Option(help="Snapshots per run.")  # noqa: UP045
    ] = None,
    dtype: Annotated[
        Optional[str], typer.Option(help="float32 or float64.")  # noqa: UP045
    ] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help="Runs advanced together.")  # noqa: UP045
    ] = None,
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = "cpu",
    dump_config: Annotated[
        bool, typer.Option("--dump-config", help="Print the resolved config as YAML and exit.")
    ] = False,
) -> None:
    """Sweep TDGL magnetic-domain runs over anisotropy α and seeds into a Zarr store.

    Re-running the same command skips finished runs and redoes interrupted ones.
    """
    from .simulate.sweep import TDGLSweepConfig, run_tdgl_sweep
    from .simulate.tdgl import TDGLBlowUpError

    try:
        sweep = TDGLSweepConfig.from_yaml(config) if config else TDGLSweepConfig()
        physics = {
            k: v
            for k, v in {"size": size, "dt": dt, "n_snapshots": snapshots, "dtype": dtype}.items()
            if v is not None
        }
        changes: dict[str, object] = {}
        if physics:
            changes["tdgl"] = {**sweep.tdgl.to_dict(), **physics}
        if alpha is not None:
            changes["alphas"] = list(parse_floats(alpha, "--alpha"))
        if seeds is not None:
            changes["seeds"] = list(parse_ints(seeds, "--seeds"))
        if batch_size is not None:
            changes["batch_size"] = batch_size
        sweep = sweep.replace(**changes)
    except (ValueError, TypeError) as err:
        raise typer.BadParameter(str(err)) from None
    if dump_config:
        typer.echo(sweep.to_yaml(), nl=False)
        raise typer.Exit()
    try:
        store = run_tdgl_sweep(sweep, out, workers=workers, scheduler=scheduler, device=device)
    except (ValueError, TDGLBlowUpError) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {store.n_runs} runs to {out}")


@plot_app.command("tdgl")
def plot_tdgl(
    store: Annotated[Path, typer.Argument(help="Field store written by `topophys simulate tdgl`.")],
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="PNG path (default: STORE.png).")  # noqa: UP045
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Anisotropies shown (rows).")] = 6,
    cols: Annotated[int, typer.Option(min=1, help="Times shown (columns).")] = 6,
    seed: Annotated[Optional[int], typer.Option(help="Seed to show.")] = None,  # noqa: UP045
) -> None:
    """Draw a grid of snapshots (α × time) of a TDGL field store to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from .data.fields import open_fields
    from .plot.fields import snapshot_grid

    try:
        fig = snapshot_grid(open_fields(store), n_alpha=rows, n_time=cols, seed=seed)
    except (FileNotFoundError, ValueError) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    out = out or store.with_suffix(".png")
    fig.savefig(out, dpi=120)
    typer.echo(f"wrote {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/demo"),
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Run the demo pipeline on its embedded configuration and write a run directory.

    For now this is the TDGL sweep of the papers (13 α × 2 seeds on 128²): snapshots, T_init(α)
    and metrics.json. Re-running resumes.
    """
    from .pipelines.tdgl import DEMO_CONFIG, run

    run_dir = run(DEMO_CONFIG, out, workers=workers, scheduler=scheduler, device=device)
    typer.echo(f"run directory: {run_dir}")
    for name in ("config.yaml", "metrics.json", "snapshots.png", "t_init.png", "fields.zarr"):
        typer.echo(f"  {run_dir / name}")
