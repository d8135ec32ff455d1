"""The HTTP server every plugin's test fake is built on (h11 on asyncio streams).

A fake of an external service (the Bot API, Slack's Web API...) is a
handler: ``async handler(request: FakeRequest) -> (status, headers, body)``.
:class:`FakeServer` serves it on a loopback port with its own event loop in
a daemon thread, so sync tests, async tests and ``hostline serve`` processes
can all talk to it; keep-alive, chunked bodies and pipelining are h11's.

``body`` is ``bytes`` (sent with a ``Content-Length``) or an async iterator
of ``bytes``: a streamed body, each piece written as it comes (chunked to an
HTTP/1.1 client, close-delimited to an HTTP/1.0 one), as Server-Sent Events
are. A handler may instead return an :class:`Upgrade`: the server answers
``101 Switching Protocols`` and hands the connection to ``Upgrade.run``
(:func:`hostline.testing.accept_websocket` builds one for a WebSocket).
Exported as ``hostline.testing.FakeServer``, ``FakeRequest`` and ``Upgrade``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TypeVar

import attrs
import h11

__all__ = ["Body", "FakeRequest", "FakeServer", "Handler", "Polling", "Reply", "Upgrade"]

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


#: A response body: whole, or streamed piece by piece.
Body = bytes | AsyncIterable[bytes]
#: ``(status, headers, body)``.
Reply = tuple[int, dict[str, str], Body]


@attrs.frozen
class Upgrade:
    """Answer ``101 Switching Protocols`` with ``headers`` (``upgrade`` and
    ``connection`` are added), then ``await run(reader, writer, pending)``:
    the connection is the handler's until ``run`` returns (``pending`` is what
    the client sent past its request). Only for a request that asked to
    upgrade (``Connection: upgrade``); the server closes the connection after."""

    protocol: str
    run: Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]
    headers: dict[str, str] = attrs.field(factory=dict)


Handler = Callable[[FakeRequest], Awaitable[Reply | Upgrade]]


class FakeServer:
    """Serves ``handler`` on ``host`` (``127.0.0.1``; a free port unless given one)."""

    def __init__(self, handler: Handler, port: int = 0, name: str = "FakeServer",
                 *, max_header_bytes: int = 64 * 1024, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
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
        """``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

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
        server = await asyncio.start_server(self._connection, self.host, self.port)
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
                req = await self._read_request(conn, reader)
                if req is None:
                    return
                try:
                    answer = await self.handler(req)
                except Exception:
                    log.exception("%s handler failed", self.name)
                    answer = 500, {"content-type": "text/plain"}, b"error"
                if isinstance(answer, Upgrade):
                    await self._switch(conn, reader, writer, req, answer)
                    return
                if not await self._respond(conn, writer, answer):
                    return
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (h11.RemoteProtocolError, ConnectionError, OSError, asyncio.CancelledError):
            return
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    @staticmethod
    async def _read_request(conn: h11.Connection,
                            reader: asyncio.StreamReader) -> FakeRequest | None:
        """The next whole request, or ``None`` when the client went away."""
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is not h11.DONE:
                    return None
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                return None
        assert request is not None
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        return FakeRequest(request.method.decode(), request.target.decode("latin-1"),
                           headers, bytes(body))

    async def _respond(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                       answer: Reply) -> bool:
        """Send one response; ``False`` when a streamed body broke off."""
        status, out_headers, payload = answer
        head = list(out_headers.items())
        if isinstance(payload, (bytes, bytearray)):
            head.append(("content-length", str(len(payload))))
            writer.write(conn.send(h11.Response(status_code=status, headers=head)) or b"")
            writer.write(conn.send(h11.Data(data=payload)) or b"")
        else:
            # No length: h11 frames it (chunked, or close-delimited for HTTP/1.0).
            writer.write(conn.send(h11.Response(status_code=status, headers=head)) or b"")
            await writer.drain()
            try:
                async for piece in payload:
                    if piece:
                        writer.write(conn.send(h11.Data(data=piece)) or b"")
                        await writer.drain()
            except OSError:
                return False  # the client went away
            except Exception:  # a broken stream ends the connection, as a real one does
                log.exception("%s streamed body failed", self.name)
                return False
            finally:
                close = getattr(payload, "aclose", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        return True

    async def _switch(self, conn: h11.Connection, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter, req: FakeRequest, upgrade: Upgrade) -> None:
        """``101 Switching Protocols``, then the connection is ``upgrade.run``'s."""
        if not req.headers.get("upgrade"):  # h11 would refuse to switch
            log.error("%s: the handler upgraded a request that did not ask to", self.name)
            await self._respond(conn, writer, (500, {"content-type": "text/plain"}, b"error"))
            return
        head = [*upgrade.headers.items(), ("upgrade", upgrade.protocol),
                ("connection", "Upgrade")]
        writer.write(conn.send(h11.InformationalResponse(status_code=101, headers=head)) or b"")
        await writer.drain()
        pending, _closed = conn.trailing_data
        try:
            await upgrade.run(reader, writer, bytes(pending))
        except (OSError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("%s upgraded connection failed", self.name)
