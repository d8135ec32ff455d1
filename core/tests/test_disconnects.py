"""A client that goes away mid-body is counted and logged at DEBUG, never an error."""

from __future__ import annotations

import logging
from typing import Any

import pytest


async def test_a_disconnect_mid_body_is_counted_not_an_error(
        hostline_app: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with hostline_app("[channels.responses]\n") as (host, _client):
        app = host.build_app(lifespan=False)
        messages = [{"type": "http.request", "body": b'{"model": "m", "in', "more_body": True},
                    {"type": "http.disconnect"}]
        sent: list[Any] = []

        async def receive() -> Any:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/responses/v1/responses",
                 "raw_path": b"/responses/v1/responses", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
                 "headers": [(b"content-type", b"application/json"),
                             (b"transfer-encoding", b"chunked")]}
        with caplog.at_level(logging.DEBUG, logger="hostline"):
            await app(scope, receive, send)
        assert host.metrics["client_disconnects"] == 1
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("client disconnected" in r.getMessage() and r.levelno == logging.DEBUG
                   for r in caplog.records)
