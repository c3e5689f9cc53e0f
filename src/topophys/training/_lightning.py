"""What every Lightning training here shares: quiet banners and the progress-bar default."""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator

__all__ = ["quiet_lightning", "want_progress"]


@contextlib.contextmanager
def quiet_lightning(quiet: bool = True) -> Iterator[None]:
    """Hide Lightning's informational banners (device summary, tips) when ``quiet``; warnings
    stay, except lightning 2.6's per-step FutureWarning about its own use of torch's deprecated
    ``LeafSpec``, which no user can act on."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    if quiet:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def want_progress(progress: bool | None) -> bool:
    """``True``/``False`` as given; ``None`` shows a progress bar only on a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)
