"""SQLite store: the schema and the SQL of sessions, key-value records,
links and the task queue, as JSON rows, on the write engine of
:mod:`hostline.store.sqlite_engine` (stdlib ``sqlite3`` in WAL mode, group
commit on the event loop's thread, checkpoints on their own).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StoreSchemaError
from ..ids import random_hex
from ..json_boundary import decode_stored_json
from ..types import History, Message, Session
from .base import COPY_KEYS, COPY_TABLES, Doorbell, Store
from .contracts import TurnRecord, record_row
from .doorbell import UdpDoorbell
from .sqlite_engine import encode_row
from .sqlite_ops import SQLiteOperatorMixin
from .sqlite_queue import SQLiteQueue

if TYPE_CHECKING:
    from ..config import StoreConfig

log = logging.getLogger("hostline.store")
T = TypeVar("T")

SCHEMA_VERSION = 3
#: How many ready tasks one claim looks at, at most: bounds claim cost under a
#: deep backlog (a partition with more queued than this delays later ones).
_PURGE_CHUNK = 2000


_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE IF NOT EXISTS aliases (
        scope TEXT PRIMARY KEY, session TEXT NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE IF NOT EXISTS sessions (
        key TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE IF NOT EXISTS history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL,
        message TEXT NOT NULL, created_at REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS history_session ON history(session, id);
    CREATE TABLE IF NOT EXISTS kv (
        ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL,
        PRIMARY KEY (ns, key));
    CREATE INDEX IF NOT EXISTS kv_expiry ON kv(expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE IF NOT EXISTS links (
        identity TEXT PRIMARY KEY, user_id TEXT NOT NULL, data TEXT NOT NULL,
        linked_at REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS links_user ON links(user_id);
    CREATE TABLE IF NOT EXISTS tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, part TEXT NOT NULL,
        key TEXT UNIQUE, payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
        next_at REAL NOT NULL, owner TEXT, lease_until REAL, last_error TEXT,
        created_at REAL NOT NULL, updated_at REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS tasks_ready ON tasks(state, next_at);
    CREATE INDEX IF NOT EXISTS tasks_part ON tasks(part, state);
    CREATE TABLE IF NOT EXISTS quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, row_key TEXT NOT NULL,
        raw TEXT, error TEXT NOT NULL, at REAL NOT NULL);
    """,
    2: """
    CREATE INDEX IF NOT EXISTS tasks_order ON tasks(state, id, next_at);
    """,
    3: """
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, subject TEXT, detail TEXT NOT NULL);
    """,
}


class SQLiteStore(SQLiteOperatorMixin, SQLiteQueue, Store):
    """The default store: ``<state_dir>/hostline.sqlite3``."""

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    @classmethod
    def from_config(cls, config: StoreConfig, *, state_dir: Path) -> SQLiteStore:
        """``<state_dir>/hostline.sqlite3``, or the file of ``url = "sqlite:PATH"``."""
        from ..errors import ConfigError

        if config.url is None:
            return cls(state_dir / "hostline.sqlite3")
        url = config.url.reveal()
        if not url.startswith("sqlite:") or not url[7:]:
            raise ConfigError("[host.store] key 'url': the sqlite backend takes "
                              "'sqlite:PATH' (or no url: the file in state_dir)")
        path = Path(url[7:].removeprefix("//"))
        return cls(path if path.is_absolute() else state_dir / path)

    async def check(self) -> str:
        """Open the file read-only when it exists (a new one is created at start-up)."""
        if not self.path.exists():
            parent = next((p for p in self.path.parents if p.exists()), None)
            if parent is None or not os.access(parent, os.W_OK):
                raise OSError(f"{self.path}: cannot be created (no writable parent)")
            return f"sqlite {self.path} (created at start-up)"
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
        finally:
            db.close()
        if version > SCHEMA_VERSION:
            raise StoreSchemaError(f"{self.path}: schema version {version} is newer than this "
                               f"hostline ({SCHEMA_VERSION}); upgrade hostline")
        return f"sqlite {self.path}, schema version {version} of {SCHEMA_VERSION}"

    async def migrate(self) -> tuple[int, int]:
        before = 0
        if self.path.exists():
            db = sqlite3.connect(self.path, timeout=30.0)
            try:
                (before,) = db.execute("PRAGMA user_version").fetchone()
            finally:
                db.close()
        await self.open()
        await self.close()
        return before, SCHEMA_VERSION

    def doorbell(self) -> Doorbell:
        """The loopback UDP doorbell in ``<state_dir>/runners`` (one machine)."""
        return UdpDoorbell(self.path.parent / "runners")

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Migrate the schema to :data:`SCHEMA_VERSION`; refuse a newer one."""
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"{self.path}: schema version {version} is newer than this hostline "
                f"({SCHEMA_VERSION}); upgrade hostline"
            )
        for v in range(version + 1, SCHEMA_VERSION + 1):
            # executescript() would commit our transaction: run statements one by one.
            for statement in _MIGRATIONS[v].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={v}")

    # sessions -------------------------------------------------------------
    async def load_session(self, scope: str, history_limit: int
                           ) -> tuple[Session, Sequence[Message]]:
        session, rows = await self._call(self._load_session, scope, history_limit)
        if not rows:
            return session, History()
        loop = asyncio.get_running_loop()

        def quarantine(bad: list[tuple[Any, str, str]]) -> None:
            # Found while a target reads the history, maybe on another thread.
            for hid, raw, err in bad:
                loop.call_soon_threadsafe(self._drop, "history", "id", hid, raw, err)

        return session, History(rows, on_error=quarantine)

    def _load_session(self, scope: str, limit: int
                      ) -> tuple[Session, list[tuple[int, str]]]:
        db = self.db
        row = db.execute("SELECT session FROM aliases WHERE scope=?", (scope,)).fetchone()
        key = row[0] if row else scope
        state: dict[str, Any] = {}
        srow = db.execute("SELECT state FROM sessions WHERE key=?", (key,)).fetchone()
        if srow is not None:
            try:
                loaded = decode_stored_json(srow[0])
                if not isinstance(loaded, dict):
                    raise ValueError("state is not an object")
                state = loaded
            except ValueError as exc:
                self._drop("sessions", "key", key, srow[0], str(exc))
        rows: list[tuple[int, str]] = []
        if limit > 0:
            rows = db.execute(
                "SELECT id, message FROM history WHERE session=? ORDER BY id DESC LIMIT ?",
                (key, limit),
            ).fetchall()
            rows.reverse()
        return Session(key, state), rows

    async def save_turn(self, session: Session, messages: list[Message], history_limit: int,
                        *, records: Sequence[TurnRecord] = ()) -> None:
        state = encode_row(session.state)
        rows = [encode_row(m.to_json()) for m in messages]
        key, now = session.key, time.time()
        kv_rows = [(ns, k, encode_row(v), exp)
                   for ns, k, v, exp in (record_row(r, now) for r in records)]

        def tx(db: sqlite3.Connection) -> None:
            if kv_rows:
                db.executemany(
                    "INSERT INTO kv (ns, key, value, expires_at) VALUES (?,?,?,?) "
                    "ON CONFLICT(ns, key) DO UPDATE SET value=excluded.value, "
                    "expires_at=excluded.expires_at", kv_rows)
            db.execute(
                "INSERT INTO sessions (key, state, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET state=excluded.state, "
                "updated_at=excluded.updated_at",
                (key, state, now),
            )
            db.executemany(
                "INSERT INTO history (session, message, created_at) VALUES (?,?,?)",
                [(key, r, now) for r in rows],
            )
            if history_limit > 0 and rows:
                # Keep a margin over the limit so pruning runs rarely.
                cut = db.execute(
                    "SELECT id FROM history WHERE session=? ORDER BY id DESC LIMIT 1 OFFSET ?",
                    (key, history_limit * 2),
                ).fetchone()
                if cut is not None:
                    db.execute("DELETE FROM history WHERE session=? AND id<=?", (key, cut[0]))

        await self._write(tx)

    async def reset_session(self, scope: str) -> str:
        new = f"{scope}#{random_hex()}"
        await self._write(lambda db: db.execute(
            "INSERT INTO aliases (scope, session, updated_at) VALUES (?,?,?) "
            "ON CONFLICT(scope) DO UPDATE SET session=excluded.session, "
            "updated_at=excluded.updated_at", (scope, new, time.time())))
        return new

    # key-value --------------------------------------------------------------
    async def kv_get(self, ns: str, key: str) -> Any | None:
        return await self._call(self._kv_get, ns, key)

    def _kv_get(self, ns: str, key: str) -> Any | None:
        row = self.db.execute("SELECT value, expires_at FROM kv WHERE ns=? AND key=?",
                              (ns, key)).fetchone()
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return None
        try:
            return decode_stored_json(row[0])
        except ValueError as exc:
            self._quarantine("kv", f"{ns}/{key}", row[0], str(exc))
            self._write_later(lambda d: d.execute("DELETE FROM kv WHERE ns=? AND key=?", (ns, key)))
            return None

    async def kv_put(self, ns: str, key: str, value: Any, ttl: float | None = None) -> None:
        raw = encode_row(value)
        exp = None if ttl is None else time.time() + ttl
        await self._write(lambda db: db.execute(
            "INSERT INTO kv (ns, key, value, expires_at) VALUES (?,?,?,?) "
            "ON CONFLICT(ns, key) DO UPDATE SET value=excluded.value, "
            "expires_at=excluded.expires_at", (ns, key, raw, exp)))

    async def kv_add(self, ns: str, key: str, value: Any, ttl: float | None = None) -> bool:
        raw = encode_row(value)
        now = time.time()
        exp = None if ttl is None else now + ttl

        def tx(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "INSERT INTO kv (ns, key, value, expires_at) VALUES (?,?,?,?) "
                "ON CONFLICT(ns, key) DO UPDATE SET value=excluded.value, "
                "expires_at=excluded.expires_at "
                "WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?",
                (ns, key, raw, exp, now))
            return cur.rowcount > 0

        return await self._write(tx)

    async def kv_delete(self, ns: str, key: str) -> bool:
        return await self._write(lambda db: db.execute(
            "DELETE FROM kv WHERE ns=? AND key=?", (ns, key)).rowcount > 0)

    async def kv_list(self, ns: str, prefix: str = "", limit: int = 100,
                      after: str | None = None, descending: bool = False
                      ) -> list[tuple[str, Any]]:
        return await self._call(self._kv_list, ns, prefix, limit, after, descending)

    def _kv_list(self, ns: str, prefix: str, limit: int, after: str | None,
                 descending: bool) -> list[tuple[str, Any]]:
        hi = prefix + "\U0010ffff"
        sql = "SELECT key, value, expires_at FROM kv WHERE ns=? AND key>=? AND key<?"
        args: list[Any] = [ns, prefix, hi]
        if after is not None:
            sql += " AND key<?" if descending else " AND key>?"
            args.append(after)
        sql += f" ORDER BY key {'DESC' if descending else 'ASC'} LIMIT ?"
        args.append(limit)
        now = time.time()
        out: list[tuple[str, Any]] = []
        for key, raw, exp in self.db.execute(sql, args).fetchall():
            if exp is not None and exp <= now:
                continue
            try:
                out.append((key, decode_stored_json(raw)))
            except ValueError:
                log.warning("skipping a corrupt kv row %s/%s", ns, key)
        return out

    async def purge_expired(self) -> int:
        """Delete expired key-value records (in chunks: the event loop keeps
        serving between them)."""
        now, total = time.time(), 0
        while True:
            n = await self._write(lambda db: db.execute(
                "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE expires_at "
                "IS NOT NULL AND expires_at<=? LIMIT ?)", (now, _PURGE_CHUNK)).rowcount)
            total += n
            if n < _PURGE_CHUNK:
                return total
            await asyncio.sleep(0)

    # links ----------------------------------------------------------------
    async def link(self, identity_key: str, user_id: str, identity: dict[str, Any]) -> None:
        raw = encode_row(identity)
        await self._write(lambda db: db.execute(
            "INSERT INTO links (identity, user_id, data, linked_at) VALUES (?,?,?,?) "
            "ON CONFLICT(identity) DO UPDATE SET user_id=excluded.user_id, data=excluded.data, "
            "linked_at=excluded.linked_at", (identity_key, user_id, raw, time.time())))

    async def unlink(self, identity_key: str) -> bool:
        return await self._write(lambda db: db.execute(
            "DELETE FROM links WHERE identity=?", (identity_key,)).rowcount > 0)

    async def user_of(self, identity_key: str) -> str | None:
        def q() -> str | None:
            row = self.db.execute("SELECT user_id FROM links WHERE identity=?",
                                  (identity_key,)).fetchone()
            return None if row is None else str(row[0])
        return await self._call(q)

    async def linked(self, identity_key: str) -> tuple[str | None, list[dict[str, Any]]]:
        def q() -> tuple[str | None, list[dict[str, Any]]]:
            rows = self.db.execute(
                "SELECT user_id, identity, data FROM links WHERE user_id = "
                "(SELECT user_id FROM links WHERE identity=?) ORDER BY linked_at",
                (identity_key,)).fetchall()
            out = []
            for _, key, raw in rows:
                try:
                    out.append(decode_stored_json(raw))
                except ValueError:
                    log.warning("skipping a corrupt link row %r", key)
            return (str(rows[0][0]) if rows else None), out
        return await self._call(q)

    async def identities_of(self, user_id: str) -> list[dict[str, Any]]:
        def q() -> list[dict[str, Any]]:
            out = []
            for key, raw in self.db.execute(
                    "SELECT identity, data FROM links WHERE user_id=? ORDER BY linked_at",
                    (user_id,)).fetchall():
                try:
                    out.append(decode_stored_json(raw))
                except ValueError:
                    log.warning("skipping a corrupt link row %r", key)
            return out
        return await self._call(q)

    async def export_rows(self, table: str, after: tuple[Any, ...] | None = None,
                          limit: int = 1000) -> list[dict[str, Any]]:
        cols, keys = COPY_TABLES[table], COPY_KEYS[table]

        def q() -> list[dict[str, Any]]:
            sql = f"SELECT {', '.join(cols)} FROM {table}"
            args: list[Any] = []
            if after is not None:
                sql += f" WHERE ({', '.join(keys)}) > ({', '.join('?' * len(keys))})"
                args.extend(after)
            sql += f" ORDER BY {', '.join(keys)} LIMIT ?"
            args.append(limit)
            return [dict(zip(cols, row, strict=True))
                    for row in self.db.execute(sql, args).fetchall()]
        return await self._call(q)

    async def import_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        cols, keys = COPY_TABLES[table], COPY_KEYS[table]
        if table in ("history", "tasks", "quarantine", "audit"):
            conflict = "DO NOTHING"
        else:
            updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c not in keys)
            conflict = f"DO UPDATE SET {updates}"
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT({', '.join(keys)}) {conflict}")
        if table == "tasks":  # the task key is unique too: a task already here stays
            sql = sql.replace("ON CONFLICT(id) DO NOTHING", "ON CONFLICT DO NOTHING")

        def tx(db: sqlite3.Connection) -> int:
            n = 0
            for row in rows:
                n += db.execute(sql, [row.get(c) for c in cols]).rowcount
            return n
        return await self._write(tx)

    async def count_rows(self, table: str) -> int | None:
        if table not in COPY_TABLES:
            raise KeyError(table)
        return await self._call(lambda: int(self.db.execute(
            f"SELECT COUNT(*) FROM {table}").fetchone()[0]))
