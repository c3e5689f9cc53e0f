"""Training options the energy regressors share, without importing Lightning (internal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import _validate

__all__ = ["LoopSettings", "check_early_stopping", "check_milestones"]


@dataclass(frozen=True)
class LoopSettings:
    """What :func:`topophys.training._loop.fit_regression` needs of a training config.

    ``patience`` > 0 stops when the holdout monitor has not improved for that many epochs and
    restores the weights of its best epoch (0: train all ``epochs``).
    """

    epochs: int
    batch_size: int
    seed: int
    milestones: tuple[int, ...]
    gamma: float
    checkpoint_every: int = 1
    patience: int = 0
    device: str = "cpu"


def check_milestones(milestones: Sequence[int]) -> None:
    """Positive and strictly increasing epochs, or a ValueError naming ``milestones``."""
    for k, m in enumerate(milestones):
        _validate.positive_int(f"milestones[{k}]", m)
    if list(milestones) != sorted(set(milestones)):
        raise ValueError(f"milestones must be strictly increasing, got {tuple(milestones)}")


def check_early_stopping(validation_fraction: float, patience: int) -> None:
    """``validation_fraction`` in [0, 0.5], ``patience`` ≥ 0, and a held-out share for patience."""
    _validate.in_range("validation_fraction", validation_fraction, 0.0, 0.5)
    _validate.nonnegative_int("patience", patience)
    if patience and not validation_fraction:
        raise ValueError("patience > 0 (early stopping) needs validation_fraction > 0")
