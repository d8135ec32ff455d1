"""The ``[channels.<instance>]`` schema of the A2A channel.

Example::

    [channels.a2a]
    api_keys = ["${A2A_KEY}"]             # or the oauth_* keys, or both
    name = "Support agent"
    description = "Answers questions about our product."
    url = "https://bot.example.com/a2a/"  # default: [host] public_url + /<instance>/

    [[channels.a2a.skills]]
    id = "ask"
    name = "Ask"
    description = "Ask anything about the product."
    tags = ["support"]
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from hostline import ApiKey, Secret, check_api_keys

__all__ = ["A2AConfig", "Skill"]


def _oauth_complete(instance: A2AConfig, attribute: Any, value: Any) -> None:
    given = {k: getattr(instance, k) for k in ("oauth_issuer", "oauth_audience", "jwks_url")}
    if any(given.values()) and not all(given.values()):
        missing = sorted(k for k, v in given.items() if not v)
        raise ValueError(f"key '{missing[0]}': OAuth needs oauth_issuer, oauth_audience "
                         "and jwks_url together")


def _url(instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not re.match(r"https?://[^/\s]+", value):
        raise ValueError(f"key '{attribute.name}': an http(s) URL is expected")


def _positive(instance: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"key '{attribute.name}': must be greater than 0")


@attrs.frozen
class Skill:
    """One skill listed in the agent card."""

    id: str
    name: str
    description: str = ""
    tags: list[str] = attrs.field(factory=list)
    examples: list[str] = attrs.field(factory=list)


@attrs.frozen
class A2AConfig:
    """Keys of an A2A channel table (besides the common ``plugin``,
    ``response_target``, ``denied_reply`` and ``allow``)."""

    #: Bearer keys accepted; a plain string or a ``{key, native_id, name}`` table.
    api_keys: list[Secret | ApiKey] = attrs.field(factory=list, validator=check_api_keys)
    #: Serve without credentials even when the host is bound to a non-loopback address.
    allow_unauthenticated: bool = False
    #: The agent's name in the card (default: the target's name).
    name: str | None = None
    #: The agent's description in the card.
    description: str = "An agent served by hostline."
    #: The agent's version in the card.
    version: str = "1.0.0"
    #: The JSON-RPC URL in the card (default: public_url or the request's base + /<instance>/).
    url: str | None = attrs.field(default=None, validator=_url)
    #: Skills listed in the card (default: one ``chat`` skill).
    skills: list[Skill] = attrs.field(factory=list)
    #: The token issuer (``iss``) of an OAuth 2.1 resource server.
    oauth_issuer: str | None = attrs.field(default=None, validator=_oauth_complete)
    #: The audience (``aud``) tokens must name.
    oauth_audience: str | None = None
    #: Where the issuer publishes its signing keys.
    jwks_url: str | None = None
    #: Scopes every token must carry.
    required_scopes: list[str] = attrs.field(factory=list)
    #: Deliver push notifications to private and loopback addresses (off: SSRF guard).
    push_allow_private: bool = False
    #: Seconds a stored task is kept after its last change.
    task_ttl: float = attrs.field(default=30 * 24 * 3600.0, validator=_positive)
    #: Seconds a running task's liveness lasts unrenewed: after that, a task whose
    #: process died reads as failed ("interrupted by a server restart").
    task_lease: float = attrs.field(default=30.0, validator=_positive)
