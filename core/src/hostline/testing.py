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

:func:`start_server` is the same for a fixture of wider scope (one server
for a module or session): ``with start_server(tmp_dir, CONFIG,
pythonpath=[TESTS], issuer=...) as server:`` fills ``{state_dir}`` and every
``{name}`` given, puts the test directory on the server's ``PYTHONPATH``
(for targets named by import path) and stops the server on exit.

:class:`StoreConformance` is the store conformance suite: a store backend's
tests subclass it and provide one fixture, ``make_store`` (see
:mod:`hostline.conformance`).

:class:`FakeServer` serves an ``async handler(FakeRequest) -> (status,
headers, body)`` on a loopback port in its own thread: the base of every
plugin's fake of an external service. A body may be streamed (an async
iterator of ``bytes``, as Server-Sent Events are), and a handler may take
the connection over with an :class:`Upgrade`; :func:`accept_websocket`
makes one that talks WebSocket through a :class:`FakeWebSocket`.

:class:`SimulatedModel` (``target = "hostline.testing:simulated_model"``,
options in ``[host.target_options]``) stands in for a real model in tests and
benchmarks: seconds to the first token, then tokens at a steady rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .config import load_config
from .conformance import StoreConformance
from .host import Host
from .testing_proxy import ForwardProxy
from .testing_server import FakeRequest, FakeServer, Polling, Reply, Upgrade
from .testing_websocket import FakeWebSocket, WebSocketClosed, accept_websocket
from .types import RunRequest, RunResult, RunUpdate, Usage

__all__ = ["FakeRequest", "FakeServer", "FakeWebSocket", "ForwardProxy", "LocalOAuthIssuer",
           "Polling", "Reply", "ServerProcess", "SimulatedFailure", "SimulatedModel",
           "StoreConformance", "Upgrade", "WebSocketClosed", "accept_websocket", "free_port",
           "hostline_app", "hostline_server", "make_host", "simulated_model", "start_server"]


class SimulatedFailure(RuntimeError):
    """What :class:`SimulatedModel` raises for the share ``failure_rate`` of its runs."""


_WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit",
          "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et")


class SimulatedModel:
    """A stand-in for a model behind an API: it waits ``first_token`` seconds,
    then produces ``reply_tokens`` words at ``tokens_per_second``, streamed in
    deltas of ``chunk_tokens`` words (or returned whole with ``stream=False``).

    The reply starts with the input text (``echo=True``), so a test can tell
    which reply answers which message. ``failure_rate`` is the share of runs
    that raise :class:`SimulatedFailure` instead of answering (``seed`` makes
    the draw repeatable). It awaits and holds nothing else, like a model that
    is waited on over the network: what it measures is the host's own cost.
    """

    def __init__(self, *, first_token: float = 1.0, tokens_per_second: float = 20.0,
                 reply_tokens: int = 40, chunk_tokens: int = 1, stream: bool = True,
                 failure_rate: float = 0.0, echo: bool = True, seed: int | None = None) -> None:
        if first_token < 0 or tokens_per_second <= 0 or reply_tokens < 0 or chunk_tokens < 1:
            raise ValueError("first_token >= 0, tokens_per_second > 0, reply_tokens >= 0 "
                             "and chunk_tokens >= 1 are required")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        self.first_token = float(first_token)
        self.tokens_per_second = float(tokens_per_second)
        self.reply_tokens = int(reply_tokens)
        self.chunk_tokens = int(chunk_tokens)
        self.streams = bool(stream)
        self.failure_rate = float(failure_rate)
        self.echo = bool(echo)
        self._random = random.Random(seed)
        #: Runs started and runs that raised, for tests that count.
        self.started = 0
        self.failed = 0
        if not self.streams:
            # A non-streaming model: the host must not see a stream() to call.
            self.stream = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"<SimulatedModel first_token={self.first_token}s "
                f"{self.reply_tokens} tokens at {self.tokens_per_second}/s "
                f"{'streaming' if self.streams else 'whole'}>")

    def _chunks(self, request: RunRequest) -> list[str]:
        words = [_WORDS[i % len(_WORDS)] for i in range(self.reply_tokens)]
        if self.echo and request.text:
            words.insert(0, request.text + ":")
        size = self.chunk_tokens
        return [" ".join(words[i:i + size]) + (" " if i + size < len(words) else "")
                for i in range(0, len(words), size)]

    def _start(self) -> None:
        self.started += 1
        if self.failure_rate and self._random.random() < self.failure_rate:
            self.failed += 1
            raise SimulatedFailure("simulated model failure")

    def _usage(self, request: RunRequest) -> Usage:
        return Usage(len(request.text.split()), self.reply_tokens)

    async def run(self, request: RunRequest) -> RunResult:
        """Wait as long as the whole stream would take, then answer at once."""
        await asyncio.sleep(self.first_token + self.reply_tokens / self.tokens_per_second)
        self._start()
        return RunResult.from_text("".join(self._chunks(request)), usage=self._usage(request))

    async def stream(self, request: RunRequest) -> Any:
        """Yield the reply in deltas, on a fixed schedule (no drift under load)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(self.first_token)
        self._start()
        step = self.chunk_tokens / self.tokens_per_second
        for i, chunk in enumerate(self._chunks(request)):
            if i:
                await asyncio.sleep(max(0.0, start + self.first_token + i * step - loop.time()))
            yield RunUpdate(delta=chunk)
        yield RunUpdate(usage=self._usage(request))


def simulated_model(**options: Any) -> SimulatedModel:
    """The factory config names: ``target = "hostline.testing:simulated_model"``
    with the :class:`SimulatedModel` keywords in ``[host.target_options]``."""
    return SimulatedModel(**options)


simulated_model.__hostline_factory__ = True  # type: ignore[attr-defined]


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

    def __enter__(self) -> ServerProcess:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(directory: Path, config_toml: str, *, pythonpath: Iterable[str | Path] = (),
                 env: dict[str, str] | None = None, workers: int = 1,
                 **values: str) -> ServerProcess:
    """``hostline serve`` of ``config_toml`` written to ``directory``, started.

    ``{state_dir}`` and each ``{name}`` of ``values`` in the text are filled
    in; ``pythonpath`` goes in front of the server's ``PYTHONPATH``. Stop it
    with :meth:`ServerProcess.stop`, or use it as a context manager.
    """
    for name, value in values.items():
        config_toml = config_toml.replace("{" + name + "}", value)
    path = _write_config(directory, config_toml)
    paths = [*(str(p) for p in pythonpath), os.environ.get("PYTHONPATH", "")]
    extra = {"PYTHONPATH": os.pathsep.join(p for p in paths if p), **(env or {})}
    return ServerProcess(path, workers=workers, env=extra).start()


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
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = issuer
        self.kid = kid
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self._jwks = json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig",
                                           "alg": "RS256"}]}).encode()
        #: How many times the JWKS was fetched.
        self.requests = 0
        self._server = FakeServer(self._handle, name="LocalOAuthIssuer")
        self._server.start()

    async def _handle(self, request: FakeRequest) -> Reply:
        self.requests += 1
        status = 200 if request.method == "GET" and request.path == "/jwks.json" else 404
        return status, {"content-type": "application/json"}, self._jwks

    @property
    def jwks_url(self) -> str:
        """``http://127.0.0.1:PORT/jwks.json``."""
        return f"{self._server.url}/jwks.json"

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
        self._server.stop()

    def __enter__(self) -> LocalOAuthIssuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
