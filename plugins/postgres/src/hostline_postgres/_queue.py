"""The task queue of the PostgreSQL store (a mixin of
:class:`hostline_postgres.PostgresStore`): enqueues that ``NOTIFY`` in the
same statement, ``SKIP LOCKED`` claims keeping one task in flight per
partition, leases, retries and dead letters.

Bookkeeping after a claim (finish, reschedule, release, extend) commits on
the store's fast pool, without waiting for the WAL flush: losing one to a
database crash only runs a task again (at least once, deduplicated by key).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hostline import Task, decode_stored_json

from ._jsonb import to_jsonb

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresQueue"]

_TASK_KEYS = "hostline:task-keys"  # kv namespace of remembered task keys (as in SQLite)
_TASK_COLUMNS = ("id, kind, part, key, payload::text, state, attempts, next_at, created_at, "
                 "last_error")


def _task(row: Sequence[Any], payload: dict[str, Any]) -> Task:
    return Task(int(row[0]), row[1], row[2], row[3], payload, row[5], int(row[6]),
                float(row[7]), float(row[8]), row[9])


class PostgresQueue:
    """The TaskQueue part of the Store contract."""

    if TYPE_CHECKING:
        _fast: AsyncConnectionPool | None
        _finishing: list[int]
        _finish_done: asyncio.Future[None] | None

        @property
        def pool(self) -> AsyncConnectionPool: ...

        @property
        def channel(self) -> str: ...

        async def _rows(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()
                        ) -> list[tuple[Any, ...]]: ...

        async def _exec(self, sql: str, args: Sequence[Any] | dict[str, Any] = (),
                        *, durable: bool = True) -> int: ...

        async def quarantine(self, tbl: str, key: str, raw: Any, error: str,
                             delete: tuple[str, Sequence[Any]] | None = None) -> None: ...

        def _later(self, coro: Any) -> None: ...

    async def enqueue(self, kind: str, payload: dict[str, Any], *, partition: str = "",
                      key: str | None = None, delay: float = 0.0,
                      remember: float | None = None) -> int | None:
        now = time.time()
        args = {"kind": kind, "part": partition or f"~{secrets.token_hex(8)}", "key": key,
                "payload": to_jsonb(payload), "next": now + delay, "now": now,
                "ch": self.channel, "ns": _TASK_KEYS}
        insert = ("INSERT INTO tasks (kind, part, key, payload, state, attempts, next_at, "
                  "created_at, updated_at) SELECT %(kind)s, %(part)s, %(key)s, "
                  "%(payload)s::jsonb, 'pending', 0, %(next)s, %(now)s, %(now)s")
        if key is not None and remember is not None:
            # The remembered key and the task commit together (one statement).
            args["exp"] = now + remember
            sql = ("WITH k AS (INSERT INTO kv (ns, key, value, expires_at) VALUES "
                   "(%(ns)s, %(key)s, 'null', %(exp)s) ON CONFLICT (ns, key) DO UPDATE SET "
                   "expires_at=excluded.expires_at WHERE kv.expires_at IS NOT NULL AND "
                   "kv.expires_at <= %(now)s RETURNING 1), "
                   f"t AS ({insert} WHERE EXISTS (SELECT 1 FROM k) "
                   "ON CONFLICT (key) DO NOTHING RETURNING id) "
                   "SELECT id, pg_notify(%(ch)s, '')::text FROM t")
        else:
            sql = (f"WITH t AS ({insert} ON CONFLICT (key) DO NOTHING RETURNING id) "
                   "SELECT id, pg_notify(%(ch)s, '')::text FROM t")
        rows = await self._rows(sql, args)
        return int(rows[0][0]) if rows else None

    async def dead_letter(self, kind: str, payload: dict[str, Any], reason: str) -> int | None:
        now = time.time()
        rows = await self._rows(
            "INSERT INTO tasks (kind, part, key, payload, state, attempts, next_at, created_at, "
            "updated_at, last_error) VALUES (%s, %s, NULL, %s::jsonb, 'dead', 0, %s, %s, %s, %s) "
            "RETURNING id", (kind, f"~{secrets.token_hex(8)}", to_jsonb(payload), now, now, now,
                             reason[:500]))
        return int(rows[0][0])

    async def claim(self, owner: str, limit: int, lease: float,
                    kinds: list[str] | None = None) -> list[Task]:
        if limit <= 0:
            return []
        now = time.time()
        async with (self._fast or self.pool).connection() as conn:
            # The oldest ready task of each partition with no live lease, in id
            # order; a task whose lease expired (its replica died or stalled) is
            # ready again. A row another claim holds is skipped (SKIP LOCKED); one
            # another claim leased meanwhile fails the recheck of the lock.
            cur = await conn.execute(
                "WITH cand AS ((SELECT id, part FROM tasks t WHERE state='pending' "
                "AND next_at <= %(now)s AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s))"
                " AND NOT EXISTS (SELECT 1 FROM tasks b WHERE b.part=t.part AND "
                "b.state='leased' AND b.lease_until > %(now)s) ORDER BY id LIMIT %(scan)s) "
                "UNION ALL (SELECT id, part FROM tasks WHERE state='leased' AND "
                "lease_until <= %(now)s AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s))"
                " ORDER BY id LIMIT %(scan)s)), "
                "firsts AS (SELECT DISTINCT ON (part) id FROM cand ORDER BY part, id), "
                "pick AS (SELECT id FROM tasks WHERE id = ANY(ARRAY(SELECT id FROM firsts "
                "ORDER BY id LIMIT %(limit)s)) AND (state='pending' OR (state='leased' AND "
                "lease_until <= %(now)s)) FOR UPDATE SKIP LOCKED) "
                "UPDATE tasks SET state='leased', owner=%(owner)s, lease_until=%(until)s, "
                "attempts=attempts+1, updated_at=%(now)s WHERE id IN (SELECT id FROM pick) "
                f"RETURNING {_TASK_COLUMNS}",
                {"now": now, "kinds": kinds, "scan": max(256, limit * 16), "limit": limit,
                 "owner": owner, "until": now + lease})
            rows = await cur.fetchall()
        out: list[Task] = []
        for row in sorted(rows, key=lambda r: int(r[0])):
            try:
                payload = decode_stored_json(row[4])
                if not isinstance(payload, dict):
                    raise ValueError("payload is not an object")
            except ValueError as exc:
                await self.quarantine("tasks", str(row[0]), row[4], str(exc),
                                      ("DELETE FROM tasks WHERE id=%s", (row[0],)))
                continue
            out.append(_task(row, payload))
        return out

    async def finish(self, task_id: int, owner: str) -> None:
        # Tasks finishing in one turn of the loop share one DELETE.
        self._finishing.append(task_id)
        if self._finish_done is None:
            self._finish_done = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(lambda: self._later(self._flush_finish()))
        await asyncio.shield(self._finish_done)

    async def _flush_finish(self) -> None:
        ids, self._finishing = self._finishing, []
        done, self._finish_done = self._finish_done, None
        try:
            if ids:
                await self._exec("DELETE FROM tasks WHERE id = ANY(%s)", (ids,), durable=False)
        except Exception as exc:
            if done is not None and not done.done():
                done.set_exception(exc)
            raise
        if done is not None and not done.done():
            done.set_result(None)

    async def reschedule(self, task_id: int, owner: str, error: str, at: float | None) -> None:
        now = time.time()
        if at is None:
            await self._exec("UPDATE tasks SET state='dead', owner=NULL, lease_until=NULL, "
                             "last_error=%s, updated_at=%s WHERE id=%s",
                             (error[:500], now, task_id), durable=False)
        else:
            await self._exec("UPDATE tasks SET state='pending', owner=NULL, lease_until=NULL, "
                             "next_at=%s, last_error=%s, updated_at=%s WHERE id=%s",
                             (at, error[:500], now, task_id), durable=False)

    async def release(self, owner: str) -> int:
        return await self._exec(
            "UPDATE tasks SET state='pending', owner=NULL, lease_until=NULL, "
            "attempts=GREATEST(attempts-1, 0) WHERE state='leased' AND owner=%s", (owner,),
            durable=False)

    async def extend(self, task_id: int, owner: str, lease: float) -> bool:
        return await self._exec("UPDATE tasks SET lease_until=%s WHERE id=%s AND owner=%s "
                                "AND state='leased'", (time.time() + lease, task_id, owner),
                                durable=False) > 0

    async def list_tasks(self, states: list[str] | None = None, limit: int = 100) -> list[Task]:
        rows = await self._rows(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE "
                                "(%s::text[] IS NULL OR state = ANY(%s)) ORDER BY id LIMIT %s",
                                (states or None, states or None, limit))
        out = []
        for row in rows:
            try:
                payload = decode_stored_json(row[4])
            except ValueError:
                payload = {}
            out.append(_task(row, payload if isinstance(payload, dict) else {}))
        return out

    async def retry_task(self, task_id: int) -> bool:
        return await self._exec("UPDATE tasks SET state='pending', attempts=0, next_at=%s, "
                                "owner=NULL WHERE id=%s AND state='dead'",
                                (time.time(), task_id)) > 0

    async def count_pending(self) -> int:
        rows = await self._rows("SELECT count(*) FROM tasks WHERE state IN ('pending','leased')")
        return int(rows[0][0])

