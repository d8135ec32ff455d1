"""One run of the target for one incoming message (:class:`Turn`), and the
count of runs in flight that shutdown waits for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import telemetry
from .ids import random_hex
from .store import TurnRecord
from .types import Message, RunRequest, RunResult, RunUpdate, Usage

if TYPE_CHECKING:
    from .host import Host

__all__ = ["RunsInFlight", "Turn"]


class RunsInFlight:
    """Counts the target runs in flight; :attr:`idle` is set when there are none."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Count one run while the block runs."""
        self.count += 1
        self.idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self.idle.set()


class Turn:
    """One run of the target for one incoming message.

    Get one from :meth:`Host.begin_turn`, then either ``await turn.run()`` or
    ``async for update in turn.stream()``. Afterwards :attr:`result` holds the
    target's result and :attr:`reply` what the originating channel should
    send (after response hooks; ``None`` when nothing goes back there).
    Deliveries to other destinations are already committed to the outbox.
    """

    def __init__(self, host: Host, request: RunRequest) -> None:
        self.host = host
        self.request = request
        self.run_id = random_hex()
        self.result: RunResult | None = None
        self.reply: RunResult | None = None
        #: Key-value records ``(ns, key, value)`` saved with the turn's history,
        #: in the same transaction.
        self.records: list[TurnRecord] = []
        #: Called with :attr:`reply` (after the response hooks) just before the
        #: turn is saved; the records it returns are saved with it, in the same
        #: transaction (a channel keeping its own copy of the reply writes once).
        self.reply_records: Callable[[RunResult | None], Iterable[TurnRecord]] | None = None

    async def run(self) -> RunResult | None:
        """Run the target to completion; returns :attr:`reply`."""
        tel = telemetry.active
        obs = tel.turn(self, current=True) if tel is not None else None
        try:
            async with self.host.runs.track():
                self.result = await self.host.target.run(self.request)
                await self._finish(self.result)
        except BaseException as exc:
            if obs is not None:
                obs.end("failed", exc)
            raise
        if obs is not None:
            obs.end(self.result.status)
        return self.reply

    async def stream(self) -> AsyncIterator[RunUpdate]:
        """Yield the target's updates; history and delivery happen at the end.

        If the consumer stops early (a client disconnect), what was produced
        so far is saved as an incomplete result.
        """
        text: list[str] = []
        parts: list[Any] = []
        usage = Usage()
        status = "incomplete"  # unless the target finishes or fails
        error: str | None = None
        tel = telemetry.active
        obs = tel.turn(self, current=False) if tel is not None else None
        async with self.host.runs.track():
            try:
                async for update in self.host.target.stream(self.request):
                    if obs is not None and update.delta:
                        obs.delta()
                    text.append(update.delta)
                    if update.part is not None:
                        parts.append(update.part)
                    if update.usage is not None:
                        usage = update.usage
                    yield update
                status = "completed"
            except Exception as exc:
                status, error = "failed", type(exc).__name__
                raise
            finally:
                content: list[Any] = ["".join(text)] if any(text) else []
                message = Message("assistant", (*content, *parts))
                self.result = RunResult((message,), usage=usage, status=status,  # type: ignore[arg-type]
                                        error=error)
                try:
                    if status == "completed" or any(text):
                        await asyncio.shield(self._finish(self.result))
                finally:
                    if obs is not None:
                        obs.end(status, error)

    async def _finish(self, result: RunResult) -> None:
        host, req = self.host, self.request
        plan = await host.delivery.plan(self, result)
        records: Sequence[TurnRecord] = self.records
        reply_records, self.reply_records = self.reply_records, None
        if reply_records is not None:
            # Dropped once called: a channel's callback usually refers back to
            # an object holding this turn, and the cycle would leave the turn
            # (request, history, result) to the garbage collector.
            records = [*records, *reply_records(plan.reply)]
        # History first, then the outbox: a crash in between runs the turn
        # again (inbound tasks are retried) rather than sending it twice.
        await host.store.save_turn(req.session, [*req.input, *result.messages],
                                   host.config.host.history_limit, records=records)
        await host.delivery.commit(plan)
        self.reply = plan.reply
