"""Typed settings from defaults, a config mapping, the environment and flags, converted in one place."""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar

from handler.errors import ConfigError

S = TypeVar("S", bound="Settings")
E = TypeVar("E", bound=Enum)
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
REQUIRED: Any = dataclasses.MISSING  # setting(REQUIRED, ...): a field without a default


Choices = Callable[[], Iterable[str]]


def setting(
    default: Any,
    doc: str,
    *,
    low: int | None = None,
    high: int | None = None,
    env: str | None = None,
    choices: Choices | None = None,
    label: str | None = None,
) -> Any:
    """A settings field: its default, what it means, its bounds, its variable (where not the prefix rule's).

    `choices` names the allowed values of a text field that a registry holds (asked when a value is
    converted, so what registers later counts). `label` names the value in messages (default: LABEL's).
    """
    metadata = {"doc": doc, "low": low, "high": high, "env": env, "choices": choices, "label": label}
    if isinstance(default, list):  # each instance its own list: dataclasses refuse a shared one
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def to_bool(raw: Any, label: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case), or a bool."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ConfigError(f"{label}: {raw!r} is not a boolean, expected true or false")


def to_int(raw: Any, label: str, low: int | None = None, high: int | None = None) -> int:
    """An integer within [low, high]."""
    if isinstance(raw, bool):
        raise ConfigError(f"{label} is {raw!r}, expected an integer")
    try:
        value = raw if isinstance(raw, int) else int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{label} is {raw!r}, expected an integer") from None
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            expected = f"at least {low}" + (" (a positive integer)" if low == 1 else "")
        else:
            expected = f"from {low} to {high}" if low is not None else f"at most {high}"
        raise ConfigError(f"{label} is {value}, expected {expected}")
    return value


def to_enum(kind: type[E], raw: Any, label: str) -> E:
    """A member of `kind` by its value, in any case; the error lists the allowed values."""
    if isinstance(raw, kind):
        return raw
    text = str(raw.value) if isinstance(raw, Enum) else raw
    values = {str(member.value): member for member in kind}
    return values[to_choice(text, values, label)]


def to_choice(raw: Any, choices: Iterable[str], label: str) -> str:
    """One of `choices`, in any case; the error lists them, as `to_enum`'s does."""
    allowed = list(choices)
    text = str(raw).strip().lower()
    for choice in allowed:
        if choice.lower() == text:
            return choice
    listed = " or ".join(allowed) if len(allowed) == 2 else "one of: " + ", ".join(allowed)
    raise ConfigError(f"{label} is {raw!r}, expected {listed}")


def to_list(raw: Any, label: str) -> list[str]:
    """A list of strings: a list, a JSON list, or comma-separated text."""
    if isinstance(raw, (list, tuple)):
        return [str(item.value) if isinstance(item, Enum) else str(item) for item in raw]
    text = str(raw).strip()
    if text.startswith("["):  # a JSON list, as SageMaker hyperparameters may carry
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(f"{label} is {raw!r}, expected a JSON list or comma-separated names") from None
        return [str(item) for item in items]
    return [item.strip() for item in text.split(",") if item.strip()]


def convert(
    raw: Any, kind: Any, label: str, low: int | None = None, high: int | None = None, choices: Choices | None = None
) -> Any:
    """`raw` (text from a variable or a flag, or a YAML value) as a value of the declared type `kind`."""
    if choices is not None and raw is not None:
        return to_choice(raw, choices(), label)
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:  # X | None
        if raw is None:
            return None
        kind = next(a for a in args if a is not type(None))
        args = typing.get_args(kind)
    elif raw is None and kind is not Any:
        raise ConfigError(f"{label} is None, expected a value")
    origin = typing.get_origin(kind) or kind
    if origin is bool:
        return to_bool(raw, label)
    if origin is int:
        return to_int(raw, label, low, high)
    if origin is float:
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{label} is {raw!r}, expected a number") from None
    if origin is list:
        item = args[0] if args else str
        if item is Any and isinstance(raw, (list, tuple)):
            return list(raw)  # e.g. text steps given as specs (dicts): kept as they are
        if item is Any and str(raw).strip().startswith("["):  # a JSON list of names and specs, from a flag
            try:
                return list(json.loads(str(raw)))
            except json.JSONDecodeError:
                raise ConfigError(f"{label} is {raw!r}, expected a JSON list or comma-separated names") from None
        items = to_list(raw, label)
        if isinstance(item, type) and issubclass(item, Enum):
            return [convert(name, item, label) for name in items]
        return items
    if isinstance(origin, type) and issubclass(origin, Enum):
        parse = getattr(origin, "parse", None)  # an enum may name itself in its own messages
        return parse(raw) if parse is not None else to_enum(origin, raw, label)
    if origin is Path:
        return Path(str(raw).strip())
    if origin is str:
        return str(raw).strip()
    return raw  # Any, dict, ...: as given


def allowed(kind: Any, low: int | None = None, high: int | None = None, choices: Choices | None = None) -> str:
    """What `convert` takes for the declared type `kind`, in words, as `bsm settings` lists it."""
    if choices is not None:
        return ", ".join(choices())
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:  # X | None
        kind = next(a for a in args if a is not type(None))
        args = typing.get_args(kind)
    origin = typing.get_origin(kind) or kind
    if origin is list:
        item = args[0] if args else str
        if isinstance(item, type) and issubclass(item, Enum):
            return "comma-separated: " + ", ".join(str(member.value) for member in item)
        return "comma-separated names" + (", or a JSON list of names and specs" if item is Any else "")
    if isinstance(origin, type) and issubclass(origin, Enum):
        return ", ".join(str(member.value) for member in origin)
    if origin is int and low is not None and high is not None:
        return f"integer from {low} to {high}"
    if origin is int and (low is not None or high is not None):
        return f"integer, at least {low}" if low is not None else f"integer, at most {high}"
    names = {bool: "true or false", int: "integer", float: "number", Path: "path", str: "text"}
    return names.get(origin, getattr(origin, "__name__", str(origin)))


def shown(value: Any) -> str:
    """A default as a variable would spell it ("unset" for None, "none" for nothing)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple)):
        return ",".join(shown(item) if not isinstance(item, dict) else json.dumps(item) for item in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) or "none"


class Described(NamedTuple):
    """One setting as `bsm settings` lists it."""

    name: str
    variable: str | None
    default: str
    allowed: str
    doc: str


class Settings:
    """Mixin for a dataclass of settings: loads it from config, environment and flags, in that order.

    Each field's variable is `ENV_PREFIX` + its upper-cased name, or the `env` its `setting()`
    names. Errors name where the value came from and what is allowed.
    """

    ENV_PREFIX: ClassVar[str] = ""
    KIND: ClassVar[str] = "settings"  # what the fields are called in messages ("unknown <KIND> [...]")
    LABEL: ClassVar[str] = "setting {name}"  # how one field is named in messages

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field name -> the environment variable that sets it, for every field that has one."""
        names = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            variable = f.metadata.get("env") or (cls.ENV_PREFIX + f.name.upper() if cls.ENV_PREFIX else None)
            if variable:
                names[f.name] = variable
        return names

    @classmethod
    def described(cls) -> list[Described]:
        """Every field: its variable, default, allowed values and doc, for `bsm settings` and the README."""
        hints = typing.get_type_hints(cls)
        variables = cls.variables()
        rows = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.default is not dataclasses.MISSING:
                default = shown(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                default = shown(f.default_factory())
            else:
                default = "required"
            meta = f.metadata
            kind = allowed(hints[f.name], meta.get("low"), meta.get("high"), meta.get("choices"))
            rows.append(Described(f.name, variables.get(f.name), default, kind, meta.get("doc", "")))
        return rows

    @classmethod
    def value(cls, name: str, env: Mapping[str, str] | None = None) -> Any:
        """One field from the environment, converted and checked, else its default; no other variable is read."""
        env = os.environ if env is None else env
        variable = cls.variables()[name]
        if not env.get(variable, "").strip():
            field = next(f for f in dataclasses.fields(cls) if f.name == name)  # type: ignore[arg-type]
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            if field.default is dataclasses.MISSING:
                raise ConfigError(f"missing {cls.KIND} [{name!r}] (set {variable})")
            return field.default
        return cls.convert_all({name: (env[variable], variable)})[name]

    @classmethod
    def from_sources(
        cls: type[S],
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
        source: str = "the config",
    ) -> S:
        """Defaults, overridden by `config` (YAML values), then the environment, then flags."""
        env = os.environ if env is None else env
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(config or {}) - set(fields))
        if unknown:
            raise ConfigError(f"unknown {cls.KIND} {unknown} in {source}; known: {sorted(fields)}")
        raw: dict[str, tuple[Any, str | None]] = {k: (v, None) for k, v in (config or {}).items()}
        for name, variable in cls.variables().items():
            if env.get(variable, "").strip():
                raw[name] = (env[variable], variable)
        raw |= {k: (v, None) for k, v in (flags or {}).items() if v is not None}
        required = [n for n, f in fields.items() if f.default is f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in raw]
        if missing:
            raise ConfigError(f"missing {cls.KIND} {missing}")
        return cls(**cls.convert_all(raw))

    @classmethod
    def convert_all(cls, raw: Mapping[str, tuple[Any, str | None]]) -> dict[str, Any]:
        """Each (value, variable or None) converted to its field's declared type."""
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values = {}
        for name, (value, variable) in raw.items():
            meta = fields[name].metadata
            label = meta.get("label") or cls.LABEL.format(name=name, variable=variable or name)
            try:
                values[name] = convert(
                    value, hints[name], label, meta.get("low"), meta.get("high"), meta.get("choices")
                )
            except ConfigError as exc:
                if variable and variable not in str(exc):
                    raise ConfigError(f"{exc} (set by {variable})") from None
                raise
        return values

    def check(self) -> None:
        """Convert and check values given directly (not through `load`), as `load` would."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            meta = f.metadata
            label = meta.get("label") or self.LABEL.format(name=f.name, variable=f.name)
            value = convert(
                getattr(self, f.name), hints[f.name], label, meta.get("low"), meta.get("high"), meta.get("choices")
            )
            object.__setattr__(self, f.name, value)  # frozen dataclasses too: this runs in __post_init__
