"""The ``topophys`` command line.

Heavy modules (torch, xarray, matplotlib) are imported inside the commands so that
``topophys --help`` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

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
diagrams_app = typer.Typer(
    help="Compute persistence diagrams of field stores and structures into resumable stores.",
    no_args_is_help=True,
)
app.add_typer(simulate_app, name="simulate")
app.add_typer(plot_app, name="plot")
app.add_typer(diagrams_app, name="diagrams")
run_app = typer.Typer(
    help="Run a paper's whole pipeline into a run directory (report.html, metrics.json).",
    no_args_is_help=True,
)
app.add_typer(run_app, name="run")

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


@simulate_app.command("amorphous")
def simulate_amorphous(
    out: Annotated[
        Path, typer.Argument(help="Output folder: one extxyz file per run (resumed when present).")
    ],
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="MeltQuenchConfig YAML (as --dump-config writes); flags override it."),
    ] = None,
    densities: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Densities in g/cm³: '2.0,3.0' or START:STOP:COUNT, e.g. 1.5:3.5:5."),
    ] = None,
    runs: Annotated[Optional[int], typer.Option(help="Runs per density.")] = None,  # noqa: UP045
    atoms: Annotated[
        Optional[int], typer.Option(help="Atoms per box, a cube n³ (216, 512).")  # noqa: UP045
    ] = None,
    potential: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Trajectory potential: tersoff, airebo, rebo, lcbop, snap."),
    ] = None,
    label_potential: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Relabel the frames with this potential (e.g. snap)."),
    ] = None,
    engine: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="auto, lammps or ase (pure-Python Tersoff: tiny tests only)."),
    ] = None,
    time_scale: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(help="Multiply every stage's duration (< 1 for quick trials)."),
    ] = None,
    diamond: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--diamond/--no-diamond", help="Also run diamond frames at 300 K."),
    ] = None,
    seed: Annotated[Optional[int], typer.Option(help="Base random seed.")] = None,  # noqa: UP045
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
    dump_config: Annotated[
        bool, typer.Option("--dump-config", help="Print the resolved config as YAML and exit.")
    ] = False,
) -> None:
    """Melt-quench amorphous carbon with LAMMPS (the PH-descriptor papers' protocol).

    Writes OUT/<N>atom_amorphous/rho<ρ>_run<r>.xyz, the layout of the published set.
    Re-running the same command skips finished runs.
    """
    from .simulate.amorphous import MeltQuenchConfig, run_melt_quench

    try:
        quench = MeltQuenchConfig.from_yaml(config) if config else MeltQuenchConfig()
        changes: dict[str, object] = {
            k: v
            for k, v in {
                "runs": runs,
                "n_atoms": atoms,
                "potential": potential,
                "label_potential": label_potential,
                "engine": engine,
                "time_scale": time_scale,
                "diamond": diamond,
                "seed": seed,
            }.items()
            if v is not None
        }
        if densities is not None:
            changes["densities"] = list(parse_floats(densities, "--densities"))
        quench = quench.replace(**changes)
    except (ValueError, TypeError) as err:
        raise typer.BadParameter(str(err)) from None
    if dump_config:
        typer.echo(quench.to_yaml(), nl=False)
        raise typer.Exit()
    try:
        paths = run_melt_quench(quench, out, workers=workers, scheduler=scheduler)
    except (ValueError, ImportError) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{len(paths)} runs ({quench.frames_per_run} frames each) in {out}")


@simulate_app.command("xy")
def simulate_xy(
    out: Annotated[Path, typer.Argument(help="Zarr store to write (resumed when it exists).")],
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="XYConfig YAML (as --dump-config writes); flags below override it."),
    ] = None,
    L: Annotated[Optional[int], typer.Option("--L", help="Sites per side (even).")] = None,  # noqa: UP045
    temperatures: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Temperatures: '0.1,0.5' or START:STOP:COUNT."),
    ] = None,
    distances: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Pair distances (0 = no defects): '0,1,1.41,2'."),
    ] = None,
    samples: Annotated[Optional[int], typer.Option(help="Fields per (T, d).")] = None,  # noqa: UP045
    replicas: Annotated[
        Optional[int], typer.Option(help="Chains run together.")  # noqa: UP045
    ] = None,
    sweeps: Annotated[
        Optional[int], typer.Option(help="Equilibration sweeps.")  # noqa: UP045
    ] = None,
    decorrelation: Annotated[
        Optional[int], typer.Option(help="Sweeps between samples of a chain.")  # noqa: UP045
    ] = None,
    overrelaxation: Annotated[
        Optional[int], typer.Option(help="Over-relaxation sweeps per Metropolis sweep.")  # noqa: UP045
    ] = None,
    constrained: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--constrained/--unconstrained", help="Hold the charge map fixed."),
    ] = None,
    seed: Annotated[Optional[int], typer.Option(help="Base random seed.")] = None,  # noqa: UP045
    dtype: Annotated[
        Optional[str], typer.Option(help="float32 or float64.")  # noqa: UP045
    ] = None,
    device: DeviceOpt = "cpu",
    dump_config: Annotated[
        bool, typer.Option("--dump-config", help="Print the resolved config as YAML and exit.")
    ] = False,
) -> None:
    """XY-model fields with prescribed vortex–antivortex pairs (Metropolis, charge constraint).

    Writes angles, charge maps, T and d per sample, and per (T, d) the integrated autocorrelation
    time of the energy. Re-running the same command skips finished conditions.
    """
    from .simulate.xy import XYConfig, write_dataset

    try:
        xy = XYConfig.from_yaml(config) if config else XYConfig()
        changes: dict[str, object] = {
            k: v
            for k, v in {
                "L": L,
                "samples": samples,
                "n_replicas": replicas,
                "equilibration_sweeps": sweeps,
                "decorrelation_sweeps": decorrelation,
                "overrelaxation": overrelaxation,
                "constrained": constrained,
                "seed": seed,
                "dtype": dtype,
            }.items()
            if v is not None
        }
        if temperatures is not None:
            changes["temperatures"] = list(parse_floats(temperatures, "--temperatures"))
        if distances is not None:
            changes["distances"] = list(parse_floats(distances, "--distances"))
        xy = xy.replace(**changes)
    except (ValueError, TypeError) as err:
        raise typer.BadParameter(str(err)) from None
    if dump_config:
        typer.echo(xy.to_yaml(), nl=False)
        raise typer.Exit()
    try:
        store = write_dataset(xy, out, device=device)
    except ValueError as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    ds = store.dataset()
    typer.echo("T        d      tau_int  acceptance  held")
    for T, d, tau, acc, held in zip(
        ds["cond_T"].values, ds["cond_d"].values, ds["tau_int"].values,
        ds["acceptance"].values, ds["held"].values, strict=True,
    ):  # fmt: skip
        typer.echo(f"{T:<8.4g} {d:<6.3g} {tau:<8.3g} {acc:<11.3f} {held:.3f}")
    typer.echo(f"wrote {store.n_conditions} conditions × {store.samples} fields to {out}")


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


def _diagram_store_status(out: Path) -> None:
    """Say how much of an existing diagram store is already done (the run resumes it)."""
    from .data.diagram_store import DiagramStore

    if out.exists():
        try:
            done = DiagramStore.open(out).done
        except ValueError:
            return  # not a diagram store: the computation reports it
        typer.echo(f"resuming {out}: {int(done.sum())} of {done.size} chunks already done")


@diagrams_app.command("fields")
def diagrams_fields(
    store: Annotated[
        Path, typer.Argument(help="Field store (e.g. from `topophys simulate tdgl`).")
    ],
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--out", "-o", help="Diagram store (default: STORE's name + .diagrams.zarr beside it)."
        ),
    ] = None,
    construction: Annotated[
        str, typer.Option(help="top: pixels are squares (8-connected); vertex: 4-connected.")
    ] = "top",
    filtration: Annotated[
        str, typer.Option(help="sublevel, or superlevel (reported as sublevel of -field).")
    ] = "sublevel",
    periodic: Annotated[
        bool, typer.Option("--periodic/--no-periodic", help="Fields wrap around (a torus).")
    ] = False,
    dims: Annotated[str, typer.Option(help="Homology dimensions, e.g. '0,1' (2: torus).")] = "0,1",
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
) -> None:
    """Cubical persistence diagrams of every snapshot of a field store, ordered (run, time).

    Each run is written as soon as it is done; re-running the same command skips finished runs.
    A store made with other parameters is refused.
    """
    from .data.diagram_store import compute_field_diagrams, default_diagrams_path
    from .homology import CubicalPersistence

    for name, value, options in (
        ("--construction", construction, ("top", "vertex")),
        ("--filtration", filtration, ("sublevel", "superlevel")),
    ):
        if value not in options:
            raise typer.BadParameter(
                f"{value!r}: expected one of {', '.join(options)}", param_hint=name
            )
    homology_dimensions = parse_ints(dims, "--dims")
    if not homology_dimensions or not set(homology_dimensions) <= {0, 1, 2}:
        raise typer.BadParameter(
            f"{dims!r}: expected dimensions among 0, 1, 2", param_hint="--dims"
        )
    out = out or default_diagrams_path(store)
    transformer = CubicalPersistence(
        construction=construction,
        filtration=filtration,
        periodic=periodic,
        homology_dimensions=homology_dimensions,
    )
    _diagram_store_status(out)
    try:
        diagrams = compute_field_diagrams(
            store, out, transformer, workers=workers, scheduler=scheduler
        )
    except (FileNotFoundError, ValueError) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {len(diagrams)} diagrams ({diagrams.data.shape[0]} points) to {out}")


@diagrams_app.command("atoms")
def diagrams_atoms(
    file: Annotated[Path, typer.Argument(help="Structures readable by ase (e.g. extxyz).")],
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--out", "-o", help="Diagram store (default: FILE's name + .diagrams.zarr beside it)."
        ),
    ] = None,
    periodic: Annotated[
        str, typer.Option(help="auto (follow each structure's pbc), yes or no.")
    ] = "auto",
    dimension: Annotated[int, typer.Option(help="3 (bulk) or 2 (planar: x, y only).")] = 3,
    max_dim: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=0, help="Highest homology dimension (default: dimension - 1)."),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Structures per saved chunk (the unit of resumption).")
    ] = 64,
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
) -> None:
    """Alpha persistence diagrams (squared radii, Å²) of every structure in FILE.

    Chunks of structures are written as they finish; re-running the same command resumes.
    """
    from .data.diagram_store import compute_atoms_diagrams, default_diagrams_path
    from .homology import AlphaPersistence

    modes = {"auto": "auto", "yes": True, "no": False}
    if periodic not in modes:
        raise typer.BadParameter(f"{periodic!r}: expected auto, yes or no", param_hint="--periodic")
    if dimension not in (2, 3):
        raise typer.BadParameter(f"{dimension}: expected 3 or 2", param_hint="--dimension")
    if not file.exists():
        typer.secho(f"error: no file {file}", fg="red", err=True)
        raise typer.Exit(2)
    out = out or default_diagrams_path(file)
    transformer = AlphaPersistence(periodic=modes[periodic], dimension=dimension, max_dim=max_dim)
    _diagram_store_status(out)
    try:
        diagrams = compute_atoms_diagrams(
            file, out, transformer, chunk_size=chunk_size, workers=workers, scheduler=scheduler
        )
    except (FileNotFoundError, ValueError) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {len(diagrams)} diagrams ({diagrams.data.shape[0]} points) to {out}")


@plot_app.command("diagram")
def plot_diagram(
    diagrams: Annotated[
        Path, typer.Argument(help="Diagram store (from `topophys diagrams ...`) or Diagrams group.")
    ],
    index: Annotated[int, typer.Option("--index", "-i", help="Which diagram.")] = 0,
    dim: Annotated[int, typer.Option(min=0, help="Dimension of the histogram and image.")] = 1,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", "-o", help="PNG path (default: DIAGRAMS with .INDEX.png)."),
    ] = None,
) -> None:
    """Draw one persistence diagram beside its persistence histogram and image, to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from .data.diagram_store import DiagramStore
    from .diagrams import Diagrams
    from .plot.diagrams import diagram_panel

    try:
        try:
            store = DiagramStore.open(diagrams)
        except ValueError:  # not a diagram store: maybe a plain group written by Diagrams.save
            batch = Diagrams.load(diagrams)
            if not -len(batch) <= index < len(batch):
                raise IndexError(
                    f"diagram index {index} out of range for {len(batch)} diagrams"
                ) from None
            diagram, where = batch[index], f"diagram {index}"
        else:
            diagram = store.diagram(index)
            i = index % len(store)
            where = f"diagram {i}" + "".join(
                f", {name} {int(values[i])}" for name, values in store.index.items()
            )
        fig = diagram_panel(diagram, dim=dim, title=f"{diagrams.name}: {where}")
    except (FileNotFoundError, ValueError, IndexError, KeyError) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    out = out or diagrams.with_suffix(f".{index}.png")
    fig.savefig(out, dpi=120)
    typer.echo(f"wrote {out}")


def _pipeline_config(cls: Any, path: Path | None, scale: str, scales: dict[str, Any]) -> Any:
    """The config of a ``run`` command: from ``--config`` if given, else the ``--scale`` preset."""
    if path is not None:
        return cls.from_yaml(path)
    if scale not in scales:
        raise ValueError(f"--scale must be one of {', '.join(map(repr, scales))}, got {scale!r}")
    return scales[scale]


def _run_pipeline(
    run: Any, *args: Any, errors: tuple[type[BaseException], ...] = (), **kw: Any
) -> None:
    """Run a pipeline, print where its outputs are, and turn its input errors into exit code 2."""
    try:
        run_dir = run(*args, **kw)
    except (ValueError, FileNotFoundError, *errors) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"run directory: {run_dir}")
    for name in ("report.html", "metrics.json", "config.yaml"):
        typer.echo(f"  {run_dir / name}")


@run_app.command("nrp")
def run_nrp(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/nrp"),
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Pipeline YAML (as written by --dump-config); overrides --scale."),
    ] = None,
    scale: Annotated[
        str, typer.Option(help="Embedded configuration: 'demo' (CPU, minutes) or 'large' (GPU).")
    ] = "demo",
    fields: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Reuse this TDGL field store instead of simulating."),
    ] = None,
    accelerator: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Lightning accelerator for both models: cpu, gpu, auto."),
    ] = None,
    devices: Annotated[
        Optional[int], typer.Option(min=1, help="Devices per model (DDP when > 1).")  # noqa: UP045
    ] = None,
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = "cpu",
    dump_config: Annotated[
        bool, typer.Option("--dump-config", help="Print the resolved config as YAML and exit.")
    ] = False,
) -> None:
    """Neural Reduced Potential of TDGL domains from persistence diagrams and from images.

    Simulates (or reuses) the fields, computes diagrams, trains both models, evaluates them and
    writes config.yaml, metrics.json, figures and report.html to the run directory. Re-running
    the same command resumes.
    """
    from .pipelines.nrp import DEMO_CONFIG, LARGE_CONFIG, NRPPipelineConfig

    try:
        cfg = _pipeline_config(
            NRPPipelineConfig, config, scale, {"demo": DEMO_CONFIG, "large": LARGE_CONFIG}
        )
        if fields is not None:
            cfg = cfg.replace(fields=str(fields))
        model_changes = {
            k: v for k, v in {"accelerator": accelerator, "devices": devices}.items() if v
        }
        if model_changes:
            cfg = cfg.replace(
                pd_model={**cfg.pd_model.to_dict(), **model_changes},
                image_model={**cfg.image_model.to_dict(), **model_changes},
            )
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise typer.BadParameter(str(err)) from None
    if dump_config:
        typer.echo(cfg.to_yaml(), nl=False)
        raise typer.Exit()
    _run_nrp(cfg, out, workers, scheduler, device)


def _run_nrp(cfg: Any, out: Path, workers: int, scheduler: Any, device: str) -> None:
    from .pipelines.nrp import run
    from .simulate.tdgl import TDGLBlowUpError

    _run_pipeline(
        run,
        cfg,
        out,
        workers=workers,
        scheduler=scheduler,
        device=device,
        errors=(TDGLBlowUpError,),
    )


@run_app.command("mlpot")
def run_mlpot(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/mlpot"),
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Pipeline YAML (as written by --dump-config); overrides --scale."),
    ] = None,
    scale: Annotated[
        str, typer.Option(help="Embedded configuration: 'demo' (2 CPU cores, minutes) or 'paper'.")
    ] = "demo",
    data: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Reuse structures (published layout or extxyz) instead of generating."),
    ] = None,
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    dump_config: Annotated[
        bool, typer.Option("--dump-config", help="Print the resolved config as YAML and exit.")
    ] = False,
) -> None:
    """PH-descriptor energy model of amorphous carbon: Ridge and CNN on PD histograms.

    Generates melt-quench structures (or reuses --data), computes periodic alpha diagrams,
    fits Ridge and the CNN on a random and a run-grouped split, tests size transfer, and writes
    config.yaml, metrics.json, figures and report.html. Re-running the same command resumes.
    """
    from .pipelines.mlpot import DEMO_CONFIG, PAPER_CONFIG, MLPotConfig, run

    try:
        cfg = _pipeline_config(
            MLPotConfig, config, scale, {"demo": DEMO_CONFIG, "paper": PAPER_CONFIG}
        )
        if data is not None:
            cfg = cfg.replace(data=str(data))
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise typer.BadParameter(str(err)) from None
    if dump_config:
        typer.echo(cfg.to_yaml(), nl=False)
        raise typer.Exit()
    _run_pipeline(run, cfg, out, workers=workers, scheduler=scheduler, errors=(ImportError,))


@run_app.command("xy")
def run_xy(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/xy"),
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Pipeline YAML (as written by --dump-config); overrides --scale."),
    ] = None,
    scale: Annotated[
        str,
        typer.Option(
            help="Embedded configuration: 'demo' (CPU, minutes), 'temperatures' (the demo at 7 "
            "temperatures across the BKT transition, CPU) or 'large' (GPU)."
        ),
    ] = "demo",
    data: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Reuse this spin store (`topophys simulate xy`) instead of simulating."),
    ] = None,
    device: DeviceOpt = "cpu",
    dump_config: Annotated[
        bool, typer.Option("--dump-config", help="Print the resolved config as YAML and exit.")
    ] = False,
) -> None:
    """XY spin fields from defect maps: constrained Monte Carlo, cWGAN, evaluation, report.

    Simulates (or reuses) the datasets, trains the conditional WGAN-GP, generates fields per
    defect map and scores them against held-out Monte Carlo fields (R², accuracy within 5 %,
    charge fidelity, diversity, speed), then writes config.yaml, metrics.json, figures and
    report.html. Re-running the same command resumes.
    """
    from .pipelines.xy import (
        DEMO_CONFIG,
        LARGE_CONFIG,
        TEMPERATURES_CONFIG,
        XYPipelineConfig,
        run,
    )

    try:
        scales = {"demo": DEMO_CONFIG, "temperatures": TEMPERATURES_CONFIG, "large": LARGE_CONFIG}
        cfg = _pipeline_config(XYPipelineConfig, config, scale, scales)
        if data is not None:
            cfg = cfg.replace(data=str(data))
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise typer.BadParameter(str(err)) from None
    if dump_config:
        typer.echo(cfg.to_yaml(), nl=False)
        raise typer.Exit()
    _run_pipeline(run, cfg, out, device=device)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/demo"),
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Run the flagship pipeline (``topophys run nrp --scale demo``) into a run directory.

    13 anisotropies × 2 seeds of TDGL on 128², persistence diagrams, the PD and image Neural
    Reduced Potentials, their evaluation and report.html: a few minutes on 2 CPU cores.
    Re-running resumes.
    """
    from .pipelines.nrp import DEMO_CONFIG

    _run_nrp(DEMO_CONFIG, out, workers, scheduler, device)
