"""What stands in front of the SDK's Streamable HTTP transport.

For every request: authenticate (API key, OAuth JWT or the loopback
default), read the body under hostline's JSON policy and body limit, then
hand the request to the SDK's session manager with the caller's identity and
isolation keys in the ASGI scope (the tool handler reads them from there:
in stateful mode it runs in the session's task, not the request's).

Refusals are JSON-RPC error objects with the HTTP status the MCP spec asks
for (401 with ``WWW-Authenticate`` and RFC 9728's ``resource_metadata``,
403 for a missing scope, 400 for unparseable JSON, 413 over the limit).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.requests import Request

from hostline import (
    BadRequest,
    BearerAuth,
    Identity,
    InvalidToken,
    current_isolation,
    encode_json_bytes,
    read_json,
)

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = ["IDENTITY", "ISOLATION", "Gate", "jsonrpc_error"]

log = logging.getLogger("hostline.mcp")

#: ASGI scope keys the tool handler reads.
IDENTITY = "hostline.identity"
ISOLATION = "hostline.isolation"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
UNAUTHORIZED = -32001


async def jsonrpc_error(send: Any, status: int, code: int, message: str,
                        headers: dict[str, str] | None = None, data: Any = None) -> None:
    """Answer a raw ASGI request with a JSON-RPC error object (``id`` null)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """The ASGI endpoint of ``/<instance>/``."""

    def __init__(self, channel: str, auth: BearerAuth, manager: StreamableHTTPSessionManager,
                 public_url: str | None, max_body_bytes: int | None = None) -> None:
        self.channel = channel
        self.auth = auth
        self.manager = manager
        self.public_url = public_url.rstrip("/") if public_url else None
        self.max_body_bytes = max_body_bytes

    def metadata_url(self, request: Request) -> str:
        """Where this instance's protected-resource metadata is served."""
        base = self.public_url or str(request.base_url).rstrip("/")
        return f"{base}/{self.channel}/.well-known/oauth-protected-resource"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body: bytes | None = None
        try:
            identity = await self.auth.authenticate(scope, request.headers)
        except InvalidToken as exc:
            await _drain(request)
            status = exc.status
            headers = {} if status == 503 else {
                "www-authenticate": self.auth.challenge(self.metadata_url(request), exc)}
            if status == 503:
                headers["retry-after"] = "5"
            await jsonrpc_error(send, status, UNAUTHORIZED, exc.description, headers,
                                {"error": exc.error or "invalid_request"})
            return
        if scope["method"] == "POST":
            try:
                body = encode_json_bytes(await read_json(request, max_bytes=self.max_body_bytes))
            except BadRequest as exc:
                code = PARSE_ERROR if exc.status == 400 else INVALID_REQUEST
                await jsonrpc_error(send, exc.status, code, exc.message)
                return
        await self.manager.handle_request(self._scope(scope, identity, body),
                                          _replay(body, receive), send)

    @staticmethod
    def _scope(scope: Any, identity: Identity, body: bytes | None) -> Any:
        scope = dict(scope)
        scope[IDENTITY] = identity
        scope[ISOLATION] = current_isolation()
        # The SDK ties a stateful MCP session to the credential that opened it.
        scope["user"] = AuthenticatedUser(AccessToken(
            token=identity.key, client_id=identity.key, scopes=[], subject=identity.native_id))
        if body is not None:
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            scope["headers"] = headers
        return scope


def _replay(body: bytes | None, receive: Any) -> Any:
    """A ``receive`` that gives the (already read) body once, then waits for a disconnect."""
    if body is None:
        return receive
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _drain(request: Request) -> None:
    """Read an unread body before an error, so the keep-alive connection stays usable."""
    if request.method == "POST":
        try:
            await request.body()
        except Exception:  # noqa: BLE001 - only to keep the connection usable
            return
