"""The Invocations channel: ``POST /<instance>/invoke``, JSON or server-sent events.

Request ``{"message": str | [items], "session_id"?: str, "stream"?: bool}``;
an item is a string or ``{"role"?: "user", "content": str | [{"type": "text", "text": str}]}``.

* JSON answer: ``{"response": str, "session_id": str}``.
* ``"stream": true``: ``text/event-stream`` frames ``data: {"delta": str,
  "session_id": str}``, then ``data: {"response": str, "session_id": str}``
  and ``data: [DONE]``; a failure mid-stream is ``data: {"error": {...}}``
  before ``[DONE]``.

A session id this channel returned continues that session (with its
history); an unknown one starts a session under that id. Sessions belong to
the caller: the same id sent with another key is another session.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hostline import (
    ApiKeys,
    BadRequest,
    Channel,
    Host,
    Identity,
    JSONResponse,
    Message,
    Reject,
    Turn,
    bearer_token,
    check_open_channel,
    current_isolation,
    encode_json,
    error_response,
    hookimpl,
    is_loopback_client,
    read_json,
)

from .config import InvocationsConfig

__all__ = ["InvocationsChannel", "parse_message"]

log = logging.getLogger("hostline.invocations")

_SESSION_ID = re.compile(r"[A-Za-z0-9._:@-]{1,200}")
_MAX_ITEMS = 100


class _Refused(Exception):
    """An error answered with the shared JSON error shape."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers

    def response(self) -> Response:
        return error_response(self.status, self.message, code=self.code, param=self.param,
                              headers=self.headers)


def _invalid(message: str, param: str | None, code: str = "invalid_value") -> _Refused:
    return _Refused(400, message, code, param)


def _item_text(item: Any, where: str) -> tuple[str, str]:
    """``(role, text)`` of one input item."""
    if isinstance(item, str):
        return "user", item
    if not isinstance(item, dict):
        raise _invalid(f"'{where}' must be a string or an object with 'content'.", where,
                       "invalid_type")
    role = item.get("role", "user")
    if role not in ("user", "assistant", "system"):
        raise _invalid(f"'{where}.role' must be 'user', 'assistant' or 'system'.",
                       f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return role, content
    if not isinstance(content, list):
        raise _invalid(f"'{where}.content' must be a string or an array of text parts.",
                       f"{where}.content", "invalid_type")
    texts = []
    for n, part in enumerate(content[:_MAX_ITEMS]):
        if isinstance(part, str):
            texts.append(part)
        elif (isinstance(part, dict) and part.get("type") in ("text", "input_text")
              and isinstance(part.get("text"), str)):
            texts.append(part["text"])
        else:
            raise _invalid(f"'{where}.content[{n}]' must be a text part "
                           "({\"type\": \"text\", \"text\": ...}).",
                           f"{where}.content[{n}]", "invalid_type")
    return role, "".join(texts)


def parse_message(value: Any) -> list[Message]:
    """The ``message`` field as hostline messages (``ValueError``-free: raises 400s)."""
    if isinstance(value, str):
        if not value:
            raise _invalid("'message' must not be empty.", "message")
        return [Message.user(value)]
    if not isinstance(value, list) or not value:
        raise _invalid("'message' must be a string or a non-empty array of items.",
                       "message", "invalid_type")
    if len(value) > _MAX_ITEMS:
        raise _invalid(f"'message' has more than {_MAX_ITEMS} items.", "message")
    out = []
    for n, item in enumerate(value):
        role, text = _item_text(item, f"message[{n}]")
        out.append(Message(role, (text,) if text else ()))
    if not any(m.text for m in out):
        raise _invalid("'message' has no text.", "message")
    return out


def _sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else encode_json(data)
    return f"data: {text}\n\n".encode()


class InvocationsChannel(Channel):
    """A plain invocation endpoint for scripts, jobs and other agents."""

    Config = InvocationsConfig
    streaming = True
    needs_secrets = False

    def __init__(self, name: str, config: InvocationsConfig, host: Host) -> None:
        super().__init__(name, config, host)
        self.config: InvocationsConfig = config
        self.keys = ApiKeys(name, config.api_keys)
        check_open_channel(host.config.source, name, host.config.host.bind,
                           has_auth=bool(self.keys),
                           allow_unauthenticated=config.allow_unauthenticated)
        self._active = 0

    @hookimpl
    def hostline_routes(self, host: Host) -> list[Route]:
        """``POST /invoke``."""
        return [Route("/invoke", self.invoke, methods=["POST"])]

    # plumbing ---------------------------------------------------------------
    def _authenticate(self, request: Request) -> Identity:
        if not self.keys:
            if not self.config.allow_unauthenticated and not is_loopback_client(request):
                raise _Refused(401, "This server has no API keys configured and answers only "
                                    "clients on this machine.", "invalid_api_key")
            return Identity(self.name, "anonymous", None, {"auth": "none"})
        token = bearer_token(request.headers)
        if token is None:
            raise _Refused(401, "Provide an API key in an Authorization header using Bearer "
                                "auth (Authorization: Bearer YOUR_KEY).", "missing_api_key",
                           headers={"www-authenticate": "Bearer"})
        identity = self.keys.identify(token)
        if identity is None:
            raise _Refused(401, "Incorrect API key provided.", "invalid_api_key",
                           headers={"www-authenticate": 'Bearer error="invalid_token"'})
        return identity

    async def _body(self, request: Request) -> dict[str, Any]:
        body = await read_json(request, max_bytes=self.config.max_body_bytes)
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.", None, "invalid_json")
        unknown = sorted(k for k in body if k not in ("message", "session_id", "stream"))
        if unknown:
            raise _invalid(f"Unrecognized request argument supplied: {unknown[0][:100]}",
                           unknown[0][:100], "unknown_parameter")
        if "message" not in body:
            raise _invalid("Missing required parameter: 'message'.", "message",
                           "missing_required_parameter")
        return body

    @staticmethod
    async def _drain(request: Request) -> None:
        try:
            await request.body()
        except Exception:  # noqa: BLE001 - only to keep the connection usable
            return

    # the endpoint -----------------------------------------------------------
    async def invoke(self, request: Request) -> Response:
        """``POST /invoke``."""
        try:
            identity = self._authenticate(request)
            body = await self._body(request)
            messages = parse_message(body["message"])
            sid = body.get("session_id")
            if sid is not None and (not isinstance(sid, str) or not _SESSION_ID.fullmatch(sid)):
                raise _invalid("'session_id' must be 1-200 letters, digits or ._:@-.",
                               "session_id")
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise _invalid("'stream' must be a boolean.", "stream", "invalid_type")
            fresh = sid is None
            session_id = sid or secrets.token_hex(16)
            if self._active >= self.config.max_concurrent_runs:
                raise _Refused(429, "Too many concurrent requests; retry shortly.",
                               "rate_limit_exceeded", headers={"retry-after": "1"})
            try:
                turn = await self.host.begin_turn(
                    channel=self.name, scope=f"{identity.native_id}:{session_id}",
                    input=messages, identity=identity, isolation=current_isolation(),
                    fresh=fresh)
            except Reject as exc:
                raise _Refused(403, exc.reply or "Not allowed.", "permission_denied") from None
        except _Refused as exc:
            await self._drain(request)
            return exc.response()
        except BadRequest as exc:
            return error_response(exc.status, exc.message, code=exc.code, param=exc.param)
        headers = {"x-session-id": session_id}
        if stream:
            return StreamingResponse(self._stream(turn, session_id),
                                     media_type="text/event-stream",
                                     headers={**headers, "cache-control": "no-cache"})
        self._active += 1
        try:
            reply = await turn.run()
        except Exception as exc:  # the target's failure: an error answer, no traceback
            log.warning("invoke on %s: the target failed: %s", self.name, type(exc).__name__,
                        exc_info=exc)
            return error_response(500, "The agent failed while answering.",
                                  code="agent_error", type="server_error", headers=headers)
        finally:
            self._active -= 1
        text = "\n\n".join(m.text for m in (reply.messages if reply else ()) if m.text)
        return JSONResponse({"response": text, "session_id": session_id}, headers=headers)

    async def _stream(self, turn: Turn, session_id: str) -> AsyncIterator[bytes]:
        self._active += 1
        try:
            async for update in turn.stream():
                if update.delta:
                    yield _sse({"delta": update.delta, "session_id": session_id})
            reply = turn.reply
            text = "\n\n".join(m.text for m in (reply.messages if reply else ()) if m.text)
            yield _sse({"response": text, "session_id": session_id})
        except Exception as exc:  # reported in the stream: the status line is sent
            log.warning("invoke on %s: the target failed: %s", self.name, type(exc).__name__,
                        exc_info=exc)
            yield _sse({"error": {"message": "The agent failed while answering.",
                                  "type": "server_error", "code": "agent_error"},
                        "session_id": session_id})
        finally:
            self._active -= 1
        yield _sse("[DONE]")
