"""Discord's rate limits, kept client-side so requests wait instead of failing.

Discord limits every route per *bucket* (``X-RateLimit-Bucket``, shared by
routes with the same hash) and per top-level resource (the channel, guild or
webhook in the path), and the whole bot by a global limit (50 requests per
second; interaction webhooks are exempt). Each answer says how many requests
are left in its bucket and when the bucket resets; a 429 says how long to
wait (``retry_after``) and whether the limit hit was the global one.

:class:`RateLimits` remembers that per process: :meth:`RateLimits.delay`
says how long the next request on a route must wait (the caller sleeps or
hands the work to a durable task), :meth:`RateLimits.update` records what an
answer said. Nothing is kept per resource beyond buckets that are in use:
buckets that have reset are forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import attrs

__all__ = ["RateLimits", "Route"]

#: Path parameters that make a separate rate-limit resource ("major parameters").
MAJOR = ("channel_id", "guild_id", "webhook_id", "webhook_token")


class Route:
    """One REST route: ``Route("POST", "/channels/{channel_id}/messages", channel_id=1)``.

    :attr:`template` names the route in errors and logs; :attr:`path` is
    what goes on the wire (it may hold an interaction token: never log it).
    """

    __slots__ = ("method", "params", "template")

    def __init__(self, method: str, template: str, **params: object) -> None:
        self.method = method
        self.template = template
        self.params: Mapping[str, str] = {k: str(v) for k, v in params.items()}

    @property
    def path(self) -> str:
        """The path with its parameters filled in."""
        return self.template.format_map(self.params)

    @property
    def major(self) -> str:
        """The top-level resource the route's bucket belongs to."""
        return "/".join(self.params.get(k, "") for k in MAJOR)

    @property
    def key(self) -> str:
        """Identifies the route (method and template), before the bucket hash is known."""
        return f"{self.method} {self.template}"

    @property
    def is_webhook(self) -> bool:
        """Interaction webhooks: no bot token, exempt from the global limit."""
        return self.template.startswith("/webhooks/")

    def __repr__(self) -> str:
        return f"<Route {self.key}>"


@attrs.define
class _Bucket:
    remaining: int | None = None
    reset_at: float = 0.0  # monotonic


class RateLimits:
    """Per-bucket and global limits of one bot (one process)."""

    def __init__(self, per_second: float = 50.0) -> None:
        self.per_second = per_second
        self._hashes: dict[str, str] = {}  # route key -> bucket hash
        self._buckets: dict[str, _Bucket] = {}  # bucket hash + major -> state
        self._global_until = 0.0
        self._tokens = per_second
        self._refilled = time.monotonic()

    def _bucket_id(self, route: Route) -> str:
        return f"{self._hashes.get(route.key, route.key)}:{route.major}"

    def delay(self, route: Route) -> float:
        """Seconds until a request on ``route`` may go; ``0`` takes its slot now."""
        now = time.monotonic()
        wait = 0.0
        if not route.is_webhook:
            wait = max(wait, self._global_until - now)
            self._tokens = min(self.per_second,
                               self._tokens + (now - self._refilled) * self.per_second)
            self._refilled = now
            if self._tokens < 1.0:
                wait = max(wait, (1.0 - self._tokens) / self.per_second)
        bucket = self._buckets.get(self._bucket_id(route))
        if bucket is not None and bucket.remaining is not None:
            if bucket.reset_at <= now:
                bucket.remaining = None  # reset: unknown until the next answer says
            elif bucket.remaining <= 0:
                wait = max(wait, bucket.reset_at - now)
        if wait > 0:
            return wait
        if not route.is_webhook:
            self._tokens -= 1.0
        if bucket is not None and bucket.remaining is not None:
            bucket.remaining -= 1
        return 0.0

    def update(self, route: Route, status: int, headers: Mapping[str, str],
               retry_after: float | None = None, is_global: bool = False) -> None:
        """Record what an answer said about the limits."""
        now = time.monotonic()
        name = headers.get("x-ratelimit-bucket")
        if name:
            self._hashes[route.key] = name
        if status == 429 and retry_after is not None:
            if is_global or headers.get("x-ratelimit-global", "").lower() == "true":
                self._global_until = max(self._global_until, now + retry_after)
                return
            self._bucket(route).remaining = 0
            self._bucket(route).reset_at = now + retry_after
            return
        remaining, after = headers.get("x-ratelimit-remaining"), \
            headers.get("x-ratelimit-reset-after")
        if remaining is None or after is None:
            return
        try:
            left, reset = int(remaining), float(after)
        except ValueError:
            return
        bucket = self._bucket(route)
        bucket.remaining = left
        bucket.reset_at = now + max(0.0, reset)

    def _bucket(self, route: Route) -> _Bucket:
        key = self._bucket_id(route)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 256:
                now = time.monotonic()
                for k in [k for k, b in self._buckets.items() if b.reset_at <= now]:
                    del self._buckets[k]
            bucket = self._buckets[key] = _Bucket()
        return bucket
