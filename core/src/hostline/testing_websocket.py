"""WebSockets for test fakes: :func:`accept_websocket` and :class:`FakeWebSocket`.

A :class:`hostline.testing.FakeServer` handler that meets a WebSocket
handshake returns ``accept_websocket(request, endpoint)``: it checks the
handshake as a server must (``GET``, ``Upgrade: websocket``, version 13, a
16-byte key; 400 or 426 otherwise), and once the server has answered ``101``
``await endpoint(ws)`` talks over ``ws``, a :class:`FakeWebSocket` (wsproto's
frames on the upgraded connection). The connection ends when ``endpoint``
returns (with close code 1000 unless it closed already)::

    async def handler(request):
        if request.path == "/socket":
            return accept_websocket(request, echo)
        return 404, {}, b""

    async def echo(ws):
        while True:
            await ws.send(await ws.receive())  # WebSocketClosed ends the loop

Exported as ``hostline.testing.accept_websocket``, ``FakeWebSocket`` and
``WebSocketClosed``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, generate_accept_token

from .testing_server import FakeRequest, Reply, Upgrade

__all__ = ["FakeWebSocket", "WebSocketClosed", "accept_websocket"]

Endpoint = Callable[["FakeWebSocket"], Awaitable[None]]


class WebSocketClosed(ConnectionError):
    """The WebSocket is closed: ``code`` and ``reason`` of the close (1006 when
    the connection dropped without one)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"websocket closed ({code} {reason})".strip())
        self.code = code
        self.reason = reason


def _refuse(status: int, why: str) -> Reply:
    return status, {"content-type": "text/plain", "sec-websocket-version": "13"}, why.encode()


def accept_websocket(request: FakeRequest, endpoint: Endpoint) -> Upgrade | Reply:
    """The answer to a WebSocket handshake: an :class:`Upgrade` that runs
    ``endpoint``, or the refusal of a handshake that is not one."""
    tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    if request.method != "GET" or "upgrade" not in tokens or \
            request.headers.get("upgrade", "").lower() != "websocket":
        return _refuse(400, "a WebSocket handshake is a GET with Upgrade: websocket")
    if request.headers.get("sec-websocket-version") != "13":
        return _refuse(426, "unsupported Sec-WebSocket-Version")
    key = request.headers.get("sec-websocket-key", "")
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        return _refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64")

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  pending: bytes) -> None:
        ws = FakeWebSocket(request, reader, writer, pending)
        code = 1000
        try:
            await endpoint(ws)
        except WebSocketClosed:
            pass
        except asyncio.CancelledError:  # the fake stops
            with contextlib.suppress(OSError):
                await ws.close(1001, "going away", wait=False)
            raise
        except Exception:
            code = 1011
            raise
        finally:
            with contextlib.suppress(OSError):
                await ws.close(code)

    accept = generate_accept_token(key.encode()).decode()
    return Upgrade("websocket", run, {"sec-websocket-accept": accept})


class FakeWebSocket:
    """The server side of one WebSocket connection.

    ``request`` is the handshake (path, query, headers). :meth:`receive`
    returns the next text (``str``) or binary (``bytes``) message, answering
    pings on the way, and raises :class:`WebSocketClosed` once the client
    closed or went away. Sends may come from any task of the fake's loop.
    """

    def __init__(self, request: FakeRequest, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, pending: bytes = b"") -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._conn = Connection(ConnectionType.SERVER)
        self._events: deque[Event] = deque()
        self._parts: list[Any] = []
        self._send_lock = asyncio.Lock()
        self._receiving = False
        #: The close code, once closed (either side).
        self.close_code: int | None = None
        self.close_reason = ""
        if pending:
            self._conn.receive_data(pending)

    def __repr__(self) -> str:
        return f"<FakeWebSocket {self.request.path} {self._conn.state.name}>"

    @property
    def closed(self) -> bool:
        """Whether a close was sent or received."""
        return self._conn.state is not ConnectionState.OPEN

    async def _write(self, event: Event) -> None:
        async with self._send_lock:
            try:
                data = self._conn.send(event)
            except LocalProtocolError:
                raise WebSocketClosed(self.close_code or 1006, self.close_reason) from None
            self._writer.write(data)
            await self._writer.drain()

    async def _next_event(self) -> Event:
        while not self._events:
            self._events.extend(self._conn.events())
            if self._events:
                break
            data = await self._reader.read(65536)
            self._conn.receive_data(data or None)
        return self._events.popleft()

    async def _closed_by(self, event: CloseConnection) -> WebSocketClosed:
        """Record a close from the client (answering it) and say so."""
        if self.close_code is None:
            self.close_code, self.close_reason = event.code, event.reason or ""
        if self._conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            # OPEN here: a frame wsproto could not parse; close with its code.
            with contextlib.suppress(OSError, WebSocketClosed):
                await self._write(event.response() if self._conn.state is
                                  ConnectionState.REMOTE_CLOSING else event)
        return WebSocketClosed(event.code, event.reason or "")

    async def receive(self) -> str | bytes:
        """The next whole message."""
        if self._conn.state is ConnectionState.CLOSED:
            raise WebSocketClosed(self.close_code or 1006, self.close_reason)
        self._receiving = True
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, Ping):
                    with contextlib.suppress(WebSocketClosed):
                        await self._write(event.response())
                elif isinstance(event, CloseConnection):
                    raise await self._closed_by(event)
                elif isinstance(event, (TextMessage, BytesMessage)):
                    self._parts.append(event.data)
                    if event.message_finished:
                        parts, self._parts = self._parts, []
                        if isinstance(event, TextMessage):
                            return "".join(parts)
                        return b"".join(parts)
        finally:
            self._receiving = False

    async def receive_json(self) -> Any:
        """The next message, parsed as JSON (``ValueError`` if it is not)."""
        return json.loads(await self.receive())

    async def send(self, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message."""
        await self._write(TextMessage(data=data) if isinstance(data, str)
                          else BytesMessage(data=data))

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as a JSON text message."""
        await self.send(json.dumps(data))

    async def close(self, code: int = 1000, reason: str = "", *, wait: bool = True) -> None:
        """Send a close (once) and, with ``wait`` and unless a :meth:`receive` is
        waiting (it will see the reply), wait a little for the client's."""
        if self._conn.state is not ConnectionState.OPEN:
            return
        self.close_code, self.close_reason = code, reason
        with contextlib.suppress(WebSocketClosed):
            await self._write(CloseConnection(code=code, reason=reason))
        if self._receiving or not wait:
            return
        with contextlib.suppress(asyncio.TimeoutError, OSError):
            await asyncio.wait_for(self._await_reply(), 2.0)

    async def _await_reply(self) -> None:
        while self._conn.state is not ConnectionState.CLOSED:
            event = await self._next_event()
            if isinstance(event, CloseConnection):
                return
