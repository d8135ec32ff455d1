"""A small Bot API client on one ``httpx.AsyncClient``.

The Bot API puts the bot token in every URL (``/bot<token>/<method>``), so
the token would end up in httpx's request log, in exception messages and in
any ``repr`` of a request. Here the client only ever sees a placeholder;
:class:`_PoolTransport` swaps the real token in on the way out, below
everything that logs. Errors are mapped onto hostline's delivery errors:
429, 5xx, timeouts and pool exhaustion are retryable, a blocked bot or an
unknown chat is permanent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

import hostline
from hostline import PooledTransport, read_bounded

log = logging.getLogger("hostline.telegram")

__all__ = [
    "BotAPI",
    "TelegramError",
    "TelegramPermanentError",
    "TelegramRetryableError",
]

_PLACEHOLDER = "~token~"

#: Descriptions (lowercase fragments) meaning the chat cannot be reached at all.
_CHAT_GONE = (
    "bot was blocked by the user", "chat not found", "bot was kicked", "user is deactivated",
    "bot is not a member", "bot can't initiate conversation", "peer_id_invalid",
    "group chat was deactivated", "have no rights to send a message", "not enough rights to send",
    "chat_write_forbidden", "bot can't send messages to bots",
)


class TelegramError(hostline.DeliveryError):
    """A Bot API call failed. ``error_code`` and ``description`` are Telegram's."""

    def __init__(self, method: str, error_code: int, description: str, *,
                 retry_after: float | None = None, migrate_to_chat_id: int | None = None) -> None:
        super().__init__(f"{method}: {error_code} {description}", retry_after=retry_after)
        self.method = method
        self.error_code = error_code
        self.description = description
        self.migrate_to_chat_id = migrate_to_chat_id

    @property
    def cant_parse_entities(self) -> bool:
        """Telegram refused the HTML (``Bad Request: can't parse entities...``)."""
        return self.error_code == 400 and "can't parse entities" in self.description.lower()

    @property
    def not_modified(self) -> bool:
        """An edit that changes nothing."""
        return "message is not modified" in self.description.lower()

    @property
    def chat_gone(self) -> bool:
        """The chat cannot be reached (blocked, kicked, not found, deactivated)."""
        d = self.description.lower()
        return self.error_code in (400, 403) and any(f in d for f in _CHAT_GONE)


class TelegramRetryableError(TelegramError, hostline.RetryableDeliveryError):
    """A transient failure: 429 (``retry_after`` set), 5xx, network, timeout, pool."""


class TelegramPermanentError(TelegramError, hostline.PermanentDeliveryError):
    """A failure retrying cannot fix (bad request, blocked, chat not found)."""


def _error(method: str, status: int, body: Mapping[str, Any]) -> TelegramError:
    raw_code = body.get("error_code")
    code = raw_code if isinstance(raw_code, int) else status
    description = str(body.get("description") or f"HTTP {status}")
    raw_params = body.get("parameters")
    params: Mapping[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    retry_after = params.get("retry_after")
    migrate = params.get("migrate_to_chat_id")
    kwargs: dict[str, Any] = {
        "retry_after": float(retry_after) if isinstance(retry_after, (int, float)) else None,
        "migrate_to_chat_id": migrate if isinstance(migrate, int) else None,
    }
    # 401/404 mean a wrong or revoked token: a configuration problem that a
    # fixed config and a restart cure, so keep the work rather than drop it.
    if code == 429 or code >= 500 or code in (401, 404, 409):
        if code == 429 and kwargs["retry_after"] is None:
            kwargs["retry_after"] = 1.0
        return TelegramRetryableError(method, code, description, **kwargs)
    return TelegramPermanentError(method, code, description, **kwargs)


class _PoolTransport(PooledTransport):
    """The channel's connection pool; puts the real token into the request
    target just before it goes on the wire."""

    def __init__(self, token: str, max_connections: int, proxy: str | None = None,
                 trust_env: bool = True) -> None:
        super().__init__(max_connections=max_connections, proxy=proxy, trust_env=trust_env)
        self._token = token.encode()
        self._real: dict[bytes, bytes] = {}  # placeholder target -> real target (methods)

    def target(self, request: httpx.Request) -> bytes:
        path = request.url.raw_path
        real = self._real.get(path)
        if real is None:
            real = path.replace(_PLACEHOLDER.encode(), self._token, 1)
            if path.startswith(b"/bot") and len(self._real) < 256:
                self._real[path] = real
        return real


class BotAPI:
    """Calls Bot API methods; one instance (one connection pool) per channel.

    ``max_connections`` bounds concurrent requests; a request that cannot get
    a connection within ``pool_timeout`` fails with a retryable error rather
    than waiting forever or being dropped.
    """

    def __init__(self, token: str, *, api_base: str = "https://api.telegram.org",
                 max_connections: int = 64, connect_timeout: float = 10.0,
                 read_timeout: float = 30.0, write_timeout: float = 30.0,
                 pool_timeout: float = 5.0, proxy: str | None = None,
                 trust_env: bool = True) -> None:
        self._token = token
        self.api_base = api_base.rstrip("/")
        self.timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout,
                                     write=write_timeout, pool=pool_timeout)
        self._transport = _PoolTransport(token, max_connections, proxy, trust_env)
        self.client = httpx.AsyncClient(
            base_url=self.api_base, transport=self._transport,
            timeout=self.timeout, headers={"user-agent": "hostline-telegram"})
        self._urls: dict[str, httpx.URL] = {}
        self._headers = httpx.Headers({"user-agent": "hostline-telegram", "accept": "*/*",
                                       "content-type": "application/json"})
        self._timeout_ext = self.timeout.as_dict()

    def __repr__(self) -> str:
        return f"<BotAPI {self.api_base}>"

    def redact(self, text: str) -> str:
        """``text`` with the token replaced (for anything that may be logged)."""
        return text.replace(self._token, "<token>") if self._token else text

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def call(self, method: str, params: Mapping[str, Any] | None = None, *,
                   files: Mapping[str, tuple[str, bytes, str]] | None = None,
                   timeout: float | None = None) -> Any:
        """Call ``method`` and return its ``result``; raise :class:`TelegramError`.

        ``files`` makes it a multipart upload (other parameters are sent as
        form fields, objects JSON-encoded, as the Bot API expects).
        """
        url = self._urls.get(method)
        if url is None:
            url = self._urls[method] = httpx.URL(f"{self.api_base}/bot{_PLACEHOLDER}/{method}")
        timeouts = self._timeout_ext if timeout is None else httpx.Timeout(
            connect=self.timeout.connect, read=timeout, write=self.timeout.write,
            pool=self.timeout.pool).as_dict()
        try:
            if files:
                data = {k: v if isinstance(v, str) else hostline.encode_json(v)
                        for k, v in (params or {}).items() if v is not None}
                resp = await self.client.post(url, data=data, files=dict(files),
                                              timeout=httpx.Timeout(**timeouts))
            else:
                # A prepared request straight to the transport: no per-call URL and
                # header merging, no redirects or auth to handle for a JSON POST.
                body = hostline.encode_json_bytes(
                    {k: v for k, v in (params or {}).items() if v is not None})
                request = httpx.Request("POST", url, headers=self._headers, content=body,
                                        extensions={"timeout": timeouts})
                resp = await self._transport.handle_async_request(request)
                try:
                    await resp.aread()
                finally:
                    await resp.aclose()
        except httpx.PoolTimeout:
            raise TelegramRetryableError(method, 0, "connection pool exhausted") from None
        except httpx.TimeoutException as exc:
            raise TelegramRetryableError(method, 0, f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise TelegramRetryableError(method, 0, f"network error: {type(exc).__name__}: "
                                         f"{self.redact(str(exc))}") from None
        try:
            payload = resp.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise _error(method, resp.status_code,
                         {"description": f"HTTP {resp.status_code} (not a Bot API answer)"})
        if payload.get("ok") is True:
            return payload.get("result")
        raise _error(method, resp.status_code, payload)

    async def download(self, file_path: str, *, max_bytes: int) -> bytes:
        """Download a file by its ``file_path`` (from ``getFile``), at most ``max_bytes``."""
        url = f"/file/bot{_PLACEHOLDER}/{file_path.lstrip('/')}"
        try:
            async with self.client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise TelegramRetryableError("download", resp.status_code, "download failed") \
                        if resp.status_code >= 500 else \
                        TelegramPermanentError("download", resp.status_code, "download failed")
                return await read_bounded(resp, max_bytes)
        except httpx.PoolTimeout:
            raise TelegramRetryableError("download", 0, "connection pool exhausted") from None
        except httpx.TimeoutException:
            raise TelegramRetryableError("download", 0, "timed out") from None
        except httpx.HTTPError as exc:
            raise TelegramRetryableError("download", 0, f"network error: {type(exc).__name__}"
                                         ) from None


