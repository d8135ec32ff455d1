"""The floor: a bare Starlette app serving hostline's wire contract with nothing but json.

Same routes and response shapes as hostline with the echo target (the same
response object keys, the same nine SSE events), and no state, no sessions,
no durability, no signature checks: what any host must at least pay for
HTTP, routing and JSON. ``python bench/bare_app.py --bind HOST:PORT`` serves
it with the Hypercorn settings ``hostline serve`` uses (one worker, asyncio).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

API_KEY = "bench-key"
TELEGRAM_SECRET = "bench-secret"
SLACK_SECRET = "bench-slack-signing-secret"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def _text(body: dict[str, Any]) -> str:
    inp = body.get("input", "")
    if isinstance(inp, str):
        return inp
    return "".join(part.get("text", "") for item in inp for part in item.get("content", [])
                   if isinstance(part, dict))


def _response(rid: str, text: str | None, status: str = "completed") -> dict[str, Any]:
    """A Responses object with the keys hostline's Responses channel returns."""
    now = int(time.time())
    output = [] if text is None else [{
        "id": _id("msg"), "type": "message", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}]
    done = status == "completed"
    return {
        "id": rid, "object": "response", "created_at": now, "status": status,
        "background": False, "completed_at": now if done else None, "conversation": None,
        "error": None, "incomplete_details": None, "instructions": None, "metadata": {},
        "model": "echo", "output": output, "previous_response_id": None, "store": True,
        "usage": {"input_tokens": 1, "input_tokens_details": {"cached_tokens": 0,
                                                              "cache_write_tokens": 0},
                  "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": 2} if done else None,
        "temperature": 1.0, "top_p": 1.0, "max_output_tokens": None, "max_tool_calls": None,
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "reasoning": {"effort": None, "summary": None}, "truncation": "disabled", "user": None,
        "safety_identifier": None, "prompt_cache_key": None, "prompt_cache_retention": None,
        "service_tier": "default", "top_logprobs": 0, "prompt": None,
    }


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


async def _sse(events: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for seq, event in enumerate(events):
        event = {"type": event["type"], "sequence_number": seq,
                 **{k: v for k, v in event.items() if k != "type"}}
        yield f"event: {event['type']}\ndata: {_dumps(event)}\n\n".encode()


def _unauthorized() -> Response:
    return JSONResponse({"error": {"message": "Incorrect API key provided.",
                                   "type": "invalid_request_error", "param": None,
                                   "code": "invalid_api_key"}}, status_code=401)


async def responses(request: Request) -> Response:
    if request.headers.get("authorization") != f"Bearer {API_KEY}":
        return _unauthorized()
    body = json.loads(await request.body())
    text = _text(body)
    rid = _id("resp")
    final = _response(rid, text)
    if not body.get("stream"):
        return JSONResponse(final)
    item = final["output"][0]
    start = _response(rid, None, "in_progress")
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
        {"type": "response.output_item.added", "output_index": 0,
         "item": dict(item, status="in_progress", content=[])},
        {"type": "response.content_part.added", **where, "part": part},
        {"type": "response.output_text.delta", **where, "delta": text, "logprobs": []},
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": dict(part, text=text)},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": final},
    ]
    return StreamingResponse(_sse(events), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def telegram(request: Request) -> Response:
    if request.headers.get("x-telegram-bot-api-secret-token") != TELEGRAM_SECRET:
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    json.loads(await request.body())
    return JSONResponse({"ok": True})


async def teams(request: Request) -> Response:
    if not request.headers.get("authorization", "").startswith("Bearer "):
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    json.loads(await request.body())
    return Response(status_code=202)


async def slack(request: Request) -> Response:
    # The same wire contract as /slack/events: a v0 signature over the raw body.
    body = await request.body()
    stamp = request.headers.get("x-slack-request-timestamp", "")
    mac = hmac.new(SLACK_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body,
                   hashlib.sha256).hexdigest()
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300 or not hmac.compare_digest(
            request.headers.get("x-slack-signature", "").encode(), f"v0={mac}".encode()):
        return JSONResponse({"error": "invalid_signature"}, status_code=401)
    json.loads(body)
    return Response(b"", status_code=200)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[
    Route("/responses/v1/responses", responses, methods=["POST"]),
    Route("/telegram/webhook", telegram, methods=["POST"]),
    Route("/teams/api/messages", teams, methods=["POST"]),
    Route("/slack/events", slack, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", healthz, methods=["GET"]),
])


def hypercorn_config(bind: str) -> Any:
    """The Hypercorn settings ``hostline serve`` uses with one worker."""
    from hypercorn.config import Config

    hc = Config()
    hc.bind = [bind]
    hc.graceful_timeout = 10.0
    hc.accesslog = None
    hc.errorlog = "-"
    hc.keep_alive_timeout = 75
    return hc


def main() -> None:
    from hypercorn.asyncio import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:8001")
    args = parser.parse_args()
    try:
        asyncio.run(serve(app, hypercorn_config(args.bind), mode="asgi"))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
