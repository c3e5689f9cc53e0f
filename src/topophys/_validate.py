"""Argument checks that raise errors naming the argument, what was wrong and what was expected."""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int, or raise if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            f"{name} must be a positive integer, got {value!r} ({type(value).__name__})"
        )
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def nonnegative_int(name: str, value: Any) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer >= 0, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value}")
    return int(value)


def real(name: str, value: Any) -> float:
    """Return ``value`` as a finite float, or raise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def positive(name: str, value: Any) -> float:
    """Return ``value`` as a float > 0, or raise."""
    value = real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def nonnegative(name: str, value: Any) -> float:
    """Return ``value`` as a float >= 0, or raise."""
    value = real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def in_range(name: str, value: Any, low: float, high: float) -> float:
    """Return ``value`` as a float in the closed interval [low, high], or raise."""
    value = real(name, value)
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return value


def choice(name: str, value: Any, options: Collection[Any]) -> Any:
    """Return ``value`` if it is one of ``options``, or raise naming the options."""
    # Same type and equal: an array or other odd value is refused, never compared elementwise.
    if not any(type(value) is type(o) and value == o for o in options):
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}, got {_short(value)}")
    return value


def boolean(name: str, value: Any) -> bool:
    """Return ``value`` as a bool if it is one (numpy bools included), or raise."""
    if isinstance(value, (bool, np_bool())):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {_short(value)}")


def optional_boolean(name: str, value: Any) -> bool | None:
    """Like :func:`boolean`, also accepting None (e.g. a progress flag: None means automatic)."""
    return None if value is None else boolean(name, value)


def instance(name: str, value: Any, cls: type | tuple[type, ...]) -> Any:
    """Return ``value`` if it is an instance of ``cls``, or raise a TypeError naming ``name``."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise TypeError(f"{name} must be a {names}, got {type(value).__name__}")
    return value


def path(name: str, value: Any) -> Path:
    """Return ``value`` as a ``pathlib.Path`` if it is a non-empty str or path, or raise."""
    import os
    from pathlib import Path

    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {_short(value)}")
    if str(value) == "" or "\0" in str(value):
        raise ValueError(f"{name} must be a non-empty path without NUL bytes, got {value!r}")
    return Path(value)


def np_bool() -> type:
    import numpy as np

    return np.bool_


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def torch_device(name: str, value: Any) -> str:
    """Return ``value`` if it names a torch device this machine has (cpu, cuda, cuda:N, mps).

    Checked before any work, so a run does not fail after writing part of its output.
    """
    import torch

    if not isinstance(value, (str, torch.device)):
        raise TypeError(f"{name} must be a device name like 'cpu' or 'cuda:0', got {value!r}")
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(
            f"{name} {str(value)!r} is not a torch device; expected cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name} {str(value)!r}: this machine has no CUDA device (torch "
                f"{torch.__version__}); expected cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"{name} {str(value)!r}: only {count} CUDA device(s) here; expected cuda:0 to "
                f"cuda:{count - 1}"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{name} {str(value)!r}: MPS is not available; expected cpu")
    elif device.type != "cpu":
        raise ValueError(f"{name} {str(value)!r}: expected cpu, cuda, cuda:N or mps")
    return str(value)


def physical_memory() -> int:
    """Bytes of physical memory of this machine (a large value when it cannot be told)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        return 1 << 50


def fits_in_memory(name: str, n_bytes: float, what: str) -> None:
    """Refuse, naming ``name``, an allocation of ``n_bytes`` larger than the machine's memory.

    Raised before the allocation, so a typo in a size ends in a clear error instead of a
    MemoryError (or the machine swapping) after minutes.
    """
    total = physical_memory()
    if not n_bytes <= total:
        raise ValueError(
            f"{name}: {what} would need {_bytes(n_bytes)}, more than this machine's "
            f"{_bytes(total)} of memory"
        )


def _bytes(n: float) -> str:
    if not math.isfinite(n):
        return "an unbounded amount"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def real_array(name: str, value: Any, *, finite: bool = True) -> np.ndarray:
    """``value`` as a float64 numpy array of real numbers, or an error naming ``name``.

    Refuses complex numbers (instead of dropping their imaginary part), strings, booleans,
    objects and, with ``finite``, NaN and infinities.
    """
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} must be an array of real numbers, got {type(value).__name__}"
        ) from err
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must hold real numbers, got {value!r:.80}") from None
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    with np.errstate(over="ignore"):
        arr = arr.astype(np.float64, copy=False)
    if finite and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got NaN or infinite values")
    return arr


def vector(name: str, value: Any, *, finite: bool = True) -> np.ndarray:
    """``value`` (a number or a 1-D sequence of real numbers) as a 1-D float64 array.

    A 2-D input is refused rather than flattened.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a number or a 1-D sequence of numbers, got {value!r:.60}")
    arr = real_array(name, value, finite=finite)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a number or a 1-D sequence, got shape {arr.shape}")
    return arr.reshape(-1)


def seed(name: str, value: Any) -> int:
    """A random seed: an integer in [0, 2**63)."""
    value = nonnegative_int(name, value)
    if value >= 2**63:
        raise ValueError(f"{name} must be below 2**63, got {value}")
    return value


def seed_vector(name: str, value: Any) -> np.ndarray:
    """Seeds (one integer or a 1-D sequence of integers in [0, 2**63)) as a 1-D int64 array."""
    import numpy as np

    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be integers, got {value!r:.60}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be integers, got {type(value).__name__}") from err
    if arr.ndim > 1:
        raise ValueError(f"{name} must be an integer or a 1-D sequence, got shape {arr.shape}")
    items = [
        seed(f"{name}[{i}]", v.item() if hasattr(v, "item") else v)
        for i, v in enumerate(arr.reshape(-1))
    ]
    return np.asarray(items, dtype=np.int64)


def workers(name: str, value: Any) -> int:
    """A number of local worker processes: a positive integer, at most 4 per CPU."""
    import os

    value = positive_int(name, value)
    limit = 4 * (os.cpu_count() or 1)
    if value > limit:
        raise ValueError(
            f"{name}={value} is more than 4 per CPU ({limit} on this machine); each is a "
            "process with its own interpreter"
        )
    return value
