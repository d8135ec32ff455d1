"""A forwarding HTTP proxy on loopback for tests: :class:`ForwardProxy`.

It serves both kinds of proxied request a client such as httpx makes:

* absolute-form HTTP (``GET http://host:port/path HTTP/1.1``), forwarded to
  the origin in origin form (one request per connection: it answers with
  ``Connection: close``);
* ``CONNECT host:port`` tunnels for TLS, piped byte for byte. A host listed
  in ``tunnels`` ends at a TLS server the proxy runs itself, presenting a
  certificate for that host signed by the proxy's own test CA
  (:attr:`ForwardProxy.ca_file`, to put in ``SSL_CERT_FILE``), which passes
  the decrypted requests on to a plain-HTTP fake. So a bot can be configured
  with ``https://api.telegram.test`` and reach a local fake only through the
  proxy, as it would behind a corporate one.

Every request is recorded in :attr:`ForwardProxy.requests` as
``(method, target)``. Needs ``cryptography`` for the test CA (only when
``tunnels`` is given).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import shutil
import ssl
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ForwardProxy"]

_HOP_BY_HOP = (b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive")


def _issue_certificates(hosts: list[str], directory: Path) -> tuple[Path, dict[str, Path]]:
    """A test CA (``ca.pem``) and, per host, a ``<host>.pem`` holding its key and
    certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostline test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaves = {}
    for host in hosts:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        path = directory / f"{host}.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
                         + cert.public_bytes(serialization.Encoding.PEM))
        leaves[host] = path
    return ca_file, leaves


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                  b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))


class ForwardProxy:
    """A forwarding proxy on ``127.0.0.1`` (context manager; see the module docstring).

    ``tunnels`` maps a host name to the ``http://127.0.0.1:PORT`` fake that
    ``https://<host>`` should reach through a ``CONNECT`` tunnel.
    """

    def __init__(self, tunnels: Mapping[str, str] | None = None) -> None:
        self.tunnels = dict(tunnels or {})
        self.requests: list[tuple[str, str]] = []
        self.ca_file: Path | None = None
        self._dir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._fronts: dict[str, int] = {}  # host -> port of its TLS server

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``HTTP_PROXY`` / ``HTTPS_PROXY``."""
        return f"http://127.0.0.1:{self._port}"

    def __repr__(self) -> str:
        return f"<ForwardProxy {self.url} {len(self.requests)} requests>"

    def start(self) -> ForwardProxy:
        """Listen (and serve in a daemon thread)."""
        leaves: dict[str, Path] = {}
        if self.tunnels:
            self._dir = Path(tempfile.mkdtemp(prefix="hostline-proxy-"))
            self.ca_file, leaves = _issue_certificates(list(self.tunnels), self._dir)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(leaves, ready),
                                        name="hostline-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def _run(self, leaves: dict[str, Path], ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        servers = self._loop.run_until_complete(self._listen(leaves))
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            for server in servers:
                server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _listen(self, leaves: dict[str, Path]) -> list[asyncio.base_events.Server]:
        servers = []
        for host, upstream in self.tunnels.items():
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(leaves[host])
            target = urlsplit(upstream)

            async def front(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            target: Any = target) -> None:
                try:
                    upstream_io = await asyncio.open_connection(target.hostname, target.port)
                except OSError:
                    writer.close()
                    return
                await _splice((reader, writer), upstream_io)

            server = await asyncio.start_server(front, "127.0.0.1", 0, ssl=ctx)
            self._fronts[host] = server.sockets[0].getsockname()[1]
            servers.append(server)
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self._port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return servers

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        line, _, rest = head.partition(b"\r\n")
        try:
            method, target, _version = line.decode("latin-1").split(" ", 2)
        except ValueError:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        self.requests.append((method, target))
        if method == "CONNECT":
            await self._tunnel(target, reader, writer)
        else:
            await self._forward(method, target, rest, reader, writer)

    async def _tunnel(self, target: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        host, _, port = target.rpartition(":")
        try:
            if host in self._fronts:
                upstream = await asyncio.open_connection("127.0.0.1", self._fronts[host])
            else:
                upstream = await asyncio.open_connection(host, int(port))
        except (OSError, ValueError):
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await _splice((reader, writer), upstream)

    async def _forward(self, method: str, target: str, rest: bytes,
                       reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        url = urlsplit(target)
        headers = [h for h in rest.split(b"\r\n") if h]
        length = 0
        kept = []
        for h in headers:
            name = h.split(b":", 1)[0].strip().lower()
            if name == b"content-length":
                length = int(h.split(b":", 1)[1])
            if name not in _HOP_BY_HOP:
                kept.append(h)
        body = await reader.readexactly(length) if length else b""
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        try:
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            writer.close()
            return
        up_writer.write(f"{method} {path} HTTP/1.1\r\n".encode("latin-1")
                        + b"\r\n".join(kept) + b"\r\nConnection: close\r\n\r\n" + body)
        await up_writer.drain()
        response = await up_reader.read()
        up_writer.close()
        head, sep, payload = response.partition(b"\r\n\r\n")
        lines = [h for h in head.split(b"\r\n")
                 if h.split(b":", 1)[0].strip().lower() not in (b"connection", b"keep-alive")]
        writer.write(b"\r\n".join(lines) + b"\r\nConnection: close" + sep + payload)
        await writer.drain()
        writer.close()

    def stop(self) -> None:
        """Stop serving and remove the test CA's files."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
