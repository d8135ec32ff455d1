"""Calls to the Bot Connector REST API (``{serviceUrl}v3/conversations/...``)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import quote

import httpx

from hostline import (
    PermanentDeliveryError,
    RetryableDeliveryError,
    Store,
    encode_json_bytes,
    parse_retry_after,
)

from .activities import normalize_service_url
from .authentication import TokenProvider

log = logging.getLogger("hostline.teams")

__all__ = ["Connector", "TrustedServiceUrls", "normalize_service_url"]


class TrustedServiceUrls:
    """Service URLs that arrived on authenticated activities, persisted.

    Proactive messages only go to these, so a stored or forged destination
    can never make the bot send its access token somewhere else (SSRF).
    """

    def __init__(self, store: Store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace
        self._known: set[str] = set()

    async def load(self) -> None:
        """Read the persisted set (at start-up)."""
        after: str | None = None
        while True:
            rows = await self.store.kv_list(self.namespace, limit=500, after=after)
            self._known.update(key for key, _ in rows)
            if len(rows) < 500:
                return
            after = rows[-1][0]

    async def add(self, url: str) -> None:
        """Trust ``url`` (it came with a valid connector token)."""
        norm = normalize_service_url(url)
        if norm not in self._known:
            await self.store.kv_put(self.namespace, norm, {"at": time.time()})
            self._known.add(norm)

    async def is_trusted(self, url: str) -> bool:
        """Whether ``url`` arrived on an authenticated activity (here or in another worker)."""
        try:
            norm = normalize_service_url(url)
        except ValueError:
            return False
        if norm in self._known:
            return True
        if await self.store.kv_get(self.namespace, norm) is not None:
            self._known.add(norm)
            return True
        return False


def activities_url(service_url: str, conversation_id: str, reply_to_id: str | None = None
                   ) -> str:
    """``{serviceUrl}v3/conversations/{id}/activities[/{replyToId}]``, ids escaped."""
    url = (f"{normalize_service_url(service_url)}v3/conversations/"
           f"{quote(conversation_id, safe='')}/activities")
    if reply_to_id:
        url += "/" + quote(reply_to_id, safe="")
    return url


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("code"), str):
            return f" ({err['code'][:80]})"
    return ""


class Connector:
    """Sends activities with the bot's access token and maps failures to
    :class:`hostline.RetryableDeliveryError` / :class:`hostline.PermanentDeliveryError`.
    """

    def __init__(self, client: httpx.AsyncClient, tokens: TokenProvider, *,
                 max_calls: int = 64) -> None:
        self.client = client
        self.tokens = tokens
        # Calls beyond the limit wait here, as coroutines, for as long as it
        # takes: only a pool smaller than the limit makes them time out.
        self._calls = asyncio.Semaphore(max_calls)

    def __repr__(self) -> str:
        return f"<Connector app_id={self.tokens.app_id!r}>"

    async def send(self, service_url: str, conversation_id: str, activity: dict[str, Any],
                   reply_to_id: str | None = None) -> dict[str, Any]:
        """POST ``activity`` to the conversation (as a reply when ``reply_to_id``).

        Returns the connector's JSON answer (``{"id": ...}`` for most sends).
        A 401/403 refreshes the token and tries once more, then fails for good.
        """
        url = activities_url(service_url, conversation_id, reply_to_id)
        what = f"POST {service_url} conversation {conversation_id[:80]!r}"
        for attempt in (1, 2):
            token = await self.tokens.token()
            try:
                async with self._calls:
                    response = await self.client.post(
                        url, content=encode_json_bytes(activity),  # never raises on a surrogate
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/json"})
            except httpx.PoolTimeout:
                raise RetryableDeliveryError(f"{what}: connection pool exhausted") from None
            except httpx.TimeoutException as exc:
                raise RetryableDeliveryError(f"{what}: timed out ({type(exc).__name__})"
                                             ) from None
            except httpx.HTTPError as exc:
                raise RetryableDeliveryError(f"{what}: {type(exc).__name__}") from None
            status = response.status_code
            if 200 <= status < 300:
                try:
                    body = response.json() if response.content else {}
                except ValueError:
                    body = {}
                return body if isinstance(body, dict) else {}
            if status in (401, 403):
                # The token may have been revoked or rotated: one fresh token, once.
                self.tokens.invalidate(token)
                if attempt == 1:
                    log.info("%s: HTTP %d, retrying with a fresh token", what, status)
                    continue
                raise PermanentDeliveryError(
                    f"{what}: HTTP {status}{_error_code(response)} even with a fresh token")
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if status in (408, 429) or status >= 500:
                raise RetryableDeliveryError(f"{what}: HTTP {status}{_error_code(response)}",
                                             retry_after=retry_after)
            raise PermanentDeliveryError(f"{what}: HTTP {status}{_error_code(response)}")
        raise AssertionError("unreachable")  # pragma: no cover
