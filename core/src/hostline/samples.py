"""Per-minute samples of the queue and of task outcomes, kept in the store.

Every process with a runner writes one small record a minute (key-value
namespace ``hostline:samples``, kept two hours): tasks done, retried and
dead-lettered in that minute, and the queue depth. ``hostline stats`` and
the admin page's chart sum them over the processes sharing the store, so a
reply delivered by a runner process shows up on the web process's page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

from .store import Store

__all__ = ["NS", "Sampler", "last_hour"]

log = logging.getLogger("hostline.samples")

NS = "hostline:samples"
KEEP = 7200.0


class Sampler:
    """Writes this process's sample once a minute (and at stop)."""

    def __init__(self, store: Store, owner: str, outcomes: Counter[str],
                 depth: Any, period: float = 60.0) -> None:
        self.store = store
        self.owner = owner
        self.outcomes = outcomes  # the runner's live counter: read, never reset
        self._depth = depth
        self.period = period
        self._sent: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="hostline-samples")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.outcomes != self._sent:
            with contextlib.suppress(Exception):
                await self.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.period - time.time() % self.period)
            try:
                await self.flush()
            except Exception:
                log.debug("writing a sample failed", exc_info=True)

    async def flush(self, now: float | None = None) -> None:
        """Write the outcomes since the last flush under the current minute."""
        now = time.time() if now is None else now
        minute = int(now // 60) * 60
        delta = self.outcomes - self._sent
        self._sent = Counter(self.outcomes)
        key = f"{minute:012d}:{self.owner}"
        old = await self.store.kv_get(NS, key)
        value: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
        for name in ("done", "retry", "dead"):
            value[name] = int(value.get(name, 0)) + delta.get(name, 0)
        value["queue"] = int(self._depth())
        await self.store.kv_put(NS, key, value, ttl=KEEP)


async def last_hour(store: Store, now: float | None = None) -> list[dict[str, Any]]:
    """Sixty per-minute points, oldest first: ``{"t", "done", "retry", "dead",
    "queue"}`` summed over processes (the queue: the largest report)."""
    now = time.time() if now is None else now
    end = int(now // 60) * 60
    start = end - 59 * 60
    points: dict[int, dict[str, Any]] = {m: {"t": m, "done": 0, "retry": 0, "dead": 0,
                                             "queue": None}
              for m in range(start, end + 60, 60)}
    after = f"{start - 1:012d}"
    while True:
        rows = await store.kv_list(NS, limit=500, after=after)
        for key, value in rows:
            minute = int(key.partition(":")[0])
            point = points.get(minute)
            if point is None or not isinstance(value, dict):
                continue
            for name in ("done", "retry", "dead"):
                point[name] += int(value.get(name, 0))
            q = value.get("queue")
            if isinstance(q, int):
                point["queue"] = max(q, point["queue"] or 0)
        if len(rows) < 500:
            break
        after = rows[-1][0]
    return [points[m] for m in sorted(points)]
