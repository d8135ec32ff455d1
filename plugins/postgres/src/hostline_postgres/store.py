"""The PostgreSQL store: psycopg 3 (async) on a psycopg-pool connection pool.

Rows are JSONB; every statement is one round trip where it can be (a CTE
rather than a transaction of several statements). This module holds the
connection lifecycle, migrations, sessions, records and links; the task
queue is :mod:`hostline_postgres._queue` and the operator actions
:mod:`hostline_postgres._ops`. A claim takes the oldest ready task of each
partition with nothing leased, ``FOR UPDATE SKIP LOCKED`` so replicas never
wait on each other's claims; the row lock's recheck keeps two replicas from
leasing two tasks of one partition. Enqueues ``NOTIFY`` the replicas in the
same statement (delivered when it commits).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from hostline import (
    ConfigError,
    History,
    Message,
    Session,
    Store,
    StoreConfig,
    StoreSchemaError,
    TurnRecord,
    decode_stored_json,
    record_row,
)

from ._jsonb import to_jsonb
from ._ops import PostgresOperatorMixin
from ._queue import PostgresQueue
from ._schema import MIGRATIONS, SCHEMA_VERSION
from ._wake import NotifyDoorbell, PostgresLock, redact

__all__ = ["PostgresStore"]

log = logging.getLogger("hostline.store.postgres")

_PURGE_CHUNK = 2000
class PostgresStore(PostgresQueue, PostgresOperatorMixin, Store):
    """``[host.store] backend = "postgres"``: every replica on one database."""

    def __init__(self, url: str, *, schema: str = "public", pool_min: int = 1,
                 pool_max: int = 10, connect_timeout: float = 10.0) -> None:
        self._url = url
        self.schema = schema
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool | None = None
        #: Queue bookkeeping (claims, finishes, leases) commits without waiting
        #: for the WAL flush: losing one to a database crash only runs a task
        #: again (at least once, deduplicated by key). Enqueues and turns wait.
        self._fast: AsyncConnectionPool | None = None
        self._finishing: list[int] = []
        self._finish_done: asyncio.Future[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self._url)!r}, schema={self.schema!r})"

    @classmethod
    def from_config(cls, config: StoreConfig, *, state_dir: Path) -> PostgresStore:
        """``url`` (required: ``postgres://`` or ``postgresql://``), pool sizes, schema;
        ``[host.store.options] connect_timeout`` (seconds)."""
        if config.url is None or not config.url.reveal():
            raise ConfigError("[host.store] key 'url': the postgres backend needs a URL "
                              "(postgres://user:password@host/database)")
        url = config.url.reveal()
        if not re.match(r"postgres(ql)?://", url):
            raise ConfigError("[host.store] key 'url': expected postgres://... or "
                              "postgresql://...")
        options = dict(config.options)
        timeout = options.pop("connect_timeout", 10.0)
        if options:
            raise ConfigError(f"[host.store.options] key {next(iter(options))!r}: unknown "
                              "key; known keys: connect_timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError("[host.store.options] key 'connect_timeout': expected a "
                              "positive number of seconds")
        return cls(url, schema=config.schema, pool_min=config.pool_min,
                   pool_max=config.pool_max, connect_timeout=float(timeout))

    # connections ------------------------------------------------------------
    def connect_kwargs(self, durable: bool = True) -> dict[str, Any]:
        """Keyword arguments of every connection (autocommit, search_path)."""
        options = f"-c search_path={self.schema}"
        if not durable:
            options += " -c synchronous_commit=off"
        return {"autocommit": True, "options": options,
                "connect_timeout": max(1, int(self.connect_timeout)),
                "application_name": "hostline"}

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection of its own (not from the pool), errors without the password."""
        try:
            return await psycopg.AsyncConnection.connect(self._url, **self.connect_kwargs())
        except psycopg.Error as exc:
            raise ConnectionError(f"cannot connect to {redact(self._url)}: "
                                  f"{redact(str(exc)).strip()}") from None

    @property
    def pool(self) -> AsyncConnectionPool:
        """The connection pool (while the store is open)."""
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def _exec(self, sql: str, args: Sequence[Any] | dict[str, Any] = (),
                    *, durable: bool = True) -> int:
        pool = self.pool if durable or self._fast is None else self._fast
        async with pool.connection() as conn:
            cur = await conn.execute(sql, args)
            return cur.rowcount

    async def _rows(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()
                    ) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchall()

    # lifecycle ----------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        conn = await self.connect()
        try:
            await self._migrate(conn)
        finally:
            await conn.close()
        pool = AsyncConnectionPool(self._url, min_size=self.pool_min, max_size=self.pool_max,
                                   kwargs=self.connect_kwargs(), open=False,
                                   name=f"hostline-{self.schema}")
        fast = AsyncConnectionPool(self._url, min_size=min(1, self.pool_min),
                                   max_size=max(1, self.pool_max // 2),
                                   kwargs=self.connect_kwargs(durable=False), open=False,
                                   name=f"hostline-{self.schema}-queue")
        await pool.open(wait=self.pool_min > 0, timeout=self.connect_timeout)
        await fast.open(wait=False)
        self._pool, self._fast = pool, fast

    async def close(self) -> None:
        if self._pool is None:
            return
        if self._finishing:
            await self._flush_finish()
        for task in list(self._background):
            await asyncio.gather(task, return_exceptions=True)
        pool, self._pool = self._pool, None
        await pool.close()
        if self._fast is not None:
            fast, self._fast = self._fast, None
            await fast.close()

    async def _version(self, conn: psycopg.AsyncConnection[Any]) -> int | None:
        cur = await conn.execute("SELECT to_regclass(%s)", (f"{self.schema}.hostline_schema",))
        row = await cur.fetchone()
        if row is None or row[0] is None:
            return None
        cur = await conn.execute("SELECT max(version) FROM hostline_schema")
        found = await cur.fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> tuple[int, int]:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                               (f"hostline:migrate:{self.schema}",))
            before = await self._version(conn) or 0
            if before > SCHEMA_VERSION:
                raise StoreSchemaError(
                    f"{self!r}: schema version {before} is newer than this hostline-postgres "
                    f"({SCHEMA_VERSION}); upgrade hostline-postgres")
            if before < SCHEMA_VERSION:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute("CREATE TABLE IF NOT EXISTS hostline_schema ("
                                   "version integer PRIMARY KEY, "
                                   "applied_at double precision NOT NULL)")
                for version in range(before + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[version]:
                        await conn.execute(statement)
                    await conn.execute("INSERT INTO hostline_schema VALUES (%s, %s)",
                                       (version, time.time()))
                    log.info("%r: migrated to schema version %d", self, version)
        return before, SCHEMA_VERSION

    async def migrate(self) -> tuple[int, int]:
        conn = await self.connect()
        try:
            return await self._migrate(conn)
        finally:
            await conn.close()

    async def check(self) -> str:
        conn = await self.connect()
        try:
            cur = await conn.execute("SHOW server_version")
            row = await cur.fetchone()
            version = await self._version(conn)
        finally:
            await conn.close()
        if version is not None and version > SCHEMA_VERSION:
            raise StoreSchemaError(f"{self!r}: schema version {version} is newer than this "
                                   f"hostline-postgres ({SCHEMA_VERSION})")
        found = "no tables yet (created at start-up)" if version is None else \
            f"schema version {version} of {SCHEMA_VERSION}"
        return f"postgres {redact(self._url)} (PostgreSQL {row[0] if row else '?'}), " \
               f"schema {self.schema!r}: {found}"

    def doorbell(self) -> NotifyDoorbell:
        """``LISTEN/NOTIFY``: every enqueue notifies, so ringing is free."""
        return NotifyDoorbell(self)

    @property
    def channel(self) -> str:
        """The NOTIFY channel of this schema's queue."""
        return f"hostline_{self.schema}"[:63]

    def lock(self, name: str) -> PostgresLock:
        """A session-level advisory lock on a connection of its own: a replica
        that dies (its connection drops) loses it at once."""
        return PostgresLock(self, f"hostline:{self.schema}:{name}")

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("a background store write failed: %s", t.exception())

        task.add_done_callback(done)

    async def quarantine(self, tbl: str, key: str, raw: Any, error: str,
                         delete: tuple[str, Sequence[Any]] | None = None) -> None:
        """Move a corrupt row to the quarantine table (and delete it where it was)."""
        log.warning("quarantined a corrupt %s row %r: %s", tbl, key, error)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO quarantine (tbl, row_key, raw, error, at) "
                               "VALUES (%s, %s, %s, %s, %s)",
                               (tbl, key, raw if isinstance(raw, str) else repr(raw),
                                error[:500], time.time()))
            if delete is not None:
                await conn.execute(delete[0], delete[1])

    def _drop(self, tbl: str, key: str, raw: Any, error: str, sql: str,
              args: Sequence[Any]) -> None:
        self._later(self.quarantine(tbl, key, raw, error, (sql, args)))

    # sessions -----------------------------------------------------------------
    async def load_session(self, scope: str, history_limit: int
                           ) -> tuple[Session, Sequence[Message]]:
        rows = await self._rows(
            "WITH a AS (SELECT coalesce((SELECT session FROM aliases WHERE scope=%(s)s), %(s)s)"
            " AS key) "
            "SELECT 0, a.key, (SELECT state::text FROM sessions WHERE key=a.key) FROM a "
            "UNION ALL (SELECT h.id, NULL, h.message::text FROM history h, a "
            "WHERE h.session=a.key AND %(n)s > 0 ORDER BY h.id DESC LIMIT %(n)s)",
            {"s": scope, "n": max(0, history_limit)})
        head = next(r for r in rows if r[1] is not None)
        key = head[1]
        state: dict[str, Any] = {}
        if head[2] is not None:
            try:
                loaded = decode_stored_json(head[2])
                if not isinstance(loaded, dict):
                    raise ValueError("state is not an object")
                state = loaded
            except ValueError as exc:
                self._drop("sessions", key, head[2], str(exc),
                           "DELETE FROM sessions WHERE key=%s", (key,))
        history = sorted((int(r[0]), r[2]) for r in rows if r[1] is None)
        if not history:
            return Session(key, state), History()
        loop = asyncio.get_running_loop()

        def on_error(bad: list[tuple[Any, str, str]]) -> None:
            for hid, raw, err in bad:
                loop.call_soon_threadsafe(self._drop, "history", str(hid), raw, err,
                                          "DELETE FROM history WHERE id=%s", (hid,))

        return Session(key, state), History(history, on_error=on_error)

    async def save_turn(self, session: Session, messages: list[Message], history_limit: int,
                        *, records: Sequence[TurnRecord] = ()) -> None:
        state = to_jsonb(session.state)
        rows = [to_jsonb(m.to_json()) for m in messages]
        key, now = session.key, time.time()
        # One transaction, sent as a pipeline: one wait for the server, not five.
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            if records:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO kv (ns, key, value, expires_at) VALUES "
                        "(%s, %s, %s::jsonb, %s) ON CONFLICT (ns, key) DO UPDATE SET "
                        "value=excluded.value, expires_at=excluded.expires_at",
                        [(ns, k, to_jsonb(v), exp)
                         for ns, k, v, exp in (record_row(r, now) for r in records)])
            await conn.execute(
                "INSERT INTO sessions (key, state, updated_at) VALUES (%s, %s::jsonb, %s) "
                "ON CONFLICT (key) DO UPDATE SET state=excluded.state, "
                "updated_at=excluded.updated_at", (key, state, now))
            if rows:
                await conn.execute(
                    "INSERT INTO history (session, message, created_at) "
                    "SELECT %s, m::jsonb, %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(m, i) "
                    "ORDER BY i", (key, now, rows))
            if history_limit > 0 and rows:
                # Keep a margin over the limit so pruning runs rarely.
                await conn.execute(
                    "DELETE FROM history WHERE session=%(k)s AND id <= (SELECT id FROM history "
                    "WHERE session=%(k)s ORDER BY id DESC LIMIT 1 OFFSET %(n)s)",
                    {"k": key, "n": history_limit * 2})

    async def reset_session(self, scope: str) -> str:
        new = f"{scope}#{secrets.token_hex(8)}"
        await self._exec("INSERT INTO aliases (scope, session, updated_at) VALUES (%s, %s, %s) "
                         "ON CONFLICT (scope) DO UPDATE SET session=excluded.session, "
                         "updated_at=excluded.updated_at", (scope, new, time.time()))
        return new

    # key-value ----------------------------------------------------------------
    async def kv_get(self, ns: str, key: str) -> Any | None:
        rows = await self._rows("SELECT value::text FROM kv WHERE ns=%s AND key=%s AND "
                                "(expires_at IS NULL OR expires_at > %s)", (ns, key, time.time()))
        if not rows:
            return None
        try:
            return decode_stored_json(rows[0][0])
        except ValueError as exc:
            self._drop("kv", f"{ns}/{key}", rows[0][0], str(exc),
                       "DELETE FROM kv WHERE ns=%s AND key=%s", (ns, key))
            return None

    async def kv_put(self, ns: str, key: str, value: Any, ttl: float | None = None) -> None:
        exp = None if ttl is None else time.time() + ttl
        await self._exec("INSERT INTO kv (ns, key, value, expires_at) VALUES "
                         "(%s, %s, %s::jsonb, %s) ON CONFLICT (ns, key) DO UPDATE SET "
                         "value=excluded.value, expires_at=excluded.expires_at",
                         (ns, key, to_jsonb(value), exp))

    async def kv_add(self, ns: str, key: str, value: Any, ttl: float | None = None) -> bool:
        now = time.time()
        exp = None if ttl is None else now + ttl
        return await self._exec(
            "INSERT INTO kv (ns, key, value, expires_at) VALUES (%s, %s, %s::jsonb, %s) "
            "ON CONFLICT (ns, key) DO UPDATE SET value=excluded.value, "
            "expires_at=excluded.expires_at "
            "WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= %s",
            (ns, key, to_jsonb(value), exp, now)) > 0

    async def kv_delete(self, ns: str, key: str) -> bool:
        return await self._exec("DELETE FROM kv WHERE ns=%s AND key=%s", (ns, key)) > 0

    async def kv_list(self, ns: str, prefix: str = "", limit: int = 100,
                      after: str | None = None, descending: bool = False
                      ) -> list[tuple[str, Any]]:
        sql = ("SELECT key, value::text FROM kv WHERE ns=%s AND key >= %s AND "
               "starts_with(key, %s) AND (expires_at IS NULL OR expires_at > %s)")
        args: list[Any] = [ns, prefix, prefix, time.time()]
        if after is not None:
            sql += " AND key < %s" if descending else " AND key > %s"
            args.append(after)
        sql += f" ORDER BY key {'DESC' if descending else 'ASC'} LIMIT %s"
        args.append(limit)
        out: list[tuple[str, Any]] = []
        for key, raw in await self._rows(sql, args):
            try:
                out.append((key, decode_stored_json(raw)))
            except ValueError:
                log.warning("skipping a corrupt kv row %s/%s", ns, key)
        return out

    async def purge_expired(self) -> int:
        """Delete expired records a chunk at a time, skipping rows another
        transaction holds (an enqueue renewing a remembered key): nothing waits."""
        now, total = time.time(), 0
        while True:
            n = await self._exec(
                "DELETE FROM kv WHERE ctid = ANY(ARRAY(SELECT ctid FROM kv WHERE expires_at "
                "IS NOT NULL AND expires_at <= %s LIMIT %s FOR UPDATE SKIP LOCKED))",
                (now, _PURGE_CHUNK))
            total += n
            if n < _PURGE_CHUNK:
                return total
            await asyncio.sleep(0)

    # links ----------------------------------------------------------------------
    async def link(self, identity_key: str, user_id: str, identity: dict[str, Any]) -> None:
        await self._exec("INSERT INTO links (identity, user_id, data, linked_at) VALUES "
                         "(%s, %s, %s::jsonb, %s) ON CONFLICT (identity) DO UPDATE SET "
                         "user_id=excluded.user_id, data=excluded.data, "
                         "linked_at=excluded.linked_at",
                         (identity_key, user_id, to_jsonb(identity), time.time()))

    async def unlink(self, identity_key: str) -> bool:
        return await self._exec("DELETE FROM links WHERE identity=%s", (identity_key,)) > 0

    async def user_of(self, identity_key: str) -> str | None:
        rows = await self._rows("SELECT user_id FROM links WHERE identity=%s", (identity_key,))
        return str(rows[0][0]) if rows else None

    def _identities(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        out = []
        for key, raw in rows:
            try:
                data = decode_stored_json(raw)
            except ValueError:
                log.warning("skipping a corrupt link row %r", key)
                continue
            if isinstance(data, dict):
                out.append(data)
        return out

    async def linked(self, identity_key: str) -> tuple[str | None, list[dict[str, Any]]]:
        rows = await self._rows(
            "SELECT user_id, identity, data::text FROM links WHERE user_id = "
            "(SELECT user_id FROM links WHERE identity=%s) ORDER BY linked_at, identity",
            (identity_key,))
        return (str(rows[0][0]) if rows else None), self._identities([r[1:] for r in rows])

    async def identities_of(self, user_id: str) -> list[dict[str, Any]]:
        return self._identities(await self._rows(
            "SELECT identity, data::text FROM links WHERE user_id=%s "
            "ORDER BY linked_at, identity", (user_id,)))
