"""Fixtures: a fake OpenAI-compatible server and the key it expects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hostline_openai.testing import FakeOpenAIServer

KEY = "sk-test-4f9c2b7e1d"
KEY_ENV = "HOSTLINE_TEST_OPENAI_KEY"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started fake server expecting bearer key ``KEY``."""
    with FakeOpenAIServer(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def openai_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Put the key in the environment variable the target reads."""
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY_ENV
