"""The one place where a command's errors become one line on stderr with exit code 2.

Set ``TOPOPHYS_TRACEBACK=1`` to get the Python traceback instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Iterator

import typer

__all__ = ["CliError", "describe", "handled"]

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
