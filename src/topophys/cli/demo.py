"""``topophys demo``: the flagship pipeline on its embedded configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import DeviceOpt, SchedulerOpt, WorkersOpt
from ._config import plain

__all__ = ["demo"]


def _demo(
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
    from ..pipelines.nrp import DEMO_CONFIG
    from .run import run_nrp

    run_nrp(DEMO_CONFIG, out, workers, scheduler, device)


def demo() -> Any:
    return plain(_demo)
