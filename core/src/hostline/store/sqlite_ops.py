"""Operator actions of the SQLite store: erase, audit log, replay/purge, stats.

A mixin of :class:`hostline.store.SQLiteStore` (kept apart from the hot
paths of ``sqlite.py``); the contract is in :class:`hostline.store.Store`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from ..json_boundary import decode_stored_json, encode_json
from .base import AuditEntry, SessionInfo, StoreStats
from .erasure import Erasure
from .sqlite_engine import SQLiteEngine

T = TypeVar("T")

#: Text columns searched for mentions, and the column that identifies a row.
_SCANNED: dict[str, tuple[str, tuple[str, ...]]] = {
    "sessions": ("key", ("key",)),
    "aliases": ("scope", ("scope", "session")),
    "kv": ("rowid", ("ns", "key", "value")),
    "tasks": ("id", ("kind", "part", "key", "payload")),
    "quarantine": ("id", ("row_key", "raw")),
}


def _candidates(db: sqlite3.Connection, table: str, erasure: Erasure
                ) -> list[tuple[Any, ...]]:
    """Rows of ``table`` mentioning the person: ``(row id, *columns)``."""
    ident, columns = _SCANNED[table]
    terms = erasure.terms
    where = " OR ".join(f"instr({c}, ?) > 0" for c in columns for _ in terms)
    args = [t for _ in columns for t in terms]
    rows = db.execute(f"SELECT {ident}, {', '.join(columns)} FROM {table} WHERE {where}",
                      args).fetchall()
    return [r for r in rows if erasure.mentions(*r[1:])]


def _task_filter(ids: Sequence[int] | None, states: Sequence[str],
                 older_than: float | None) -> tuple[str, list[Any]]:
    allowed = [s for s in states if s in ("dead", "pending")]
    if not allowed:
        return "0", []
    sql = f"state IN ({','.join('?' * len(allowed))})"
    args: list[Any] = list(allowed)
    if ids is not None:
        if not ids:
            return "0", []
        sql += f" AND id IN ({','.join('?' * len(ids))})"
        args.extend(int(i) for i in ids)
    if older_than is not None:
        sql += " AND created_at <= ?"
        args.append(time.time() - older_than)
    return sql, args


class SQLiteOperatorMixin(SQLiteEngine):
    """Implements the operator part of the Store contract on the engine."""

    async def erase(self, erasure: Erasure) -> dict[str, int]:
        def tx(db: sqlite3.Connection) -> dict[str, int]:
            out: dict[str, int] = {}
            marks = ",".join("?" * len(erasure.identities))
            users = list(erasure.user_ids) + [r[0] for r in db.execute(
                f"SELECT DISTINCT user_id FROM links WHERE identity IN ({marks})",
                erasure.identities)]
            n = db.execute(f"DELETE FROM links WHERE identity IN ({marks})",
                           erasure.identities).rowcount
            if users:
                n += db.execute(f"DELETE FROM links WHERE user_id IN "
                                f"({','.join('?' * len(users))})", users).rowcount
            n += sum(db.execute("DELETE FROM links WHERE identity=?", (r[0],)).rowcount
                     for r in db.execute("SELECT identity, data FROM links").fetchall()
                     if erasure.mentions(r[0], r[1]))
            out["links"] = n
            sessions = {r[0] for r in _candidates(db, "sessions", erasure)}
            aliases = _candidates(db, "aliases", erasure)
            sessions.update(r[2] for r in aliases)
            # Sessions whose history survives a /new (``scope#hex`` keys).
            for scope, _ in [(r[1], r[2]) for r in aliases]:
                sessions.update(r[0] for r in db.execute(
                    "SELECT DISTINCT session FROM history WHERE session >= ? AND session < ?",
                    (scope + "#", scope + "$")))
            keys = sorted(sessions)
            out["aliases"] = sum(db.execute("DELETE FROM aliases WHERE scope=?",
                                            (r[0],)).rowcount for r in aliases)
            out["sessions"] = sum(db.execute("DELETE FROM sessions WHERE key=?",
                                             (k,)).rowcount for k in keys)
            out["history"] = sum(db.execute("DELETE FROM history WHERE session=?",
                                            (k,)).rowcount for k in keys)
            out["records"] = sum(db.execute("DELETE FROM kv WHERE rowid=?", (r[0],)).rowcount
                                 for r in _candidates(db, "kv", erasure))
            out["tasks"] = sum(db.execute("DELETE FROM tasks WHERE id=?", (r[0],)).rowcount
                               for r in _candidates(db, "tasks", erasure))
            out["quarantine"] = sum(db.execute("DELETE FROM quarantine WHERE id=?",
                                               (r[0],)).rowcount
                                    for r in _candidates(db, "quarantine", erasure))
            return out

        result: dict[str, int] = await self._write(tx)
        return result

    async def sessions_of(self, erasure: Erasure) -> list[SessionInfo]:
        def q() -> list[SessionInfo]:
            db = self.db
            scopes: dict[str, list[str]] = {}
            for _, scope, session in _candidates(db, "aliases", erasure):
                scopes.setdefault(session, []).append(scope)
            keys = {r[0] for r in _candidates(db, "sessions", erasure)} | set(scopes)
            out = []
            for key in keys:
                row = db.execute("SELECT state, updated_at FROM sessions WHERE key=?",
                                 (key,)).fetchone()
                count = db.execute("SELECT COUNT(*) FROM history WHERE session=?",
                                   (key,)).fetchone()[0]
                if row is None and not count:
                    continue
                try:
                    state = decode_stored_json(row[0]) if row else {}
                except ValueError:
                    state = {}
                out.append(SessionInfo(key, state if isinstance(state, dict) else {},
                                       float(row[1]) if row else 0.0, int(count),
                                       tuple(sorted(scopes.get(key, ())))))
            out.sort(key=lambda s: (-s.updated_at, s.key))
            return out

        result: list[SessionInfo] = await self._call(q)
        return result

    async def links_list(self, limit: int = 100, after: str | None = None
                         ) -> list[tuple[str, str, dict[str, Any], float]]:
        def q() -> list[tuple[str, str, dict[str, Any], float]]:
            rows = self.db.execute(
                "SELECT identity, user_id, data, linked_at FROM links WHERE identity > ? "
                "ORDER BY identity LIMIT ?", (after or "", limit)).fetchall()
            out = []
            for identity, user, raw, at in rows:
                try:
                    data = decode_stored_json(raw)
                except ValueError:
                    data = {}
                out.append((str(identity), str(user), data if isinstance(data, dict) else {},
                            float(at)))
            return out

        result: list[tuple[str, str, dict[str, Any], float]] = await self._call(q)
        return result

    async def audit_append(self, entry: AuditEntry) -> int:
        raw = encode_json(entry.detail, ensure_ascii=True)
        def insert(db: sqlite3.Connection) -> int:
            return int(db.execute(
                "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?,?,?,?,?)",
                (entry.at, entry.actor, entry.action, entry.subject, raw)).lastrowid or 0)

        return await self._write(insert)

    async def audit_list(self, limit: int = 100, before: int | None = None
                         ) -> list[AuditEntry]:
        def q() -> list[AuditEntry]:
            rows = self.db.execute(
                "SELECT id, at, actor, action, subject, detail FROM audit WHERE id < ? "
                "ORDER BY id DESC LIMIT ?", (before if before is not None else 2**62, limit))
            out = []
            for id_, at, actor, action, subject, raw in rows.fetchall():
                try:
                    detail = decode_stored_json(raw)
                except ValueError:
                    detail = {}
                out.append(AuditEntry(float(at), actor, action, subject,
                                      detail if isinstance(detail, dict) else {}, int(id_)))
            return out

        result: list[AuditEntry] = await self._call(q)
        return result

    async def replay_tasks(self, *, ids: Sequence[int] | None = None,
                           states: Sequence[str] = ("dead",),
                           older_than: float | None = None) -> int:
        where, args = _task_filter(ids, states, older_than)
        now = time.time()
        result: int = await self._write(lambda db: db.execute(
            f"UPDATE tasks SET state='pending', attempts=0, next_at=?, owner=NULL, "
            f"lease_until=NULL, updated_at=? WHERE {where}", [now, now, *args]).rowcount)
        return result

    async def purge_tasks(self, *, ids: Sequence[int] | None = None,
                          states: Sequence[str] = ("dead",),
                          older_than: float | None = None) -> int:
        where, args = _task_filter(ids, states, older_than)
        result: int = await self._write(lambda db: db.execute(
            f"DELETE FROM tasks WHERE {where}", args).rowcount)
        return result

    async def stats(self) -> StoreStats:
        def q() -> StoreStats:
            db = self.db
            tasks: dict[str, int] = {}
            kinds: dict[str, int] = {}
            for kind, state, n in db.execute(
                    "SELECT kind, state, COUNT(*) FROM tasks GROUP BY kind, state"):
                tasks[state] = tasks.get(state, 0) + int(n)
                kinds[f"{kind}:{state}"] = int(n)
            oldest = db.execute("SELECT MIN(created_at) FROM tasks WHERE state IN "
                                "('pending','leased')").fetchone()[0]

            def count(sql: str, *args: Any) -> int:
                return int(db.execute(sql, args).fetchone()[0])

            return StoreStats(
                tasks, kinds, None if oldest is None else float(oldest),
                count("SELECT COUNT(*) FROM sessions"), count("SELECT COUNT(*) FROM links"),
                count("SELECT COUNT(*) FROM kv WHERE expires_at IS NULL OR expires_at > ?",
                      time.time()),
                count("SELECT COUNT(*) FROM quarantine"))

        result: StoreStats = await self._call(q)
        return result
