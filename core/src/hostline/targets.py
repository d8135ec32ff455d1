"""Adapting what the user serves into one :class:`Target` shape.

A target may be an ``async def`` returning ``str`` or :class:`RunResult`, an
async generator yielding ``str`` deltas or :class:`RunUpdate`, or an object
with ``run(request)`` and optionally ``stream(request)``. A factory
registered under the ``hostline.targets`` entry-point group is called with
the ``[host.target_options]`` table and returns any of those.
"""

from __future__ import annotations

import inspect
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .schema import options_for
from .types import Message, RunRequest, RunResult, RunUpdate, Usage

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Target", "coerce_result", "echo", "load_target"]


class Target:
    """A uniform wrapper: :meth:`run` always exists, :meth:`stream` always
    yields :class:`RunUpdate` then finishes; :attr:`can_stream` tells whether
    the underlying target streams natively."""

    def __init__(self, name: str, obj: Any) -> None:
        self.name = name
        self.obj = obj
        run = getattr(obj, "run", None)
        stream = getattr(obj, "stream", None)
        if inspect.isasyncgenfunction(obj):
            self._stream: Callable[[RunRequest], AsyncIterator[Any]] | None = obj
            self._run: Callable[[RunRequest], Awaitable[Any]] | None = None
        elif callable(run) or callable(stream):
            self._run = run if callable(run) else None
            self._stream = stream if callable(stream) else None
        elif callable(obj):
            self._run, self._stream = obj, None
        else:
            raise ConfigError(f"target {name!r} is not callable and has no run()/stream()")
        self.can_stream = self._stream is not None

    def __repr__(self) -> str:
        return f"<Target {self.name}>"

    async def run(self, request: RunRequest) -> RunResult:
        """Run to completion and return a :class:`RunResult`."""
        if self._run is None:
            text: list[str] = []
            parts: list[Any] = []
            usage = Usage()
            async for update in self.stream(request):
                text.append(update.delta)
                if update.part is not None:
                    parts.append(update.part)
                if update.usage is not None:
                    usage = update.usage
            content: list[Any] = ["".join(text)] if any(text) else []
            return RunResult((Message("assistant", (*content, *parts)),), usage=usage)
        return coerce_result(await _maybe_await(self._run(request)))

    async def stream(self, request: RunRequest) -> AsyncIterator[RunUpdate]:
        """Yield updates; a non-streaming target yields its whole text once."""
        if self._stream is None:
            result = await self.run(request)
            if result.text:
                yield RunUpdate(delta=result.text)
            yield RunUpdate(usage=result.usage)
            return
        agen = self._stream(request)
        try:
            async for item in agen:
                if isinstance(item, str):
                    if item:
                        yield RunUpdate(delta=item)
                elif isinstance(item, RunUpdate):
                    yield item
                elif item is not None:
                    raise TypeError(f"target yielded {type(item).__name__}; "
                                    "expected str or RunUpdate")
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()


async def _maybe_await(value: Any) -> Any:
    while inspect.isawaitable(value):
        value = await value
    return value


def coerce_result(value: Any) -> RunResult:
    """Turn what a target returned into a :class:`RunResult`."""
    if isinstance(value, RunResult):
        return value
    if isinstance(value, str):
        return RunResult.from_text(value)
    if isinstance(value, Message):
        return RunResult((value,))
    if value is None:
        return RunResult(())
    raise TypeError(f"target returned {type(value).__name__}; expected str or RunResult")


async def echo(request: RunRequest) -> RunResult:
    """The built-in target: replies with the input text."""
    text = request.text
    return RunResult.from_text(text, usage=Usage(len(text.split()), len(text.split())))


def _factory_kwargs(factory: Any, options: Mapping[str, Any],
                    provided: Mapping[str, Any]) -> dict[str, Any]:
    """``options``, plus each of ``provided`` (``state_dir``, ``store``) that the
    factory declares as a parameter and the config did not set: targets that
    keep state of their own need to know where."""
    kwargs = dict(options)
    wanted = {k: v for k, v in provided.items() if v is not None and k not in kwargs}
    if not wanted:
        return kwargs
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return kwargs
    kwargs.update({k: v for k, v in wanted.items() if k in params})
    return kwargs


def load_target(spec: str, options: Mapping[str, Any], entry_points: Mapping[str, Any],
                source: str = "<config>", *, state_dir: Path | None = None,
                store: Store | None = None) -> Target:
    """Resolve ``[host] target``: a ``module:attr`` path or an entry-point name.

    Entry-point targets are factories: the built-in ``echo`` is returned as
    is; others are called with ``options`` (``[host.target_options]``), plus
    the host's ``state_dir`` and ``store`` when the factory has parameters of
    those names (the store opens with the host: use it during turns, not in
    the factory).
    """
    provided = {"state_dir": state_dir, "store": store}
    where = f"{source}: [host] key 'target'"
    if ":" in spec:
        try:
            obj = pkgutil.resolve_name(spec)
        except Exception as exc:  # noqa: BLE001 - any import failure is a config error
            raise ConfigError(f"{where}: cannot import {spec!r}: "
                              f"{type(exc).__name__}: {exc}") from None
        if callable(obj) and getattr(obj, "__hostline_factory__", False):
            # A factory marked so is called with its options (none is fine).
            obj = _call_factory(obj, options, provided, source, f"target {spec!r}")
        return Target(spec, obj)
    ep = entry_points.get(spec)
    if ep is None:
        known = ", ".join(sorted(entry_points)) or "none installed"
        raise ConfigError(f"{where}: unknown target {spec!r} (known: {known}; "
                          "or use 'package.module:attr')")
    try:
        factory = ep.load()
    except Exception as exc:  # noqa: BLE001 - any import failure is a config error
        raise ConfigError(f"{where}: target {spec!r} (entry point {ep.value}) failed to "
                          f"import: {type(exc).__name__}: {exc}") from None
    if factory is echo:
        return Target(spec, echo)
    return Target(spec, _call_factory(factory, options, provided, source,
                                      f"target {spec!r} (entry point {ep.value})"))


def _call_factory(factory: Any, options: Mapping[str, Any], provided: Mapping[str, Any],
                  source: str, target: str) -> Any:
    where = f"{source}: [host.target_options]"
    what = f"{where}: {target}"
    checked = options_for(factory, options, where)
    try:
        return factory(**_factory_kwargs(factory, checked, provided))
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a factory may raise anything
        raise ConfigError(f"{what} refused its options: "
                          f"{type(exc).__name__}: {exc}") from None
