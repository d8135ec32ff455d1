"""Fixtures: the Bot Framework fakes (started once, reset for every test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hostline_teams.testing import FakeBotFramework

#: Fast settings for tests: no throttling between stream updates, quick typing.
FAST = {"stream_interval": 0.0, "stream_first_delay": 0.0, "typing_interval": 0.05}


@pytest.fixture(scope="session")
def _bot_framework() -> Iterator[FakeBotFramework]:
    # RSA key generation is the slow part: one set of fakes for the session.
    with FakeBotFramework() as fakes:
        yield fakes


@pytest.fixture
def bf(_bot_framework: FakeBotFramework) -> Iterator[FakeBotFramework]:
    """The fakes, in their initial state."""
    _bot_framework.reset()
    yield _bot_framework
    _bot_framework.reset()


@pytest.fixture
def teams_toml(bf: FakeBotFramework) -> Callable[..., str]:
    """``teams_toml(**channel_options, host="...")``: a config pointing at the fakes."""
    def make(host: str = "", **options: Any) -> str:
        head = f"[host]\n{host}\n" if host else ""
        return head + bf.config_toml(**{**FAST, **options})

    return make


@pytest.fixture
def wait_dead() -> Callable[..., Any]:
    """``await wait_dead(host)``: the dead-lettered tasks, once there is one."""
    async def wait(host: Any, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = await host.store.list_tasks(["dead"])
            if dead:
                return list(dead)
            await asyncio.sleep(0.01)
        raise AssertionError("no task was dead-lettered")

    return wait
