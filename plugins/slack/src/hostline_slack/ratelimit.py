"""Slack's per-method rate-limit tiers, kept per workspace.

Slack limits each Web API method per workspace and app, in tiers (Tier 1:
about 1 call a minute, Tier 2: 20, Tier 3: 50, Tier 4: 100) and
``chat.postMessage`` to about one message a second per channel, with short
bursts allowed. :class:`RateLimiter` is a token bucket per (workspace,
method) - and per channel for posting - so hostline stays under those
limits instead of finding them with 429s; when Slack answers 429 anyway, its
``Retry-After`` blocks that method in that workspace until it has passed.
Buckets that are full again are dropped, so nothing is kept per idle chat.
"""

from __future__ import annotations

import time

__all__ = ["TIERS", "RateLimiter", "tier_of"]

#: Calls per minute of each tier (the bucket also holds that many for bursts).
_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}

#: The tier of every method hostline calls ("post": the per-channel message limit).
TIERS: dict[str, int | str] = {
    "auth.test": 4,
    "auth.revoke": 3,
    "assistant.threads.setStatus": 3,
    "assistant.threads.setSuggestedPrompts": 3,
    "assistant.threads.setTitle": 3,
    "chat.postMessage": "post",
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "chat.delete": 3,
    "chat.startStream": 2,
    "chat.appendStream": 4,
    "chat.stopStream": 2,
    "conversations.open": 3,
    "files.info": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "oauth.v2.access": 4,
    "users.info": 4,
}

#: chat.postMessage: one a second per channel, bursts of a few.
POST_RATE = 1.0
POST_BURST = 3.0


def tier_of(method: str) -> int | str:
    """The tier of ``method`` (unknown methods count as Tier 3)."""
    return TIERS.get(method, 3)


def _rate(method: str) -> tuple[float, float]:
    """(tokens per second, bucket size) for ``method``."""
    tier = tier_of(method)
    if tier == "post":
        return POST_RATE, POST_BURST
    per_minute = _PER_MINUTE[int(tier)]
    return per_minute / 60.0, float(per_minute)


class RateLimiter:
    """Token buckets per (workspace, method[, channel]) plus 429 blocks."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}  # level, at
        self._blocked: dict[tuple[str, str], float] = {}
        self._clock = time.monotonic

    def _key(self, team: str, method: str, channel: str | None) -> tuple[str, str, str]:
        return (team, method, channel or "") if tier_of(method) == "post" else (team, method, "")

    def reserve(self, team: str, method: str, channel: str | None = None) -> float:
        """Take one call's token; returns seconds to wait before making the call.

        The token is taken even when a wait is returned (the caller waits, or
        gives the call up by calling :meth:`refund`).
        """
        now = self._clock()
        blocked = self._blocked.get((team, method), 0.0)
        if blocked <= now:
            self._blocked.pop((team, method), None)
            blocked = 0.0
        rate, burst = _rate(method)
        key = self._key(team, method, channel)
        level, at = self._buckets.get(key, (burst, now))
        level = min(burst, level + (now - at) * rate)
        level -= 1.0
        self._buckets[key] = (level, now)
        if len(self._buckets) > 1024:
            self._prune(now)
        wait = 0.0 if level >= 0 else -level / rate
        return max(wait, blocked - now if blocked else 0.0)

    def refund(self, team: str, method: str, channel: str | None = None) -> None:
        """Give back a token taken by :meth:`reserve` for a call not made."""
        key = self._key(team, method, channel)
        if key in self._buckets:
            level, at = self._buckets[key]
            self._buckets[key] = (level + 1.0, at)

    def block(self, team: str, method: str, seconds: float) -> None:
        """Slack answered 429: no ``method`` calls in ``team`` for ``seconds``."""
        until = self._clock() + max(seconds, 0.0)
        self._blocked[(team, method)] = max(self._blocked.get((team, method), 0.0), until)

    def blocked_for(self, team: str, method: str) -> float:
        """Seconds left of a 429 block (0 when none)."""
        return max(0.0, self._blocked.get((team, method), 0.0) - self._clock())

    def _prune(self, now: float) -> None:
        for key, (level, at) in list(self._buckets.items()):
            rate, burst = _rate(key[1])
            if level + (now - at) * rate >= burst:
                del self._buckets[key]
