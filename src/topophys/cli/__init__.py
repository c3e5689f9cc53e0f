"""The ``topophys`` command line: one module per verb.

``topophys simulate|diagrams|plot|run ...``, ``topophys predict`` and ``topophys demo``. A
verb's module is imported only when the verb is used, and the heavy modules (torch, xarray,
matplotlib) only inside the commands, so ``topophys --help`` answers at once. Options that set
config fields are derived from the config dataclasses by :func:`topophys.cli._config.command`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ._lazy import lazy

__all__ = ["app"]

_SIMULATE = {
    "tdgl": (
        "topophys.cli.simulate:tdgl",
        "Sweep TDGL magnetic-domain runs over anisotropy α and seeds into a Zarr store.",
    ),
    "amorphous": (
        "topophys.cli.simulate:amorphous",
        "Melt-quench amorphous carbon with LAMMPS (the PH-descriptor papers' protocol).",
    ),
    "xy": (
        "topophys.cli.simulate:xy",
        "XY-model fields with prescribed vortex–antivortex pairs (Metropolis, charge constraint).",
    ),
}
_DIAGRAMS = {
    "fields": (
        "topophys.cli.diagrams:fields",
        "Cubical persistence diagrams of every snapshot of a field store, ordered (run, time).",
    ),
    "atoms": (
        "topophys.cli.diagrams:atoms",
        "Alpha persistence diagrams (squared radii, Å²) of every structure in FILE.",
    ),
}
_PLOT = {
    "tdgl": (
        "topophys.cli.plot:tdgl",
        "Draw a grid of snapshots (α × time) of a TDGL field store to PNG.",
    ),
    "diagram": (
        "topophys.cli.plot:diagram",
        "Draw one persistence diagram beside its persistence histogram and image, to PNG.",
    ),
}
_RUN = {
    "nrp": (
        "topophys.cli.run:nrp",
        "Neural Reduced Potential of TDGL domains from persistence diagrams and from images.",
    ),
    "mlpot": (
        "topophys.cli.run:mlpot",
        "PH-descriptor energy model of amorphous carbon: Ridge and CNN on PD histograms.",
    ),
    "xy": (
        "topophys.cli.run:xy",
        "XY spin fields from defect maps: constrained Monte Carlo, cWGAN, evaluation, report.",
    ),
}
COMMANDS = {
    "simulate": (_SIMULATE, "Run simulations and write them to Zarr stores."),
    "diagrams": (
        _DIAGRAMS,
        "Compute persistence diagrams of field stores and structures into resumable stores.",
    ),
    "plot": (_PLOT, "Draw figures of stores and runs."),
    "run": (
        _RUN,
        "Run a paper's whole pipeline into a run directory (report.html, metrics.json).",
    ),
    "predict": (
        "topophys.cli.predict:predict",
        "Apply a saved energy model to a file of frames: energies per atom written into them.",
    ),
    "demo": (
        "topophys.cli.demo:demo",
        "Run the flagship pipeline (topophys run nrp --scale demo) into a run directory.",
    ),
}
"""Every command: name → (``"module:factory"`` or a nested table, short help)."""

app = typer.Typer(
    cls=lazy(COMMANDS),
    help="topophys: physical systems → persistent homology → learned models a physicist can read.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"topophys {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """topophys command line."""
