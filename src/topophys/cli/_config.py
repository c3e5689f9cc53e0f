"""Typer commands whose options come from a config dataclass (:class:`topophys.config.Config`).

:func:`command` is the one place where a command's ``--config`` file is read, ``--scale``
presets are chosen, option values override config fields, ``--dump-config`` prints the result
and the command's errors become one line on stderr with exit code 2. A command module only
says which fields get options and what to do with the resolved config.

Each derived option takes its type from the field's annotation, its help from the config
class's numpydoc ``Parameters`` section, and shows the config's default; it defaults to "not
given", so a value from ``--config`` is kept unless the option is passed.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import typer

from ._checks import handled

__all__ = ["Opt", "command", "load_config", "parse_floats", "parse_ints", "plain"]


@dataclasses.dataclass(frozen=True)
class Opt:
    """An option that sets one or more config fields.

    Parameters
    ----------
    fields
        Dotted paths of the fields it sets (``"tdgl.size"``); all must have the same type.
    decls
        Option names, e.g. ``("--constrained/--unconstrained",)``; default ``--<name>``.
    help
        Help text; default the first sentence of the field's entry in the config docstring.
    path
        The value is a path (given as ``str`` to the config).
    """

    fields: tuple[str, ...]
    decls: tuple[str, ...] = ()
    help: str | None = None
    path: bool = False


def parse_floats(text: str, name: str) -> tuple[float, ...]:
    """Parse ``"a,b,c"`` or ``"start:stop:count"`` (inclusive, evenly spaced) into floats."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            n = int(count)
            if n < 1:
                raise ValueError
            step = 0.0 if n == 1 else (float(stop) - float(start)) / (n - 1)
            return tuple(round(float(start) + i * step, 10) for i in range(n))
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected comma-separated numbers or START:STOP:COUNT", param_hint=name
        ) from None


def parse_ints(text: str, name: str) -> tuple[int, ...]:
    """Parse ``"0,1,2"`` or ``"0:N"`` (range, N excluded) into ints."""
    try:
        if ":" in text:
            start, stop = text.split(":")
            return tuple(range(int(start), int(stop)))
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected comma-separated integers or START:STOP", param_hint=name
        ) from None


def load_config(cls: Any, path: Path, option: str = "--config") -> Any:
    """Read a config of class ``cls`` from the YAML file ``path``, naming ``option`` on errors."""
    import yaml

    expected = "expected a YAML file as written by --dump-config"
    if not path.exists():
        raise typer.BadParameter(f"no file {path}; {expected}", param_hint=option)
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; {expected}", param_hint=option)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise typer.BadParameter(
            f"cannot read {path}: {reason}; {expected}", param_hint=option
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "syntax error"
        raise typer.BadParameter(
            f"{path} is not valid YAML ({problem}{where}); {expected}", param_hint=option
        ) from None
    try:
        return cls.from_dict({} if data is None else data)
    except (ValueError, TypeError) as err:
        raise typer.BadParameter(f"{path}: {err}", param_hint=option) from None


def plain(func: Callable[..., Any], name: str | None = None) -> Any:
    """The click command of a Typer-annotated function, its errors handled like :func:`command`."""

    def callback(**kwargs: Any) -> None:
        with handled():
            func(**kwargs)

    return _typer_command(callback, func, list(_signature(func).parameters.values()), name)


def command(
    config: type,
    run: Callable[..., None],
    options: Mapping[str, str | tuple[str, ...] | Opt],
    *,
    presets: Mapping[str, Any] | None = None,
    scale_help: str = "",
    name: str | None = None,
) -> Any:
    """A click command that resolves a ``config`` and calls ``run(config, **other_options)``.

    Parameters
    ----------
    config
        The config dataclass (a :class:`topophys.config.Config`).
    run
        Does the work. Its first parameter receives the resolved config; its other
        parameters are Typer-annotated and become the command's own arguments and options.
        Its docstring is the command's help.
    options
        Option name (without ``--``) to the field path(s) it sets, or an :class:`Opt`.
    presets
        Named configs for ``--scale`` (the first is the default); without it the default is
        ``config()``.
    scale_help
        Help of ``--scale``.
    name
        Command name (default: the function name).

    Notes
    -----
    The config is ``--config FILE`` if given, else the ``--scale`` preset (or ``config()``),
    with the given options applied at once; an invalid result is reported against the option
    that makes it invalid (or all given options when none does alone). ``--dump-config``
    prints it as YAML and stops.
    """
    specs = {key: _as_opt(key, spec) for key, spec in options.items()}
    base = next(iter(presets.values())) if presets else config()
    own = list(_signature(run).parameters.values())[1:]
    taken = {p.name for p in own}
    # Arguments first, then the config's options, then the command's own options.
    params = [p for p in own if _is_argument(p)]
    params.append(
        _param(
            "config",
            Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
            typer.Option(
                "--config",
                help="YAML file as written by --dump-config; the options below override it.",
                show_default="none",
            ),
            None,
        )
    )
    if presets:
        listed = ", ".join(presets)
        params.append(
            _param(
                "scale",
                str,
                typer.Option(
                    "--scale",
                    help=f"Embedded configuration: {scale_help or listed} (option defaults "
                    f"shown are those of {next(iter(presets))!r}); --config replaces it.",
                ),
                next(iter(presets)),
            )
        )
    option_params: dict[str, str] = {}
    for key, spec in specs.items():
        param_name = key.replace("-", "_")
        if param_name in taken or param_name in ("config", "scale", "dump_config"):
            raise TypeError(f"option --{key} clashes with a parameter of {run.__name__}")
        option_params[param_name] = key
        params.append(_config_param(config, base, key, param_name, spec))
    params.extend(p for p in own if not _is_argument(p))
    params.append(
        _param(
            "dump_config",
            bool,
            typer.Option("--dump-config", help="Print the resolved config as YAML and exit."),
            False,
        )
    )

    def callback(**kwargs: Any) -> None:
        path, scale = kwargs.pop("config"), kwargs.pop("scale", None)
        given = {option_params[p]: kwargs.pop(p) for p in option_params}
        given = {k: v for k, v in given.items() if v is not None}
        cfg = _resolve(config, presets, path, scale, given, specs)
        if kwargs.pop("dump_config"):
            typer.echo(cfg.to_yaml(), nl=False)
            return
        with handled():
            run(cfg, **kwargs)

    return _typer_command(callback, run, params, name)


# ---------------------------------------------------------------------------------------------


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func, eval_str=True)


def _is_argument(param: inspect.Parameter) -> bool:
    metadata = getattr(param.annotation, "__metadata__", ())
    return any(isinstance(m, typer.models.ArgumentInfo) for m in metadata)


def _param(name: str, annotation: Any, info: Any, default: Any) -> inspect.Parameter:
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(name, kind, annotation=Annotated[annotation, info], default=default)


def _typer_command(
    callback: Callable[..., Any], source: Callable[..., Any], params: list, name: str | None
) -> Any:
    # Keyword-only: arguments and options may then come in any order.
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    # Typer reads the parameters from __signature__, which Callable does not declare.
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__name__ = source.__name__
    callback.__doc__ = source.__doc__
    app = typer.Typer(add_completion=False)
    app.command(name=name or source.__name__.strip("_").replace("_", "-"))(callback)
    return typer.main.get_command(app)


def _as_opt(key: str, spec: str | tuple[str, ...] | Opt) -> Opt:
    if isinstance(spec, Opt):
        return spec
    return Opt(fields=(spec,) if isinstance(spec, str) else tuple(spec))


def _field_hint(config: type, path: str) -> tuple[Any, type, str]:
    """The annotation of the field at dotted ``path``, the class that declares it, and its name."""
    cls: Any = config
    *parents, leaf = path.split(".")
    for part in parents:
        cls = typing.get_type_hints(cls)[part]
    hints = typing.get_type_hints(cls)
    if leaf not in hints:
        raise TypeError(f"{config.__name__} has no field {path!r}")
    return hints[leaf], cls, leaf


def _field_value(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _unoptional(hint: Any) -> Any:
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _kind(hint: Any) -> str:
    """How an option of a field with annotation ``hint`` is typed and parsed."""
    hint = _unoptional(hint)
    if typing.get_origin(hint) in (tuple, list):
        item = (typing.get_args(hint) or (float,))[0]
        return "ints" if item is int else "floats"
    if typing.get_origin(hint) is Literal:
        return "str"
    return {int: "int", float: "float", bool: "bool"}.get(hint, "str")


_PYTHON_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "ints": str, "floats": str}
_LIST_HELP = {
    "floats": " Comma-separated, or START:STOP:COUNT.",
    "ints": " Comma-separated, or START:STOP (STOP excluded).",
}


def _config_param(
    config: type, base: Any, key: str, param_name: str, spec: Opt
) -> inspect.Parameter:
    hint, owner, leaf = _field_hint(config, spec.fields[0])
    kind = _kind(hint)
    for other in spec.fields[1:]:
        if _kind(_field_hint(config, other)[0]) != kind:
            raise TypeError(f"--{key}: fields {spec.fields} have different types")
    help_text = spec.help or _field_doc(owner, leaf) or f"Sets {', '.join(spec.fields)}."
    if kind in _LIST_HELP and not spec.help:
        help_text += _LIST_HELP[kind]
    choices = typing.get_args(_unoptional(hint))
    if typing.get_origin(_unoptional(hint)) is Literal and not all(
        str(c) in help_text for c in choices
    ):
        help_text += f" One of: {', '.join(map(str, choices))}."
    if kind == "bool":
        flag = key.replace("_", "-")
        decls = spec.decls or (f"--{flag}/--no-{flag}",)
    else:
        decls = spec.decls or (f"--{key.replace('_', '-')}",)
    annotation: Any = Path if spec.path else _PYTHON_TYPES[kind]
    # The option itself defaults to None (keep the config's value); show the config's value.
    info = typer.Option(*decls, help=help_text, show_default=_shown(base, spec.fields[0], decls))
    return _param(param_name, Optional[annotation], info, None)  # noqa: UP045


def _shown(base: Any, path: str, decls: tuple[str, ...]) -> str:
    value = _field_value(base, path)
    if isinstance(value, bool):
        on, _, off = decls[0].partition("/")
        return (on if value else off or f"no {on}").lstrip("-")
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


_SECTION = re.compile(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][A-Za-z ]+\n-+\n|\Z)", re.S | re.M)


def _field_doc(cls: type, name: str) -> str:
    """First sentence of ``name``'s entry in the numpydoc Parameters section of ``cls``."""
    doc = inspect.getdoc(cls) or ""
    match = _SECTION.search(doc)
    if not match:
        return ""
    entries: dict[str, list[str]] = {}
    current: list[str] = []
    for line in match.group(1).splitlines():
        if line and not line[0].isspace():
            current = []
            for field in line.split(":")[0].split(","):
                entries[field.strip()] = current
        elif line.strip():
            current.append(line.strip())
    text = " ".join(entries.get(name, [])).replace("``", "")
    first = re.match(r"(.+?\.)(\s|$)", text)
    return first.group(1) if first else text


def _resolve(
    config: type,
    presets: Mapping[str, Any] | None,
    path: Path | None,
    scale: str | None,
    given: dict[str, Any],
    specs: Mapping[str, Opt],
) -> Any:
    """The config of one invocation: file or preset, then the given options."""
    if path is not None:
        base = load_config(config, path)
    elif presets is not None:
        if scale is None or scale not in presets:
            raise typer.BadParameter(
                f"{scale!r}: expected one of {', '.join(map(repr, presets))}", param_hint="--scale"
            )
        base = presets[scale]
    else:
        base = config()
    changes = {key: _converted(config, key, specs[key], value) for key, value in given.items()}
    try:
        return _apply(base, changes, specs)
    except (ValueError, TypeError) as err:
        # Blame the option that is wrong on its own; else all of them (a combination is wrong).
        for key in changes:
            try:
                _apply(base, {key: changes[key]}, specs)
            except (ValueError, TypeError):
                raise typer.BadParameter(str(err), param_hint=f"--{key}") from None
        hint = ", ".join(f"--{k}" for k in changes) or "--config"
        raise typer.BadParameter(str(err), param_hint=hint) from None


def _converted(config: type, key: str, spec: Opt, value: Any) -> Any:
    kind = _kind(_field_hint(config, spec.fields[0])[0])
    if kind == "floats":
        return list(parse_floats(value, f"--{key}"))
    if kind == "ints":
        return list(parse_ints(value, f"--{key}"))
    return str(value) if spec.path else value


def _apply(base: Any, changes: Mapping[str, Any], specs: Mapping[str, Opt]) -> Any:
    data = base.to_dict()
    for key, value in changes.items():
        for path in specs[key].fields:
            *parents, leaf = path.split(".")
            node = data
            for part in parents:
                node = node[part]
            node[leaf] = value
    return type(base).from_dict(data)
