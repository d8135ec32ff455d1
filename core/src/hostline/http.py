"""HTTP helpers shared by the host and channel plugins: JSON errors, body limits."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from starlette.requests import ClientDisconnect, Request

from .json_boundary import InvalidJSON, JSONResponse, decode_json, encode_json_bytes

__all__ = [
    "BadRequest", "BodyLimitMiddleware", "ErrorMiddleware", "error_response", "read_json",
]

log = logging.getLogger("hostline.http")


class BadRequest(Exception):
    """Raised by :func:`read_json`; ``status`` is 400 or 413."""

    def __init__(self, message: str, status: int = 400, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param


_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
          413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error",
          503: "server_error"}


def error_response(status: int, message: str, *, code: str | None = None,
                   param: str | None = None, type: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error in the OpenAI shape ``{"error": {message, type, param, code}}``."""
    return JSONResponse(
        {"error": {"message": message, "type": type or _TYPES.get(status, "error"),
                   "param": param, "code": code}},
        status_code=status, headers=headers,
    )


async def read_json(request: Request, *, max_bytes: int | None = None) -> Any:
    """The request body parsed as JSON under :mod:`hostline.json_boundary`'s
    policy (UTF-8 only, at most 64 levels deep, lone surrogates replaced with
    U+FFFD, no NaN/Infinity), or :class:`BadRequest` (400, or 413 over the
    limit) whose ``code`` says why.

    The body limit is enforced by :class:`BodyLimitMiddleware` for the whole
    app; ``max_bytes`` tightens it for one route. A client that disconnects
    mid-body raises Starlette's ``ClientDisconnect``, which the app logs at
    DEBUG and counts (``client_disconnects``); nothing is answered.
    """
    try:
        body = await request.body()
    except BodyTooLarge as exc:
        raise BadRequest(str(exc), 413, "body_too_large") from None
    if max_bytes is not None and len(body) > max_bytes:
        raise BadRequest(f"request body is over {max_bytes} bytes", 413, "body_too_large")
    if not body:
        raise BadRequest("request body is empty; expected JSON", 400, "invalid_json")
    try:
        return decode_json(body)
    except InvalidJSON as exc:
        raise BadRequest(f"request body: {exc.message}", 400, exc.code) from None


class BodyTooLarge(Exception):
    """The streamed body passed the limit."""


class BodyLimitMiddleware:
    """Pure ASGI middleware: refuse bodies over ``max_bytes`` with 413.

    A declared ``content-length`` over the limit is refused before reading;
    a chunked body is counted as it streams and cut off at the limit. An
    answer sent before a chunked body was read to its end closes the
    connection (``connection: close``): the unread rest would otherwise be
    taken for the next request on it, which then hangs.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await send_error(send, 400, "invalid content-length header", "invalid_request")
                    return
                if declared > self.max_bytes:
                    await send_error(send, 413, f"request body is over {self.max_bytes} bytes",
                                "body_too_large")
                    return
                # The server holds the body to its declared length: nothing to count.
                await self.app(scope, receive, send)
                return
        seen = 0
        limit = self.max_bytes
        finished = False

        async def limited() -> Any:
            nonlocal seen, finished
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                finished = not message.get("more_body", False)
                if seen > limit:
                    raise BodyTooLarge(f"request body is over {limit} bytes")
            return message

        async def closing(message: Any) -> None:
            if message["type"] == "http.response.start" and not finished:
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited, closing)


async def send_error(send: Any, status: int, message: str, code: str,
                     type: str = "invalid_request_error") -> None:
    """Answer a raw ASGI request with an OpenAI-shaped JSON error (for middleware)."""
    body = encode_json_bytes({"error": {"message": message, "type": type,
                                        "param": None, "code": code}})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class ErrorMiddleware:
    """Pure ASGI middleware: an unhandled error becomes a JSON 500 without a
    traceback for the client; the traceback goes to the log, once.

    A client that went away mid-request (``ClientDisconnect``) is no error:
    it is logged at DEBUG and counted in ``metrics["client_disconnects"]``.
    """

    def __init__(self, app: Any, metrics: Counter[str] | None = None) -> None:
        self.app = app
        self.metrics = metrics if metrics is not None else Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            self.metrics["client_disconnects"] += 1
            log.debug("client disconnected during %s %s", scope.get("method"),
                      scope.get("path"))
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await send_error(send, 500, "internal server error", "server_error",
                            "server_error")
