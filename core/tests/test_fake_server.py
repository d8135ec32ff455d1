"""``hostline.testing.FakeServer``: whole and streamed bodies, protocol upgrades, WebSockets.

The clients are real ones: httpx, a raw socket speaking HTTP/1.0 and
upgrades, and wsproto's client side for WebSockets.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from hostline.testing import (
    FakeRequest,
    FakeServer,
    FakeWebSocket,
    Polling,
    Reply,
    Upgrade,
    WebSocketClosed,
    accept_websocket,
)

GO_ON = threading.Event()


async def _pieces() -> AsyncIterator[bytes]:
    yield b"data: one\n\n"
    # The next piece waits for the client to have read the first one.
    if not await asyncio.to_thread(GO_ON.wait, 10):
        raise RuntimeError("the client never read the first piece")
    yield b""
    yield b"data: two\n\n"


async def _broken() -> AsyncIterator[bytes]:
    yield b"data: one\n\n"
    raise RuntimeError("the stream broke")


async def _echo_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     pending: bytes) -> None:
    line = pending
    while b"\n" not in line:
        line += await reader.read(100)
    writer.write(line.upper())
    await writer.drain()


async def _echo(ws: FakeWebSocket) -> None:
    while True:
        message = await ws.receive()
        if message == "bye":
            await ws.close(4004, "Authentication failed.")
            return
        if message == "query":
            await ws.send(ws.request.query)
            continue
        await ws.send(message)


CLOSED: list[tuple[int, bool, int]] = []


async def _silent(ws: FakeWebSocket) -> None:
    try:
        await ws.receive()
    except WebSocketClosed as exc:
        again = 0
        try:
            await ws.receive()
        except WebSocketClosed as second:
            again = second.code
        CLOSED.append((exc.code, ws.closed, again))
        raise


async def _handler(request: FakeRequest) -> Reply | Upgrade:
    if request.path == "/stream":
        return 200, {"content-type": "text/event-stream"}, _pieces()
    if request.path == "/broken":
        return 200, {"content-type": "text/event-stream"}, _broken()
    if request.path == "/echo":
        return Upgrade("echo-line", _echo_line, {"x-echo": "yes"})
    if request.path == "/ws":
        return accept_websocket(request, _echo)
    if request.path == "/quiet":
        return accept_websocket(request, _silent)
    return 200, {"content-type": "text/plain"}, b"whole " + request.body


@pytest.fixture
def server() -> Iterator[FakeServer]:
    GO_ON.clear()
    CLOSED.clear()
    fake = FakeServer(_handler, name="test-fake")
    fake.start()
    yield fake
    fake.stop()


def _raw(server: FakeServer, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(data)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_a_whole_body_has_a_length_and_the_connection_is_kept(server: FakeServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        first = client.post("/x", content=b"body")
        second = client.get("/y")
    assert first.text == "whole body" and first.headers["content-length"] == "10"
    assert second.text == "whole "
    assert first.extensions["network_stream"] is second.extensions["network_stream"]


def test_a_streamed_body_is_sent_piece_by_piece_chunked(server: FakeServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        with client.stream("GET", "/stream") as response:
            assert response.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in response.headers
            pieces = response.iter_raw()
            assert next(pieces) == b"data: one\n\n"  # before the server made the next one
            GO_ON.set()
            assert b"".join(pieces) == b"data: two\n\n"
        assert client.get("/after").text == "whole "  # the connection is still usable


def test_a_streamed_body_to_an_http_1_0_client_ends_with_the_connection(
        server: FakeServer) -> None:
    GO_ON.set()
    with _raw(server, b"GET /stream HTTP/1.0\r\nHost: x\r\n\r\n") as sock:
        reply = _read_all(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower()
    assert body == b"data: one\n\ndata: two\n\n"


def test_a_stream_that_breaks_cuts_the_response_short(server: FakeServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/broken")
        assert client.get("/after").text == "whole "


def test_an_upgrade_hands_over_the_connection(server: FakeServer) -> None:
    request = (b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
               b"Upgrade: echo-line\r\n\r\nhello\n")
    with _raw(server, request) as sock:
        reply = _read_all(sock)
    head, _, rest = reply.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert lines[0].startswith(b"http/1.1 101")
    assert {b"upgrade: echo-line", b"connection: upgrade", b"x-echo: yes"} <= set(lines)
    assert rest == b"HELLO\n"


def test_an_upgrade_the_client_did_not_ask_for_is_a_server_error(server: FakeServer) -> None:
    assert httpx.get(server.url + "/echo").status_code == 500


class WSClient:
    """wsproto's client side on a blocking socket."""

    def __init__(self, server: FakeServer, target: str = "/ws",
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []
        self.send(Request(host="127.0.0.1", target=target, extra_headers=extra or []))

    def send(self, event: Event) -> None:
        self.sock.sendall(self.ws.send(event))

    def next(self) -> Event:
        while not self.pending:
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def ws(server: FakeServer) -> Iterator[WSClient]:
    client = WSClient(server)
    yield client
    client.close()


def test_a_websocket_echoes_text_binary_and_fragments(ws: WSClient) -> None:
    assert isinstance(ws.next(), AcceptConnection)
    ws.send(TextMessage(data="hello"))
    assert ws.next() == TextMessage(data="hello")
    ws.send(BytesMessage(data=b"\x00\x01"))
    assert ws.next() == BytesMessage(data=bytearray(b"\x00\x01"))
    ws.send(TextMessage(data="frag", message_finished=False))
    ws.send(TextMessage(data="ments"))
    assert ws.next() == TextMessage(data="fragments")
    ws.send(Ping(payload=b"p"))
    assert ws.next() == Pong(payload=bytearray(b"p"))


def test_a_websocket_sees_its_handshake(server: FakeServer) -> None:
    client = WSClient(server, "/ws?v=10&encoding=json")
    try:
        assert isinstance(client.next(), AcceptConnection)
        client.send(TextMessage(data="query"))
        assert client.next() == TextMessage(data="v=10&encoding=json")
    finally:
        client.close()


def test_a_client_close_is_answered(ws: WSClient) -> None:
    assert isinstance(ws.next(), AcceptConnection)
    ws.send(CloseConnection(code=4000, reason="reconnecting"))
    answer = ws.next()
    assert isinstance(answer, CloseConnection) and answer.code == 4000


def test_the_server_closes_with_a_code_and_reason(ws: WSClient) -> None:
    assert isinstance(ws.next(), AcceptConnection)
    ws.send(TextMessage(data="bye"))
    close = ws.next()
    assert isinstance(close, CloseConnection)
    assert (close.code, close.reason) == (4004, "Authentication failed.")
    ws.send(close.response())
    assert ws.sock.recv(100) == b""  # then the server ends the connection


def test_stopping_the_server_closes_open_websockets(server: FakeServer) -> None:
    client = WSClient(server, "/quiet")
    try:
        assert isinstance(client.next(), AcceptConnection)
        server.stop()
        close = client.next()
        assert isinstance(close, CloseConnection) and close.code == 1001
    finally:
        client.close()


@pytest.mark.parametrize("headers, status", [
    ({}, 400),
    ({"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "8",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="}, 426),
    ({"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
      "sec-websocket-key": "short"}, 400),
])
def test_a_bad_websocket_handshake_is_refused(server: FakeServer, headers: dict[str, str],
                                              status: int) -> None:
    if not headers:
        response = httpx.get(server.url + "/ws")
        assert response.status_code == status
        assert response.headers["sec-websocket-version"] == "13"
        return
    raw = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
    with _raw(server, b"GET /ws HTTP/1.1\r\nHost: x\r\n" + raw + b"\r\n") as sock:
        reply = sock.recv(65536)
    assert reply.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"sec-websocket-version: 13" in reply.lower()


def test_a_client_that_vanishes_ends_the_endpoint_with_1006(server: FakeServer) -> None:
    client = WSClient(server, "/quiet")
    assert isinstance(client.next(), AcceptConnection)
    client.close()  # no close frame
    assert Polling().wait_for(lambda: CLOSED) == [(1006, True, 1006)]
