"""Fixtures for the agent-framework target tests.

The served agent and workflow live in ``hostline_af_testapp.py`` beside this
file; it is put on ``sys.path`` here and on ``PYTHONPATH`` for server
processes, so ``factory = "hostline_af_testapp:..."`` resolves in both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def app_env() -> dict[str, str]:
    """Environment for ``hostline_server`` so it can import the test app."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


CLIENT_KEY = "hl-client-key-1"


def sdk_over_responses(hostline_server, config: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """A real server with the Responses channel and an ``openai`` client for it.

    ``config`` is a config template with a ``{channels}`` placeholder. Skips
    when ``openai`` or ``hostline-responses`` is not installed (a plugin-alone
    install).
    """
    import httpx

    openai = pytest.importorskip("openai")
    pytest.importorskip("hostline_responses")
    channels = f'[channels.responses]\napi_keys = ["{CLIENT_KEY}"]\n'
    try:
        server = hostline_server(config.replace("{channels}", channels), env=env)
    except RuntimeError as exc:
        pytest.skip(f"responses channel not available: {str(exc)[-300:]}")
    probe = httpx.post(server.url + "/responses/v1/responses", json={}, timeout=5,
                       headers={"authorization": f"Bearer {CLIENT_KEY}"})
    if probe.status_code == 404:
        pytest.skip("responses channel does not serve /responses/v1/responses")
    client = openai.OpenAI(base_url=server.url + "/responses/v1", api_key=CLIENT_KEY,
                           max_retries=0)
    return server, client
