"""The plugin manager and entry-point discovery.

Three entry-point groups: ``hostline.channels`` (name -> channel class),
``hostline.plugins`` (name -> module or class with hookimpls) and
``hostline.targets`` (name -> target factory). Installed is not enabled:
only what the config names is loaded.
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
    from .host import Host

__all__ = [
    "CHANNELS_GROUP",
    "PLUGINS_GROUP",
    "TARGETS_GROUP",
    "Channel",
    "PluginInfo",
    "entry_points",
    "installed_plugins",
    "make_plugin_manager",
]

CHANNELS_GROUP = "hostline.channels"
PLUGINS_GROUP = "hostline.plugins"
TARGETS_GROUP = "hostline.targets"


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
    for group in (CHANNELS_GROUP, PLUGINS_GROUP, TARGETS_GROUP):
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


def load_entry_point(kind: str, name: str, group: str) -> Any:
    """Import the entry point ``name`` of ``group`` or raise one-line :class:`PluginError`."""
    eps = entry_points(group)
    ep = eps.get(name)
    if ep is None:
        known = ", ".join(sorted(eps)) or "none installed"
        raise PluginError(f"{kind} {name!r}: not installed (no entry point {name!r} in group "
                          f"{group}; installed: {known})")
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(f"{kind} {name!r} ({_describe(group, ep)}): failed to import: "
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
    cls = load_entry_point(f"channel plugin {plugin!r} for [channels.{instance}]"
                           if plugin != instance else "channel plugin", plugin, CHANNELS_GROUP)
    if not (inspect.isclass(cls) and issubclass(cls, Channel)):
        ep = entry_points(CHANNELS_GROUP)[plugin]
        raise PluginError(f"channel plugin {plugin!r} ({_describe(CHANNELS_GROUP, ep)}): "
                          "is not a hostline.Channel subclass")
    config = host.config.channel_config(instance, cls.Config)
    try:
        channel = cls(instance, config, host)
    except ConfigError:
        raise
    except Exception as exc:
        ep = entry_points(CHANNELS_GROUP)[plugin]
        raise PluginError(f"channel plugin {plugin!r} ({_describe(CHANNELS_GROUP, ep)}): "
                          f"failed to start instance {instance!r}: {type(exc).__name__}: {exc}"
                          ) from None
    return channel


def load_plugin(name: str) -> Any:
    """Load an enabled ``hostline.plugins`` entry point; classes are instantiated."""
    obj = load_entry_point("plugin", name, PLUGINS_GROUP)
    if inspect.isclass(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise PluginError(f"plugin {name!r}: failed to start: {type(exc).__name__}: {exc}"
                              ) from None
    return obj
