"""Work that one process at a time does across every process sharing a
store (a Telegram ``getUpdates`` loop): leader election on the store's
:meth:`~hostline.Store.lock`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from .store import Store

__all__ = ["run_singleton"]

log = logging.getLogger("hostline.singleton")


async def run_singleton(store: Store, name: str, work: Callable[[], Awaitable[None]], *,
                        check_every: float = 2.0) -> None:
    """Run ``work()`` while this process leads ``name``; never returns.

    Every ``check_every`` seconds a follower tries to take the lock and the
    leader confirms it still holds it; a leader that lost it (its connection
    to the database dropped, its lease was taken) cancels ``work``. If
    ``work`` fails or returns, the lock is given up and tried again, so
    another process may take over. Cancel the task running this to stop.
    """
    lock = store.lock(name)
    while True:
        try:
            leading = await lock.acquire()
        except Exception as exc:  # noqa: BLE001 - the store may be briefly unreachable
            log.warning("singleton %s: taking the lock failed: %s", name, exc)
            leading = False
        if not leading:
            await asyncio.sleep(check_every * random.uniform(0.75, 1.0))
            continue
        log.info("singleton %s: this process leads", name)
        task = asyncio.create_task(_call(work), name=f"hostline-singleton-{name}")
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=check_every)
                if task.done():
                    break
                try:
                    still = await lock.held()
                except Exception as exc:  # noqa: BLE001 - unsure means not leading
                    log.warning("singleton %s: checking the lock failed: %s", name, exc)
                    still = False
                if not still:
                    log.warning("singleton %s: lost the lock; stopping here", name)
                    break
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(Exception):
                await asyncio.shield(lock.release())
        if not task.cancelled() and task.exception() is not None:
            log.warning("singleton %s failed: %s: %s", name, type(task.exception()).__name__,
                        task.exception())
        await asyncio.sleep(check_every * random.uniform(0.5, 1.0))


async def _call(work: Callable[[], Awaitable[None]]) -> None:
    await work()
