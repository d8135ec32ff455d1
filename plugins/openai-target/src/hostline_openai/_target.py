"""The ``openai`` target: any OpenAI-compatible model server behind hostline."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from hostline import (
    HostlineError,
    ImagePart,
    Message,
    RunRequest,
    RunResult,
    TextPart,
    Usage,
    parse_retry_after,
)

from ._sse import iter_sse

__all__ = ["OpenAITarget", "OpenAITargetError", "openai_target"]

log = logging.getLogger("hostline.openai")

Api = Literal["chat", "responses"]
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
# Keys the target owns in the request body; ``params`` may not override them.
_OWNED = {"chat": {"model", "messages", "stream"}, "responses": {"model", "input", "stream"}}
_ROLES = {"system", "developer", "user", "assistant"}


class OpenAITargetError(HostlineError):
    """The model server failed or refused. The message is safe to show: it
    never contains the API key. ``status`` is the HTTP status (``None`` for
    timeouts and connection errors); ``retryable`` says whether trying again
    later may help."""

    def __init__(self, message: str, *, status: int | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class _Retry(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, error: OpenAITargetError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def openai_target(
    *,
    model: str,
    base_url: str = "https://api.openai.com/v1",
    api_key_env: str = "OPENAI_API_KEY",
    api: str = "chat",
    timeout: float = 60.0,
    connect_timeout: float = 10.0,
    max_retries: int = 2,
    max_retry_wait: float = 60.0,
    instructions: str | None = None,
    system_prompt: str | None = None,
    params: Mapping[str, Any] | None = None,
    history: bool = True,
    forward_instructions: bool = True,
) -> OpenAITarget:
    """Entry-point factory (``target = "openai"``), called with ``[host.target_options]``.

    See :class:`OpenAITarget` for the meaning of each option. The API key is
    read from the environment variable named by ``api_key_env``.
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError("'model' must be a non-empty string")
    parts = urlsplit(str(base_url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("'base_url' must be an http(s) URL such as https://api.openai.com/v1")
    if parts.username or parts.password:
        raise ValueError("'base_url' must not contain credentials; use 'api_key_env'")
    if api not in ("chat", "responses"):
        raise ValueError(f"'api' must be 'chat' or 'responses', not {api!r}")
    if not isinstance(api_key_env, str) or not api_key_env:
        raise ValueError("'api_key_env' must name an environment variable")
    for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout),
                        ("max_retry_wait", max_retry_wait)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"'{name}' must be a positive number of seconds")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError("'max_retries' must be an integer >= 0")
    if instructions is not None and system_prompt is not None:
        raise ValueError("set 'instructions' or 'system_prompt', not both")
    prompt = instructions if instructions is not None else system_prompt
    if prompt is not None and not isinstance(prompt, str):
        raise ValueError("'instructions' must be a string")
    extra = dict(params or {})
    owned = sorted(_OWNED[api] & set(extra))
    if owned:
        raise ValueError(f"'params' may not set {', '.join(owned)}: the target sets them")
    api_key = os.environ.get(api_key_env) or None
    if api_key is None:
        log.warning("openai target: environment variable %s is not set; requests to %s "
                    "carry no API key", api_key_env, _origin(str(base_url)))
    return OpenAITarget(
        model=model, base_url=str(base_url), api_key=api_key, api_key_env=api_key_env,
        api=api, timeout=float(timeout), connect_timeout=float(connect_timeout),  # type: ignore[arg-type]
        max_retries=max_retries, max_retry_wait=float(max_retry_wait), instructions=prompt,
        params=extra, history=bool(history), forward_instructions=bool(forward_instructions))


class OpenAITarget:
    """A hostline target that calls an OpenAI-compatible server.

    * ``api="chat"`` posts to ``{base_url}/chat/completions``;
      ``api="responses"`` posts to ``{base_url}/responses``.
    * :meth:`run` sends a blocking request, :meth:`stream` a streaming one
      (Server-Sent Events) and yields text deltas as they arrive.
    * ``request.history`` (the earlier turns hostline keeps) is sent before
      the new input; ``instructions`` become the system prompt
      (``instructions`` for the Responses API). A channel's per-request
      ``instructions`` option is added after it unless
      ``forward_instructions`` is false.
    * 408/409/429/5xx, timeouts and connection errors are retried up to
      ``max_retries`` times with exponential backoff and jitter; a
      ``Retry-After`` (or ``retry-after-ms``) header is honoured, and a
      wait longer than ``max_retry_wait`` seconds fails at once.
    * Failures raise :class:`OpenAITargetError` with a message safe to show.
    """

    def __init__(self, *, model: str, base_url: str, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", api: Api = "chat",
                 timeout: float = 60.0, connect_timeout: float = 10.0, max_retries: int = 2,
                 max_retry_wait: float = 60.0, instructions: str | None = None,
                 params: Mapping[str, Any] | None = None, history: bool = True,
                 forward_instructions: bool = True) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api: Api = api
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.instructions = instructions
        self.params = dict(params or {})
        self.history = history
        self.forward_instructions = forward_instructions
        self.__api_key = api_key  # name-mangled and left out of repr: never logged
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (f"<OpenAITarget api={self.api} model={self.model!r} "
                f"server={_origin(self.base_url)}>")

    # public -------------------------------------------------------------------
    async def run(self, request: RunRequest) -> RunResult:
        """Send one blocking request and return the model's reply."""
        body = self.build_body(request, stream=False)
        data = await self._post_json(body)
        if self.api == "chat":
            return _chat_result(data)
        return _responses_result(data)

    async def stream(self, request: RunRequest) -> AsyncIterator[str]:
        """Send a streaming request and yield text deltas."""
        body = self.build_body(request, stream=True)
        response = await self._send(body, stream=True)
        try:
            events = iter_sse(response.aiter_lines())
            if self.api == "chat":
                async for delta in _chat_deltas(events):
                    yield delta
            else:
                async for delta in _responses_deltas(events):
                    yield delta
        except httpx.TimeoutException:
            raise OpenAITargetError(
                f"the model server stopped sending for {self.timeout:g}s mid-answer",
                retryable=True) from None
        except httpx.TransportError as exc:
            raise OpenAITargetError(
                f"the connection to the model server broke mid-answer ({type(exc).__name__})",
                retryable=True) from None
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def build_body(self, request: RunRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body for ``request`` (without credentials)."""
        messages = [*request.history, *request.input] if self.history else list(request.input)
        prompts = [self.instructions] if self.instructions else []
        extra = request.options.get("instructions") if self.forward_instructions else None
        if isinstance(extra, str) and extra.strip():
            prompts.append(extra)
        body: dict[str, Any] = dict(self.params)
        body["model"] = self.model
        if self.api == "chat":
            body["messages"] = [{"role": "system", "content": p} for p in prompts] + [
                m for m in (_chat_message(x) for x in messages) if m is not None]
            if stream:
                body["stream"] = True
                body.setdefault("stream_options", {"include_usage": True})
        else:
            if prompts:
                body["instructions"] = "\n\n".join(prompts)
            body["input"] = [m for m in (_responses_item(x) for x in messages) if m is not None]
            if stream:
                body["stream"] = True
        return body

    # transport ----------------------------------------------------------------
    @property
    def url(self) -> str:
        """The endpoint this target posts to."""
        return self.base_url + ("/chat/completions" if self.api == "chat" else "/responses")

    def _http(self) -> httpx.AsyncClient:
        # One pool per event loop: a client must not outlive the loop it was made on.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.connect_timeout,
                                                                self.timeout)),
                follow_redirects=False)
            self._client_loop = loop
        return self._client

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {"content-type": "application/json",
                   "accept": "text/event-stream" if stream else "application/json"}
        if self.__api_key:
            headers["authorization"] = f"Bearer {self.__api_key}"
        return headers

    async def _post_json(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._send(body, stream=False)
        try:
            data = response.json()
        except ValueError:
            raise OpenAITargetError("the model server answered with something that is not "
                                    "JSON", status=response.status_code) from None
        if not isinstance(data, dict):
            raise OpenAITargetError("the model server answered with unexpected JSON",
                                    status=response.status_code)
        return data

    async def _send(self, body: dict[str, Any], *, stream: bool) -> httpx.Response:
        """POST with retries; returns a 2xx response (open when ``stream``)."""
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                return await self._attempt(body, stream)
            except _Retry as retry:
                left = attempts - attempt - 1
                wait = retry.wait if retry.wait is not None else _backoff(attempt)
                if left == 0:
                    suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
                    raise OpenAITargetError(str(retry.error) + suffix,
                                            status=retry.error.status,
                                            retryable=True) from None
                if wait > self.max_retry_wait:
                    raise OpenAITargetError(
                        f"{retry.error} and asked to wait {wait:g}s, more than "
                        f"max_retry_wait", status=retry.error.status, retryable=True) from None
                log.warning("openai target: %s; retrying in %.2fs (%d left)",
                            retry.error, wait, left)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, body: dict[str, Any], stream: bool) -> httpx.Response:
        client = self._http()
        request = client.build_request("POST", self.url, json=body,
                                       headers=self._headers(stream))
        try:
            response = await client.send(request, stream=stream)
            if response.status_code < 400 and not stream:
                await response.aread()
        except httpx.TimeoutException:
            raise _Retry(OpenAITargetError(
                f"the model server at {_origin(self.base_url)} did not answer within "
                f"{self.timeout:g}s")) from None
        except httpx.TransportError as exc:
            raise _Retry(OpenAITargetError(
                f"cannot reach the model server at {_origin(self.base_url)} "
                f"({type(exc).__name__})")) from None
        if response.status_code < 400:
            return response
        try:
            await response.aread()
        except httpx.HTTPError:
            pass
        finally:
            await response.aclose()
        error = self._status_error(response)
        if response.status_code in _RETRY_STATUSES:
            raise _Retry(error, _retry_after(response.headers))
        raise error

    def _status_error(self, response: httpx.Response) -> OpenAITargetError:
        status = response.status_code
        if status in (401, 403):
            return OpenAITargetError(
                f"the model server refused the API key (HTTP {status}); check the "
                f"environment variable {self.api_key_env}", status=status)
        detail = self._redact(_error_detail(response))
        what = {404: "model or endpoint not found", 429: "rate limited or out of quota"}.get(
            status, "overloaded or failing" if status >= 500 else "request refused")
        message = f"the model server answered HTTP {status} ({what})"
        if detail:
            message += f": {detail}"
        return OpenAITargetError(message, status=status,
                                 retryable=status in _RETRY_STATUSES)

    def _redact(self, text: str) -> str:
        key = self.__api_key
        return text.replace(key, "[redacted]") if key else text


# ---------------------------------------------------------------------------
# request mapping

def _chat_message(message: Message) -> dict[str, Any] | None:
    if message.role not in _ROLES:
        return None
    images = [p for p in message.content if isinstance(p, ImagePart) and p.url]
    text = message.text
    if message.role == "user" and images:
        content: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, TextPart) and part.text:
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart) and part.url:
                content.append({"type": "image_url", "image_url": {"url": part.url}})
        return {"role": "user", "content": content}
    if not text:
        return None
    return {"role": message.role, "content": text}


def _responses_item(message: Message) -> dict[str, Any] | None:
    if message.role not in _ROLES:
        return None
    content: list[dict[str, Any]] = []
    if message.role == "assistant":
        if message.text:
            content.append({"type": "output_text", "text": message.text})
    else:
        for part in message.content:
            if isinstance(part, TextPart) and part.text:
                content.append({"type": "input_text", "text": part.text})
            elif isinstance(part, ImagePart) and part.url and message.role == "user":
                content.append({"type": "input_image", "image_url": part.url})
    if not content:
        return None
    return {"type": "message", "role": message.role, "content": content}


# ---------------------------------------------------------------------------
# response parsing

def _chat_result(data: Mapping[str, Any]) -> RunResult:
    if isinstance(data.get("error"), Mapping):
        raise OpenAITargetError(_message_of(data["error"], "the model failed"))
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise OpenAITargetError("the model server's answer has no choices")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise OpenAITargetError("the model server's answer has no message")
    text = message.get("content")
    if not isinstance(text, str):
        refusal = message.get("refusal")
        text = refusal if isinstance(refusal, str) else ""
    usage = _obj(data.get("usage"))
    status = "incomplete" if choices[0].get("finish_reason") == "length" else "completed"
    return RunResult.from_text(text, usage=Usage(_int(usage.get("prompt_tokens")),
                                                 _int(usage.get("completion_tokens"))),
                               status=status)


def _responses_result(data: Mapping[str, Any]) -> RunResult:
    if data.get("status") == "failed" or isinstance(data.get("error"), Mapping):
        raise OpenAITargetError(_message_of(data.get("error"), "the model failed"))
    texts: list[str] = []
    for item in _list(data.get("output")):
        if not isinstance(item, Mapping) or item.get("type") != "message":
            continue
        for part in _list(item.get("content")):
            if isinstance(part, Mapping) and part.get("type") == "output_text":
                texts.append(str(part.get("text") or ""))
            elif isinstance(part, Mapping) and part.get("type") == "refusal":
                texts.append(str(part.get("refusal") or ""))
    usage = _obj(data.get("usage"))
    status = "incomplete" if data.get("status") == "incomplete" else "completed"
    return RunResult.from_text("".join(texts), usage=Usage(_int(usage.get("input_tokens")),
                                                           _int(usage.get("output_tokens"))),
                               status=status)


async def _chat_deltas(events: AsyncIterator[Any]) -> AsyncIterator[str]:
    async for event in events:
        if event.data.strip() == "[DONE]":
            return
        chunk = _json(event.data)
        if isinstance(chunk.get("error"), Mapping):
            raise OpenAITargetError(_message_of(chunk["error"], "the model failed mid-answer"))
        for choice in _list(chunk.get("choices")):
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, Mapping):
                for key in ("content", "refusal"):
                    if isinstance(delta.get(key), str) and delta[key]:
                        yield delta[key]


async def _responses_deltas(events: AsyncIterator[Any]) -> AsyncIterator[str]:
    async for event in events:
        if event.data.strip() == "[DONE]":
            return
        data = _json(event.data)
        kind = data.get("type") or event.event
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            if isinstance(data.get("delta"), str):
                yield data["delta"]
        elif kind == "response.failed":
            response = _obj(data.get("response"))
            raise OpenAITargetError(_message_of(response.get("error"), "the model failed"))
        elif kind == "error":
            raise OpenAITargetError(_message_of(data.get("error", data), "the model failed"))
        elif kind in ("response.completed", "response.incomplete"):
            return


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise OpenAITargetError("the model server sent a malformed stream event") from None
    if not isinstance(value, dict):
        raise OpenAITargetError("the model server sent a malformed stream event")
    return value


# ---------------------------------------------------------------------------
# helpers

def _origin(url: str) -> str:
    """scheme://host[:port] of ``url``: enough to name the server, nothing secret."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _clean(text: str, limit: int = 300) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message_of(error: Any, default: str) -> str:
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return f"{default}: {_clean(error['message'])}"
    return default


def _error_detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return _clean(error["message"])
        if isinstance(error, str):
            return _clean(error)
    return ""


def _backoff(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Exponential backoff (0.5 s, 1 s, 2 s... capped) with jitter over its upper half."""
    delay = min(cap, base * 2.0 ** attempt)
    return delay / 2 + random.uniform(0, delay / 2)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))

