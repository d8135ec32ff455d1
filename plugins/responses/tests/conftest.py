"""A real ``hostline serve`` on loopback, shared by the tests, and SDK clients for it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from hostline.testing import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))

from responses_testkit import CONFIG, KEY, TESTS, async_sdk, sdk


@pytest.fixture(scope="session")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the test target writes its ``NAME.started`` / ``NAME.closed`` markers."""
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, markers: Path) -> Iterator[ServerProcess]:
    """One ``hostline serve`` process for the whole session (several instances)."""
    root = tmp_path_factory.mktemp("server")
    path = root / "hostline.toml"
    path.write_text(CONFIG.replace("{state_dir}", (root / "state").as_posix()), encoding="utf-8")
    pythonpath = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    proc = ServerProcess(path, env={"PYTHONPATH": pythonpath,
                                    "RESPONSES_TEST_MARKERS": str(markers)})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def base_url(server: ServerProcess) -> str:
    """The SDK base URL of the ``responses`` instance."""
    return f"{server.url}/responses/v1"


@pytest.fixture
def client(server: ServerProcess) -> Iterator[openai.OpenAI]:
    """Sync SDK client (plain key)."""
    with sdk(server) as c:
        yield c


@pytest.fixture
async def aclient(server: ServerProcess) -> Any:
    """Async SDK client (plain key)."""
    async with async_sdk(server) as c:
        yield c


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    """Raw httpx on the ``responses`` instance, authenticated."""
    with httpx.Client(base_url=f"{server.url}/responses/v1", timeout=20,
                      headers={"authorization": f"Bearer {KEY}"}) as c:
        yield c
