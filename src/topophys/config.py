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
from numbers import Integral, Real
from pathlib import Path
from typing import Any, TypeVar

import yaml
from numpy import bool_ as np_bool

C = TypeVar("C", bound="Config")


class Config:
    """Mixin for frozen dataclasses: dict/YAML conversion with field-named errors.

    Subclasses are ``@dataclasses.dataclass(frozen=True)`` and validate their values in
    ``__post_init__``. Before it runs, every field is checked against its annotation (and
    lists become tuples where a tuple is annotated), so a config built directly with a wrong
    type fails with an error naming the field, as one read from YAML does.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")

        def __post_init__(self: Any) -> None:
            _check_field_types(self)
            if own is not None:
                own(self)

        # Config declares no __post_init__ of its own: each subclass gets this one at runtime.
        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]

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
        # Every Config subclass is a dataclass, which the bound of C cannot say.
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
        # self is a dataclass (see from_dict), which mypy cannot know of a Config.
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


_HINTS: dict[type, dict[str, Any]] = {}


def _check_field_types(config: Any) -> None:
    cls = type(config)
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    hints = _HINTS[cls]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        coerced = _coerce(f"{cls.__name__}.{f.name}", hints[f.name], value)
        if coerced is not value:
            object.__setattr__(config, f.name, coerced)


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
        # Same type and equal: an array is refused, never compared elementwise.
        if not any(type(value) is type(a) and value == a for a in args):
            raise ValueError(
                f"{name} must be one of {', '.join(map(repr, args))}, got {_short(value)}"
            )
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list, got {_short(value)}")
        item = args[0] if args else Any
        items = [_coerce(f"{name}[{i}]", item, v) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if isinstance(hint, type) and issubclass(hint, Config):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{name} must be a {hint.__name__} or a mapping, got {_short(value)}")
        return hint.from_dict(value)
    if hint is float:
        if isinstance(value, (bool, np_bool)) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a number, got {_short(value)}")
        return value if type(value) is float else float(value)
    if hint is int:
        if isinstance(value, (bool, np_bool)) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an integer, got {_short(value)}")
        return value if type(value) is int else int(value)
    if hint is bool:
        if not isinstance(value, (bool, np_bool)):
            raise TypeError(f"{name} must be true or false, got {_short(value)}")
        return value if type(value) is bool else bool(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {_short(value)}")
        return value
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
