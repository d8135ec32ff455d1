"""``hostline sessions``, ``hostline links``, ``hostline stats`` and the bulk
``hostline outbox replay|purge``: the CLI side of :mod:`hostline.operator`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import re
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from ._bootstrap import with_store
from .config import Config
from .errors import ConfigError
from .operator import Operator, audit_key

__all__ = ["add_commands", "outbox_bulk", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``2h``, ``7d``, ``1w`` in seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 30m, 2h or 7d, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


class Progress:
    """A progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()

    def __call__(self, n: int) -> None:
        self.done += n
        if self.live:
            width = 30
            filled = int(width * min(self.done, self.total) / self.total)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                              f"{self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def _run(args: argparse.Namespace, fn: Callable[[Operator, Config], Any]) -> int:
    async def go(store: Any, config: Config) -> int:
        return int(await fn(Operator(store, audit_key(config), _actor()), config))

    return int(asyncio.run(with_store(args.config, go)))


def _ts(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "-"


def _confirm(args: argparse.Namespace, question: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError(f"{question}: pass --yes to confirm without a terminal")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_sessions(args: argparse.Namespace) -> int:
    """Show or erase a person's sessions across every linked channel."""
    async def go(op: Operator, config: Config) -> int:
        try:
            person = await op.person(args.identity)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if args.action == "erase":
            if not _confirm(args, f"erase everything stored about {args.identity} and "
                                  f"{len(person.keys) - 1} linked identities"):
                print("nothing erased")
                return 1
            bar = Progress(1, "erasing")
            counts = await op.erase(person)
            bar(1)
            bar.close()
            total = sum(counts.values())
            detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing stored"
            print(f"erased {total} row(s) about {len(person.keys)} identities: {detail}")
            return 0
        views = await op.sessions(person, history=args.history)
        await op.audit("sessions-show", op.subject(person), sessions=len(views))
        if args.json:
            print(json.dumps({
                "identities": [i.to_json() for i in person.identities],
                "user_id": person.user_id,
                "sessions": [{"key": v.info.key, "updated_at": v.info.updated_at,
                              "messages": v.info.messages, "state": v.info.state,
                              "history": [m.to_json() for m in v.history]} for v in views],
            }, indent=2))
            return 0
        print(f"person {person.user_id or '(not linked)'}: "
              + ", ".join(i.key for i in person.identities))
        if not views:
            print("no stored sessions")
        for v in views:
            print(f"\nsession {v.info.key}  ({v.info.messages} messages, "
                  f"updated {_ts(v.info.updated_at)})")
            for m in v.history:
                print(f"  {m.role:9} {m.text[:200]}")
        return 0

    return _run(args, go)


def cmd_links(args: argparse.Namespace) -> int:
    """List identity links, or revoke one."""
    async def go(op: Operator, config: Config) -> int:
        if args.action == "revoke":
            if not args.identity:
                raise ConfigError("links revoke needs --identity CHANNEL:ID")
            try:
                removed = await op.revoke_link(args.identity)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            print(f"unlinked {args.identity}" if removed else f"{args.identity} was not linked")
            return 0 if removed else 1
        if args.identity:
            person = await op.person(args.identity)
            rows = [(i.key, person.user_id or "-", i.to_json(), 0.0)
                    for i in person.identities] if person.user_id else []
        else:
            rows = await op.store.links_list(limit=args.limit)
        if args.json:
            print(json.dumps([{"identity": r[0], "user_id": r[1], "linked_at": r[3],
                               "display_name": r[2].get("display_name")} for r in rows],
                             indent=2))
            return 0
        for key, user, data, at in rows:
            print(f"{user:34} {key:40} {data.get('display_name') or ''}  {_ts(at)}".rstrip())
        if not rows:
            print("no links")
        return 0

    return _run(args, go)


def outbox_bulk(args: argparse.Namespace) -> int:
    """``hostline outbox replay|purge [ID...] [--state S] [--older-than D]``."""
    async def go(op: Operator, config: Config) -> int:
        states = args.state or ["dead"]
        tasks = await op.matching_tasks(ids=args.ids or None, states=states,
                                        older_than=args.older_than)
        if not tasks:
            print(f"no {'/'.join(states)} task matches")
            return 0
        ids = [t.id for t in tasks]
        if args.action == "purge" and not _confirm(args, f"delete {len(ids)} task(s)"):
            print("nothing purged")
            return 1
        bar = Progress(len(ids), "replaying" if args.action == "replay" else "purging")
        fn = op.replay if args.action == "replay" else op.purge
        n = await fn(ids, progress=bar)
        bar.close()
        print(f"{'queued again' if args.action == 'replay' else 'purged'} {n} task(s)")
        return 0

    return _run(args, go)


def cmd_stats(args: argparse.Namespace) -> int:
    """Queue, dead letters, deliveries in the last hour, sessions and links."""
    from .samples import last_hour

    async def go(op: Operator, config: Config) -> int:
        s = await op.store.stats()
        points = await last_hour(op.store)
        pending = s.tasks.get("pending", 0) + s.tasks.get("leased", 0)
        hour = {k: sum(p[k] for p in points) for k in ("done", "retry", "dead")}
        body = {
            "queue": pending, "high_water": config.host.outbox.high_water,
            "overloaded": pending >= config.host.outbox.high_water,
            "tasks": s.tasks, "dead_letters": s.tasks.get("dead", 0),
            "oldest_pending_seconds": None if s.oldest_pending_at is None
            else round(time.time() - s.oldest_pending_at, 1),
            "by_kind": s.kinds, "last_hour": hour, "sessions": s.sessions,
            "links": s.links, "records": s.records, "quarantined": s.quarantined,
            "channels": list(config.channels),
        }
        if args.json:
            print(json.dumps(body, indent=2))
            return 0
        for key, value in body.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
            print(f"{key:24} {value}")
        return 0

    return _run(args, go)


def add_commands(add: Callable[[str, Any, str], argparse.ArgumentParser]) -> None:
    """Register ``sessions``, ``links`` and ``stats`` with the ``hostline`` parser."""
    p = add("sessions", cmd_sessions, "show or erase a person's sessions on every linked channel")
    p.add_argument("action", choices=["show", "erase"])
    p.add_argument("--identity", "-i", required=True, metavar="CHANNEL:ID")
    p.add_argument("--history", type=int, default=20, help="messages shown per session")
    p.add_argument("--json", action="store_true")
    p.add_argument("--yes", "-y", action="store_true", help="erase without asking")
    p = add("links", cmd_links, "list identity links, or revoke one")
    p.add_argument("action", nargs="?", choices=["list", "revoke"], default="list")
    p.add_argument("--identity", "-i", metavar="CHANNEL:ID")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    p = add("stats", cmd_stats, "queue depth, dead letters, deliveries in the last hour")
    p.add_argument("--json", action="store_true")
