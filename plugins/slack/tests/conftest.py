"""Fixtures: a FakeSlackAPI, config text, requests signed with slack_sdk."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from hostline.testing import ServerProcess
from hostline_slack.testing import SIGNING_SECRET, FakeSlackAPI, event_envelope, message_event

TESTS_DIR = Path(__file__).parent


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as f:
        f.add_user("U0USER1", name="Ann Lee", display_name="ann", email="ann@example.com")
        yield f


def toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def slack_config(fake: FakeSlackAPI, *, host: dict[str, Any] | None = None,
                 outbox: dict[str, Any] | None = None, name: str = "slack",
                 extra: str = "", **channel: Any) -> str:
    """A hostline.toml with one Slack channel pointed at ``fake``."""
    lines = ["[host]", "shutdown_grace = 2"]
    lines += [f"{k} = {toml_value(v)}" for k, v in (host or {}).items()]
    lines += ["", "[host.outbox]"]
    box = {"poll_interval": 0.05, "backoff_initial": 0.1, "backoff_max": 1.0}
    box.update(outbox or {})
    lines += [f"{k} = {toml_value(v)}" for k, v in box.items()]
    return "\n".join(lines) + "\n\n" + channel_table(fake, name, **channel) + extra


def channel_table(fake: FakeSlackAPI, name: str = "slack", **channel: Any) -> str:
    opts: dict[str, Any] = {"signing_secret": SIGNING_SECRET, "bot_token": fake.bot_token,
                            "api_base": fake.api_base, "stream_first_delay": 0.1,
                            "stream_interval": 0.2, "stream_min_chars": 20}
    opts.update(channel)
    lines = [f"[channels.{name}]"]
    if name != "slack":
        lines.append('plugin = "slack"')
    lines += [f"{k} = {toml_value(v)}" for k, v in opts.items() if v is not None]
    return "\n".join(lines) + "\n"


def sign_with_sdk(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                  content_type: str = "application/json") -> dict[str, str]:
    """Headers for ``body`` signed by slack_sdk's own SignatureVerifier."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sig = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"content-type": content_type, "x-slack-request-timestamp": stamp,
            "x-slack-signature": sig}


def send_event(base: str, envelope: dict[str, Any], *, retry: int | None = None,
               **sign: Any) -> httpx.Response:
    body = json.dumps(envelope).encode()
    headers = sign_with_sdk(body, **sign)
    if retry is not None:
        headers["x-slack-retry-num"] = str(retry)
    return httpx.post(f"{base}/slack/events", content=body, headers=headers, timeout=10)


def send_form(base: str, path: str, form: dict[str, str], **sign: Any) -> httpx.Response:
    body = urlencode(form).encode()
    headers = sign_with_sdk(body, content_type="application/x-www-form-urlencoded", **sign)
    return httpx.post(f"{base}/slack/{path}", content=body, headers=headers, timeout=10)


def dm(text: str, **kw: Any) -> dict[str, Any]:
    """An envelope with a DM from U0USER1."""
    return event_envelope(message_event(text, **kw))


def server_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, **extra}


def start_server(directory: Path, config: str, **kwargs: Any) -> ServerProcess:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hostline.toml"
    path.write_text(config.replace("[host]\n", f'[host]\nstate_dir = "{directory / "state"}"\n',
                                   1))
    return ServerProcess(path, **kwargs).start()
