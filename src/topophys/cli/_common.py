"""Option types shared by several commands."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

__all__ = ["DeviceOpt", "RepairOpt", "SchedulerOpt", "WorkersOpt"]

WorkersOpt = Annotated[
    int, typer.Option("--workers", "-j", min=1, help="Local worker processes (one thread each).")
]
SchedulerOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option(
        help="Dask scheduler address (tcp://HOST:PORT) to run on instead of local workers.",
        show_default="none: local workers",
    ),
]
DeviceOpt = Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1, ...")]
RepairOpt = Annotated[
    bool,
    typer.Option(
        "--repair",
        help="Verify every finished part of the existing store and recompute the damaged ones, "
        "with the parameters recorded in it (leave out the options that set them).",
    ),
]
