"""Server-sent events that stop their producer when the client goes away.

Starlette's ``StreamingResponse`` may leave an async generator suspended
(to be finalised by the garbage collector) when the client disconnects.
:class:`EventStream` instead watches for ``http.disconnect`` and, when it
comes, cancels the pump and closes the generator before the request ends, so
the producer's ``finally`` blocks (saving a partial result, closing the
target's stream) always run and no task outlives the request.

A stream always ends with a terminal event: when the producer raises,
``on_failure`` makes the last event (``response.failed`` for a run), and
without one an ``error`` event (the Responses stream's error shape) closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from hostline import encode_json

__all__ = ["TERMINAL_TYPES", "EventStream", "encode"]

log = logging.getLogger("hostline.responses")


def encode(event: dict[str, Any]) -> bytes:
    """One SSE frame: ``event: <type>`` and the JSON ``data``."""
    data = encode_json(event)  # never raises: lone surrogates were replaced
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


class EventStream:
    """An ASGI response sending ``events`` as ``text/event-stream``."""

    def __init__(self, events: AsyncIterator[dict[str, Any]],
                 on_close: Callable[[], None] | None = None,
                 on_failure: Callable[[int], dict[str, Any]] | None = None) -> None:
        self.events = events
        self.on_close = on_close
        self.on_failure = on_failure

    def _failure_event(self, next_seq: int) -> dict[str, Any]:
        if self.on_failure is not None:
            with contextlib.suppress(Exception):
                return self.on_failure(next_seq)
        return {"type": "error", "code": "server_error", "param": None,
                "message": "The server failed while streaming this response.",
                "sequence_number": next_seq}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8"),
                                (b"cache-control", b"no-cache"),
                                (b"x-accel-buffering", b"no")]})
        pump = asyncio.create_task(self._pump(send))
        watch = asyncio.create_task(self._watch(receive))
        try:
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Cancel whichever is still running and wait for its cleanup, so the
            # producer is closed before this request returns.
            for task in (pump, watch):
                task.cancel()
            await asyncio.gather(pump, watch, return_exceptions=True)
            if self.on_close is not None:
                self.on_close()
        if pump.done() and not pump.cancelled() and pump.result():
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch(self, receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def _pump(self, send: Any) -> bool:
        """Send every event; ``True`` when the stream ended normally.

        Events the producer makes back to back (without waiting in between,
        like the opening and closing events of a response) go out as one body
        message: one write through the server instead of one per event.
        """
        loop = asyncio.get_running_loop()
        frames: list[bytes] = []
        waiting: list[asyncio.Future[None]] = []  # the sender, or a producer held back
        finished = False

        def wake() -> None:
            while waiting:
                fut = waiting.pop()
                if not fut.done():
                    fut.set_result(None)

        async def produce() -> None:
            nonlocal finished
            events = self.events
            next_seq, ended = 0, False
            try:
                async for event in events:
                    frames.append(encode(event))
                    seq = event.get("sequence_number")
                    next_seq = seq + 1 if isinstance(seq, int) else next_seq
                    ended = event.get("type") in TERMINAL_TYPES
                    wake()
                    if len(frames) >= _MAX_FRAMES:  # a slow client: wait for the sender
                        fut = loop.create_future()
                        waiting.append(fut)
                        await fut
            except Exception:
                log.exception("streaming a response failed")
                if not ended:
                    frames.append(encode(self._failure_event(next_seq)))
            finally:
                finished = True
                wake()
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()

        producer = asyncio.create_task(produce())
        try:
            while True:
                if not frames and not finished:
                    fut = loop.create_future()
                    waiting.append(fut)
                    await fut
                if frames:
                    body = b"".join(frames)
                    frames.clear()
                    wake()  # a producer held back may go on
                    try:
                        await send({"type": "http.response.body", "body": body,
                                    "more_body": True})
                    except Exception:  # noqa: BLE001 - the client is gone; stop producing
                        return False
                elif finished:
                    return True
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer


_MAX_FRAMES = 256  # events buffered before the producer waits for the client
#: Event types that end a response's stream.
TERMINAL_TYPES = frozenset({"response.completed", "response.failed", "response.incomplete",
                             "response.cancelled", "error"})
