"""What every pipeline does with its run directory: lock the config, time the stages."""

from __future__ import annotations

import time
from pathlib import Path

from ..config import Config

__all__ = ["StageTimer", "open_run_dir"]


def open_run_dir(run_dir: str | Path, config: Config) -> Path:
    """Create ``run_dir`` and write ``config.yaml``, refusing a directory of another config.

    A directory that already holds the same configuration is resumed.

    Raises
    ------
    ValueError
        If ``run_dir/config.yaml`` holds a different configuration.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.yaml"
    if path.exists() and type(config).from_yaml(path) != config:
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
