"""Test helpers for hostline and plugin authors (a pytest plugin, like ``pytester``).

Fixtures (available automatically once hostline is installed):

* ``hostline_app`` - an async factory: ``async with hostline_app(config_toml,
  target=...) as (host, client)`` runs a :class:`Host` in-process on a temp
  state dir, lifespan entered, with an ``httpx.AsyncClient`` on the ASGI app.
* ``hostline_server`` - a factory starting ``hostline serve`` as a real
  process on a free loopback port: ``server = hostline_server(config_toml)``;
  ``server.url``, ``server.kill()`` (SIGKILL), ``server.restart()``.

``config_toml`` is the text of a ``hostline.toml``; ``{state_dir}`` in it is
replaced by the temp state dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .config import load_config
from .host import Host

__all__ = ["LocalOAuthIssuer", "ServerProcess", "free_port", "hostline_app", "hostline_server",
           "make_host"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_config(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "state"
    path = directory / "hostline.toml"
    body = text.replace("{state_dir}", state.as_posix())
    if "[host]" not in body:
        body = f'[host]\nstate_dir = "{state.as_posix()}"\n' + body
    elif "state_dir" not in body:
        body = body.replace("[host]", f'[host]\nstate_dir = "{state.as_posix()}"', 1)
    path.write_text(body, encoding="utf-8")
    return path


def make_host(directory: Path, config_toml: str = "", **kwargs: Any) -> Host:
    """A :class:`Host` from config text, state in ``directory``."""
    return Host(load_config(_write_config(directory, config_toml)), **kwargs)


@contextlib.asynccontextmanager
async def run_host(host: Host) -> AsyncIterator[tuple[Host, Any]]:
    """Enter ``host``'s lifespan and yield ``(host, httpx.AsyncClient)``."""
    import httpx

    async with host.lifespan():
        transport = httpx.ASGITransport(app=host.build_app(lifespan=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://hostline.test") as c:
            yield host, c


@pytest.fixture
def hostline_app(tmp_path: Path) -> Callable[..., Any]:
    """Factory: ``async with hostline_app(config_toml, target=...) as (host, client)``."""
    counter = iter(range(1_000_000))

    def factory(config_toml: str = "", **kwargs: Any) -> Any:
        return run_host(make_host(tmp_path / f"host{next(counter)}", config_toml, **kwargs))

    return factory


class ServerProcess:
    """``hostline serve`` in a child process on a loopback port."""

    def __init__(self, config_path: Path, *, workers: int = 1, env: dict[str, str] | None = None,
                 port: int | None = None, python: str | os.PathLike[str] | None = None) -> None:
        self.config_path = config_path
        self.python = str(python or sys.executable)
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = config_path.parent / "server.log"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start and wait until ``/readyz`` answers 200."""
        import httpx

        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [self.python, "-m", "hostline", "serve", "--config", str(self.config_path),
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.config_path.parent,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hostline serve exited with {self.proc.returncode}:\n"
                                   + self.output())
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("hostline serve did not become ready:\n" + self.output())

    def output(self) -> str:
        """What the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the server and all its workers (a crash)."""
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (graceful shutdown); SIGKILL after ``timeout``."""
        if self.proc is None:
            return None
        self._signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def restart(self) -> ServerProcess:
        """Stop (gracefully) and start again on the same port and state."""
        self.stop()
        return self.start()


@pytest.fixture
def hostline_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: ``hostline_server(config_toml, workers=1, env={})`` -> a started server."""
    servers: list[ServerProcess] = []
    counter = iter(range(1_000_000))

    def factory(config_toml: str = "", *, workers: int = 1,
                env: dict[str, str] | None = None, start: bool = True) -> ServerProcess:
        path = _write_config(tmp_path / f"server{next(counter)}", config_toml)
        server = ServerProcess(path, workers=workers, env=env)
        servers.append(server)
        return server.start() if start else server

    yield factory
    for s in servers:
        s.stop()


class LocalOAuthIssuer:
    """An OAuth issuer for tests: RS256 keys made here, a JWKS served on loopback.

    ``issuer.jwks_url`` is what ``jwks_url`` in a channel's config names;
    ``issuer.token(audience=..., scope=...)`` signs an access token, and
    ``expired=True`` or ``foreign_key=True`` make ones a server must refuse.
    Use as a context manager (the JWKS server thread stops on exit). Needs
    PyJWT and cryptography.
    """

    def __init__(self, issuer: str = "https://issuer.test", kid: str = "test-key") -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = issuer
        self.kid = kid
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        body = json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}).encode()
        #: How many times the JWKS was fetched.
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def jwks_url(self) -> str:
        """``http://127.0.0.1:PORT/jwks.json``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def token(self, *, audience: str, subject: str = "user-1", scope: str = "",
              expires_in: float = 300.0, expired: bool = False, foreign_key: bool = False,
              issuer: str | None = None, kid: str | None = None, **claims: Any) -> str:
        """A signed access token (``expired``, ``foreign_key`` and another ``kid``
        spoil it on purpose)."""
        import jwt

        now = int(time.time())
        payload = {"iss": issuer or self.issuer, "aud": audience, "sub": subject,
                   "iat": now, "exp": now - 3600 if expired else now + int(expires_in),
                   **({"scope": scope} if scope else {}), **claims}
        key = self._foreign if foreign_key else self._key
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid or self.kid})

    def close(self) -> None:
        """Stop the JWKS server."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalOAuthIssuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
