"""``topophys diagrams fields|atoms``: persistence diagrams into resumable diagram stores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import _checks as check
from ._common import RepairOpt, SchedulerOpt, WorkersOpt
from ._config import parse_ints, plain

__all__ = ["atoms", "fields"]

OutOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option(
        "--out",
        "-o",
        help="Diagram store.",
        show_default="the source's name + .diagrams.zarr, beside it",
    ),
]


def _prepare(out: Path, repair: bool) -> Any:
    """Check ``out`` and say how much of an existing store is done; return the store (None when
    there is none yet)."""
    from ..data.diagram_store import DiagramStore

    check.output_path(out, "--out")
    if repair:
        check.store_to_repair(out)
    if not out.exists():
        return None
    try:
        store = DiagramStore.open(out)
    except ValueError:
        if repair:
            raise
        return None  # not a diagram store: the computation reports it
    done = store.done
    typer.echo(f"resuming {out}: {int(done.sum())} of {done.size} chunks already done")
    return store


def _fields(
    store: Annotated[
        Path,
        typer.Argument(metavar="STORE", help="Field store (e.g. from `topophys simulate tdgl`)."),
    ],
    out: OutOpt = None,
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
    repair: RepairOpt = False,
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
) -> None:
    """Cubical persistence diagrams of every snapshot of a field store, ordered (run, time).

    Each run is written as soon as it is done; re-running the same command skips finished runs
    (after reading them back intact) and recomputes damaged ones. A store made with other
    parameters is refused.
    """
    from ..data.diagram_store import compute_field_diagrams, default_diagrams_path
    from ..data.fields import FieldStore
    from ..homology import CubicalPersistence

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
    # Read the whole source back first: a damaged run is named before anything is written.
    FieldStore.open(store).check()
    existing = _prepare(out, repair)
    if repair:
        transformer = existing.transformer()
    else:
        transformer = CubicalPersistence(
            construction=construction,
            filtration=filtration,
            periodic=periodic,
            homology_dimensions=homology_dimensions,
        )
    with check.scheduler_client(scheduler) as client:
        diagrams = compute_field_diagrams(
            store, out, transformer, workers=workers, scheduler=client
        )
    typer.echo(f"wrote {len(diagrams)} diagrams ({diagrams.data.shape[0]} points) to {out}")


def fields() -> Any:
    return plain(_fields)


def _atoms(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Structures readable by ase (e.g. extxyz).")
    ],
    out: OutOpt = None,
    periodic: Annotated[
        str, typer.Option(help="auto (follow each structure's pbc), yes or no.")
    ] = "auto",
    dimension: Annotated[int, typer.Option(help="3 (bulk) or 2 (planar: x, y only).")] = 3,
    max_dim: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=0, help="Highest homology dimension.", show_default="dimension - 1"),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Structures per saved chunk (the unit of resumption).")
    ] = 64,
    repair: RepairOpt = False,
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
) -> None:
    """Alpha persistence diagrams (squared radii, Å²) of every structure in FILE.

    Chunks of structures are written as they finish; re-running the same command resumes,
    recomputing damaged chunks.
    """
    from ..data.diagram_store import compute_atoms_diagrams, default_diagrams_path
    from ..homology import AlphaPersistence

    modes: dict[str, bool | str] = {"auto": "auto", "yes": True, "no": False}
    if periodic not in modes:
        raise typer.BadParameter(f"{periodic!r}: expected auto, yes or no", param_hint="--periodic")
    if dimension not in (2, 3):
        raise typer.BadParameter(f"{dimension}: expected 3 or 2", param_hint="--dimension")
    check.input_path(file, "FILE", "file")
    out = out or default_diagrams_path(file)
    existing = _prepare(out, repair)
    if repair:  # the parameters and the chunk cut recorded in the store
        transformer = existing.transformer()
        if existing.n_chunks:
            chunk_size = int(existing.chunk_offsets[1] - existing.chunk_offsets[0])
    else:
        transformer = AlphaPersistence(
            periodic=modes[periodic], dimension=dimension, max_dim=max_dim
        )
    with check.scheduler_client(scheduler) as client:
        diagrams = compute_atoms_diagrams(
            file, out, transformer, chunk_size=chunk_size, workers=workers, scheduler=client
        )
    typer.echo(f"wrote {len(diagrams)} diagrams ({diagrams.data.shape[0]} points) to {out}")


def atoms() -> Any:
    return plain(_atoms)
