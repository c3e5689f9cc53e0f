"""What every pipeline does with its run directory: lock the config, time the stages."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..config import Config, atomic_write_text

__all__ = ["StageTimer", "jsonable", "machine_info", "open_run_dir", "write_metrics"]

C = TypeVar("C", bound=Config)


def open_run_dir(
    run_dir: str | Path, config: C, *, identity: Callable[[C], Any] | None = None
) -> Path:
    """Create ``run_dir`` and write ``config.yaml``, refusing a directory of another config.

    A directory that already holds the same configuration is resumed.

    Parameters
    ----------
    identity
        What must match to resume, as a function of a config (default: the whole config).
        Pipelines leave out settings that do not change the results, such as the accelerator.

    Raises
    ------
    ValueError
        If ``run_dir/config.yaml`` holds a different configuration.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.yaml"
    same = identity or (lambda c: c)
    if path.exists() and same(type(config).from_yaml(path)) != same(config):
        raise ValueError(f"{run_dir} holds a run of another configuration; use a new directory")
    config.to_yaml(path)
    return run_dir


class StageTimer:
    """Wall time of consecutive stages: ``lap(name)`` closes the stage that just ran.

    With a ``path``, the times are also kept on disk (written atomically at every lap), so a
    resumed run keeps the time of the call that completed each stage; the seconds a later
    call spends finding a completed stage done are kept apart (``resume_timings_s``). A stage
    interrupted by a kill counts only the call that finally completes it.

    Examples
    --------
    >>> timer = StageTimer()
    >>> timer.lap("simulate")
    >>> sorted(timer.timings_s)
    ['simulate', 'total']
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._clock = time.perf_counter()
        self._laps: dict[str, float] = {}
        self._resumed: dict[str, float] = {}
        self._path = None if path is None else Path(path)
        if self._path is not None and self._path.is_file():
            try:
                stored = json.loads(self._path.read_text())
                self._laps = {str(k): float(v) for k, v in stored["completed_s"].items()}
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                self._laps = {}  # unreadable: time this call afresh
        self._done = set(self._laps)

    def lap(self, name: str) -> None:
        """Record the time since the previous lap (or the start) under ``name``."""
        now = time.perf_counter()
        seconds = now - self._clock
        self._clock = now
        if name in self._done:
            self._resumed[name] = round(seconds, 3)
            return
        self._laps[name] = round(seconds, 3)
        if self._path is not None:
            atomic_write_text(self._path, json.dumps({"completed_s": self._laps}) + "\n")

    @property
    def timings_s(self) -> dict[str, float]:
        """Seconds per stage, in order, and their ``total``."""
        return {**self._laps, "total": round(sum(self._laps.values()), 3)}

    def record(self) -> dict[str, dict[str, float]]:
        """``{"timings_s": ...}``, plus ``resume_timings_s`` when stages were found done."""
        out: dict[str, dict[str, float]] = {"timings_s": self.timings_s}
        if self._resumed:
            out["resume_timings_s"] = dict(self._resumed)
        return out


def machine_info() -> dict[str, Any]:
    """What a measured time depends on: CPUs, torch threads, load average, package version."""
    import os
    import platform

    import torch

    from .. import __version__

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "topophys": __version__,
    }


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays converted, floats rounded to 6 decimals and
    non-finite ones written as None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return round(f, 6) if np.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> None:
    """Write ``run_dir/metrics.json`` atomically (see :func:`jsonable`)."""
    atomic_write_text(
        Path(run_dir) / "metrics.json", json.dumps(jsonable(metrics), indent=2) + "\n"
    )
