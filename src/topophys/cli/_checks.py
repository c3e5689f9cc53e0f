"""Checks a command makes before any work, and the one place its errors become one line.

An ordinary mistake (a missing file, a path that is a file where a directory is expected, a
device this machine lacks, an unreachable scheduler, a damaged store) ends the command with one
line on stderr naming the option or file, what was wrong and what was expected, and exit code 2,
before anything is written. Set ``TOPOPHYS_TRACEBACK=1`` to get the Python traceback instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import typer

__all__ = [
    "CliError",
    "accelerator",
    "describe",
    "device",
    "handled",
    "input_path",
    "output_path",
    "scheduler_client",
]

# Exceptions that report a problem with the input, the files or the machine, not a bug.
_USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    OSError,
    ImportError,
    EOFError,
    FloatingPointError,  # TDGLBlowUpError: the time step is too large
    pickle.UnpicklingError,  # a file that is not what it claims (refused by a safe load)
)


class CliError(typer.TyperException):
    """A one-line error of a command (exit code 2)."""

    exit_code = 2


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Turn the user errors raised inside into :class:`CliError`; show library notes on stderr."""
    _log_to_stderr()
    try:
        yield
    except (typer.Exit, typer.TyperException, typer.Abort):
        raise
    except _USER_ERRORS as err:
        if os.environ.get("TOPOPHYS_TRACEBACK"):
            raise
        raise CliError(describe(err)) from None


def describe(err: BaseException) -> str:
    """One line saying what ``err`` means."""
    if isinstance(err, OSError) and err.strerror and err.filename:
        text = f"{err.filename}: {err.strerror}"
    elif isinstance(err, ImportError) and not str(err):
        text = f"missing module {err.name}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


class _EchoHandler(logging.Handler):
    # typer.echo finds the current sys.stderr at each call (a StreamHandler keeps the first).
    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"{record.levelname.lower()}: {self.format(record)}", err=True)


def _log_to_stderr() -> None:
    logger = logging.getLogger("topophys")
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        logger.addHandler(_EchoHandler())


def device(value: str, option: str = "--device") -> str:
    """``value`` if it names a torch device this machine has, else a usage error."""
    from .._validate import torch_device

    try:
        torch_device(option.lstrip("-"), value)
    except (ValueError, TypeError) as err:
        raise typer.BadParameter(str(err), param_hint=option) from None
    return value


def accelerator(value: str, option: str = "--accelerator") -> str:
    """A Lightning accelerator name this machine can run (``cpu``, ``gpu``/``cuda``, ``auto``)."""
    import torch

    if value in ("gpu", "cuda") and not torch.cuda.is_available():
        raise typer.BadParameter(
            f"{value!r}: this machine has no CUDA device (torch {torch.__version__}); expected "
            "cpu or auto",
            param_hint=option,
        )
    if value == "mps" and not torch.backends.mps.is_available():
        raise typer.BadParameter(
            f"{value!r}: MPS is not available; expected cpu", param_hint=option
        )
    return value


def input_path(path: Path, option: str, kind: Literal["file", "directory"] = "file") -> Path:
    """``path`` if it exists and is a ``kind``, else a usage error naming ``option``."""
    if not path.exists():
        raise typer.BadParameter(f"no {kind} {path}", param_hint=option)
    if kind == "file" and path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; expected a file", param_hint=option)
    if kind == "directory" and not path.is_dir():
        raise typer.BadParameter(f"{path} is a file; expected a directory", param_hint=option)
    return path


def output_path(path: Path, option: str, kind: Literal["file", "directory"] = "directory") -> Path:
    """Check that ``path`` can be written as a ``kind`` (it may exist: a store to resume).

    Refuses a file where a directory is expected and the reverse, a path below a file, and a
    location where this process cannot create files; nothing is left behind by the check.
    """
    if path.exists():
        if kind == "directory" and not path.is_dir():
            raise typer.BadParameter(
                f"{path} is an existing file; expected a directory (a new path, or a store or "
                "run directory to resume)",
                param_hint=option,
            )
        if kind == "file" and path.is_dir():
            raise typer.BadParameter(
                f"{path} is a directory; expected a file path", param_hint=option
            )
    parent = path if path.is_dir() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise typer.BadParameter(
            f"cannot create {path}: {parent} is a file, not a directory", param_hint=option
        )
    try:
        # A real write, not os.access: it also sees read-only mounts and works for root.
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise typer.BadParameter(
            f"cannot write to {parent} ({err.strerror or err}); expected a writable location",
            param_hint=option,
        ) from None
    return path


@contextlib.contextmanager
def scheduler_client(address: str | None, option: str = "--scheduler") -> Iterator[Any]:
    """A connected Dask client for ``address`` (``None`` gives ``None``), closed afterwards."""
    if address is None:
        yield None
        return
    from ..parallel import connect

    try:
        client = connect(address)
    except (ValueError, OSError, ImportError) as err:
        raise typer.BadParameter(describe(err), param_hint=option) from None
    try:
        yield client
    finally:
        client.close()


def store_to_repair(path: Path) -> Path:
    """``path`` if a store exists there to ``--repair``, else a usage error."""
    if not path.is_dir():
        raise typer.BadParameter(f"no store at {path} to repair", param_hint="--repair")
    return path


def stored_config(cls: Any, text: str | None, given: Any, out: Path) -> Any:
    """The config recorded in the store ``out``, for ``--repair``.

    ``given`` (the config the other options resolved to) must be the default or the stored one:
    repairing with other options would not reproduce the store.
    """
    if not text:
        raise typer.BadParameter(
            f"{out} records no configuration to repair with", param_hint="--repair"
        )
    stored = cls.from_yaml(text if "\n" in text else text + "\n")
    if given != cls() and given != stored:
        raise typer.BadParameter(
            f"repairs {out} with the configuration stored in it; leave out --config and the "
            "configuration options (or give the ones it was made with)",
            param_hint="--repair",
        )
    return stored


def report_units(store: Any, out: Path, noun: str) -> None:
    """Say how many units this call wrote, or that there was nothing to do."""
    n, written = store.n_units, store.units_written
    if written == 0:
        typer.echo(f"nothing to do: all {n} {noun} in {out} are done")
    elif written < n:
        typer.echo(f"wrote {written} {noun} to {out} ({n - written} were already done)")
    else:
        typer.echo(f"wrote {written} {noun} to {out}")
