"""``topophys plot tdgl|diagram``: figures of stores, to PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ._config import plain

__all__ = ["diagram", "tdgl"]


def _tdgl(
    store: Annotated[Path, typer.Argument(help="Field store written by `topophys simulate tdgl`.")],
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
    from ..data.fields import open_fields
    from ..plot.fields import snapshot_grid

    fig = snapshot_grid(open_fields(store), n_alpha=rows, n_time=cols, seed=seed)
    out = out or store.with_suffix(".png")
    fig.savefig(out, dpi=120)
    typer.echo(f"wrote {out}")


def tdgl() -> Any:
    return plain(_tdgl)


def _diagram(
    diagrams: Annotated[
        Path, typer.Argument(help="Diagram store (from `topophys diagrams ...`) or Diagrams group.")
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
    from ..data.diagram_store import DiagramStore
    from ..diagrams import Diagrams
    from ..plot.diagrams import diagram_panel

    try:
        store = DiagramStore.open(diagrams)
    except ValueError:  # not a diagram store: maybe a plain group written by Diagrams.save
        batch = Diagrams.load(diagrams)
        if not -len(batch) <= index < len(batch):
            raise typer.BadParameter(
                f"{index} is out of range for {len(batch)} diagrams", param_hint="--index"
            ) from None
        diagram, where = batch[index], f"diagram {index}"
    else:
        try:
            diagram = store.diagram(index)
        except IndexError as err:
            raise typer.BadParameter(str(err), param_hint="--index") from None
        i = index % len(store)
        where = f"diagram {i}" + "".join(
            f", {name} {int(values[i])}" for name, values in store.index.items()
        )
    fig = diagram_panel(diagram, dim=dim, title=f"{diagrams.name}: {where}")
    out = out or diagrams.with_suffix(f".{index}.png")
    fig.savefig(out, dpi=120)
    typer.echo(f"wrote {out}")


def diagram() -> Any:
    return plain(_diagram)
