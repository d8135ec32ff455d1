"""Wake-ups and leader locks across replicas: ``LISTEN/NOTIFY`` and
session-level advisory locks, each on a connection of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg

from hostline import Doorbell, Lock

if TYPE_CHECKING:
    from .store import PostgresStore

__all__ = ["NotifyDoorbell", "PostgresLock", "redact"]

log = logging.getLogger("hostline.store.postgres")

_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_PARAM = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)


def redact(text: str) -> str:
    """``text`` with every password in a URL or ``password=`` pair as ``***``."""
    return _PARAM.sub(r"\1***", _PASSWORD.sub(r"\1***@", text))


class NotifyDoorbell(Doorbell):
    """``LISTEN`` on the schema's channel; every enqueue ``NOTIFY``s it in its
    own statement, so :meth:`ring` has nothing left to do. A dropped listening
    connection is reopened (and the runner woken, in case a notification was
    missed)."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def listen(self, wake: Callable[[], None]) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(wake, ready),
                                         name="hostline-postgres-listen")
        await asyncio.wait({ready, self._task}, timeout=self.store.connect_timeout,
                           return_when=asyncio.FIRST_COMPLETED)

    async def _run(self, wake: Callable[[], None], ready: asyncio.Future[None]) -> None:
        delay = 0.5
        while True:
            try:
                self._conn = await self.store.connect()
                await self._conn.execute(f'LISTEN "{self.store.channel}"')
                if not ready.done():
                    ready.set_result(None)
                wake()  # anything queued while not listening
                delay = 0.5
                async for _ in self._conn.notifies():
                    wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect after any failure
                log.warning("postgres doorbell: listening failed (%s); again in %.1fs",
                            exc, delay)
            finally:
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        await self._conn.close()
                    self._conn = None
            await asyncio.sleep(delay)
            delay = min(10.0, delay * 2)

    def ring(self) -> None:
        """Nothing to do: the enqueue's own ``pg_notify`` rang at commit."""

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


class PostgresLock(Lock):
    """``pg_try_advisory_lock`` on a connection held while the lock is: when
    the holder dies its connection drops and the server frees the lock."""

    def __init__(self, store: PostgresStore, name: str) -> None:
        self.store = store
        self.name = name
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def acquire(self) -> bool:
        if self._conn is not None:
            return await self.held()
        conn = await self.store.connect()
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                     (self.name,))
            row = await cur.fetchone()
        except BaseException:
            await conn.close()
            raise
        if row is not None and row[0]:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            await self._conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - a broken connection means the lock is gone
            await self._drop()
            return False

    async def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            await self._conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                                     (self.name,))
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
