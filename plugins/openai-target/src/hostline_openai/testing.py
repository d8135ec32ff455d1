"""A local OpenAI-compatible server for tests: :class:`FakeOpenAIServer`.

It speaks enough of the OpenAI HTTP API to test a bot end to end without a
network or a model: ``POST /v1/chat/completions`` and ``POST /v1/responses``,
blocking and streaming (Server-Sent Events), ``GET /v1/models``. It checks
the bearer key and validates request bodies like the real service (OpenAI
error JSON with status 400/401/404), and can inject failures::

    from hostline_openai.testing import FakeOpenAIServer

    with FakeOpenAIServer(api_key="sk-test") as fake:
        fake.fail_next(429, retry_after=0)     # one 429, then success
        fake.delay_next(5.0)                   # next answer comes 5 s late
        ...  # point base_url at fake.base_url
        assert fake.requests[-1].body["model"] == "gpt-test"

The reply is ``reply(request)`` (default: ``"You said: <last user text>"``).
It runs on :class:`hostline.testing.FakeServer` (its own event loop in a
background thread), so it works from sync and async tests alike; streams
are sent as the real API sends them, one event a chunk
(``Transfer-Encoding: chunked``).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hostline.testing import FakeRequest as HTTPRequest
from hostline.testing import FakeServer, Reply

__all__ = ["FakeOpenAIServer", "FakeRequest"]

_CHAT_ROLES = {"system", "developer", "user", "assistant", "tool"}
_INPUT_ROLES = {"system", "developer", "user", "assistant"}


@dataclass
class FakeRequest:
    """One request the fake received (the ``authorization`` header is left out)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        """``"chat"``, ``"responses"`` or ``"other"``."""
        if self.path.endswith("/chat/completions"):
            return "chat"
        return "responses" if self.path.endswith("/responses") else "other"

    @property
    def stream(self) -> bool:
        """Whether the client asked for a stream."""
        return self.body.get("stream") is True

    @property
    def messages(self) -> list[tuple[str, str]]:
        """``(role, text)`` of every message sent, system prompt/instructions first."""
        out: list[tuple[str, str]] = []
        if self.api == "responses":
            if isinstance(self.body.get("instructions"), str):
                out.append(("system", self.body["instructions"]))
            items = self.body.get("input")
            if isinstance(items, str):
                return [*out, ("user", items)]
        else:
            items = self.body.get("messages")
        for item in items or []:
            if isinstance(item, Mapping) and isinstance(item.get("role"), str):
                out.append((item["role"], _text_of(item.get("content"))))
        return out

    @property
    def last_user_text(self) -> str:
        """The text of the last user message."""
        texts = [t for role, t in self.messages if role == "user"]
        return texts[-1] if texts else ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, Mapping) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "".join(parts)


def _default_reply(request: FakeRequest) -> str:
    return f"You said: {request.last_user_text}"


class _Invalid(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 code: str | None = None, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code, self.type = (
            message, param, status, code, type_)


class FakeOpenAIServer:
    """An OpenAI-compatible HTTP server on a free loopback port.

    ``api_key=None`` accepts requests without a key. ``reply`` computes the
    assistant text from a :class:`FakeRequest`. ``model_ids``, when given,
    is the set of models that exist (others get 404 ``model_not_found``). :attr:`requests` records
    every request received; :attr:`base_url` is what clients use.
    """

    def __init__(self, *, api_key: str | None = "sk-fake-key",
                 reply: Callable[[FakeRequest], str] | None = None,
                 model_ids: tuple[str, ...] | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.api_key = api_key
        self.reply = reply or _default_reply
        self.model_ids = model_ids
        self.requests: list[FakeRequest] = []
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._failures: list[tuple[int, float | None, str]] = []
        self._delays: list[float] = []
        self._midstream: list[str] = []
        self._server: FakeServer | None = None

    def __repr__(self) -> str:
        return f"<FakeOpenAIServer {self.base_url if self._server else 'stopped'}>"

    # control ------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the ``base_url`` for clients."""
        return f"http://{self._host}:{self.port}/v1"

    def fail_next(self, status: int = 429, *, times: int = 1, retry_after: float | None = 0,
                  message: str = "Rate limit reached for requests") -> None:
        """The next ``times`` model requests get ``status`` (with ``Retry-After``)."""
        with self._lock:
            self._failures.extend([(status, retry_after, message)] * times)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` model requests wait ``seconds`` before answering."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def fail_midstream_next(self, message: str = "The model crashed") -> None:
        """The next streamed answer sends one delta, then an error event."""
        with self._lock:
            self._midstream.append(message)

    def start(self) -> FakeOpenAIServer:
        """Bind and serve in a daemon thread."""
        if self._server is None:
            server = FakeServer(self._handle, port=self._port, name="fake-openai",
                                host=self._host)
            server.start()
            self._server = server
        return self

    def stop(self) -> None:
        """Stop serving; delayed answers are abandoned."""
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # internals ----------------------------------------------------------------
    def _take(self, queue: list[Any]) -> Any:
        with self._lock:
            return queue.pop(0) if queue else None

    def _record(self, request: FakeRequest) -> None:
        with self._lock:
            self.requests.append(request)

    async def _handle(self, http: HTTPRequest) -> Reply:
        try:
            if http.method == "GET":
                return self._get(http)
            if http.method == "POST":
                return await self._post(http)
            raise _Invalid(f"Invalid URL ({http.method} {http.path})", status=404)
        except _Invalid as exc:
            return _error(exc)

    def _get(self, http: HTTPRequest) -> Reply:
        self._check_key(http)
        if http.path in ("/v1/models", "/models"):
            return _json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                for m in (self.model_ids or ("gpt-fake",))]})
        raise _Invalid(f"Invalid URL (GET {http.path})", status=404)

    async def _post(self, http: HTTPRequest) -> Reply:
        path = http.path
        headers = {k: v for k, v in http.headers.items() if k != "authorization"}
        request = FakeRequest("POST", path, headers)
        if path not in ("/v1/chat/completions", "/v1/responses"):
            raise _Invalid(f"Invalid URL (POST {path})", status=404)
        self._record(request)
        self._check_key(http)
        request.body = _parse(http)
        if request.api == "chat":
            _validate_chat(request.body)
        else:
            _validate_responses(request.body)
        if self.model_ids is not None and request.body.get("model") not in self.model_ids:
            raise _Invalid(f"The model `{request.body.get('model')}` does not exist or "
                           "you do not have access to it.", status=404, code="model_not_found")
        delay = self._take(self._delays)
        if delay:
            await asyncio.sleep(delay)  # stop() cancels it
        failure = self._take(self._failures)
        if failure is not None:
            status, retry_after, message = failure
            extra = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
            return _error(_Invalid(message, status=status, type_="requests" if status == 429
                                   else "server_error", code="rate_limit_exceeded"
                                   if status == 429 else None), extra)
        text = self.reply(request)
        midstream = self._take(self._midstream) if request.stream else None
        if not request.stream:
            return _json(200, _chat_completion(request, text) if request.api == "chat"
                         else _response_object(request, text, "completed"))
        events = _chat_stream(request, text, midstream) if request.api == "chat" \
            else _responses_stream(request, text, midstream)
        return 200, _head("text/event-stream; charset=utf-8", {"cache-control": "no-cache"}), \
            events

    def _check_key(self, http: HTTPRequest) -> None:
        key = self.api_key
        if key is None:
            return
        auth = http.headers.get("authorization") or ""
        if not auth:
            raise _Invalid("You didn't provide an API key. You need to provide your API key "
                           "in an Authorization header using Bearer auth.", status=401)
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or given.strip() != key:
            shown = given[:3] + "*" * 4 + given[-2:] if len(given) > 8 else "***"
            raise _Invalid(f"Incorrect API key provided: {shown}.", status=401,
                           code="invalid_api_key")


# responses --------------------------------------------------------------------
def _parse(http: HTTPRequest) -> dict[str, Any]:
    ctype = (http.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise _Invalid("Content-Type must be application/json")
    try:
        body = json.loads(http.body)
    except ValueError:
        raise _Invalid("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise _Invalid("The request body must be a JSON object.")
    return body


def _head(ctype: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"content-type": ctype, "x-request-id": f"req_{uuid.uuid4().hex}", **(extra or {})}


def _json(status: int, body: Any, extra: Mapping[str, str] | None = None) -> Reply:
    return status, _head("application/json", extra), json.dumps(body).encode()


def _error(exc: _Invalid, extra: Mapping[str, str] | None = None) -> Reply:
    return _json(exc.status, {"error": {"message": exc.message, "type": exc.type,
                                        "param": exc.param, "code": exc.code}}, extra)


def _event(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


async def _chat_stream(request: FakeRequest, text: str,
                       midstream: str | None) -> AsyncIterator[bytes]:
    cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), \
        request.body["model"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]}
    yield _event(chunk({"role": "assistant", "content": ""}))
    for i, piece in enumerate(_pieces(text)):
        yield _event(chunk({"content": piece}))
        if midstream is not None and i == 0:
            yield _event({"error": {"message": midstream, "type": "server_error",
                                    "param": None, "code": None}})
            return
    yield _event(chunk({}, "stop"))
    options = request.body.get("stream_options") or {}
    if isinstance(options, Mapping) and options.get("include_usage"):
        usage = _usage(request, text, chat=True)
        yield _event({"id": cid, "object": "chat.completion.chunk", "created": created,
                      "model": model, "choices": [], "usage": usage})
    yield _event("[DONE]")


async def _responses_stream(request: FakeRequest, text: str,
                            midstream: str | None) -> AsyncIterator[bytes]:
    resp = _response_object(request, "", "in_progress")
    item_id = f"msg_{uuid.uuid4().hex}"
    seq = iter(range(1_000_000))

    def send(kind: str, **fields: Any) -> bytes:
        return _event({"type": kind, "sequence_number": next(seq), **fields}, kind)
    yield send("response.created", response=resp)
    yield send("response.in_progress", response=resp)
    item = {"id": item_id, "type": "message", "status": "in_progress",
            "role": "assistant", "content": []}
    yield send("response.output_item.added", output_index=0, item=item)
    yield send("response.content_part.added", item_id=item_id, output_index=0,
               content_index=0, part={"type": "output_text", "text": "", "annotations": []})
    for i, piece in enumerate(_pieces(text)):
        yield send("response.output_text.delta", item_id=item_id, output_index=0,
                   content_index=0, delta=piece, logprobs=[])
        if midstream is not None and i == 0:
            failed = _response_object(request, "", "failed")
            failed["id"] = resp["id"]
            failed["error"] = {"code": "server_error", "message": midstream}
            yield send("response.failed", response=failed)
            return
    part = {"type": "output_text", "text": text, "annotations": []}
    yield send("response.output_text.done", item_id=item_id, output_index=0,
               content_index=0, text=text, logprobs=[])
    yield send("response.content_part.done", item_id=item_id, output_index=0,
               content_index=0, part=part)
    done = _response_object(request, text, "completed", item_id)  # the same item
    done["id"] = resp["id"]  # and the same response
    yield send("response.output_item.done", output_index=0, item=done["output"][0])
    yield send("response.completed", response=done)


def _pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def _usage(request: FakeRequest, text: str, *, chat: bool) -> dict[str, Any]:
    prompt = sum(len(t.split()) for _, t in request.messages)
    completion = len(text.split())
    if chat:
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}
    return {"input_tokens": prompt, "output_tokens": completion,
            "total_tokens": prompt + completion,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0}}


def _chat_completion(request: FakeRequest, text: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": request.body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                 "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(request, text, chat=True)}


def _response_object(request: FakeRequest, text: str, status: str,
                     item_id: str | None = None) -> dict[str, Any]:
    output = [] if status != "completed" else [{
        "id": item_id or f"msg_{uuid.uuid4().hex}", "type": "message", "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]}]
    return {"id": f"resp_{uuid.uuid4().hex}", "object": "response",
            "created_at": int(time.time()), "status": status, "error": None,
            "incomplete_details": None, "instructions": request.body.get("instructions"),
            "model": request.body["model"], "output": output, "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "store": request.body.get("store", True),
            "usage": _usage(request, text, chat=False) if status == "completed" else None}


def _validate_common(body: Mapping[str, Any]) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _Invalid("you must provide a model parameter", param="model")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _Invalid("Invalid type for 'stream': expected a boolean.", param="stream")
    if "stream_options" in body and body["stream_options"] is not None:
        if body.get("stream") is not True:
            raise _Invalid("The 'stream_options' parameter is only allowed when 'stream' is "
                           "enabled.", param="stream_options")
    if "temperature" in body and not (isinstance(body["temperature"], (int, float))
                                      and 0 <= body["temperature"] <= 2):
        raise _Invalid("Invalid 'temperature': expected a number between 0 and 2.",
                       param="temperature")


def _validate_chat(body: Mapping[str, Any]) -> None:
    _validate_common(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid("Invalid 'messages': expected a non-empty array.", param="messages")
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping) or m.get("role") not in _CHAT_ROLES:
            raise _Invalid(f"Invalid '{where}.role'.", param=f"{where}.role")
        content = m.get("content")
        if isinstance(content, str):
            continue
        if content is None and m.get("role") == "assistant":
            continue
        if not isinstance(content, list) or not content:
            raise _Invalid(f"Invalid '{where}.content': expected a string or an array of "
                           "content parts.", param=f"{where}.content")
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, Mapping) else None
            ok = (kind == "text" and isinstance(part.get("text"), str)) or (
                kind == "image_url" and m.get("role") == "user"
                and isinstance(part.get("image_url"), Mapping)
                and isinstance(part["image_url"].get("url"), str))
            if not ok:
                raise _Invalid(f"Invalid '{where}.content[{j}]'.",
                               param=f"{where}.content[{j}]")


def _validate_responses(body: Mapping[str, Any]) -> None:
    _validate_common(body)
    if "instructions" in body and body["instructions"] is not None and not isinstance(
            body["instructions"], str):
        raise _Invalid("Invalid 'instructions': expected a string.", param="instructions")
    items = body.get("input")
    if isinstance(items, str):
        return
    if not isinstance(items, list) or not items:
        raise _Invalid("Invalid 'input': expected a string or a non-empty array.",
                       param="input")
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, Mapping) or item.get("type", "message") != "message" or \
                item.get("role") not in _INPUT_ROLES:
            raise _Invalid(f"Invalid '{where}'.", param=where)
        content = item.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            raise _Invalid(f"Invalid '{where}.content'.", param=f"{where}.content")
        allowed = {"output_text", "refusal"} if item["role"] == "assistant" else {
            "input_text", "input_image", "input_file"}
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind not in allowed:
                raise _Invalid(f"Invalid value: '{kind}'. Supported values for "
                               f"'{where}.content[{j}].type' are: {', '.join(sorted(allowed))}.",
                               param=f"{where}.content[{j}].type")
            if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
                raise _Invalid(f"Missing '{where}.content[{j}].text'.",
                               param=f"{where}.content[{j}].text")
