"""Operator actions and copying of the PostgreSQL store (a mixin of
:class:`hostline_postgres.PostgresStore`, apart from the hot paths)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hostline import (
    COPY_KEYS,
    COPY_TABLES,
    AuditEntry,
    Erasure,
    SessionInfo,
    StoreStats,
    decode_stored_json,
)

from ._jsonb import to_jsonb

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresOperatorMixin"]

#: The JSON column of each copied table (exported as text, imported as jsonb).
_JSON = {"sessions": "state", "history": "message", "kv": "value", "links": "data",
         "tasks": "payload", "audit": "detail"}
#: Text searched for mentions, and the column that identifies a row.
_SCANNED: dict[str, tuple[str, tuple[str, ...]]] = {
    "sessions": ("key", ("key",)),
    "aliases": ("scope", ("scope", "session")),
    "kv": ("ctid::text", ("ns", "key", "value::text")),
    "tasks": ("id", ("kind", "part", "key", "payload::text")),
    "quarantine": ("id", ("row_key", "raw")),
}


async def _candidates(conn: psycopg.AsyncConnection[Any], table: str, erasure: Erasure
                      ) -> list[tuple[Any, ...]]:
    """Rows of ``table`` mentioning the person: ``(row id, *columns)``."""
    ident, columns = _SCANNED[table]
    where = " OR ".join(f"strpos({c}, t) > 0" for c in columns)
    cur = await conn.execute(
        f"SELECT {ident}, {', '.join(columns)} FROM {table} "
        f"WHERE EXISTS (SELECT 1 FROM unnest(%s::text[]) AS t WHERE {where})",
        (list(erasure.terms),))
    return [r for r in await cur.fetchall() if erasure.mentions(*r[1:])]


def _task_filter(ids: Sequence[int] | None, states: Sequence[str],
                 older_than: float | None) -> tuple[str, list[Any]]:
    allowed = [s for s in states if s in ("dead", "pending")]
    if not allowed or (ids is not None and not ids):
        return "false", []
    sql = "state = ANY(%s)"
    args: list[Any] = [allowed]
    if ids is not None:
        sql += " AND id = ANY(%s)"
        args.append([int(i) for i in ids])
    if older_than is not None:
        sql += " AND created_at <= %s"
        args.append(time.time() - older_than)
    return sql, args


def _json(raw: Any) -> dict[str, Any]:
    try:
        value = decode_stored_json(raw) if raw is not None else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class PostgresOperatorMixin:
    """The operator and copy parts of the Store contract."""

    if TYPE_CHECKING:
        @property
        def pool(self) -> AsyncConnectionPool: ...

        async def _rows(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()
                        ) -> list[tuple[Any, ...]]: ...

        async def _exec(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> int: ...

        async def quarantine(self, tbl: str, key: str, raw: Any, error: str,
                             delete: tuple[str, Sequence[Any]] | None = None) -> None: ...

    async def erase(self, erasure: Erasure) -> dict[str, int]:
        out: dict[str, int] = {}
        async with self.pool.connection() as conn, conn.transaction():
            ids = list(erasure.identities)
            cur = await conn.execute("SELECT DISTINCT user_id FROM links WHERE identity = ANY(%s)",
                                     (ids,))
            users = list(erasure.user_ids) + [r[0] for r in await cur.fetchall()]
            cur = await conn.execute("DELETE FROM links WHERE identity = ANY(%s) OR "
                                     "user_id = ANY(%s)", (ids, users))
            n = cur.rowcount
            cur = await conn.execute("SELECT identity, data::text FROM links")
            mentioned = [r[0] for r in await cur.fetchall() if erasure.mentions(r[0], r[1])]
            if mentioned:
                cur = await conn.execute("DELETE FROM links WHERE identity = ANY(%s)",
                                         (mentioned,))
                n += cur.rowcount
            out["links"] = n
            sessions = {r[0] for r in await _candidates(conn, "sessions", erasure)}
            aliases = await _candidates(conn, "aliases", erasure)
            sessions.update(r[2] for r in aliases)
            for scope in {r[1] for r in aliases}:
                # Sessions whose history survives a /new (``scope#hex`` keys).
                cur = await conn.execute("SELECT DISTINCT session FROM history WHERE "
                                         "starts_with(session, %s)", (scope + "#",))
                sessions.update(r[0] for r in await cur.fetchall())
            keys = sorted(sessions)

            async def delete(sql: str, arg: Any) -> int:
                c = await conn.execute(sql, (arg,))
                return c.rowcount

            out["aliases"] = await delete("DELETE FROM aliases WHERE scope = ANY(%s)",
                                          [r[0] for r in aliases])
            out["sessions"] = await delete("DELETE FROM sessions WHERE key = ANY(%s)", keys)
            out["history"] = await delete("DELETE FROM history WHERE session = ANY(%s)", keys)
            out["records"] = await delete("DELETE FROM kv WHERE ctid::text = ANY(%s)",
                                          [r[0] for r in await _candidates(conn, "kv", erasure)])
            out["tasks"] = await delete("DELETE FROM tasks WHERE id = ANY(%s)",
                                        [r[0] for r in await _candidates(conn, "tasks", erasure)])
            out["quarantine"] = await delete(
                "DELETE FROM quarantine WHERE id = ANY(%s)",
                [r[0] for r in await _candidates(conn, "quarantine", erasure)])
        return out

    async def sessions_of(self, erasure: Erasure) -> list[SessionInfo]:
        async with self.pool.connection() as conn:
            scopes: dict[str, list[str]] = {}
            for _, scope, session in await _candidates(conn, "aliases", erasure):
                scopes.setdefault(session, []).append(scope)
            keys = {r[0] for r in await _candidates(conn, "sessions", erasure)} | set(scopes)
            cur = await conn.execute(
                "SELECT k, s.state::text, s.updated_at, (SELECT count(*) FROM history h "
                "WHERE h.session = k) FROM unnest(%s::text[]) AS k "
                "LEFT JOIN sessions s ON s.key = k", (sorted(keys),))
            rows = await cur.fetchall()
        out = [SessionInfo(key, _json(raw), float(at or 0.0), int(count),
                           tuple(sorted(scopes.get(key, ()))))
               for key, raw, at, count in rows if raw is not None or count]
        out.sort(key=lambda s: (-s.updated_at, s.key))
        return out

    async def links_list(self, limit: int = 100, after: str | None = None
                         ) -> list[tuple[str, str, dict[str, Any], float]]:
        rows = await self._rows("SELECT identity, user_id, data::text, linked_at FROM links "
                                "WHERE identity > %s ORDER BY identity LIMIT %s",
                                (after or "", limit))
        return [(str(i), str(u), _json(raw), float(at)) for i, u, raw, at in rows]

    async def audit_append(self, entry: AuditEntry) -> int:

        rows = await self._rows("INSERT INTO audit (at, actor, action, subject, detail) "
                                "VALUES (%s, %s, %s, %s, %s::jsonb) RETURNING id",
                                (entry.at, entry.actor, entry.action, entry.subject,
                                 to_jsonb(entry.detail)))
        return int(rows[0][0])

    async def audit_list(self, limit: int = 100, before: int | None = None
                         ) -> list[AuditEntry]:
        rows = await self._rows("SELECT id, at, actor, action, subject, detail::text FROM audit "
                                "WHERE id < %s ORDER BY id DESC LIMIT %s",
                                (before if before is not None else 2**62, limit))
        return [AuditEntry(float(at), actor, action, subject, _json(raw), int(id_))
                for id_, at, actor, action, subject, raw in rows]

    async def replay_tasks(self, *, ids: Sequence[int] | None = None,
                           states: Sequence[str] = ("dead",),
                           older_than: float | None = None) -> int:
        where, args = _task_filter(ids, states, older_than)
        now = time.time()
        return await self._exec(f"UPDATE tasks SET state='pending', attempts=0, next_at=%s, "
                                f"owner=NULL, lease_until=NULL, updated_at=%s WHERE {where}",
                                [now, now, *args])

    async def purge_tasks(self, *, ids: Sequence[int] | None = None,
                          states: Sequence[str] = ("dead",),
                          older_than: float | None = None) -> int:
        where, args = _task_filter(ids, states, older_than)
        return await self._exec(f"DELETE FROM tasks WHERE {where}", args)

    async def stats(self) -> StoreStats:
        tasks: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for kind, state, n in await self._rows(
                "SELECT kind, state, count(*) FROM tasks GROUP BY kind, state"):
            tasks[state] = tasks.get(state, 0) + int(n)
            kinds[f"{kind}:{state}"] = int(n)
        (row,) = await self._rows(
            "SELECT (SELECT min(created_at) FROM tasks WHERE state IN ('pending','leased')), "
            "(SELECT count(*) FROM sessions), (SELECT count(*) FROM links), "
            "(SELECT count(*) FROM kv WHERE expires_at IS NULL OR expires_at > %s), "
            "(SELECT count(*) FROM quarantine)", (time.time(),))
        return StoreStats(tasks, kinds, None if row[0] is None else float(row[0]),
                          int(row[1]), int(row[2]), int(row[3]), int(row[4]))

    # copy ---------------------------------------------------------------------
    async def export_rows(self, table: str, after: tuple[Any, ...] | None = None,
                          limit: int = 1000) -> list[dict[str, Any]]:
        cols, keys = COPY_TABLES[table], COPY_KEYS[table]
        select = ", ".join(f"{c}::text" if c == _JSON.get(table) else c for c in cols)
        sql = f"SELECT {select} FROM {table}"
        args: list[Any] = []
        if after is not None:
            sql += f" WHERE ({', '.join(keys)}) > ({', '.join(['%s'] * len(keys))})"
            args.extend(after)
        sql += f" ORDER BY {', '.join(keys)} LIMIT %s"
        args.append(limit)
        return [dict(zip(cols, row, strict=True)) for row in await self._rows(sql, args)]

    async def import_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> int:

        cols, keys = COPY_TABLES[table], COPY_KEYS[table]
        if table in ("history", "tasks", "quarantine", "audit"):
            conflict = "DO NOTHING"  # rows with ids: one already here stays
        else:
            conflict = (f"({', '.join(keys)}) DO UPDATE SET "
                        + ", ".join(f"{c}=excluded.{c}" for c in cols if c not in keys))
        js = _JSON.get(table)
        marks = ", ".join("%s::jsonb" if c == js else "%s" for c in cols)
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) "
               f"ON CONFLICT {conflict}")
        good: list[list[Any]] = []
        for row in rows:
            values: list[Any] = []
            try:
                for c in cols:
                    v = row.get(c)
                    if c == js:
                        v = to_jsonb(decode_stored_json(v if v is not None else "null"))
                    values.append(v)
            except ValueError as exc:
                key = "/".join(str(row.get(k)) for k in keys)
                # Quarantined once, however often the copy runs.
                raw = row.get(js or "")
                if not await self._rows("SELECT 1 FROM quarantine WHERE tbl=%s AND row_key=%s "
                                        "AND raw IS NOT DISTINCT FROM %s", (table, key, raw)):
                    await self.quarantine(table, key, raw, f"import: {exc}")
                continue
            good.append(values)
        if not good:
            return 0
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(sql, good)
            return max(0, cur.rowcount)

    async def count_rows(self, table: str) -> int | None:
        if table not in COPY_TABLES:
            raise KeyError(table)
        rows = await self._rows(f"SELECT count(*) FROM {table}")
        return int(rows[0][0])

    async def after_import(self) -> None:
        """Move the id sequences past the copied ids."""
        for table in ("history", "tasks", "quarantine", "audit"):
            await self._rows(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"GREATEST((SELECT max(id) FROM {table}), 1))")
