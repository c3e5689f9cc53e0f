"""What the cubical modules share: the options and the check of one field."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CONSTRUCTIONS", "FILTRATIONS", "check_field"]

CONSTRUCTIONS = ("top", "vertex")
FILTRATIONS = ("sublevel", "superlevel")


def check_field(field: Any, name: str) -> np.ndarray:
    """Return ``field`` as a C-contiguous float64 2-D or 3-D array, or raise naming ``name``."""
    try:
        array = np.asarray(field)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} must be a 2-D or 3-D array of real numbers: {err}") from err
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold real numbers (bool, int or float), got dtype {array.dtype}"
        )
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be a 2-D field (H, W) or a 3-D field (D, H, W), got shape {array.shape}"
        )
    if min(array.shape) < 2:
        raise ValueError(
            f"{name} must be at least 2 pixels along every axis (2x2 or 2x2x2), got shape "
            f"{array.shape}"
        )
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")
    return array
