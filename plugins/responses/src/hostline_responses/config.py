"""The ``[channels.<instance>]`` schema of the Responses channel.

Example::

    [channels.responses]
    api_keys = [
        "${HOSTLINE_API_KEY}",                                  # a plain key
        { key = "${ALICE_KEY}", native_id = "alice", name = "Alice" },  # a key mapped to a person
    ]
    model = "my-agent"          # the model id served (default: the target's name)
    ttl = 2592000               # seconds a stored response is kept (30 days)
    max_stored_bytes = 4194304  # largest response record kept
"""

from __future__ import annotations

from typing import Any

import attrs

from hostline import ApiKey, Secret, check_api_keys

__all__ = ["ApiKey", "ResponsesConfig"]


def _positive(instance: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"key '{attribute.name}': must be greater than 0")


@attrs.frozen
class ResponsesConfig:
    """Keys of a Responses channel table (besides the common ``plugin``,
    ``response_target``, ``denied_reply`` and ``allow``)."""

    #: Bearer keys accepted; a plain string or an :class:`ApiKey` table.
    api_keys: list[Secret | ApiKey] = attrs.field(factory=list, validator=check_api_keys)
    #: Serve without keys even when the host is bound to a non-loopback address.
    allow_unauthenticated: bool = False
    #: The model id listed by ``GET /v1/models`` (default: the target's name).
    model: str | None = None
    #: Seconds a stored response (and a background stream's events) is kept.
    ttl: float = attrs.field(default=30 * 24 * 3600.0, validator=_positive)
    #: The largest stored response record, in bytes of JSON.
    max_stored_bytes: int = attrs.field(default=4 * 1024 * 1024, validator=_positive)
    #: Foreground runs of this instance at once (per process); more get 429.
    max_concurrent_runs: int = attrs.field(default=64, validator=_positive)
