"""hostline.outbound.PooledTransport against real loopback servers (plain and TLS)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hostline.outbound import PooledTransport

Handler = Callable[[h11.Request, bytes], Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]


class Server:
    """An HTTP/1.1 server on loopback (h11 over asyncio streams) that counts
    connections and can misbehave on request."""

    def __init__(self, handler: Handler | None = None, *, tls: ssl.SSLContext | None = None,
                 close_after_response: bool = False, idle_close: float | None = None) -> None:
        self.handler = handler or self.echo
        self.tls = tls
        self.close_after_response = close_after_response
        self.idle_close = idle_close
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.requests = 0
        self._server: asyncio.Server | None = None

    @staticmethod
    async def echo(req: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return 200, [(b"content-type", b"application/octet-stream")], bytes(req.target) + body

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                req: h11.Request | None = None
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        if self.idle_close is not None and conn.their_state is h11.IDLE:
                            try:
                                data = await asyncio.wait_for(reader.read(65536),
                                                              self.idle_close)
                            except asyncio.TimeoutError:
                                return  # idle too long: close, as servers do
                        else:
                            data = await reader.read(65536)
                        conn.receive_data(data)
                        if not data and conn.their_state is not h11.DONE:
                            return
                        continue
                    if isinstance(event, h11.ConnectionClosed):
                        return
                    if isinstance(event, h11.Request):
                        req = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                assert req is not None
                self.requests += 1
                status, headers, payload = await self.handler(req, body)
                headers = [*headers, (b"content-length", str(len(payload)).encode())]
                if self.close_after_response:
                    headers.append((b"connection", b"close"))
                writer.write(conn.send(h11.Response(status_code=status, headers=headers))
                             + conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage()))
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE or self.close_after_response:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError, asyncio.CancelledError):
            return
        finally:
            self.open -= 1
            writer.close()


@pytest.fixture
async def client() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(server: Server, **kwargs: Any) -> httpx.AsyncClient:
        timeout = kwargs.pop("timeout", 5.0)
        c = httpx.AsyncClient(base_url=server.url, transport=PooledTransport(**kwargs),
                              timeout=timeout)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def test_requests_share_one_keep_alive_connection(client: Any) -> None:
    async with Server() as server:
        c = client(server)
        for i in range(20):
            r = await c.post(f"/echo?i={i}", json={"n": i})
            assert r.status_code == 200
            assert r.content == f'/echo?i={i}{{"n":{i}}}'.encode()
        assert server.connections == 1


async def test_concurrency_is_bounded_by_the_pool(client: Any) -> None:
    async def slow(req: h11.Request, body: bytes) -> Any:
        await asyncio.sleep(0.05)
        return 200, [], b"ok"

    async with Server(slow) as server:
        c = client(server, max_connections=3)
        rs = await asyncio.gather(*(c.get("/") for _ in range(12)))
        assert all(r.status_code == 200 for r in rs)
        assert server.max_open <= 3
        assert server.connections <= 3


async def test_a_full_pool_times_out_with_pool_timeout(client: Any) -> None:
    release = asyncio.Event()

    async def stuck(req: h11.Request, body: bytes) -> Any:
        await release.wait()
        return 200, [], b"late"

    async with Server(stuck) as server:
        c = client(server, max_connections=1,
                   timeout=httpx.Timeout(5.0, pool=0.05))
        first = asyncio.create_task(c.get("/"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await c.get("/")
        release.set()
        assert (await first).content == b"late"
        assert (await c.get("/")).content == b"late"  # the slot came back


async def test_read_timeout_and_the_connection_is_not_reused(client: Any) -> None:
    calls = 0

    async def first_slow(req: h11.Request, body: bytes) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1.0)
        return 200, [], b"ok"

    async with Server(first_slow) as server:
        c = client(server, max_connections=1, timeout=httpx.Timeout(5.0, read=0.1))
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/")
        assert (await c.get("/")).content == b"ok"
        assert server.connections == 2  # the timed-out connection was dropped


async def test_cancelled_request_frees_its_slot(client: Any) -> None:
    async def slow(req: h11.Request, body: bytes) -> Any:
        await asyncio.sleep(0.5)
        return 200, [], b"ok"

    async with Server(slow) as server:
        transport = PooledTransport(max_connections=1)
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as c:
            task = asyncio.create_task(c.get("/"))
            await asyncio.sleep(0.05)
            assert transport.in_flight == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert transport.in_flight == 0
            assert (await c.get("/")).content == b"ok"


async def test_server_closing_connections_is_handled(client: Any) -> None:
    async with Server(close_after_response=True) as server:
        c = client(server)
        for i in range(5):
            assert (await c.get(f"/{i}")).content == f"/{i}".encode()
        assert server.connections == 5


async def test_idle_connection_closed_by_the_server_is_not_reused(client: Any) -> None:
    async with Server(idle_close=0.05) as server:
        c = client(server)
        assert (await c.get("/a")).status_code == 200
        await asyncio.sleep(0.2)  # the server dropped the idle connection meanwhile
        assert (await c.get("/b")).content == b"/b"
        assert server.connections == 2


async def test_errors_are_httpx_errors(client: Any) -> None:
    async with Server() as server:
        url = server.url
    c = httpx.AsyncClient(transport=PooledTransport())
    with pytest.raises(httpx.ConnectError):
        await c.get(url + "/")
    with pytest.raises(httpx.UnsupportedProtocol):
        await c.get("ftp://127.0.0.1/")
    await c.aclose()


async def test_streamed_body_and_early_close(client: Any) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB

    async def large(req: h11.Request, body: bytes) -> Any:
        return 200, [], big

    async with Server(large) as server:
        c = client(server)
        async with c.stream("GET", "/") as r:
            got = b"".join([chunk async for chunk in r.aiter_bytes()])
        assert got == big
        async with c.stream("GET", "/") as r:
            async for _ in r.aiter_bytes():
                break  # stop reading: this connection cannot be reused
        assert (await c.get("/")).content == big
        assert server.connections == 2


def _tls_pair(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_pem = tmp / "cert.pem"
    key_pem = tmp / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_pem, key_pem)
    trusting = ssl.create_default_context(cafile=str(cert_pem))
    return server, trusting


async def test_tls_verified_against_the_given_context(tmp_path: Path, client: Any) -> None:
    server_ctx, trusting = _tls_pair(tmp_path)
    async with Server(tls=server_ctx) as server:
        c = client(server, verify=trusting)
        for _ in range(3):
            assert (await c.get("/tls")).content == b"/tls"
        assert server.connections == 1
        # The default context does not know this self-signed certificate.
        untrusting = client(server)
        with pytest.raises(httpx.ConnectError):
            await untrusting.get("/tls")
