"""A small Slack Web API client on hostline's pooled transport.

Each call is one ``POST {api_base}/{method}`` with the workspace's bot token
in ``Authorization: Bearer`` (never in a URL, so it never reaches a log or an
error message), JSON for methods that take JSON and form fields for those
that only read form arguments. Answers are Slack's ``{"ok": ...}`` objects;
failures become hostline delivery errors: HTTP 429 (with ``Retry-After``),
5xx, timeouts and a full pool are retryable, ``channel_not_found``,
``not_in_channel``, ``account_inactive`` and other refusals are permanent.
Calls go through :class:`~hostline_slack.ratelimit.RateLimiter` first.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

import hostline
from hostline import PooledTransport, parse_retry_after, read_bounded

from .ratelimit import RateLimiter

log = logging.getLogger("hostline.slack")

__all__ = ["SlackAPI", "SlackError", "SlackPermanentError", "SlackRetryableError"]

#: Methods that read form arguments only (JSON bodies are ignored by Slack).
FORM_METHODS = frozenset({"auth.test", "auth.revoke", "users.info", "files.info",
                          "files.getUploadURLExternal", "oauth.v2.access"})

#: ``error`` codes that mean the conversation cannot be reached with this token.
GONE = frozenset({"channel_not_found", "not_in_channel", "is_archived", "account_inactive",
                  "token_revoked", "user_not_found", "user_disabled", "cannot_dm_bot",
                  "team_access_not_granted", "restricted_action", "ekm_access_denied"})
#: ``error`` codes worth retrying (Slack's own trouble).
_RETRY = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                    "request_timeout", "team_added_to_org", "not_authed", "invalid_auth"})
#: ``error`` codes that say the native streaming methods are not available here.
NO_STREAMING = frozenset({"unknown_method", "method_deprecated", "not_allowed_token_type",
                          "missing_scope", "feature_not_enabled", "not_implemented",
                          "method_not_supported_for_channel_type", "not_in_assistant_thread",
                          "invalid_arguments"})


class SlackError(hostline.DeliveryError):
    """A Web API call failed; ``error`` is Slack's code (``channel_not_found``...)."""

    def __init__(self, method: str, error: str, *, status: int = 200,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{method}: {error}", retry_after=retry_after)
        self.method = method
        self.error = error
        self.status = status

    @property
    def gone(self) -> bool:
        """The conversation (or workspace) cannot be reached with this token."""
        return self.error in GONE

    @property
    def no_streaming(self) -> bool:
        """The native streaming methods are not available for this call."""
        return self.error in NO_STREAMING


class SlackRetryableError(SlackError, hostline.RetryableDeliveryError):
    """A transient failure: 429, 5xx, network, timeout, full pool."""


class SlackPermanentError(SlackError, hostline.PermanentDeliveryError):
    """A refusal retrying cannot fix."""


def error_for(method: str, error: str, status: int = 200,
              retry_after: float | None = None) -> SlackError:
    """The right :class:`SlackError` subclass for Slack's ``error`` code."""
    if status == 429 or status >= 500 or error in _RETRY:
        return SlackRetryableError(method, error, status=status,
                                   retry_after=retry_after if retry_after else
                                   (1.0 if status == 429 or error == "ratelimited" else None))
    return SlackPermanentError(method, error, status=status)


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class SlackAPI:
    """Web API calls for one channel instance: one pool, one rate limiter.

    ``call(method, params, token=..., team=...)`` returns Slack's answer
    (``ok`` true) or raises :class:`SlackError`. ``team`` keys the rate
    limits; a call that would wait more than ``max_inline_wait`` seconds
    raises a retryable error with ``retry_after`` instead of waiting.
    """

    def __init__(self, *, api_base: str = "https://slack.com/api", max_connections: int = 64,
                 connect_timeout: float = 10.0, read_timeout: float = 30.0,
                 pool_timeout: float = 5.0, max_inline_wait: float = 2.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout,
                                     write=read_timeout, pool=pool_timeout)
        self.transport = PooledTransport(max_connections=max_connections)
        self.client = httpx.AsyncClient(transport=self.transport, timeout=self.timeout,
                                        headers={"user-agent": "hostline-slack"},
                                        follow_redirects=False)
        self.limits = RateLimiter()
        self.max_inline_wait = max_inline_wait
        self._timeouts = self.timeout.as_dict()

    def __repr__(self) -> str:
        return f"<SlackAPI {self.api_base}>"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def call(self, method: str, params: Mapping[str, Any] | None = None, *,
                   token: str | None, team: str = "", channel: str | None = None,
                   auth: tuple[str, str] | None = None) -> dict[str, Any]:
        """Call ``method``; Slack's answer when ``ok``, else :class:`SlackError`."""
        wait = self.limits.reserve(team, method, channel)
        if wait > self.max_inline_wait:
            self.limits.refund(team, method, channel)
            raise SlackRetryableError(method, "ratelimited", status=429, retry_after=wait)
        if wait > 0:
            await asyncio.sleep(wait)
        fields = {k: v for k, v in (params or {}).items() if v is not None}
        headers = {"accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        elif auth is not None:
            pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["authorization"] = f"Basic {pair}"
        if method in FORM_METHODS:
            body = urlencode({k: _encode(v) for k, v in fields.items()}).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
            headers["content-type"] = "application/json; charset=utf-8"
        request = self.client.build_request("POST", f"{self.api_base}/{method}",
                                            content=body, headers=headers)
        try:
            resp = await self.client.send(request)
        except httpx.PoolTimeout:
            raise SlackRetryableError(method, "connection pool exhausted", status=0) from None
        except httpx.TimeoutException as exc:
            raise SlackRetryableError(method, f"timed out ({type(exc).__name__})",
                                      status=0) from None
        except httpx.HTTPError as exc:
            raise SlackRetryableError(method, f"network error: {type(exc).__name__}",
                                      status=0) from None
        if resp.status_code == 429:
            retry = _retry_after(resp.headers.get("retry-after"))
            self.limits.block(team, method, retry)
            raise SlackRetryableError(method, "ratelimited", status=429, retry_after=retry)
        try:
            payload = resp.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise error_for(method, f"HTTP {resp.status_code} (not a Web API answer)",
                            resp.status_code)
        if payload.get("ok") is True and resp.status_code < 400:
            return payload
        error = payload.get("error")
        raise error_for(method, error if isinstance(error, str) else f"HTTP {resp.status_code}",
                        resp.status_code)

    async def upload(self, url: str, content: bytes, name: str, mime: str) -> None:
        """POST a file's bytes to an ``upload_url`` from files.getUploadURLExternal."""
        try:
            resp = await self.client.post(url, files={"file": (name, content, mime)})
        except httpx.TimeoutException:
            raise SlackRetryableError("upload", "timed out", status=0) from None
        except httpx.HTTPError as exc:
            raise SlackRetryableError("upload", f"network error: {type(exc).__name__}",
                                      status=0) from None
        if resp.status_code != 200:
            raise error_for("upload", f"HTTP {resp.status_code}", resp.status_code)

    async def download(self, url: str, *, token: str, max_bytes: int) -> bytes:
        """GET a private file URL with the bot token, at most ``max_bytes``."""
        try:
            async with self.client.stream(
                    "GET", url, headers={"authorization": f"Bearer {token}"}) as resp:
                if resp.status_code != 200:
                    raise error_for("download", f"HTTP {resp.status_code}", resp.status_code)
                return await read_bounded(resp, max_bytes)
        except httpx.TimeoutException:
            raise SlackRetryableError("download", "timed out", status=0) from None
        except httpx.HTTPError as exc:
            raise SlackRetryableError("download", f"network error: {type(exc).__name__}",
                                      status=0) from None


def _retry_after(value: str | None) -> float:
    """Slack's ``Retry-After``; a second when it is missing or unreadable."""
    seconds = parse_retry_after(value)
    return 1.0 if seconds is None else seconds
