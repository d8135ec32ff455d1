"""The durable task runner: outbox deliveries and inbound updates.

Tasks are committed to the store before anything acts on them. Workers
(in this process, and in every other process on the same state dir) claim
them with leases; a task whose worker died is taken over when its lease
expires. At most one task per partition (one chat) runs at a time, in
order, and the number of tasks in flight is bounded.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from . import telemetry
from .errors import DeliveryError
from .store import Doorbell, Store, Task, owner_id

if TYPE_CHECKING:
    from .config import OutboxConfig

log = logging.getLogger("hostline.runner")

Handler = Callable[[Task], Awaitable[Any]]

__all__ = ["RetryPolicy", "Runner", "StatusLog", "TaskStatus"]

@attrs.frozen
class RetryPolicy:
    """Exponential backoff with full jitter, capped; dead-letter after ``max_attempts``."""

    max_attempts: int = 8
    initial: float = 0.5
    maximum: float = 300.0

    def next_delay(self, attempts: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next try, or ``None`` when the task should die."""
        if attempts >= self.max_attempts:
            return None
        base = min(self.maximum, self.initial * (2 ** max(0, attempts - 1)))
        delay = random.uniform(base / 2, base)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


@attrs.frozen
class TaskStatus:
    """The last outcome of one task, kept in a bounded in-memory log."""

    task_id: int
    kind: str
    outcome: str
    at: float
    error: str | None = None


class StatusLog:
    """The last ``size`` task outcomes, oldest first, as :class:`TaskStatus`.

    Kept in flat arrays rather than as objects: an entry made during a burst
    of thousands of tasks would otherwise outlive the burst's garbage by
    minutes, each pinning a block of the allocator that the rest of the
    burst freed (one of the things that keep a process at its high-water
    mark after a burst).
    """

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._ids = array.array("q", bytes(8 * size))
        self._at = array.array("d", bytes(8 * size))
        self._kinds: list[str] = [""] * size
        self._outcomes: list[str] = [""] * size
        self._errors: list[str | None] = [None] * size
        self._next = 0
        self._count = 0

    def add(self, task_id: int, kind: str, outcome: str, error: str | None = None) -> None:
        """Record one outcome now (the oldest is forgotten when full)."""
        i = self._next
        self._ids[i] = task_id
        self._at[i] = time.time()
        # Interned, so the log holds a handful of strings however many tasks.
        self._kinds[i] = sys.intern(kind)
        self._outcomes[i] = sys.intern(outcome)
        self._errors[i] = error
        self._next = (i + 1) % self.size
        self._count = min(self._count + 1, self.size)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[TaskStatus]:
        start = (self._next - self._count) % self.size
        for n in range(self._count):
            i = (start + n) % self.size
            yield TaskStatus(self._ids[i], self._kinds[i], self._outcomes[i], self._at[i],
                             self._errors[i])


class Runner:
    """Claims and runs tasks; two-phase shutdown (stop claiming, drain, release)."""

    def __init__(self, store: Store, config: OutboxConfig) -> None:
        self.store = store
        self.config = config
        # Listening (a claiming process) or ringing (a web process), see start().
        self._doorbell: Doorbell | None = None
        self._notifier: Doorbell | None = None
        self.policy = RetryPolicy(config.max_attempts, config.backoff_initial, config.backoff_max)
        self.owner = owner_id()
        self.handlers: dict[str, Handler] = {}
        #: The last 1,000 task outcomes of this process (the admin page's health).
        self.status = StatusLog(1000)
        #: Tasks finished in this process by outcome (``done``, ``retry``, ``dead``).
        self.outcomes: Counter[str] = Counter()
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._beat_task: asyncio.Task[None] | None = None
        self._count_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.pending_estimate = 0

    def register(self, kind: str, handler: Handler) -> None:
        """Handle tasks of ``kind`` with ``handler(task)``."""
        self.handlers[kind] = handler

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._woken = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _claim_size(self) -> int:
        """How many tasks the next claim asks for (0: not now). Under load,
        claim in batches rather than once per finished task."""
        free = self.config.concurrency - len(self._inflight)
        batch = min(self.config.claim_batch, max(1, self.config.concurrency // 4))
        return min(free, self.config.claim_batch) if free >= batch or not self._inflight else 0

    def _could_claim(self) -> bool:
        return self._claim_size() > 0

    async def enqueue(self, kind: str, payload: dict[str, Any], *, partition: str = "",
                      key: str | None = None, delay: float = 0.0,
                      remember: float | None = None) -> int | None:
        """Commit a task and wake the workers. ``None`` if ``key`` was already
        queued (or, with ``remember``, seen in the last ``remember`` seconds)."""
        if telemetry.active is not None:
            payload = telemetry.active.inject(payload)  # the trace goes on where it runs
        task_id = await self.store.enqueue(kind, payload, partition=partition, key=key,
                                           delay=delay, remember=remember)
        if task_id is not None:
            self.pending_estimate += 1
            if self._notifier is not None:
                self._notifier.ring()
            elif self._could_claim():
                # A full runner claims when its tasks finish: waking it now
                # would only cost the webhook path a loop turn.
                self.wake()
        return task_id

    @property
    def inflight(self) -> int:
        """Tasks running in this process now."""
        return len(self._inflight)

    async def start(self, *, claim: bool = True) -> None:
        """Start the claim loop (pending tasks from before a restart are resumed).

        With ``claim=False`` (a web process beside runner processes) nothing
        is claimed here: new tasks wake the runner processes on this state
        store (through its :meth:`~hostline.Store.doorbell`), and the queue
        depth is still counted for ``/readyz``.
        """
        self._stopping = False
        self.pending_estimate = await self.store.count_pending()
        self._count_task = asyncio.create_task(self._count_loop(), name="hostline-queue")
        if claim:
            self._doorbell = self.store.doorbell()
            if self._doorbell is not None:
                await self._doorbell.listen(self.wake)
            self._loop_task = asyncio.create_task(self._loop(), name="hostline-runner")
            self._beat_task = asyncio.create_task(self._heartbeat(), name="hostline-leases")
        else:
            self._notifier = self.store.doorbell()

    async def _count_loop(self) -> None:
        # Other processes on the state dir enqueue and finish too: recount.
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                self.pending_estimate = await self.store.count_pending()

    async def stop(self, grace: float) -> None:
        """Stop claiming; wait up to ``grace`` seconds for in-flight tasks;
        cancel the rest and give their leases back so another worker (or the
        next start) takes them."""
        self._stopping = True
        self.wake()
        await _cancel(self._loop_task)
        self._loop_task = None
        if self._inflight:
            _, pending = await asyncio.wait(list(self._inflight.values()), timeout=grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        await _cancel(self._beat_task)
        await _cancel(self._count_task)
        self._beat_task = self._count_task = None
        for bell in (self._doorbell, self._notifier):
            if bell is not None:
                with contextlib.suppress(Exception):
                    await bell.close()
        self._doorbell = self._notifier = None
        with contextlib.suppress(Exception):
            await self.store.release(self.owner)

    async def _loop(self) -> None:
        kinds = list(self.handlers)
        while not self._stopping:
            want = self._claim_size()
            if not kinds or not want:
                await self._wait_wake()
                continue
            try:
                tasks = await self.store.claim(self.owner, want, self.config.lease_seconds, kinds)
            except Exception:
                log.exception("claiming tasks failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for task in tasks:
                self._inflight[task.id] = asyncio.create_task(self._run(task),
                                                              name=f"hostline-task-{task.id}")
            if len(tasks) < want:
                await self._wait_wake()

    async def _wait_wake(self) -> None:
        if self._woken:
            self._woken = False
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        # Nobody rings when a dead process's lease runs out (and the tasks
        # queued behind it in its partitions wait for it): look again within
        # a lease even when the poll interval is longer.
        timer = loop.call_later(min(self.config.poll_interval, self.config.lease_seconds),
                                self.wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._woken = False

    async def _heartbeat(self) -> None:
        """Extend the leases of every task in flight, a third of a lease apart
        (one loop for all of them: nothing is created per task)."""
        period = self.config.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            ids = list(self._inflight)
            try:
                # Queued together, the extensions share one transaction.
                await asyncio.gather(*(self.store.extend(i, self.owner,
                                                         self.config.lease_seconds)
                                       for i in ids))
            except Exception:
                log.warning("extending task leases failed", exc_info=True)

    async def _run(self, task: Task) -> None:
        tel = telemetry.active
        obs = tel.task(task) if tel is not None else None
        outcome, error = "cancelled", None
        try:
            handler = self.handlers[task.kind]
            try:
                await handler(task)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the task
                error = type(exc).__name__
                outcome = await self._failed(task, exc)
            else:
                await self.store.finish(task.id, self.owner)
                self.pending_estimate = max(0, self.pending_estimate - 1)
                self.status.add(task.id, task.kind, "done")
                self.outcomes["done"] += 1
                outcome = "done"
        finally:
            if obs is not None:
                obs.end(outcome, error)
            self._inflight.pop(task.id, None)
            if self._could_claim():
                self.wake()

    async def _failed(self, task: Task, exc: Exception) -> str:
        """Record the failure; returns the outcome (``retry`` or ``dead``)."""
        retryable = getattr(exc, "retryable", not isinstance(exc, (TypeError, ValueError,
                                                                   KeyError)))
        retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
        delay = self.policy.next_delay(task.attempts, retry_after) if retryable else None
        error = f"{type(exc).__name__}: {exc}"
        if delay is None:
            log.warning("task %s (%s) dead after %d attempt(s): %s", task.id, task.kind,
                        task.attempts, error)
            self.pending_estimate = max(0, self.pending_estimate - 1)
        else:
            log.info("task %s (%s) failed (attempt %d), retry in %.1fs: %s", task.id,
                     task.kind, task.attempts, delay, error)
        if not isinstance(exc, DeliveryError):
            log.debug("task %s failure", task.id, exc_info=exc)
        await self.store.reschedule(task.id, self.owner, error,
                                    None if delay is None else time.time() + delay)
        outcome = "dead" if delay is None else "retry"
        self.status.add(task.id, task.kind, outcome, error)
        self.outcomes[outcome] += 1
        return outcome


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
