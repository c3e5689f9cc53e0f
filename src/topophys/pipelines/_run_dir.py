"""What every pipeline does with its run directory: lock the config, time the stages."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, atomic_write_text

__all__ = ["StageTimer", "jsonable", "open_run_dir", "write_metrics"]


def open_run_dir(
    run_dir: str | Path, config: Config, *, identity: Callable[[Config], Any] | None = None
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

    Examples
    --------
    >>> timer = StageTimer()
    >>> timer.lap("simulate")
    >>> sorted(timer.timings_s)
    ['simulate', 'total']
    """

    def __init__(self) -> None:
        self._clock = time.perf_counter()
        self._laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Record the time since the previous lap (or the start) under ``name``."""
        now = time.perf_counter()
        self._laps[name] = round(now - self._clock, 3)
        self._clock = now

    @property
    def timings_s(self) -> dict[str, float]:
        """Seconds per stage, in order, and their ``total``."""
        return {**self._laps, "total": round(sum(self._laps.values()), 3)}


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
