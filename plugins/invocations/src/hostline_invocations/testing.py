"""Test helpers: call an Invocations endpoint with httpx and read its events.

::

    from hostline_invocations.testing import InvocationsClient

    with InvocationsClient(server.url, key="k") as client:
        first = client.invoke("hello")
        again = client.invoke("and then?", session_id=first["session_id"])
        events = client.stream("tell me more", session_id=first["session_id"])
"""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ["InvocationsClient", "parse_events"]


def parse_events(text: str) -> list[Any]:
    """The ``data:`` payloads of an SSE body, JSON-decoded (``"[DONE]"`` kept as a string)."""
    out: list[Any] = []
    for frame in text.split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in frame.splitlines()
                         if line.startswith("data:"))
        if data:
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


class InvocationsClient:
    """A small synchronous client for ``POST /<instance>/invoke``."""

    def __init__(self, base_url: str, *, key: str | None = None, instance: str = "invocations",
                 headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        auth = {"authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=f"{base_url.rstrip('/')}/{instance}",
                                 headers={**auth, **(headers or {})}, timeout=timeout)

    def post(self, body: Any) -> httpx.Response:
        """POST a raw JSON body (any value) and return the response."""
        return self.http.post("/invoke", json=body)

    def invoke(self, message: Any, *, session_id: str | None = None) -> dict[str, Any]:
        """One JSON invocation; raises on an HTTP error."""
        body: dict[str, Any] = {"message": message}
        if session_id is not None:
            body["session_id"] = session_id
        response = self.post(body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stream(self, message: Any, *, session_id: str | None = None) -> list[Any]:
        """One streamed invocation: every event, ending with ``"[DONE]"``."""
        body: dict[str, Any] = {"message": message, "stream": True}
        if session_id is not None:
            body["session_id"] = session_id
        with self.http.stream("POST", "/invoke", json=body) as response:
            response.raise_for_status()
            return parse_events(response.read().decode())

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def __enter__(self) -> InvocationsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
