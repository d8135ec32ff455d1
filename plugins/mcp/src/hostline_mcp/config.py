"""The ``[channels.<instance>]`` schema of the MCP channel.

Example::

    [channels.mcp]
    api_keys = ["${MCP_KEY}"]               # or the oauth_* keys below, or both
    tool_name = "ask"
    tool_description = "Ask the support agent a question."
    stateless = true                        # for replicas behind a load balancer

    # an OAuth 2.1 resource server instead of (or beside) API keys
    oauth_issuer = "https://auth.example.com"
    oauth_audience = "https://bot.example.com/mcp/"
    jwks_url = "https://auth.example.com/.well-known/jwks.json"
    required_scopes = ["agent:ask"]
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from hostline import ApiKey, Secret, check_api_keys

__all__ = ["MCPConfig"]

_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _tool_name(instance: Any, attribute: Any, value: str) -> None:
    if not _TOOL_NAME.fullmatch(value):
        raise ValueError("key 'tool_name': 1-64 letters, digits, '_', '-' or '.'")


def _positive(instance: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"key '{attribute.name}': must be greater than 0")


def _oauth_complete(instance: MCPConfig, attribute: Any, value: Any) -> None:
    given = {k: getattr(instance, k) for k in ("oauth_issuer", "oauth_audience", "jwks_url")}
    if any(given.values()) and not all(given.values()):
        missing = sorted(k for k, v in given.items() if not v)
        raise ValueError(f"key '{missing[0]}': OAuth needs oauth_issuer, oauth_audience "
                         "and jwks_url together")


@attrs.frozen
class MCPConfig:
    """Keys of an MCP channel table (besides the common ``plugin``,
    ``response_target``, ``denied_reply`` and ``allow``)."""

    #: Bearer keys accepted; a plain string or a ``{key, native_id, name}`` table.
    api_keys: list[Secret | ApiKey] = attrs.field(factory=list, validator=check_api_keys)
    #: Serve without credentials even when the host is bound to a non-loopback address.
    allow_unauthenticated: bool = False
    #: The one tool's name.
    tool_name: str = attrs.field(default="ask", validator=_tool_name)
    #: The tool's description, as clients show it to their model.
    tool_description: str = "Ask the agent. Pass the returned session_id back to continue."
    #: The server name announced in ``initialize`` (default: the target's name).
    server_name: str | None = None
    #: No MCP sessions: every request stands alone (replicas need no stickiness).
    stateless: bool = False
    #: Answer with plain JSON instead of an SSE stream (no progress notifications).
    json_response: bool = False
    #: The token issuer (``iss``) of an OAuth 2.1 resource server.
    oauth_issuer: str | None = attrs.field(default=None, validator=_oauth_complete)
    #: The audience (``aud``) tokens must name: this endpoint's URL.
    oauth_audience: str | None = None
    #: Where the issuer publishes its signing keys.
    jwks_url: str | None = None
    #: Scopes every token must carry.
    required_scopes: list[str] = attrs.field(factory=list)
    #: Tool calls of this instance at once (per process); more get an error result.
    max_concurrent_runs: int = attrs.field(default=64, validator=_positive)
