"""Fixtures: a FakeDiscordAPI per test and config text pointed at it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hostline_discord.testing import FakeDiscordAPI

TESTS_DIR = Path(__file__).parent


@pytest.fixture
def fake() -> Any:
    with FakeDiscordAPI() as f:
        yield f


def toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def dc_config(fake: FakeDiscordAPI, *, host: dict[str, Any] | None = None,
              outbox: dict[str, Any] | None = None, **channel: Any) -> str:
    """A hostline.toml with one Discord channel pointed at ``fake``."""
    lines = ["[host]", "shutdown_grace = 2"]
    lines += [f"{k} = {toml_value(v)}" for k, v in (host or {}).items()]
    lines += ["", "[host.outbox]"]
    box = {"poll_interval": 0.05, "backoff_initial": 0.1, "backoff_max": 1.0}
    box.update(outbox or {})
    lines += [f"{k} = {toml_value(v)}" for k, v in box.items()]
    return "\n".join(lines) + "\n\n" + fake.config_toml(**channel)


def env(**extra: str) -> dict[str, str]:
    """Environment for server processes: the tests' targets are importable."""
    path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, **extra}
