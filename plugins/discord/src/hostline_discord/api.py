"""A small Discord REST client on hostline's pooled transport.

Only the routes the channel uses, as JSON in and out. Requests go straight
to :class:`hostline.outbound.PooledTransport` (no client-side logging of
URLs, which carry interaction tokens) with ``Authorization: Bot <token>``
on bot routes and nothing on interaction webhooks. Rate limits are waited
out below :data:`max_wait` seconds (see :mod:`hostline_discord.ratelimit`);
longer waits, 5xx answers, timeouts and a full pool are
:class:`DiscordRetryableError` with ``retry_after``, so callers hand the
work to a durable task. Unknown channels, missing access and other 4xx
answers are :class:`DiscordPermanentError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

import hostline
from hostline import PooledTransport, parse_retry_after

from .ratelimit import RateLimits, Route

log = logging.getLogger("hostline.discord")

__all__ = ["DiscordAPI", "DiscordError", "DiscordPermanentError", "DiscordRetryableError",
           "Route"]

#: JSON error codes meaning the destination cannot be reached.
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
MISSING_ACCESS = 50001
CANNOT_DM = 50007
MISSING_PERMISSIONS = 50013
INVALID_WEBHOOK_TOKEN = 50027
_GONE = frozenset({UNKNOWN_CHANNEL, UNKNOWN_USER, MISSING_ACCESS, CANNOT_DM,
                   MISSING_PERMISSIONS})
_TOKEN_DEAD = frozenset({UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION, INVALID_WEBHOOK_TOKEN,
                         UNKNOWN_MESSAGE})
_MAX_TRIES = 4


class DiscordError(hostline.DeliveryError):
    """A REST call failed. ``status`` is the HTTP status, ``code`` Discord's JSON code."""

    def __init__(self, route: str, status: int, message: str, *, code: int = 0,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{route}: {status} {message}" + (f" (code {code})" if code else ""),
                         retry_after=retry_after)
        self.route = route
        self.status = status
        self.code = code
        self.description = message

    @property
    def destination_gone(self) -> bool:
        """Unknown channel or user, missing access or permissions, DMs closed."""
        return self.code in _GONE

    @property
    def token_dead(self) -> bool:
        """The interaction token expired or was never acknowledged."""
        return self.code in _TOKEN_DEAD or (self.status == 401 and "/webhooks/" in self.route)


class DiscordRetryableError(DiscordError, hostline.RetryableDeliveryError):
    """A transient failure: 429 (``retry_after`` set), 5xx, network, timeout, pool."""


class DiscordPermanentError(DiscordError, hostline.PermanentDeliveryError):
    """A failure retrying cannot fix (bad request, unknown channel, missing access)."""


def _error(route: Route, status: int, body: Any, retry_after: float | None) -> DiscordError:
    data = body if isinstance(body, dict) else {}
    raw_code = data.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else 0
    message = str(data.get("message") or f"HTTP {status}")[:300]
    # A wrong bot token is a configuration problem that a fixed config and a
    # restart cure: keep the work. An interaction token that died is not.
    if status == 429 or status >= 500 or (status == 401 and not route.is_webhook):
        return DiscordRetryableError(route.key, status, message, code=code,
                                     retry_after=retry_after or (1.0 if status == 429 else None))
    return DiscordPermanentError(route.key, status, message, code=code)


class DiscordAPI:
    """Calls Discord's REST API; one instance (one connection pool) per channel."""

    def __init__(self, token: str, *, api_base: str = "https://discord.com/api/v10",
                 max_connections: int = 64, connect_timeout: float = 10.0,
                 read_timeout: float = 30.0, pool_timeout: float = 5.0,
                 global_rate_limit: float = 50.0, max_wait: float = 5.0) -> None:
        self._token = token
        self.api_base = api_base.rstrip("/")
        self.max_wait = max_wait
        self.limits = RateLimits(global_rate_limit)
        self._transport = PooledTransport(max_connections=max_connections)
        self._timeouts = httpx.Timeout(connect=connect_timeout, read=read_timeout,
                                       write=read_timeout, pool=pool_timeout).as_dict()
        self._bot_headers = [("authorization", f"Bot {token}"),
                             ("user-agent", "DiscordBot (hostline, 0.1)")]
        self._hook_headers = [("user-agent", "DiscordBot (hostline, 0.1)")]

    def __repr__(self) -> str:
        return f"<DiscordAPI {self.api_base}>"

    def redact(self, text: str) -> str:
        """``text`` with the bot token replaced (for anything that may be logged)."""
        return text.replace(self._token, "<token>") if self._token else text

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()

    async def request(self, route: Route, payload: Any = None, *,
                      query: str = "", max_wait: float | None = None) -> Any:
        """Send ``payload`` (JSON) on ``route``; the decoded answer (``None`` for 204).

        Waits out rate limits up to ``max_wait`` seconds (default
        :attr:`max_wait`), raises :class:`DiscordError` otherwise.
        """
        budget = self.max_wait if max_wait is None else max_wait
        body = b"" if payload is None else hostline.encode_json_bytes(payload)
        headers = list(self._hook_headers if route.is_webhook else self._bot_headers)
        if payload is not None:
            headers.append(("content-type", "application/json"))
        url = self.api_base + route.path + (f"?{query}" if query else "")
        for _attempt in range(_MAX_TRIES):
            wait = self.limits.delay(route)
            while wait > 0:
                if wait > budget:
                    raise DiscordRetryableError(route.key, 429, "rate limited (client side)",
                                                retry_after=wait)
                budget -= wait
                await asyncio.sleep(wait)
                wait = self.limits.delay(route)
            status, answer_headers, data = await self._send(route, url, headers, body)
            if status == 429:
                retry, is_global = _retry_after(answer_headers, data)
                self.limits.update(route, status, answer_headers, retry, is_global)
                log.info("discord: 429 on %s, retry after %.2fs%s", route.key, retry,
                         " (global)" if is_global else "")
                continue  # delay() now says how long
            self.limits.update(route, status, answer_headers)
            if 200 <= status < 300:
                return data
            raise _error(route, status, data, None)
        raise DiscordRetryableError(route.key, 429, "rate limited",
                                    retry_after=max(self.limits.delay(route), 1.0))

    async def _send(self, route: Route, url: str, headers: list[tuple[str, str]],
                    body: bytes) -> tuple[int, dict[str, str], Any]:
        request = httpx.Request(route.method, url, headers=headers, content=body,
                                extensions={"timeout": self._timeouts})
        try:
            resp = await self._transport.handle_async_request(request)
            try:
                raw = await resp.aread()
            finally:
                await resp.aclose()
        except httpx.PoolTimeout:
            raise DiscordRetryableError(route.key, 0, "connection pool exhausted") from None
        except httpx.TimeoutException as exc:
            raise DiscordRetryableError(route.key, 0,
                                        f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise DiscordRetryableError(route.key, 0, f"network error: {type(exc).__name__}"
                                        ) from None
        data: Any = None
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
        return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, data


def _retry_after(headers: dict[str, str], body: Any) -> tuple[float, bool]:
    """``retry_after`` seconds and whether the global limit was hit, from a 429."""
    data = body if isinstance(body, dict) else {}
    value = data.get("retry_after")
    retry: float | None = float(value) if isinstance(value, (int, float)) and \
        not isinstance(value, bool) else None
    if retry is None:
        retry = parse_retry_after(headers.get("retry-after"))
    if retry is None or retry != retry:
        retry = 1.0
    is_global = data.get("global") is True or headers.get("x-ratelimit-global") == "true"
    return min(max(retry, 0.0), 3600.0), is_global
