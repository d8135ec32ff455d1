"""SQLite store: stdlib ``sqlite3`` in WAL mode, JSON rows, group commit.

Statements run on the event loop's thread (see :meth:`SQLiteStore._flush`
for why); writes queued in one turn of the loop share one transaction, and
WAL checkpoints run on a thread of their own. Several processes may open the
same file: writes use ``BEGIN IMMEDIATE`` and a busy timeout waits out the
other writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StoreSchemaError
from ..ids import random_hex
from ..json_boundary import decode_stored_json, encode_json
from ..types import History, Message, Session
from .base import COPY_KEYS, COPY_TABLES, Doorbell, JSONText, Store, Task
from .doorbell import UdpDoorbell
from .sqlite_ops import SQLiteOperatorMixin

if TYPE_CHECKING:
    from ..config import StoreConfig

log = logging.getLogger("hostline.store")
T = TypeVar("T")

SCHEMA_VERSION = 3
#: How many ready tasks one claim looks at, at most: bounds claim cost under a
#: deep backlog (a partition with more queued than this delays later ones).
_CLAIM_SCAN = 20_000
_PURGE_CHUNK = 2000
_BUSY_MS = 30_000  # how long a write waits for another process's write lock
_TASK_KEYS = "hostline:task-keys"  # kv namespace of remembered task keys


def _encode(value: Any) -> str:
    # ASCII, as rows were always written (erasure searches both forms anyway).
    return encode_json(value, ensure_ascii=True)


def _log_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("a background store write failed: %s", fut.exception())

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


class _Checkpointer:
    """Copies the WAL back into the database file from its own thread and
    connection, so the fsync a checkpoint needs never stalls the event loop.
    (Every connection of hostline's turns SQLite's automatic checkpoints off.)"""

    PERIOD = 1.0

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stopping = False
        self._commits = 0
        self._thread = threading.Thread(target=self._run, name="hostline-sqlite-checkpoint",
                                        daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        self._commits += 1
        if self._commits >= 200:
            self._commits = 0
            self._wake.set()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, timeout=30.0, isolation_level=None,
                             check_same_thread=False)
        try:
            db.execute("PRAGMA wal_autocheckpoint=0")
            while not self._stopping:
                self._wake.wait(self.PERIOD)
                self._wake.clear()
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            db.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()


class SQLiteStore(SQLiteOperatorMixin, Store):
    """The default store: ``<state_dir>/hostline.sqlite3``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flush_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._busy_since: float | None = None
        self._checkpointer: _Checkpointer | None = None

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

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read now, on the loop's thread (WAL readers never wait for a writer)."""
        if self._db is None:
            raise RuntimeError("store is not open")
        return fn(*args)

    # lifecycle ------------------------------------------------------------
    async def open(self) -> None:
        if self._db is None:
            self._open()
            self._checkpointer = _Checkpointer(self.path)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        db.execute("PRAGMA wal_autocheckpoint=0")  # see _Checkpointer
        db.execute("BEGIN IMMEDIATE")
        try:
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
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            db.close()
            raise
        self._db = db

    async def close(self) -> None:
        if self._db is None:
            return
        while self._batch:  # queued writes first (waiting out another writer's lock)
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush()
            if self._batch:
                await asyncio.sleep(0.001)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.stop)
            self._checkpointer = None
        self._db.close()
        self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    def _queue(self, op: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        """Add ``op`` to the next group commit; its future gets the result."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._batch.append((op, fut))
        if self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._flush)
        return fut

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in a write transaction, committed together with every
        other write queued in the same turn of the event loop (group commit):
        under load many webhook acks share one commit."""
        if self._db is None:
            raise RuntimeError("store is not open")
        return await self._queue(op)  # type: ignore[no-any-return]

    def _write_later(self, op: Callable[[sqlite3.Connection], Any]) -> None:
        """Queue a write nobody waits for (failures are logged)."""
        if self._db is not None:
            self._queue(op).add_done_callback(_log_failure)

    def _flush(self) -> None:
        # On the event loop's thread, on purpose: SQLite releases the GIL for
        # every statement step, so a writer thread pays a GIL hand-off per
        # step while the loop is busy (measured: group commits of 32 webhook
        # acks took ~10 ms that way, against ~0.5 ms here). A commit in WAL
        # mode with synchronous=NORMAL does not fsync; checkpoints, which do,
        # run on their own thread and connection. The write lock is never
        # waited for here: while another process holds it, the batch is
        # retried a millisecond later and the loop keeps serving.
        self._flush_handle = None
        if not self._batch:
            return
        db = self.db
        try:
            db.execute("PRAGMA busy_timeout=0")
            try:
                db.execute("BEGIN IMMEDIATE")
            finally:
                db.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        except sqlite3.OperationalError as exc:
            now = time.monotonic()
            if self._busy_since is None:
                self._busy_since = now
            if "locked" in str(exc) and now - self._busy_since < _BUSY_MS / 1000:
                self._flush_handle = asyncio.get_running_loop().call_later(0.001, self._flush)
                return
            self._busy_since = None
            self._fail(self._take(), exc)
            return
        self._busy_since = None
        batch = self._take()
        try:
            results = self._run_batch([op for op, _ in batch])
        except BaseException as exc:
            self._fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, fut), (ok, value) in zip(batch, results, strict=True):
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
        if self._checkpointer is not None:
            self._checkpointer.nudge()

    def _take(self) -> list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]]:
        batch, self._batch = self._batch, []
        return batch

    @staticmethod
    def _fail(batch: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
        for _, fut in batch:
            if not fut.done():
                fut.set_exception(exc if isinstance(exc, Exception)
                                  else RuntimeError("store write interrupted"))

    def _run_batch(self, ops: list[Callable[[sqlite3.Connection], Any]]
                   ) -> list[tuple[bool, Any]]:
        """Run ``ops`` in the transaction :meth:`_flush` began, and commit."""
        db = self.db
        try:
            try:
                out: list[tuple[bool, Any]] = [(True, op(db)) for op in ops]
            except Exception as exc:  # noqa: BLE001 - handed back to its caller
                db.execute("ROLLBACK")
                if len(ops) == 1:
                    return [(False, exc)]
                # Rare: undo the batch and give every write a savepoint of its
                # own, so one failing write does not undo the others.
                db.execute("BEGIN IMMEDIATE")
                out = [self._isolated(db, op) for op in ops]
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return out

    @staticmethod
    def _isolated(db: sqlite3.Connection, op: Callable[[sqlite3.Connection], Any]
                  ) -> tuple[bool, Any]:
        db.execute("SAVEPOINT w")
        try:
            result = op(db)
        except Exception as exc:  # noqa: BLE001 - handed back to its caller
            db.execute("ROLLBACK TO w")
            db.execute("RELEASE w")
            return (False, exc)
        db.execute("RELEASE w")
        return (True, result)

    def _quarantine(self, tbl: str, key: str, raw: Any, error: str) -> None:
        log.warning("quarantined a corrupt %s row %r: %s", tbl, key, error)
        self.db.execute(
            "INSERT INTO quarantine (tbl, row_key, raw, error, at) VALUES (?,?,?,?,?)",
            (tbl, key, raw if isinstance(raw, str) else repr(raw), error, time.time()),
        )

    def _drop(self, tbl: str, column: str, key: Any, raw: Any, error: str) -> None:
        """Move a corrupt row to the quarantine table (a queued write: reads
        never take the write lock)."""
        def move(d: sqlite3.Connection) -> None:
            self._quarantine(tbl, str(key), raw, error)
            d.execute(f"DELETE FROM {tbl} WHERE {column}=?", (key,))

        self._write_later(move)

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
                        *, records: Sequence[tuple[str, str, Any]] = ()) -> None:
        state = _encode(session.state)
        rows = [_encode(m.to_json()) for m in messages]
        key, now = session.key, time.time()
        kv_rows = [(ns, k, _encode(v)) for ns, k, v in records]

        def tx(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO kv (ns, key, value, expires_at) VALUES (?,?,?,NULL) "
                "ON CONFLICT(ns, key) DO UPDATE SET value=excluded.value, expires_at=NULL",
                kv_rows)
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
        raw = value if type(value) is JSONText else _encode(value)
        exp = None if ttl is None else time.time() + ttl
        await self._write(lambda db: db.execute(
            "INSERT INTO kv (ns, key, value, expires_at) VALUES (?,?,?,?) "
            "ON CONFLICT(ns, key) DO UPDATE SET value=excluded.value, "
            "expires_at=excluded.expires_at", (ns, key, raw, exp)))

    async def kv_add(self, ns: str, key: str, value: Any, ttl: float | None = None) -> bool:
        raw = _encode(value)
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
        raw = _encode(identity)
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

    # tasks ----------------------------------------------------------------
    async def enqueue(self, kind: str, payload: dict[str, Any], *, partition: str = "",
                      key: str | None = None, delay: float = 0.0,
                      remember: float | None = None) -> int | None:
        raw = _encode(payload)
        now = time.time()
        # An unpartitioned task gets a partition of its own: nothing orders it.
        partition = partition or f"~{random_hex()}"

        def tx(db: sqlite3.Connection) -> int | None:
            if key is not None and remember is not None and not db.execute(
                    "INSERT INTO kv (ns, key, value, expires_at) VALUES (?,?,'null',?) "
                    "ON CONFLICT(ns, key) DO UPDATE SET expires_at=excluded.expires_at "
                    "WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?",
                    (_TASK_KEYS, key, now + remember, now)).rowcount:
                return None
            cur = db.execute(
                "INSERT INTO tasks (kind, part, key, payload, state, attempts, next_at, "
                "created_at, updated_at) VALUES (?,?,?,?,'pending',0,?,?,?) "
                "ON CONFLICT(key) DO NOTHING",
                (kind, partition, key, raw, now + delay, now, now))
            return cur.lastrowid if cur.rowcount else None

        return await self._write(tx)

    async def dead_letter(self, kind: str, payload: dict[str, Any], reason: str) -> int | None:
        raw, now = _encode(payload), time.time()
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
