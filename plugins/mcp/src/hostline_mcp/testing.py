"""Test helpers: the official MCP client against an MCP channel.

::

    from hostline_mcp.testing import mcp_client

    async with mcp_client(f"{server.url}/mcp/", key="k") as client:
        tools = await client.list_tools()
        result = await client.call_tool("ask", {"input": "hello"})
        session_id = result.structured_content["session_id"]
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

__all__ = ["mcp_client"]


@contextlib.asynccontextmanager
async def mcp_client(url: str, *, key: str | None = None,
                     headers: dict[str, str] | None = None,
                     mode: str = "auto", **kwargs: Any) -> AsyncIterator[Client]:
    """An entered :class:`mcp.Client` over Streamable HTTP, with ``Authorization:
    Bearer <key>`` (an API key or an access token) when ``key`` is given."""
    auth = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers={**auth, **(headers or {})},
                                  timeout=httpx2.Timeout(30.0, read=60.0)) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, **kwargs) as client:
            yield client
