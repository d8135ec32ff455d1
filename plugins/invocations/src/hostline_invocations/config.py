"""The ``[channels.<instance>]`` schema of the Invocations channel.

Example::

    [channels.invocations]
    api_keys = ["${INVOKE_KEY}", { key = "${ALICE_KEY}", native_id = "alice" }]
    max_body_bytes = 1048576      # tighter than the host's body limit, if set
"""

from __future__ import annotations

from typing import Any

import attrs

from hostline import ApiKey, Secret, check_api_keys

__all__ = ["InvocationsConfig"]


def _positive(instance: Any, attribute: Any, value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"key '{attribute.name}': must be greater than 0")


@attrs.frozen
class InvocationsConfig:
    """Keys of an Invocations channel table (besides the common ``plugin``,
    ``response_target``, ``denied_reply`` and ``allow``)."""

    #: Bearer keys accepted; a plain string or a ``{key, native_id, name}`` table.
    api_keys: list[Secret | ApiKey] = attrs.field(factory=list, validator=check_api_keys)
    #: Serve without keys even when the host is bound to a non-loopback address.
    allow_unauthenticated: bool = False
    #: The largest request body of ``/invoke`` (default: the host's limit).
    max_body_bytes: int | None = attrs.field(default=None, validator=_positive)
    #: Runs of this instance at once (per process); more get 429.
    max_concurrent_runs: int = attrs.field(default=64, validator=_positive)
