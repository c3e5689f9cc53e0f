"""``topophys plot tdgl|diagram``: figures of stores, to PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import _checks as check
from ._config import plain

__all__ = ["diagram", "tdgl"]


def _tdgl(
    store: Annotated[
        Path,
        typer.Argument(metavar="STORE", help="Field store written by `topophys simulate tdgl`."),
    ],
    out: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
        typer.Option("--out", "-o", help="PNG path.", show_default="STORE.png"),
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Anisotropies shown (rows).")] = 6,
    cols: Annotated[int, typer.Option(min=1, help="Times shown (columns).")] = 6,
    seed: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Seed to show.", show_default="the first seed"),
    ] = None,
) -> None:
    """Draw a grid of snapshots (α × time) of a TDGL field store to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from ..data.fields import FieldStore, open_fields
    from ..plot.fields import snapshot_grid

    fields = FieldStore.open(store)  # a field store, not another kind
    out = check.output_path(out or store.with_suffix(".png"), "--out", "file")
    fields.check()  # damaged runs are named, not drawn as NaN
    with fields.reading():
        fig = snapshot_grid(open_fields(store), n_alpha=rows, n_time=cols, seed=seed)
    fig.savefig(out, dpi=120)
    typer.echo(f"wrote {out}")


def tdgl() -> Any:
    return plain(_tdgl)


def _diagram(
    diagrams: Annotated[
        Path,
        typer.Argument(
            metavar="DIAGRAMS",
            help="Diagram store (from `topophys diagrams ...`) or Diagrams group.",
        ),
    ],
    index: Annotated[int, typer.Option("--index", "-i", help="Which diagram.")] = 0,
    dim: Annotated[int, typer.Option(min=0, help="Dimension of the histogram and image.")] = 1,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", "-o", help="PNG path.", show_default="DIAGRAMS with .INDEX.png"),
    ] = None,
) -> None:
    """Draw one persistence diagram beside its persistence histogram and image, to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from ..data import DiagramStore, StoreDamagedError
    from ..diagrams import Diagrams
    from ..plot.diagrams import diagram_panel

    out = check.output_path(out or diagrams.with_suffix(f".{index}.png"), "--out", "file")
    try:
        store = DiagramStore.open(diagrams)
    except StoreDamagedError:
        raise
    except ValueError:  # not a diagram store: maybe a plain group written by Diagrams.save
        batch = Diagrams.load(diagrams)
        if not -len(batch) <= index < len(batch):
            raise typer.BadParameter(
                f"{index} is out of range for {len(batch)} diagrams", param_hint="--index"
            ) from None
        diagram, where, computed = batch[index], f"diagram {index}", batch.dims()
    else:
        try:
            diagram = store.diagram(index)
        except IndexError as err:
            raise typer.BadParameter(str(err), param_hint="--index") from None
        i = index % len(store)
        where = f"diagram {i}" + "".join(
            f", {name} {int(values[i])}" for name, values in store.index.items()
        )
        computed = store.homology_dimensions()
    if computed and dim not in computed:
        raise typer.BadParameter(
            f"{dim}: the diagrams hold dimensions {', '.join(map(str, computed))}; expected one "
            "of them",
            param_hint="--dim",
        )
    fig = diagram_panel(diagram, dim=dim, title=f"{diagrams.name}: {where}")
    fig.savefig(out, dpi=120)
    typer.echo(f"wrote {out}")


def diagram() -> Any:
    return plain(_diagram)
