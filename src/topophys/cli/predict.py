"""``topophys predict``: a saved energy model applied to a file of frames."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import _checks as check
from ._common import WorkersOpt
from ._config import plain

__all__ = ["predict"]


def _predict(
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL",
            help="Saved model directory (e.g. runs/mlpot/models/ph_ridge_random).",
        ),
    ],
    frames: Annotated[
        Path,
        typer.Argument(
            metavar="FRAMES",
            help="Extended XYZ file, or a folder of them (plain or .gz/.bz2/.xz).",
        ),
    ],
    out: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
        typer.Option(
            "--out",
            "-o",
            help="Extended XYZ file written with the predictions.",
            show_default="FRAMES' name + .pred.extxyz, beside it",
        ),
    ] = None,
    workers: WorkersOpt = 1,
    energy_key: Annotated[
        str, typer.Option(help="Where labelled frames keep their energy (they are scored).")
    ] = "energy",
    tolerance: Annotated[
        Optional[float],  # noqa: UP045 - typer needs Optional on Python 3.10
        typer.Option(
            min=0.0,
            help="Out-of-range margin, a fraction of the training ranges.",
            show_default="the model's",
        ),
    ] = None,
) -> None:
    """Predict the energy per atom of every frame in FRAMES with a saved model; write them to OUT.

    Each frame is written with info energy_pred (eV, total), energy_pred_per_atom (eV/atom) and
    energy_pred_out_of_range. Frames outside the training range are predicted and named in a
    warning; labelled frames of the model's own potential are scored.
    """
    from ..potentials import OutOfRangeWarning, load_energy_model, predict_file

    check.input_path(model, "MODEL", "directory")
    if not frames.exists():
        raise typer.BadParameter(f"no file or folder {frames}", param_hint="FRAMES")
    out = out or _default_out(frames)
    check.output_path(out, "--out", "file")
    loaded = load_energy_model(model, tolerance=tolerance)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OutOfRangeWarning)
        summary = predict_file(loaded, frames, out, workers=workers, energy_key=energy_key)
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    low, high = summary["energy_pred_range"]
    typer.echo(
        f"wrote {summary['frames']} frames to {out}: {loaded.kind} model, energy_pred_per_atom "
        f"{low:.4f} … {high:.4f} eV/atom, {summary['out_of_range']} out of range"
    )
    if "score" in summary:
        s = summary["score"]
        typer.echo(
            f"against {energy_key}: RMSE {s['rmse_meV']:.1f}, MAE {s['mae_meV']:.1f} meV/atom"
        )
    elif "score_refused" in summary:
        typer.echo(summary["score_refused"])


def _default_out(frames: Path) -> Path:
    from ..data.structures import STRUCTURE_SUFFIXES

    name = frames.name
    for suffix in sorted(STRUCTURE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return frames.with_name(f"{name}.pred.extxyz")


def predict() -> Any:
    return plain(_predict)
