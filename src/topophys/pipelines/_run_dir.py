"""What every pipeline does with its run directory: lock the config, time the stages."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Config

__all__ = ["StageTimer", "open_run_dir"]


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
