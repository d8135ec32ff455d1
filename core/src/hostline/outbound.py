"""A lean httpx transport for the calls channels make on every reply.

Channels talk to their services (the Telegram Bot API, the Bot Framework
connector) through ``httpx.AsyncClient``. httpx's default transport goes
through httpcore and anyio, which costs several hundred microseconds of CPU
per request and grows with the pool size under concurrency; at a thousand
replies a second that is most of a core. :class:`PooledTransport` keeps
httpx's client, request and response types, timeouts and exceptions, and
does the wire work with h11 (the HTTP/1.1 state machine httpcore and
Hypercorn use) on asyncio protocols:

* one bounded pool per transport: at most ``max_connections`` requests hold
  a connection; the next waits up to the ``pool`` timeout, then fails with
  ``httpx.PoolTimeout`` (a retryable delivery error for callers, never a
  silent drop);
* keep-alive connections are reused last-in first-out and dropped after
  ``keepalive_expiry`` idle seconds, when the server closed them, or when a
  request on them did not finish cleanly (a cancelled or failed request never
  leaves a half-read connection in the pool);
* ``connect``/``read``/``write`` timeouts on every call; TLS through the
  ``ssl`` module with a verifying context.

HTTP/1.1 only. A request that goes through a proxy - the one given, or
else the one the environment names for its URL (``HTTP_PROXY``,
``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, as httpx reads them with
``trust_env``; see :mod:`hostline.proxies`) - is handed to httpx's own
transport, which speaks absolute-form HTTP and ``CONNECT`` tunnels.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import h11
import httpx

from . import telemetry
from .proxies import EnvironmentProxies

__all__ = ["FileTooLarge", "PooledTransport", "parse_retry_after", "read_bounded"]

_READ = 64 * 1024


class _Protocol(asyncio.Protocol):
    """Buffers what the server sends; wakes one reader."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.drained: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)


async def _wait(fut: asyncio.Future[None], timeout: float | None,
                error: type[httpx.TimeoutException], request: httpx.Request) -> None:
    if timeout is None:
        await fut
        return
    loop = asyncio.get_running_loop()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        fut.cancel()

    handle = loop.call_later(timeout, expire)
    try:
        await fut
    except asyncio.CancelledError:
        if expired:
            raise error("timed out", request=request) from None
        raise
    finally:
        handle.cancel()


class _Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self.transport = transport
        self.protocol = protocol
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    def reusable(self, expiry: float) -> bool:
        p = self.protocol
        # Anything readable on an idle connection means the server closed it
        # (or broke the protocol): never send a request into that.
        return not (p.eof or p.buf or self.transport.is_closing()
                    or time.monotonic() - self.idle_since > expiry)

    def close(self) -> None:
        self.transport.close()

    async def send(self, request: httpx.Request, target: bytes, body: bytes,
                   timeouts: dict[str, Any]) -> h11.Response:
        h = self.h11
        headers = [(k, v) for k, v in request.headers.raw
                   if k.lower() not in (b"content-length", b"transfer-encoding")]
        if body or request.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            headers.append((b"content-length", str(len(body)).encode()))
        data = h.send(h11.Request(method=request.method.encode(), target=target,
                                  headers=headers))
        if body:
            data += h.send(h11.Data(data=body))
        data += h.send(h11.EndOfMessage())
        p = self.protocol
        if p.error is not None or self.transport.is_closing():
            raise httpx.WriteError("connection closed", request=request)
        self.transport.write(data)
        if p.paused:
            p.drained = asyncio.get_running_loop().create_future()
            await _wait(p.drained, timeouts.get("write"), httpx.WriteTimeout, request)
        while True:
            event = await self.next_event(request, timeouts)
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.InformationalResponse):
                continue
            raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__}",
                                            request=request)

    async def next_event(self, request: httpx.Request, timeouts: dict[str, Any]) -> Any:
        h, p = self.h11, self.protocol
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if event is not h11.NEED_DATA:
                return event
            if not p.buf and not p.eof:
                p.waiter = asyncio.get_running_loop().create_future()
                await _wait(p.waiter, timeouts.get("read"), httpx.ReadTimeout, request)
            if p.buf:
                data = bytes(p.buf)
                p.buf.clear()
            elif p.error is not None:
                raise httpx.ReadError(str(p.error) or type(p.error).__name__, request=request)
            else:
                data = b""
            try:
                h.receive_data(data)
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None


class _Body(httpx.AsyncByteStream):
    """The response body, read from the connection as it is iterated; the
    connection goes back to the pool once the body was read to the end."""

    def __init__(self, pool: PooledTransport, key: tuple[bytes, bytes, int],
                 conn: _Connection, request: httpx.Request, timeouts: dict[str, Any]) -> None:
        self._pool = pool
        self._key = key
        self._conn: _Connection | None = conn
        self._request = request
        self._timeouts = timeouts
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        while True:
            event = await conn.next_event(self._request, self._timeouts)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
                return
            else:
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__}",
                                                request=self._request)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(self._key, conn, reuse=self._complete)


class PooledTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` with one bounded keep-alive pool.

    ``max_connections`` bounds requests in flight (and open connections);
    ``verify`` is an ``ssl.SSLContext`` or a bool, as in httpx; ``proxy``
    sends everything through httpx's default transport instead. Without
    ``proxy``, ``trust_env`` (the default, as in httpx) routes each request
    through the proxy the environment names for its URL, read once here.
    """

    def __init__(self, *, max_connections: int = 64, keepalive_expiry: float = 30.0,
                 verify: ssl.SSLContext | bool = True, proxy: str | None = None,
                 trust_env: bool = True) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        if isinstance(verify, ssl.SSLContext):
            self._ssl: ssl.SSLContext | None = verify
        else:
            self._ssl = None
            self._verify = verify
        self._idle: dict[tuple[bytes, bytes, int], deque[_Connection]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._busy = 0
        self._proxy_verify = verify
        self._proxies: dict[str, httpx.AsyncHTTPTransport] = {}
        self._proxy = None if proxy is None else self._proxy_transport(proxy)
        env = EnvironmentProxies.from_environ() if proxy is None and trust_env else None
        self._env = env if env is not None and env.active else None
        self._routes: dict[tuple[bytes, bytes], httpx.AsyncHTTPTransport | None] = {}

    def _proxy_transport(self, proxy: str) -> httpx.AsyncHTTPTransport:
        transport = self._proxies.get(proxy)
        if transport is None:
            transport = self._proxies[proxy] = httpx.AsyncHTTPTransport(
                proxy=proxy, verify=self._proxy_verify, limits=httpx.Limits(
                    max_connections=self.max_connections,
                    max_keepalive_connections=self.max_connections,
                    keepalive_expiry=self.keepalive_expiry))
        return transport

    def _route(self, url: httpx.URL) -> httpx.AsyncHTTPTransport | None:
        """The proxy transport for ``url``, or ``None`` to connect directly."""
        if self._proxy is not None or self._env is None:
            return self._proxy
        key = (url.raw_scheme, url.raw_host)
        if key not in self._routes:
            chosen = self._env.proxy_for(url.scheme, url.host)
            if len(self._routes) >= 256:
                self._routes.clear()
            self._routes[key] = None if chosen is None else self._proxy_transport(chosen)
        return self._routes[key]

    def __repr__(self) -> str:
        return f"<PooledTransport {self.max_connections} connections>"

    @property
    def in_flight(self) -> int:
        """Requests holding a connection now."""
        return self._busy

    def target(self, request: httpx.Request) -> bytes:
        """The request target sent on the wire (path and query); subclasses
        may rewrite it below everything that logs or raises (through a proxy
        too)."""
        return request.url.raw_path

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # Loading the CA bundle is slow: once per transport, when first needed.
            self._ssl = httpx.create_ssl_context(verify=self._verify)
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tel = telemetry.active
        if tel is None:
            return await self._send(request)
        url = request.url
        with tel.client_call(request.method, url.host, url.port or (
                443 if url.scheme == "https" else 80), url.path) as call:
            response = await self._send(request)
            call["status"] = response.status_code
            return response

    async def _send(self, request: httpx.Request) -> httpx.Response:
        proxy = self._route(request.url)
        if proxy is not None:
            target = self.target(request)
            if target != request.url.raw_path:
                # httpx's transport sends the URL as it is: rewrite it there.
                request = httpx.Request(request.method, request.url.copy_with(raw_path=target),
                                        headers=request.headers, stream=request.stream,
                                        extensions=request.extensions)
            return await proxy.handle_async_request(request)
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}",
                                            request=request)
        port = url.port or (443 if scheme == b"https" else 80)
        key = (scheme, url.raw_host, port)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        body = await request.aread()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        slots = self._slots
        if slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), timeouts.get("pool"))
            except asyncio.TimeoutError:
                raise httpx.PoolTimeout("no free connection", request=request) from None
        else:
            await slots.acquire()
        self._busy += 1
        conn: _Connection | None = None
        try:
            conn = await self._connection(key, request, timeouts)
            response = await conn.send(request, self.target(request), body, timeouts)
        except BaseException:
            self._release(key, conn, reuse=False)
            raise
        return httpx.Response(
            response.status_code, headers=response.headers,
            stream=_Body(self, key, conn, request, timeouts),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason})

    async def _connection(self, key: tuple[bytes, bytes, int], request: httpx.Request,
                          timeouts: dict[str, Any]) -> _Connection:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.reusable(self.keepalive_expiry):
                return conn
            conn.close()
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        hostname = host.decode("ascii")
        tls = self._ssl_context() if scheme == b"https" else None
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(_Protocol, hostname, port, ssl=tls,
                                       server_hostname=hostname if tls else None),
                timeouts.get("connect"))
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout("connect timed out", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from None
        return _Connection(transport, protocol)

    def _release(self, key: tuple[bytes, bytes, int], conn: _Connection | None, *,
                 reuse: bool) -> None:
        if conn is not None:
            h = conn.h11
            if reuse and h.our_state is h11.DONE and h.their_state is h11.DONE:
                h.start_next_cycle()
                conn.idle_since = time.monotonic()
                self._idle.setdefault(key, deque()).append(conn)
            else:
                conn.close()
        self._busy -= 1
        assert self._slots is not None
        self._slots.release()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        for transport in self._proxies.values():
            await transport.aclose()


def parse_retry_after(value: str | None, *, cap: float = 3600.0) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an
    HTTP date), between 0 and ``cap``; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(cap, seconds))


class FileTooLarge(ValueError):
    """A download is over the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"file is {size} bytes, over the {limit}-byte limit")
        self.size = size
        self.limit = limit


async def read_bounded(response: httpx.Response, max_bytes: int) -> bytes:
    """The body of a streamed ``response``, refused with :class:`FileTooLarge`
    as soon as its declared length or the bytes read pass ``max_bytes``."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FileTooLarge(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FileTooLarge(size, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
