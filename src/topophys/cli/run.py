"""``topophys run nrp|mlpot|xy``: a paper's whole pipeline into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import _checks as check
from ._common import DeviceOpt, SchedulerOpt, WorkersOpt
from ._config import Opt, command

__all__ = ["mlpot", "nrp", "xy"]


def report(run_dir: Path) -> None:
    """Print where a pipeline's outputs are."""
    typer.echo(f"run directory: {run_dir}")
    for name in ("report.html", "metrics.json", "config.yaml"):
        typer.echo(f"  {run_dir / name}")


def run_nrp(cfg: Any, out: Path, workers: int, scheduler: str | None, device: str) -> None:
    """Run the NRP pipeline on ``cfg`` (shared by ``run nrp`` and ``demo``), after checking
    everything it needs that can be checked before any work."""
    from ..pipelines.nrp import run

    check.device(device)
    for model in (cfg.pd_model, cfg.image_model):
        check.accelerator(model.accelerator)
    if cfg.fields is not None:
        from ..data.fields import FieldStore

        try:
            FieldStore.open(cfg.fields)
        except (OSError, ValueError) as err:
            raise typer.BadParameter(check.describe(err), param_hint="--fields") from None
    check.output_path(out, "--out")
    with check.scheduler_client(scheduler) as client:
        report(run(cfg, out, workers=workers, scheduler=client, device=device))


def _nrp(
    cfg: Any,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/nrp"),
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Neural Reduced Potential of TDGL domains from persistence diagrams and from images.

    Simulates (or reuses) the fields, computes diagrams, trains both models, evaluates them and
    writes config.yaml, metrics.json, figures and report.html to the run directory. Re-running
    the same command resumes.
    """
    run_nrp(cfg, out, workers, scheduler, device)


def nrp() -> Any:
    from ..pipelines.nrp import DEMO_CONFIG, LARGE_CONFIG, NRPPipelineConfig

    return command(
        NRPPipelineConfig,
        _nrp,
        {
            "fields": Opt(
                ("fields",), help="Reuse this TDGL field store instead of simulating.", path=True
            ),
            "accelerator": Opt(
                ("pd_model.accelerator", "image_model.accelerator"),
                help="Lightning accelerator for both models: cpu, gpu, auto.",
            ),
            "devices": Opt(
                ("pd_model.devices", "image_model.devices"),
                help="Devices per model (DDP when > 1).",
            ),
            "latent_dim": Opt(
                ("pd_model.latent_dim", "image_model.latent_dim"),
                help="Latent dimension of both models (the papers: 2).",
            ),
            "lambda_v": Opt(
                ("pd_model.lambda_v", "image_model.lambda_v"),
                help="Weight λ of L_V in both models (the papers: 0.1).",
            ),
            "holdout_alphas": Opt(("holdout_alphas",)),
        },
        presets={"demo": DEMO_CONFIG, "large": LARGE_CONFIG},
        scale_help="'demo' (CPU, minutes) or 'large' (GPU)",
    )


def _mlpot(
    cfg: Any,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/mlpot"),
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
) -> None:
    """PH-descriptor energy model of amorphous carbon: Ridge and CNN on PD histograms.

    Generates melt-quench structures (or reuses --data), computes periodic alpha diagrams,
    fits Ridge and the CNN on a random and a run-grouped split, tests size transfer, and writes
    config.yaml, metrics.json, figures and report.html. Re-running the same command resumes.
    """
    from ..pipelines.mlpot import run

    if cfg.data is not None and not Path(cfg.data).exists():
        raise typer.BadParameter(f"{cfg.data} does not exist", param_hint="--data")
    check.output_path(out, "--out")
    with check.scheduler_client(scheduler) as client:
        report(run(cfg, out, workers=workers, scheduler=client))


def mlpot() -> Any:
    from ..pipelines.mlpot import DEMO_CONFIG, PAPER_CONFIG, MLPotConfig

    return command(
        MLPotConfig,
        _mlpot,
        {
            "data": Opt(
                ("data",),
                help="Reuse structures (published layout or extxyz) instead of generating.",
                path=True,
            )
        },
        presets={"demo": DEMO_CONFIG, "paper": PAPER_CONFIG},
        scale_help="'demo' (2 CPU cores, minutes) or 'paper'",
    )


def _xy(
    cfg: Any,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/xy"),
    device: DeviceOpt = "cpu",
) -> None:
    """XY spin fields from defect maps: constrained Monte Carlo, cWGAN, evaluation, report.

    Simulates (or reuses) the datasets, trains the conditional WGAN-GP, generates fields per
    defect map and scores them against held-out Monte Carlo fields (R², accuracy within 5 %,
    charge fidelity, diversity, speed), then writes config.yaml, metrics.json, figures and
    report.html. Re-running the same command resumes.
    """
    from ..pipelines.xy import run

    check.device(device)
    check.accelerator(cfg.gan.accelerator)
    if cfg.data is not None:
        from ..data.spins import SpinStore

        try:
            SpinStore.open(cfg.data)
        except (OSError, ValueError) as err:
            raise typer.BadParameter(check.describe(err), param_hint="--data") from None
    check.output_path(out, "--out")
    report(run(cfg, out, device=device))


def xy() -> Any:
    from ..pipelines.xy import DEMO_CONFIG, LARGE_CONFIG, TEMPERATURES_CONFIG, XYPipelineConfig

    return command(
        XYPipelineConfig,
        _xy,
        {
            "data": Opt(
                ("data",),
                help="Reuse this spin store (`topophys simulate xy`) instead of simulating.",
                path=True,
            )
        },
        presets={"demo": DEMO_CONFIG, "temperatures": TEMPERATURES_CONFIG, "large": LARGE_CONFIG},
        scale_help="'demo' (CPU, minutes), 'temperatures' (the demo at 7 temperatures across "
        "the BKT transition, CPU) or 'large' (GPU)",
    )
