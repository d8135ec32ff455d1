"""The SQLite write engine under :class:`~hostline.store.SQLiteStore`.

Statements run on the event loop's thread (see :meth:`SQLiteEngine._flush`
for why); writes queued in one turn of the loop share one transaction
(group commit), and WAL checkpoints run on a thread of their own. Several
processes may open the same file: writes use ``BEGIN IMMEDIATE`` and are
retried while another process holds the write lock, without blocking the
loop. The store on top says *what* to write (sessions, key-value records,
links, the queue); this module says *how*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..json_boundary import encode_json
from .contracts import JSONText

__all__ = ["BUSY_MS", "SQLiteEngine", "encode_row"]

T = TypeVar("T")

log = logging.getLogger("hostline.store")

BUSY_MS = 30_000  # how long a write waits for another process's write lock
#: Turns of the event loop a group commit waits for more writes to join it
#: (each turn is a few hundred microseconds under load, and nothing when the
#: loop is idle). A commit costs the same for one write as for twenty: at 32
#: concurrent Responses requests, waiting two turns doubles the writes per
#: commit (10 to 18) and serves 8% more requests a second.
GATHER_TURNS = 2
#: A batch this large is committed at once.
GATHER_MAX = 64


def encode_row(value: Any) -> str:
    """A row's JSON text under the JSON boundary's policy (a :class:`JSONText`
    is that already, and is written as it is)."""
    if type(value) is JSONText:
        return value
    # UTF-8 (older rows escape non-ASCII; erasure searches both forms).
    return encode_json(value)


def _log_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("a background store write failed: %s", fut.exception())


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


class SQLiteEngine:
    """One SQLite file in WAL mode: reads now, writes in group commits.

    Subclasses implement :meth:`_prepare` (the schema) and use
    :meth:`_call` for reads, :meth:`_write` for writes a caller awaits and
    :meth:`_write_later` for writes nobody waits for.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flush_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._busy_since: float | None = None
        self._deferred = 0
        self._checkpointer: _Checkpointer | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read now, on the loop's thread (WAL readers never wait for a writer)."""
        if self._db is None:
            raise RuntimeError("store is not open")
        return fn(*args)

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
        db.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        db.execute("PRAGMA wal_autocheckpoint=0")  # see _Checkpointer
        db.execute("BEGIN IMMEDIATE")
        try:
            self._prepare(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            db.close()
            raise
        self._db = db

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Create or migrate the schema, inside the opening transaction."""

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
        if self._deferred < GATHER_TURNS and len(self._batch) < GATHER_MAX:
            # Let the writes of a few more requests join this commit.
            self._deferred += 1
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
            return
        self._deferred = 0
        db = self.db
        try:
            db.execute("PRAGMA busy_timeout=0")
            try:
                db.execute("BEGIN IMMEDIATE")
            finally:
                db.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        except sqlite3.OperationalError as exc:
            now = time.monotonic()
            if self._busy_since is None:
                self._busy_since = now
            if "locked" in str(exc) and now - self._busy_since < BUSY_MS / 1000:
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
