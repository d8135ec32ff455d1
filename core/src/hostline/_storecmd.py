"""``hostline store migrate`` and ``hostline store copy``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import attrs

from .config import Config, Secret, StoreConfig
from .errors import ConfigError
from .plugins import STORES_GROUP, load_entry_point
from .store import Store
from .store.copy import Progress, copy_store

__all__ = ["add_parser", "cmd_store", "redact_url", "store_from_url"]

#: URL schemes that name a backend other than by its entry-point name.
_SCHEMES = {"postgresql": "postgres"}


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    auth, at, host = rest.rpartition("@")
    if not at or ":" not in auth:
        return url
    return f"{scheme}://{auth.split(':', 1)[0]}:***@{host}"


def store_from_url(url: str, config: Config) -> Store:
    """A store for ``sqlite:PATH`` or ``postgres://...`` (the scheme names the
    backend); the other ``[host.store]`` keys apply when the backend is the
    configured one."""
    scheme = url.split(":", 1)[0].lower()
    backend = _SCHEMES.get(scheme, scheme)
    base = config.host.store if config.host.store.backend == backend else StoreConfig()
    spec = attrs.evolve(base, backend=backend, url=Secret(url))
    cls, origin = load_entry_point(f"store backend for {redact_url(url)}", backend,
                                   STORES_GROUP)
    if not (isinstance(cls, type) and issubclass(cls, Store)):
        raise ConfigError(f"{origin}: is not a hostline.Store subclass")
    store: Store = cls.from_config(spec, state_dir=config.state_dir)
    return store


def cmd_store(args: argparse.Namespace, config: Config, configured: Store) -> int:
    """Run ``store migrate`` or ``store copy``."""
    if args.action == "migrate":
        before, after = asyncio.run(configured.migrate())
        if before == after:
            print(f"{configured!r}: schema is at version {after}; nothing to do")
        else:
            print(f"{configured!r}: migrated schema version {before} -> {after}")
        return 0
    if not args.source:
        raise ConfigError("store copy needs --from (sqlite:PATH or postgres://...)")
    source = store_from_url(args.source, config)
    dest = store_from_url(args.dest, config) if args.dest else configured
    if repr(source) == repr(dest):
        raise ConfigError("store copy: --from and --to are the same store")

    async def go() -> dict[str, int]:
        await source.open()
        try:
            await dest.open()
            try:
                bar = Progress(sys.stderr)
                return await copy_store(source, dest, progress=bar.update)
            finally:
                await dest.close()
        finally:
            await source.close()

    counts = asyncio.run(go())
    total = sum(counts.values())
    print(f"copied {total:,} rows from {source!r} to {dest!r}: "
          + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    return 0


def add_parser(add: Any) -> None:
    """The ``store`` subcommand (``add`` is the CLI's subparser helper)."""
    p = add("store", None, "store schema migrations and copying between backends")
    p.add_argument("action", choices=["migrate", "copy"])
    p.add_argument("--from", dest="source", default=None,
                   help="copy from this store: sqlite:PATH or postgres://...")
    p.add_argument("--to", dest="dest", default=None,
                   help="copy into this store (default: the configured [host.store])")
