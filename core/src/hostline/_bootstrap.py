"""How every hostline process starts: the CLI, Hypercorn workers, runner processes.

One place resolves the config (with the no-file default), sets up logging
and builds the :class:`~hostline.host.Host` for a process *role*:

* ``"all"``: serve HTTP and run the queued work (one process, the default);
* ``"web"``: serve HTTP and queue; runner processes do the work;
* ``"runner"``: run queued work, no HTTP.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from .config import ChannelCommon, ChannelSpec, Config, load_config

if TYPE_CHECKING:
    from .host import Host

__all__ = ["build_host", "resolve_config", "settle_memory", "setup_logging", "with_store"]

#: The collector's first threshold in a serving process (CPython's default
#: is 700): see :func:`settle_memory`.
SERVING_GC_THRESHOLD = 10_000


def resolve_config(path: str | None, **overrides: Any) -> Config:
    """The config file, or the no-file default: every installed channel that
    needs no secret (the Responses channel) serving the echo target.

    ``overrides`` are ``[host]`` keys given on the command line (``bind``,
    ``workers``...); ``None`` values are ignored.
    """
    config = load_config(path)
    if config.path is None:
        from .plugins import CHANNELS_GROUP, Channel, entry_points

        channels = {}
        for name, ep in sorted(entry_points(CHANNELS_GROUP).items()):
            try:
                cls = ep.load()
            except Exception:  # noqa: BLE001, S112 - a broken optional plugin is skipped here
                continue
            if isinstance(cls, type) and issubclass(cls, Channel) and not cls.needs_secrets:
                channels[name] = ChannelSpec(name, ChannelCommon(plugin=name), {})
        config = Config(None, config.host, channels, {})
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        # Into the config, so plugins see the real bind and worker count.
        config = attrs.evolve(config, host=attrs.evolve(config.host, **given))
    return config


def build_host(config: Config, role: str = "all") -> Host:
    """The :class:`~hostline.host.Host` of one process of ``role``."""
    from .host import Host

    return Host(config, role=role)


async def with_store(path: str | None, fn: Callable[[Any, Config], Awaitable[Any]]) -> Any:
    """``await fn(store, config)`` with the configured store open, for CLI
    commands that need the state but no host (``push``, ``outbox``...)."""
    config = resolve_config(path)
    from .plugins import load_store

    store = load_store(config)
    await store.open()
    try:
        return await fn(store, config)
    finally:
        await store.close()


def setup_logging(level: str) -> None:
    """Log format and level of every hostline process (serving and runners)."""
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Client libraries log a line per outbound call at INFO: one per reply.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))


def settle_memory() -> None:
    """Tune the cyclic garbage collector of a serving process once start-up
    is done.

    Everything loaded at start-up (modules, plugins, config, the host) lives
    as long as the process: :func:`gc.freeze` moves it out of the collector's
    sight, so a full collection no longer walks it. A request allocates a few
    hundred short-lived containers that reference counting frees; a first
    threshold of :data:`SERVING_GC_THRESHOLD` instead of 700 runs the young
    collection a fifteenth as often, over about as few survivors. Together
    they cut the CPU of a Responses request by about a quarter (measured in
    process: 680 to 480 µs). Only ``hostline serve`` and its runner processes
    call this; an application embedding :class:`~hostline.host.Host` keeps
    its own collector settings.
    """
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(SERVING_GC_THRESHOLD, second, third)
