"""A real ``hostline serve`` on loopback, shared by the tests, and SDK clients for it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from hostline.testing import ServerProcess, start_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

from responses_testkit import CONFIG, KEY, TESTS, async_sdk, sdk


@pytest.fixture(scope="session")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the test target writes its ``NAME.started`` / ``NAME.closed`` markers."""
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, markers: Path) -> Iterator[ServerProcess]:
    """One ``hostline serve`` process for the whole session (several instances)."""
    with start_server(tmp_path_factory.mktemp("server"), CONFIG, pythonpath=[TESTS],
                      env={"RESPONSES_TEST_MARKERS": str(markers)}) as proc:
        yield proc


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
