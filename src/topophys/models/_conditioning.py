"""What the cWGAN's generator and critic share (internal): channel widths and the conditions."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .. import _validate

__all__ = ["check_conditions", "scaled_channels"]


def scaled_channels(name: str, channels: Sequence[int], width: float) -> tuple[int, ...]:
    """``channels`` times ``width``, rounded, each at least 1 (``name`` names them in errors)."""
    try:
        base = tuple(int(c) for c in channels)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {channels!r}") from None
    if not base or any(c < 1 for c in base):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {channels!r}")
    return tuple(max(1, round(c * width)) for c in base)


def check_conditions(
    charges: torch.Tensor, temperatures: torch.Tensor | float, *, multiple: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a batch of conditions and return them as float tensors on the charges' device.

    Parameters
    ----------
    charges : Tensor, shape (B, L, L)
        Topological-charge maps.
    temperatures : Tensor of shape (B,) or float
        Temperatures (units of J/k_B), each > 0; a float is broadcast over the batch.
    multiple : int
        L must be a positive multiple of this.

    Returns
    -------
    charges : Tensor, shape (B, L, L), float
    temperatures : Tensor, shape (B,), float
    """
    if not isinstance(charges, torch.Tensor):
        raise TypeError(f"charges must be a torch.Tensor, got {type(charges).__name__}")
    if charges.ndim != 3 or charges.shape[1] != charges.shape[2]:
        raise ValueError(f"charges must have shape (batch, L, L), got {tuple(charges.shape)}")
    side = charges.shape[1]
    if side == 0 or side % multiple:
        raise ValueError(
            f"the lattice side L={side} of charges must be a positive multiple of {multiple}"
        )
    dtype = charges.dtype if charges.is_floating_point() else torch.get_default_dtype()
    charges = charges.to(dtype)
    if isinstance(temperatures, torch.Tensor):
        t = temperatures.to(device=charges.device, dtype=dtype)
        if t.ndim == 0:
            t = t.expand(charges.shape[0])
    else:
        t = torch.full((charges.shape[0],), _validate.real("temperatures", temperatures))
        t = t.to(device=charges.device, dtype=dtype)
    if t.shape != (charges.shape[0],):
        raise ValueError(
            f"temperatures must have shape ({charges.shape[0]},) to match charges, "
            f"got {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all() & (t > 0).all()):
        raise ValueError(f"temperatures must be finite and > 0, got min {float(t.min())}")
    return charges, t
