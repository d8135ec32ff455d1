"""The HTTP server every plugin's test fake is built on (h11 on asyncio streams).

A fake of an external service (the Bot API, Slack's Web API...) is a
handler: ``async handler(request: FakeRequest) -> (status, headers, body)``.
:class:`FakeServer` serves it on a loopback port with its own event loop in
a daemon thread, so sync tests, async tests and ``hostline serve`` processes
can all talk to it; keep-alive, chunked bodies and pipelining are h11's.
Exported as ``hostline.testing.FakeServer`` and ``hostline.testing.FakeRequest``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import h11

__all__ = ["FakeRequest", "FakeServer", "Polling"]

log = logging.getLogger("hostline.testing")


@attrs.frozen
class FakeRequest:
    """One request: method, target (path and query), lowercase headers, body."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        """The query string (after ``?``)."""
        return self.target.partition("?")[2]


T = TypeVar("T")


class Polling:
    """``wait_for`` (sync tests) and ``until`` (async tests) for fakes: poll a
    predicate of what the fake recorded until it is truthy."""

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Poll ``predicate`` until it returns something truthy; that value.
        ``AssertionError`` after ``timeout`` seconds (a bound, not a timing assert)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {predicate!r}")
            time.sleep(0.01)

    async def until(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """:meth:`wait_for` for async tests (the loop keeps running)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {predicate!r}")
            await asyncio.sleep(0.01)


Handler = Callable[[FakeRequest], Awaitable[tuple[int, dict[str, str], bytes]]]


class FakeServer:
    """Serves ``handler`` on ``127.0.0.1`` (a free port unless given one)."""

    def __init__(self, handler: Handler, port: int = 0, name: str = "FakeServer",
                 *, max_header_bytes: int = 64 * 1024) -> None:
        self.handler = handler
        self.port = port
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._max_header_bytes = max_header_bytes

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread; returns once the port listens."""
        if self._thread is not None:
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"{self.name} failed to start: {self._error!r}")

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._thread is None or self.loop is None or self._stop is None:
            return
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        self._thread = None

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
        # Keep-alive connections would outlive the loop: end them here.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_header_bytes)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                request: h11.Request | None = None
                body = bytearray()
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(65536)
                        conn.receive_data(data)
                        if not data and conn.their_state is not h11.DONE:
                            return
                        continue
                    if isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                assert request is not None
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
                req = FakeRequest(request.method.decode(), request.target.decode("latin-1"),
                                  headers, bytes(body))
                try:
                    status, out_headers, payload = await self.handler(req)
                except Exception:
                    log.exception("%s handler failed", self.name)
                    status, out_headers, payload = 500, {"content-type": "text/plain"}, b"error"
                head = [(k, v) for k, v in out_headers.items()]
                head.append(("content-length", str(len(payload))))
                writer.write(conn.send(h11.Response(status_code=status, headers=head)) or b"")
                writer.write(conn.send(h11.Data(data=payload)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (h11.RemoteProtocolError, ConnectionError, OSError, asyncio.CancelledError):
            return
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
