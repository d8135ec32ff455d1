"""Reading TOML tables into attrs classes, with errors that name the file,
the table and the key (``structure``), and the :class:`Secret` wrapper.

Channel configs, ``[host]`` tables, target options and plugin tables are
all declared as attrs classes and read here: unknown keys get a
did-you-mean, wrong types say what was expected, and a value is never
echoed back (it may be a secret).
"""

from __future__ import annotations

import datetime
import difflib
import enum
import types
import typing
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, Literal, TypeVar

import attrs

from .errors import ConfigError

__all__ = ["Secret", "describe", "options_for", "secret", "structure"]

T = TypeVar("T")


@attrs.frozen(repr=False)
class Secret:
    """A configured secret. ``str()`` and ``repr()`` never show it; call
    :meth:`reveal` where the value is really needed."""

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        """The secret value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def secret(**kwargs: Any) -> Any:
    """An attrs field holding a :class:`Secret` (``None`` unless required)."""
    return attrs.field(metadata={"secret": True}, **kwargs)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is Secret:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (list, tuple):
        return "a list"
    if origin is dict or tp is dict:
        return "a table"
    if attrs.has(tp):
        return "a table"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def describe(value: Any) -> str:
    """What ``value`` is, for an error message, without showing it."""
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


class _Mismatch(Exception):
    pass


def _convert(tp: Any, value: Any, where: str, key: str, error: type[ConfigError]) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if tp is Secret:
        if not isinstance(value, str):
            raise _Mismatch
        return Secret(value)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where, key, error)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise _Mismatch
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _Mismatch
        (item,) = typing.get_args(tp)[:1] or (Any,)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(_convert(item, v, where, f"{key}[{i}]", error))
            except _Mismatch:
                raise error(f"{where} key '{key}[{i}]': expected {_type_name(item)}, "
                            f"got {describe(v)}") from None
        return out if origin is list else tuple(out)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is not Any:
            return {k: _convert_checked(args[1], v, where, f"{key}.{k}", error)
                    for k, v in value.items()}
        return dict(value)
    if attrs.has(tp):
        if not isinstance(value, dict):
            raise _Mismatch
        return structure(tp, value, f"{where[:-1]}.{key}]" if where.endswith("]") else where,
                         error=error)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Mismatch
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Mismatch
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise _Mismatch
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise _Mismatch from None
    if isinstance(tp, type) and issubclass(tp, PurePath):
        if not isinstance(value, str):
            raise _Mismatch
        return tp(value)
    if tp in (datetime.datetime, datetime.date, datetime.time):
        if isinstance(value, str):
            try:
                return tp.fromisoformat(value)
            except ValueError:
                raise _Mismatch from None
        # TOML has its own date-times; a datetime is also a date.
        if isinstance(value, tp) and (tp is not datetime.date
                                      or not isinstance(value, datetime.datetime)):
            return value
        raise _Mismatch
    raise error(f"{where} key '{key}': the schema's type {_type_name(tp)} cannot be read "
                "from TOML (known: str, int, float, bool, lists, tables, Literal, Enum, "
                "Path, datetime, Secret and attrs classes)")


def _convert_checked(tp: Any, value: Any, where: str, key: str, error: type[ConfigError]) -> Any:
    try:
        return _convert(tp, value, where, key, error)
    except _Mismatch:
        raise error(f"{where} key '{key}': expected {_type_name(tp)}, "
                    f"got {describe(value)}") from None


def structure(cls: type[T], data: Mapping[str, Any], where: str,
              *, error: type[ConfigError] = ConfigError) -> T:
    """Build the attrs class ``cls`` from a TOML table, with precise errors.

    ``where`` is the ``"file: [table]"`` prefix used in messages. Unknown
    keys are errors with a did-you-mean; values of fields marked secret are
    wrapped in :class:`Secret`.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.alias or f.name: f for f in attrs.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(sorted(fields))
            raise error(f"{where} key '{key}': unknown key{hint}; known keys: {known}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is attrs.NOTHING:
                raise error(f"{where} key '{name}': required key is missing")
            continue
        tp = hints[f.name]
        if f.metadata.get("secret"):
            tp = Secret | None if type(None) in typing.get_args(tp) else Secret
        kwargs[name] = _convert_checked(tp, data[name], where, name, error)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise error(f"{where}: {exc}") from None


def options_for(factory: Any, options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``options`` checked against ``factory.Options`` when it declares one.

    Targets and plugins declare the keys of ``[host.target_options]`` and
    ``[plugins.<name>]`` as an attrs class in an ``Options`` attribute; the
    table is validated like any other (unknown keys, wrong types and
    missing keys name the file, table and key) and the factory is called
    with the converted values. Without ``Options`` the table is passed as
    it is.
    """
    schema = getattr(factory, "Options", None)
    if schema is None or not attrs.has(schema):
        return dict(options)
    checked = structure(schema, options, where)
    return {f.name: getattr(checked, f.name) for f in attrs.fields(schema)}
