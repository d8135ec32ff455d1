"""The plugin manager, entry-point discovery and the one hook caller.

Four entry-point groups: ``hostline.channels`` (name -> channel class),
``hostline.plugins`` (name -> module or class with hookimpls),
``hostline.targets`` (name -> target factory) and ``hostline.stores``
(name -> :class:`hostline.Store` subclass). Installed is not enabled: only
what the config names is loaded.

Every hook is called through :class:`Hooks`, which keeps pluggy's promises
for async implementations: pluggy's call order (``tryfirst``/``trylast``,
last registered first), ``wrapper``/``hookwrapper`` implementations around
the others, and awaiting whatever an implementation returns.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import pluggy

from . import hookspecs
from .errors import ConfigError, PluginError
from .schema import options_for

if TYPE_CHECKING:
    from .config import Config
    from .host import Host
    from .store import Store

__all__ = [
    "CHANNELS_GROUP",
    "PLUGINS_GROUP",
    "STORES_GROUP",
    "TARGETS_GROUP",
    "Channel",
    "Hooks",
    "PluginInfo",
    "entry_points",
    "installed_plugins",
    "load_store",
    "make_plugin_manager",
]

CHANNELS_GROUP = "hostline.channels"
PLUGINS_GROUP = "hostline.plugins"
TARGETS_GROUP = "hostline.targets"
STORES_GROUP = "hostline.stores"


class Channel:
    """Base class of channel plugins. One instance per ``[channels.<name>]`` table.

    Subclasses set :attr:`Config` to an attrs class describing their keys
    (validated before start-up; mark secrets with ``hostline.config.secret()``)
    and implement hooks as methods decorated with ``@hostline.hookimpl``.
    Hooks receive ``host``. ``hostline_push`` is called only on the channel
    instance named by the destination (and on non-channel plugins);
    ``hostline_allowlists`` gets the channel asked about, and a channel that
    returns allowlists for itself checks ``channel == self.name``.
    """

    Config: ClassVar[type[Any] | None] = None
    #: Whether the channel refuses to run without secrets (``serve`` with no config skips it).
    needs_secrets: ClassVar[bool] = True

    def __init__(self, name: str, config: Any, host: Host) -> None:
        self.name = name
        self.config = config
        self.host = host

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


@attrs.frozen
class PluginInfo:
    """One installed entry point, for ``hostline plugins``."""

    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None


def entry_points(group: str) -> dict[str, md.EntryPoint]:
    """Installed entry points of ``group`` by name (first one wins on a clash)."""
    out: dict[str, md.EntryPoint] = {}
    for ep in md.entry_points(group=group):
        out.setdefault(ep.name, ep)
    return out


def installed_plugins() -> list[PluginInfo]:
    """Every installed hostline entry point with its distribution and version."""
    out = []
    for group in (CHANNELS_GROUP, PLUGINS_GROUP, TARGETS_GROUP, STORES_GROUP):
        for ep in md.entry_points(group=group):
            dist = getattr(ep, "dist", None)
            out.append(PluginInfo(group, ep.name, ep.value,
                                  dist.metadata["Name"] if dist else None,
                                  dist.version if dist else None))
    return sorted(out, key=lambda p: (p.group, p.name))


def make_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with hostline's hookspecs."""
    pm = pluggy.PluginManager("hostline")
    pm.add_hookspecs(hookspecs)
    return pm


def _describe(group: str, ep: md.EntryPoint) -> str:
    return f"entry point {group}:{ep.name} = {ep.value}"


def load_entry_point(kind: str, name: str, group: str) -> tuple[Any, str]:
    """Import ``name``: an entry point of ``group``, or an import path
    (``package.module`` or ``package.module:attr``) for in-house plugins.

    Returns the object and a description of where it came from; failures are
    one-line :class:`PluginError`s naming the plugin, the origin and the cause.
    """
    if ":" in name or "." in name:
        origin = f"import path {name}"
        try:
            return pkgutil.resolve_name(name), origin
        except Exception as exc:  # noqa: BLE001 - any import failure names the plugin
            raise PluginError(f"{kind} {name!r} ({origin}): failed to import: "
                              f"{type(exc).__name__}: {exc}") from None
    eps = entry_points(group)
    ep = eps.get(name)
    if ep is None:
        known = ", ".join(sorted(eps)) or "none installed"
        raise PluginError(f"{kind} {name!r}: not installed (no entry point {name!r} in group "
                          f"{group}; installed: {known})")
    origin = _describe(group, ep)
    try:
        return ep.load(), origin
    except Exception as exc:  # noqa: BLE001 - any import failure names the plugin
        raise PluginError(f"{kind} {name!r} ({origin}): failed to import: "
                          f"{type(exc).__name__}: {exc}") from None


def register(pm: pluggy.PluginManager, obj: Any, name: str, label: str) -> None:
    """Register ``obj`` and validate its hookimpls, with a one-line error."""
    try:
        pm.register(obj, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"{label}: bad hook implementation: {exc}") from None
    unknown = [
        attr for attr in dir(obj)
        if attr.startswith("hostline_") and not hasattr(pm.hook, attr)
    ]
    if unknown:
        pm.unregister(obj)
        raise PluginError(f"{label}: unknown hook {unknown[0]!r} (no such hostline hookspec)")


def build_channel(host: Host, instance: str) -> Channel:
    """Instantiate the channel instance ``instance`` from the config."""
    spec = host.config.channels[instance]
    plugin = spec.common.plugin
    kind = (f"channel plugin {plugin!r} for [channels.{instance}]" if plugin != instance
            else "channel plugin")
    cls, origin = load_entry_point(kind, plugin, CHANNELS_GROUP)
    if not (inspect.isclass(cls) and issubclass(cls, Channel)):
        raise PluginError(f"{kind} ({origin}): is not a hostline.Channel subclass")
    config = host.config.channel_config(instance, cls.Config)
    try:
        return cls(instance, config, host)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's constructor may raise anything
        raise PluginError(f"{kind} ({origin}): failed to start instance {instance!r}: "
                          f"{type(exc).__name__}: {exc}") from None


def load_plugin(name: str, options: dict[str, Any] | None = None,
                source: str | None = None) -> Any:
    """Load an enabled plugin (entry point or import path); a class is
    instantiated with its ``[plugins.<name>]`` table as keyword arguments,
    checked against its ``Options`` attrs class when it declares one
    (``source`` names the table in errors: ``"hostline.toml: [plugins.x]"``)."""
    obj, origin = load_entry_point("plugin", name, PLUGINS_GROUP)
    if inspect.isclass(obj):
        kwargs = options_for(obj, options or {}, source or f"[plugins.{name}]")
        try:
            obj = obj(**kwargs)
        except Exception as exc:  # noqa: BLE001 - a plugin's constructor may raise anything
            raise PluginError(f"plugin {name!r} ({origin}): failed to start: "
                              f"{type(exc).__name__}: {exc}") from None
    return obj


def load_store(config: Config) -> Store:
    """The store ``[host.store]`` chooses, built but not opened."""
    from .store import Store

    spec = config.host.store
    kind = f"store backend ([host.store] backend in {config.source})"
    cls, origin = load_entry_point(kind, spec.backend, STORES_GROUP)
    if not (inspect.isclass(cls) and issubclass(cls, Store)):
        raise PluginError(f"{kind} {spec.backend!r} ({origin}): is not a hostline.Store subclass")
    try:
        return cls.from_config(spec, state_dir=config.state_dir)
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a backend's constructor may raise anything
        raise PluginError(f"{kind} {spec.backend!r} ({origin}): {type(exc).__name__}: "
                          f"{exc}") from None


# the hook caller -------------------------------------------------------------

Impl = Any  # pluggy.HookImpl
_Skip = Callable[[Impl], bool]


async def await_maybe(value: Any) -> Any:
    """``value``, awaited for as long as it is awaitable ("await me maybe")."""
    while inspect.isawaitable(value):
        value = await value
    return value


def _invoke(impl: Impl, kwargs: Mapping[str, Any]) -> Any:
    return impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})


class Hooks:
    """The one caller of every hook, with pluggy's semantics.

    Implementations run in pluggy's order: ``tryfirst`` ones first,
    ``trylast`` ones last, otherwise last registered first. Each result is
    awaited if it is awaitable. ``wrapper=True`` (new style) and
    ``hookwrapper=True`` (old style) implementations are plain generator
    functions that run around all the others, outermost first: the code
    before their ``yield`` runs before the first implementation, the code
    after it once the last one's awaited result is in. A new-style wrapper
    gets the hook's result from ``yield`` (an exception is raised there) and
    returns the result to use; an old-style one gets a :class:`pluggy.Result`
    and may ``force_result``. The hook's result is what the kind makes of the
    implementations' results:

    * :meth:`collect`: the list of their non-``None`` results;
    * :meth:`chain`: the value after each implementation changed it in turn;
    * :meth:`first`: the first non-``None`` result.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        # Per hook: the implementations as registered, then split and ordered
        # for calling; split again only when a plugin (un)registered.
        self._order: dict[str, tuple[list[Impl], list[Impl], list[Impl]]] = {}

    def _impls(self, name: str, skip: _Skip | None) -> tuple[list[Impl], list[Impl]]:
        """(wrappers outermost first, implementations in call order); the
        lists are shared, not for changing."""
        registered = getattr(self._pm.hook, name).get_hookimpls()
        known = self._order.get(name)
        if known is None or known[0] != registered:
            ordered = registered[::-1]
            known = (registered, [i for i in ordered if i.hookwrapper or i.wrapper],
                     [i for i in ordered if not (i.hookwrapper or i.wrapper)])
            self._order[name] = known
        if skip is None:
            return known[1], known[2]
        return [i for i in known[1] if not skip(i)], [i for i in known[2] if not skip(i)]

    @staticmethod
    async def _around(name: str, wrappers: list[Impl], kwargs: Mapping[str, Any],
                      inner: Callable[[], Awaitable[Any]]) -> Any:
        if not wrappers:  # nothing to wrap: the implementations alone
            return await inner()
        entered: list[tuple[Impl, Any]] = []
        result: Any = None
        error: BaseException | None = None
        try:
            for impl in wrappers:
                gen = _invoke(impl, kwargs)
                try:
                    next(gen)
                except StopIteration:
                    raise RuntimeError(f"{impl.plugin_name}: wrapper of {name} did not yield"
                                       ) from None
                entered.append((impl, gen))
            result = await inner()
        except BaseException as exc:  # noqa: BLE001 - wrappers see every outcome, as in pluggy
            error = exc
        for impl, gen in reversed(entered):
            try:
                if impl.hookwrapper:
                    outcome = pluggy.Result(result, error)
                    try:
                        gen.send(outcome)
                    except StopIteration:
                        pass
                    else:
                        raise RuntimeError(f"{impl.plugin_name}: wrapper of {name} "
                                           "yielded twice")
                    result, error = (None, outcome.exception) if outcome.exception else (
                        outcome.get_result(), None)
                    continue
                try:
                    if error is not None:
                        gen.throw(error)
                    else:
                        gen.send(result)
                except StopIteration as stop:
                    result, error = stop.value, None
                else:
                    raise RuntimeError(f"{impl.plugin_name}: wrapper of {name} yielded twice")
            except BaseException as exc:  # noqa: BLE001 - passed on to the outer wrappers
                result, error = None, exc
        if error is not None:
            raise error
        return result

    async def collect(self, name: str, *, skip: _Skip | None = None,
                      each: Callable[[Impl, Any], Any] | None = None,
                      on_error: Callable[[Impl, Exception], None] | None = None,
                      **kwargs: Any) -> list[Any]:
        """Call every implementation; the list of non-``None`` results.

        ``each(impl, value)`` maps one implementation's result before it is
        collected (mounting a channel's routes, say). With ``on_error``, an
        implementation that raises is reported to it and the others still run
        (start-up reports every failure at once).
        """
        wrappers, impls = self._impls(name, skip)

        async def inner() -> list[Any]:
            out = []
            for impl in impls:
                try:
                    value = await await_maybe(_invoke(impl, kwargs))
                except Exception as exc:
                    if on_error is None:
                        raise
                    on_error(impl, exc)
                    continue
                if each is not None:
                    value = each(impl, value)
                if value is not None:
                    out.append(value)
            return out

        return list(await self._around(name, wrappers, kwargs, inner) or [])

    def collect_now(self, name: str, **kwargs: Any) -> list[Any]:
        """:meth:`collect` for callers outside the event loop (building the
        app's routes): an implementation may return an awaitable only if it
        finishes without waiting."""
        call = self.collect(name, **kwargs)
        try:
            call.send(None)
        except StopIteration as done:
            return list(done.value)
        call.close()
        raise PluginError(f"{name}: an implementation waited on I/O; this hook must "
                          "answer without waiting")

    async def chain(self, name: str, value: Any, feed: Callable[[Any], Mapping[str, Any]],
                    *, skip: _Skip | None = None) -> Any:
        """Pass ``value`` through every implementation in turn.

        ``feed(value)`` gives the keyword arguments for the next call. A
        result of ``None`` leaves the value unchanged; ``False`` stops the
        chain and the hook's result is ``None`` (dropped); anything else is the
        new value.
        """
        wrappers, impls = self._impls(name, skip)
        if not (wrappers or impls):
            return value  # every turn asks; most hosts implement none

        async def inner() -> Any:
            current = value
            for impl in impls:
                out = await await_maybe(_invoke(impl, feed(current)))
                if out is False:
                    return None
                if out is not None:
                    current = out
            return current

        return await self._around(name, wrappers, feed(value), inner)

    async def first(self, name: str, *, skip: _Skip | None = None, **kwargs: Any) -> Any:
        """Call implementations until one returns something other than ``None``."""
        wrappers, impls = self._impls(name, skip)

        async def inner() -> Any:
            for impl in impls:
                out = await await_maybe(_invoke(impl, kwargs))
                if out is not None:
                    return out
            return None

        return await self._around(name, wrappers, kwargs, inner)
