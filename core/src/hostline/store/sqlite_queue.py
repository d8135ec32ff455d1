"""The task queue of the SQLite store: enqueue, claims under leases (one
task in flight per partition), retries, dead letters."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from ..ids import random_hex
from ..json_boundary import decode_stored_json
from .contracts import Task
from .sqlite_engine import SQLiteEngine, encode_row

__all__ = ["TASK_KEYS", "SQLiteQueue"]

_CLAIM_SCAN = 20_000
TASK_KEYS = "hostline:task-keys"  # kv namespace of remembered task keys


class SQLiteQueue(SQLiteEngine):
    """The ``tasks`` part of the Store contract on the engine."""

    async def enqueue(self, kind: str, payload: dict[str, Any], *, partition: str = "",
                      key: str | None = None, delay: float = 0.0,
                      remember: float | None = None) -> int | None:
        raw = encode_row(payload)
        now = time.time()
        # An unpartitioned task gets a partition of its own: nothing orders it.
        partition = partition or f"~{random_hex()}"

        def tx(db: sqlite3.Connection) -> int | None:
            if key is not None and remember is not None and not db.execute(
                    "INSERT INTO kv (ns, key, value, expires_at) VALUES (?,?,'null',?) "
                    "ON CONFLICT(ns, key) DO UPDATE SET expires_at=excluded.expires_at "
                    "WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?",
                    (TASK_KEYS, key, now + remember, now)).rowcount:
                return None
            cur = db.execute(
                "INSERT INTO tasks (kind, part, key, payload, state, attempts, next_at, "
                "created_at, updated_at) VALUES (?,?,?,?,'pending',0,?,?,?) "
                "ON CONFLICT(key) DO NOTHING",
                (kind, partition, key, raw, now + delay, now, now))
            return cur.lastrowid if cur.rowcount else None

        return await self._write(tx)

    async def dead_letter(self, kind: str, payload: dict[str, Any], reason: str) -> int | None:
        raw, now = encode_row(payload), time.time()
        return await self._write(lambda db: db.execute(
            "INSERT INTO tasks (kind, part, key, payload, state, attempts, next_at, created_at, "
            "updated_at, last_error) VALUES (?,?,NULL,?,'dead',0,?,?,?,?)",
            (kind, f"~{random_hex()}", raw, now, now, now, reason[:500])).lastrowid)

    async def claim(self, owner: str, limit: int, lease: float,
                    kinds: list[str] | None = None) -> list[Task]:
        return await self._write(lambda db: self._claim(db, owner, limit, lease, kinds))

    def _claim(self, db: sqlite3.Connection, owner: str, limit: int, lease: float,
               kinds: list[str] | None) -> list[Task]:
        now = time.time()
        # Expired leases belong to a crashed or stalled worker: take them back.
        db.execute("UPDATE tasks SET state='pending', owner=NULL WHERE state='leased' "
                   "AND lease_until<=?", (now,))
        busy = {r[0] for r in db.execute("SELECT part FROM tasks WHERE state='leased'")}
        wanted = None if kinds is None else set(kinds)
        # The oldest ready task of each partition with nothing in flight: one
        # chat runs in order, and a busy chat cannot starve the others. Walk
        # the ready tasks in id order (an index range, not a scan of the whole
        # queue) and stop once enough partitions were found.
        cursor = db.execute("SELECT id, part, kind FROM tasks INDEXED BY tasks_order "
                            "WHERE state='pending' "
                            "AND next_at<=? ORDER BY id", (now,))
        ids: list[int] = []
        scanned = 0
        while len(ids) < limit and scanned < _CLAIM_SCAN:
            batch = cursor.fetchmany(256)
            if not batch:
                break
            scanned += len(batch)
            for task_id, part, kind in batch:
                if part in busy or (wanted is not None and kind not in wanted):
                    continue
                busy.add(part)
                ids.append(task_id)
                if len(ids) == limit:
                    break
        cursor.close()
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        db.execute(f"UPDATE tasks SET state='leased', owner=?, lease_until=?, "
                   f"attempts=attempts+1, updated_at=? WHERE id IN ({marks})",
                   [owner, now + lease, now, *ids])
        out: list[Task] = []
        for row in db.execute(
                "SELECT id, kind, part, key, payload, state, attempts, next_at, created_at, "
                f"last_error FROM tasks WHERE id IN ({marks}) ORDER BY id", ids).fetchall():
            try:
                payload = decode_stored_json(row[4])
                if not isinstance(payload, dict):
                    raise ValueError("payload is not an object")
            except ValueError as exc:
                self._quarantine("tasks", str(row[0]), row[4], str(exc))
                db.execute("DELETE FROM tasks WHERE id=?", (row[0],))
                continue
            out.append(Task(row[0], row[1], row[2], row[3], payload, row[5], row[6], row[7],
                            row[8], row[9]))
        return out

    async def finish(self, task_id: int, owner: str) -> None:
        await self._write(lambda db: db.execute(
            "DELETE FROM tasks WHERE id=?", (task_id,)))

    async def reschedule(self, task_id: int, owner: str, error: str, at: float | None) -> None:
        now = time.time()
        args: tuple[Any, ...]
        if at is None:
            sql, args = ("UPDATE tasks SET state='dead', owner=NULL, lease_until=NULL, "
                         "last_error=?, updated_at=? WHERE id=?", (error[:500], now, task_id))
        else:
            sql, args = ("UPDATE tasks SET state='pending', owner=NULL, lease_until=NULL, "
                         "next_at=?, last_error=?, updated_at=? WHERE id=?",
                         (at, error[:500], now, task_id))
        await self._write(lambda db: db.execute(sql, args))

    async def release(self, owner: str) -> int:
        return await self._write(lambda db: db.execute(
            "UPDATE tasks SET state='pending', owner=NULL, lease_until=NULL, "
            "attempts=MAX(attempts-1, 0) WHERE state='leased' AND owner=?", (owner,)).rowcount)

    async def extend(self, task_id: int, owner: str, lease: float) -> bool:
        return await self._write(lambda db: db.execute(
            "UPDATE tasks SET lease_until=? WHERE id=? AND owner=? AND state='leased'",
            (time.time() + lease, task_id, owner)).rowcount > 0)

    async def list_tasks(self, states: list[str] | None = None, limit: int = 100) -> list[Task]:
        def q() -> list[Task]:
            sql = ("SELECT id, kind, part, key, payload, state, attempts, next_at, created_at, "
                   "last_error FROM tasks")
            args: list[Any] = []
            if states:
                sql += f" WHERE state IN ({','.join('?' * len(states))})"
                args.extend(states)
            sql += " ORDER BY id LIMIT ?"
            args.append(limit)
            out = []
            for row in self.db.execute(sql, args).fetchall():
                try:
                    payload = decode_stored_json(row[4])
                except ValueError:
                    payload = {}
                out.append(Task(row[0], row[1], row[2], row[3], payload, row[5], row[6],
                                row[7], row[8], row[9]))
            return out
        return await self._call(q)

    async def retry_task(self, task_id: int) -> bool:
        return await self._write(lambda db: db.execute(
            "UPDATE tasks SET state='pending', attempts=0, next_at=?, owner=NULL "
            "WHERE id=? AND state='dead'", (time.time(), task_id)).rowcount > 0)

    async def count_pending(self) -> int:
        def q() -> int:
            return int(self.db.execute(
                "SELECT COUNT(*) FROM tasks WHERE state IN ('pending','leased')").fetchone()[0])
        return await self._call(q)

    # copy -------------------------------------------------------------------
