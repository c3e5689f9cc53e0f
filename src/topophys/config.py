"""Configuration as dataclasses that round-trip through YAML.

Every pipeline and simulator takes a frozen dataclass deriving from :class:`Config`. A run writes
the exact configuration it ran with (``config.yaml``) so that it can be repeated with
``Config.from_yaml``. Unknown keys and ill-typed values are errors that name the field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

C = TypeVar("C", bound="Config")


class Config:
    """Mixin for frozen dataclasses: dict/YAML conversion with field-named errors.

    Subclasses are ``@dataclasses.dataclass(frozen=True)`` and validate their values in
    ``__post_init__``.
    """

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build a config from a mapping, recursing into nested configs.

        Raises
        ------
        TypeError
            If ``data`` is not a mapping or a value has the wrong type.
        ValueError
            If ``data`` has keys that are not fields of the config.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} expects a mapping, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(
                f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(fields)}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {name: _coerce(f"{cls.__name__}.{name}", hints[name], data[name]) for name in data}
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (lists instead of tuples) suitable for YAML or JSON."""
        return _plain(dataclasses.asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_yaml(cls: type[C], source: str | Path) -> C:
        """Load from a YAML file path, or from YAML text when ``source`` contains a newline."""
        text = source if isinstance(source, str) and "\n" in source else Path(source).read_text()
        data = yaml.safe_load(text) or {}
        return cls.from_dict(data)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """Dump as YAML; also write it atomically to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            atomic_write_text(Path(path), text)
        return text

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated like a fresh config)."""
        return self.from_dict({**self.to_dict(), **changes})


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """Convert YAML-native ``value`` to the annotated type, raising errors that name the field."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(name, arg, value)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{name}: {value!r} matches none of {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list, got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(f"{name}[{i}]", item, v) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if isinstance(hint, type) and issubclass(hint, Config):
        if isinstance(value, hint):
            return value
        return hint.from_dict(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {value!r}")
        return value
    return value
