"""Helpers shared by the Responses channel tests (conftest puts this directory on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai

from hostline.testing import ServerProcess

TESTS = Path(__file__).resolve().parent
KEY = "sk-test-plain-0123456789"
ALICE = "sk-test-alice-0123456789"
BOB = "sk-test-bob-0123456789"

CONFIG = f"""
[host]
state_dir = "{{state_dir}}"
target = "responses_test_target:target"

[channels.responses]
api_keys = ["{KEY}", {{ key = "{ALICE}", native_id = "alice", name = "Alice" }}]

[channels.limited]
plugin = "responses"
api_keys = ["{KEY}"]
max_concurrent_runs = 1

[channels.guarded]
plugin = "responses"
api_keys = [{{ key = "{ALICE}", native_id = "alice" }}, {{ key = "{BOB}", native_id = "bob" }}]

[channels.guarded.allow]
native_ids = ["alice"]

[channels.small]
plugin = "responses"
api_keys = ["{KEY}"]
max_stored_bytes = 3000
ttl = 1.0

[channels.open]
plugin = "responses"
model = "open-model"
"""


def sdk(server: ServerProcess, instance: str = "responses", key: str = KEY,
        **kwargs: Any) -> openai.OpenAI:
    """A sync SDK client for ``instance`` (no retries: errors surface at once)."""
    return openai.OpenAI(base_url=f"{server.url}/{instance}/v1", api_key=key, max_retries=0,
                         timeout=20, **kwargs)


def async_sdk(server: ServerProcess, instance: str = "responses", key: str = KEY,
              **kwargs: Any) -> openai.AsyncOpenAI:
    """An async SDK client for ``instance``."""
    return openai.AsyncOpenAI(base_url=f"{server.url}/{instance}/v1", api_key=key,
                              max_retries=0, timeout=20, **kwargs)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy (a bounded wait, not a timing assert)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
