"""Test helpers: the official ``a2a-sdk`` client, and a local webhook for push notifications.

::

    from hostline_a2a.testing import WebhookRecorder, a2a_client

    async with a2a_client(f"{server.url}/a2a/", key="k") as client:
        async for event in client.send_message(send_request("hello")):
            ...

    with WebhookRecorder(fail_first=1) as hook:   # answers 503 once, then 200
        ...  # register hook.url as a push-notification config
        hook.wait(lambda posts: ...)
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from a2a.client import ClientConfig, create_client
from a2a.client.client import Client
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageConfiguration, SendMessageRequest

from hostline.testing import FakeRequest, FakeServer, Reply

__all__ = ["WebhookRecorder", "a2a_client", "send_request"]


@contextlib.asynccontextmanager
async def a2a_client(url: str, *, key: str | None = None, streaming: bool = True,
                     headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    """A client made by ``a2a.client.create_client`` from the agent card at ``url``."""
    auth = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(headers={**auth, **(headers or {})}, timeout=30.0) as http:
        client = await create_client(url, ClientConfig(streaming=streaming, httpx_client=http))
        try:
            yield client
        finally:
            await client.close()


def send_request(text: str, *, context_id: str | None = None,
                 return_immediately: bool = False, **configuration: Any) -> SendMessageRequest:
    """A ``SendMessageRequest`` with one user text part."""
    message = Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex,
                      parts=[Part(text=text)], context_id=context_id or "")
    return SendMessageRequest(message=message, configuration=SendMessageConfiguration(
        return_immediately=return_immediately, **configuration))


class WebhookRecorder:
    """A push-notification receiver on loopback that records what it is sent.

    ``fail_first`` requests are answered 503 (to see retries); the rest 200.
    ``posts`` holds ``(headers, body)`` of the accepted ones. It serves on
    :class:`hostline.testing.FakeServer`.
    """

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.attempts = 0
        self.posts: list[tuple[dict[str, str], Any]] = []
        self._server = FakeServer(self._handle, name="WebhookRecorder")
        self._server.start()

    async def _handle(self, request: FakeRequest) -> Reply:
        if request.method != "POST":
            return 405, {"allow": "POST"}, b""
        self.attempts += 1
        status = 503 if self.attempts <= self.fail_first else 200
        if status == 200:
            self.posts.append((dict(request.headers), json.loads(request.body or b"null")))
        return status, {}, b""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/hook``."""
        return f"{self._server.url}/hook"

    def wait(self, done: Callable[[list[tuple[dict[str, str], Any]]], bool],
             timeout: float = 20.0) -> list[tuple[dict[str, str], Any]]:
        """Wait until ``done(posts)`` holds; the posts (raises ``TimeoutError``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.posts):
                return self.posts
            time.sleep(0.05)
        raise TimeoutError(f"webhook got {len(self.posts)} posts, {self.attempts} attempts")

    def close(self) -> None:
        """Stop the server."""
        self._server.stop()

    def __enter__(self) -> WebhookRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
