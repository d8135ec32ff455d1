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

:class:`StoreConformance` is the store conformance suite: a store backend's
tests subclass it and provide one fixture, ``make_store`` (see
:mod:`hostline.conformance`).
"""

from __future__ import annotations

import contextlib
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
from .conformance import StoreConformance
from .host import Host

__all__ = ["ServerProcess", "StoreConformance", "free_port", "hostline_app", "hostline_server",
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
