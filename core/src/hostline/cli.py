"""The ``hostline`` command: serve, plugins, routes, check, push, outbox, sessions,
links, stats."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._bootstrap import build_host, resolve_config, settle_memory, setup_logging, with_store
from .config import Config
from .errors import ConfigError, HostlineError, PluginError

__all__ = ["main"]

log = logging.getLogger("hostline.cli")


def _host(args: argparse.Namespace) -> Any:
    return build_host(resolve_config(args.config))


def _fail(exc: Exception) -> int:
    print(f"hostline: error: {exc}", file=sys.stderr)
    return 2


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve with Hypercorn (``--workers N`` spawns N processes on one socket)."""
    config = resolve_config(args.config, bind=args.bind, workers=args.workers,
                            runners=args.runners)
    if config.host.workers < 1 or config.host.runners < 0 or config.host.runner_recycle_mib < 0:
        raise ConfigError(f"{config.source or 'defaults'}: [host]: workers must be at least 1, "
                          "runners and runner_recycle_mib at least 0")
    host = build_host(config, role="web" if config.host.runners else "all")
    runners = None
    if config.host.runners:
        from ._runners import RunnerProcesses

        os.environ["HOSTLINE_ROLE"] = "web"  # for Hypercorn's worker processes
        runners = RunnerProcesses(args.config, config.host.runners, args.log_level,
                                  config.host.bind, grace=config.host.shutdown_grace)
        runners.start()
        print(f"hostline: {config.host.runners} runner process(es) do the queued work",
              file=sys.stderr)
    try:
        return _serve(args, host)
    finally:
        if runners is not None:
            runners.stop()


def _serve(args: argparse.Namespace, host: Any) -> int:
    from hypercorn.config import Config as HyperConfig

    bind, workers = host.config.host.bind, host.config.host.workers
    hc = HyperConfig()
    hc.bind = [bind]
    hc.graceful_timeout = host.config.host.shutdown_grace
    hc.accesslog = None
    hc.errorlog = "-"
    hc.keep_alive_timeout = 75
    if workers > 1:
        from hypercorn.run import run

        os.environ["HOSTLINE_WORKER_CONFIG"] = str(Path(args.config).resolve()) \
            if args.config else ""
        os.environ["HOSTLINE_WORKER_BIND"] = bind
        hc.application_path = "hostline._worker:app"
        hc.workers = workers
        print(f"hostline: serving on http://{bind} with {workers} workers", file=sys.stderr)
        return run(hc)
    from hypercorn.asyncio import serve

    print(f"hostline: serving {host.target.name!r} on http://{bind} "
          f"(channels: {', '.join(host.channels) or 'none'})", file=sys.stderr)

    async def run_one() -> None:
        async with host.lifespan():
            settle_memory()
            await serve(host.build_app(lifespan=False), hc, mode="asgi")

    try:
        asyncio.run(run_one())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """List installed entry points and which are enabled."""
    from .plugins import (
        CHANNELS_GROUP,
        PLUGINS_GROUP,
        STORES_GROUP,
        TARGETS_GROUP,
        installed_plugins,
    )

    config = resolve_config(args.config)
    enabled = {
        CHANNELS_GROUP: {s.common.plugin: i for i, s in config.channels.items()},
        PLUGINS_GROUP: {n: n for n in config.host.plugins},
        TARGETS_GROUP: {config.host.target: "target"},
        STORES_GROUP: {config.host.store.backend: "store"},
    }
    rows = []
    for p in installed_plugins():
        on = enabled[p.group].get(p.name)
        rows.append({"group": p.group, "name": p.name, "distribution": p.distribution,
                     "version": p.version, "entry_point": p.value,
                     "enabled": on is not None, "instance": on})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        state = f"enabled ({r['instance']})" if r["enabled"] else "installed"
        print(f"{r['group']:18} {r['name']:16} {r['distribution'] or '-'} {r['version'] or '-'}"
              f"  {r['entry_point']}  [{state}]")
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    """Print method, path and instance of every route."""
    from starlette.routing import Mount, Route

    host = _host(args)

    def walk(prefix: str, instance: str, routes: Sequence[Any]) -> None:
        for r in routes:
            if isinstance(r, Mount):
                walk(prefix + r.path, instance, r.routes)
            elif isinstance(r, Route):
                methods = ",".join(sorted((r.methods or {"GET"}) - {"HEAD"}))
                print(f"{methods:12} {prefix + r.path:40} {instance or '-'}")

    walk("", "host", [r for r in host.app.routes if not isinstance(r, Mount)])
    for instance, route in host.routes():
        walk("", instance, [route])
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config and plugins, and connect to the store, without serving."""
    host = _host(args)
    host.check_runtime()
    try:
        found = asyncio.run(host.store.check())
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported as such
        raise HostlineError(f"{host.config.source}: [host.store]: cannot use the store: "
                            f"{type(exc).__name__}: {exc}") from None
    print(f"ok: {host.config.source}: target {host.target.name!r}, channels: "
          f"{', '.join(host.channels) or 'none'}; store: {found}")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    """``hostline store migrate | copy``."""
    from ._storecmd import cmd_store as run
    from .plugins import load_store

    config = resolve_config(args.config)
    return run(args, config, load_store(config))


def cmd_push(args: argparse.Namespace) -> int:
    """Queue a push; a running server on the same state dir delivers it."""
    from .types import Destination, Message

    async def go(store: Any, config: Config) -> int:
        if args.channel not in config.channels:
            raise ConfigError(f"{config.source}: no channel instance {args.channel!r}")
        from .delivery import DELIVERY, delivery_task
        from .ids import random_hex

        payload, partition = delivery_task(Destination(args.channel, args.to),
                                       Message.assistant(args.text))
        task_id = await store.enqueue(DELIVERY, payload, partition=partition, key=random_hex())
        print(f"queued push {task_id} to {args.channel}:{args.to}")
        return 0

    return int(asyncio.run(with_store(args.config, go)))


def cmd_outbox(args: argparse.Namespace) -> int:
    """List outbox tasks, retry a dead one, replay or purge many."""
    if args.action in ("replay", "purge"):
        from ._operator_cli import outbox_bulk

        return outbox_bulk(args)

    async def go(store: Any, config: Config) -> int:
        if args.action == "retry":
            if not args.ids:
                raise ConfigError("outbox retry needs a task id")
            if await store.retry_task(args.ids[0]):
                print(f"task {args.ids[0]} queued again")
                return 0
            print(f"hostline: error: no dead task {args.ids[0]}", file=sys.stderr)
            return 1
        states = ["dead"] if args.failed else None
        tasks = await store.list_tasks(states, limit=args.limit)
        for t in tasks:
            dest = t.payload.get("destination", {})
            where = f"{dest.get('channel')}:{dest.get('address')}" if dest else t.partition
            print(f"{t.id:8} {t.kind:10} {t.state:8} attempts={t.attempts} {where} "
                  f"{t.last_error or ''}".rstrip())
        if not tasks:
            print("no dead tasks" if args.failed else "outbox is empty")
        return 0

    return int(asyncio.run(with_store(args.config, go)))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="hostline",
                                     description="Serve one agent behind many chat channels.")
    parser.add_argument("--log-level", default=os.environ.get("HOSTLINE_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--config", "-c", default=None,
                       help="config file (default: ./hostline.toml if present)")
        p.set_defaults(fn=fn)
        return p

    p = add("serve", cmd_serve, "serve the target on every configured channel")
    p.add_argument("--bind", "-b", default=None, help="HOST:PORT (default from [host] bind)")
    p.add_argument("--workers", "-w", type=int, default=None, help="HTTP worker processes")
    p.add_argument("--runners", "-r", type=int, default=None,
                   help="processes that run queued work (turns, replies, pushes); "
                        "the HTTP workers then only verify, persist and ack")
    p = add("plugins", cmd_plugins, "list installed and enabled plugins")
    p.add_argument("--json", action="store_true")
    add("routes", cmd_routes, "list HTTP routes")
    add("check", cmd_check, "validate the config without serving")
    p = add("push", cmd_push, "queue a proactive message")
    p.add_argument("--channel", required=True)
    p.add_argument("--to", required=True, help="native address (chat id, conversation id)")
    p.add_argument("text")
    p = add("outbox", cmd_outbox, "list outbox tasks; 'outbox retry ID' retries a dead one; "
                                  "'outbox replay|purge [ID...]' by id, --state or --older-than")
    p.add_argument("action", nargs="?", choices=["list", "retry", "replay", "purge"],
                   default="list")
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--failed", action="store_true", help="only dead-lettered tasks")
    p.add_argument("--limit", type=int, default=100)
    from ._operator_cli import add_commands, parse_duration

    p.add_argument("--state", action="append", choices=["dead", "pending"],
                   help="replay/purge tasks in this state (default: dead; repeatable)")
    p.add_argument("--older-than", type=parse_duration, default=None, metavar="DURATION",
                   help="replay/purge only tasks created at least this long ago (30m, 7d)")
    p.add_argument("--yes", "-y", action="store_true", help="purge without asking")
    add_commands(add)
    from ._storecmd import add_parser as add_store_parser

    add_store_parser(lambda name, fn, help: add(name, cmd_store, help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hostline`` command. Exit code 2 on config or plugin errors."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return int(args.fn(args))
    except (ConfigError, PluginError, HostlineError) as exc:
        return _fail(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
