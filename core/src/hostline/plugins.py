"""The plugin manager and entry-point discovery.

Four entry-point groups: ``hostline.channels`` (name -> channel class),
``hostline.plugins`` (name -> module or class with hookimpls),
``hostline.targets`` (name -> target factory) and ``hostline.stores``
(name -> :class:`hostline.Store` subclass). Installed is not enabled: only
what the config names is loaded.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import pluggy

from . import hookspecs
from .errors import ConfigError, PluginError

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
    Hooks receive ``host``; hooks about one channel (``hostline_push``,
    ``hostline_allowlists``) must check they are the channel asked for.
    """

    Config: ClassVar[type[Any] | None] = None
    #: Whether the host may stream deltas to this channel.
    streaming: ClassVar[bool] = False
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


def _import_path(spec: str) -> Any:
    import importlib

    module_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def load_entry_point(kind: str, name: str, group: str) -> tuple[Any, str]:
    """Import ``name``: an entry point of ``group``, or an import path
    (``package.module`` or ``package.module:attr``) for in-house plugins.

    Returns the object and a description of where it came from; failures are
    one-line :class:`PluginError`s naming the plugin, the origin and the cause.
    """
    if ":" in name or "." in name:
        origin = f"import path {name}"
        try:
            return _import_path(name), origin
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


def load_plugin(name: str, options: dict[str, Any] | None = None) -> Any:
    """Load an enabled plugin (entry point or import path); a class is
    instantiated with its ``[plugins.<name>]`` table as keyword arguments."""
    obj, origin = load_entry_point("plugin", name, PLUGINS_GROUP)
    if inspect.isclass(obj):
        try:
            obj = obj(**(options or {}))
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
