"""A local Telegram Bot API server for tests: :class:`FakeBotAPI`.

It serves the Bot API's HTTP shape on a free loopback port (on
:class:`hostline.testing.FakeServer`: its own event loop in a background
thread, so it works from sync and async tests and costs little per request),
validates requests the way Telegram does - unknown method -> 404, wrong
token -> 401, ``chat_id`` required, HTML parsed with Telegram's rules and
``entities`` checked against the Bot API's entity rules
(:func:`hostline_telegram.entities.check_entities`; ``Bad Request: can't
parse entities: ...``), 1-4096 UTF-16 code units of text after parsing -
and records every call. Failures are injected per
method and chat: 5xx, 429 with ``retry_after`` (the fake then records any
call that does not wait), a blocked bot, an unknown chat, slow answers.

Example::

    from hostline_telegram.testing import FakeBotAPI

    with FakeBotAPI() as fake:
        config = f'''
        [channels.telegram]
        token = "{fake.token}"
        mode = "polling"
        api_base = "{fake.url}"
        '''
        ...  # start hostline with that config
        fake.queue_update(update.to_dict())           # a python-telegram-bot Update
        fake.wait_for(lambda: fake.texts(chat_id))    # the bot answered

MarkdownV2 and legacy Markdown texts are accepted but not parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from hostline.testing import FakeRequest, FakeServer, Polling

from .entities import (
    EntityError,
    FormattedText,
    check_entities,
    from_bot_api,
    to_bot_api,
    utf16_len,
)
from .html import HTMLParseError, parse_html

__all__ = ["Call", "FakeBotAPI", "FloodViolation", "SentMessage"]

T = TypeVar("T")

DEFAULT_TOKEN = "123456789:TEST-token_abcdefghijklmnopqrstuvwx"
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                      "upload_voice", "upload_document", "choose_sticker", "find_location",
                      "record_video_note", "upload_video_note"})
_MAX_FILE = 20 * 1024 * 1024
_NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}
_NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and "
                 "reply markup are exactly the same as a current content and reply markup of "
                 "the message")


@attrs.define
class Call:
    """One request the fake answered."""

    method: str
    params: dict[str, Any]
    at: float
    status: int
    response: dict[str, Any]

    @property
    def chat_id(self) -> str | None:
        """The ``chat_id`` parameter as a string, if any."""
        value = self.params.get("chat_id")
        return None if value is None else str(value)


@attrs.define
class SentMessage:
    """A message the bot sent, as the chat sees it now (after edits)."""

    message_id: int
    chat_id: str
    kind: str
    text: str
    entities: list[dict[str, Any]]
    raw: str
    parse_mode: str | None
    thread_id: int | None = None
    reply_to: int | None = None
    file: dict[str, Any] | None = None
    edits: list[str] = attrs.field(factory=list)
    edit_times: list[float] = attrs.field(factory=list)
    sent_at: float = 0.0
    deleted: bool = False


@attrs.frozen
class FloodViolation:
    """A call to a chat that arrived before its ``retry_after`` had passed."""

    method: str
    chat_id: str
    early_by: float


@attrs.define
class _Rule:
    method: str | None
    chat_id: str | None
    times: int
    status: int
    description: str
    retry_after: int | None = None
    parameters: dict[str, Any] | None = None


class _ApiError(Exception):
    def __init__(self, code: int, description: str,
                 parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _int(value: Any, name: str, *, required: bool = False) -> int | None:
    if value is None or value == "":
        if required:
            raise _ApiError(400, f"Bad Request: {name} is empty")
        return None
    if isinstance(value, bool):
        raise _ApiError(400, f"Bad Request: invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


def _obj(value: Any) -> Any:
    """Form and query values carry JSON objects as strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes")
    return bool(value)


class FakeBotAPI(Polling):
    """A Bot API server on ``127.0.0.1`` for tests (context manager, sync or async).

    ``url`` is the ``api_base`` to configure; ``token`` the token it accepts.
    Inspect ``calls()``, ``messages(chat)``, ``texts(chat)``, ``commands``,
    ``webhook``, ``flood_violations``, ``max_in_flight``; inject with ``fail()``, ``flood()``,
    ``block()``, ``forget()``, ``delay()``; feed ``getUpdates`` with
    ``queue_update()`` or POST to the registered webhook with ``deliver()``.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "hostline_test_bot",
                 first_name: str = "Hostline Test Bot", port: int | None = None) -> None:
        self.token = token
        self.username = username
        self.first_name = first_name
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 123456789
        self.port = port or 0
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._messages: dict[str, list[SentMessage]] = {}
        self._ids = itertools.count(1)
        self._rules: list[_Rule] = []
        self._flood_until: dict[str, float] = {}
        self._violations: list[FloodViolation] = []
        self._delays: dict[str, float] = {}
        self._blocked: set[str] = set()
        self._unknown: set[str] = set()
        self._updates: list[dict[str, Any]] = []
        self._files: dict[str, dict[str, Any]] = {}
        self._file_ids = itertools.count(1)
        self._commands: list[dict[str, Any]] = []
        self._webhook: dict[str, Any] | None = None
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._active_polls = 0
        self._sent = 0
        self._in_flight = 0
        #: The most Bot API calls that were being answered at one time.
        self.max_in_flight = 0
        self._server = FakeServer(self._handle, port=self.port, name="FakeBotAPI",
                                  max_header_bytes=1 << 20)
        self._changed: asyncio.Event | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"<FakeBotAPI {self.url}>"

    # lifecycle ----------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL (``api_base``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> FakeBotAPI:
        """Start serving in a background thread; returns when the port accepts."""
        if self._server.loop is not None and not self._closing:
            return self
        self._closing = False
        self._changed = asyncio.Event()
        self._server.start(timeout)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving (pending long polls return at once)."""
        loop, changed = self._server.loop, self._changed
        if loop is None or changed is None:
            return
        self._closing = True
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(changed.set)
        self._server.stop()

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeBotAPI:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    async def _handle(self, req: FakeRequest) -> tuple[int, dict[str, str], bytes]:
        status, payload, ctype = await self._dispatch(req.method, req.target, req.headers,
                                                      req.body)
        return status, {"content-type": ctype}, payload

    async def _dispatch(self, verb: str, target: str, headers: dict[str, str],
                        body: bytes) -> tuple[int, bytes, str]:
        path, _, query = target.partition("?")
        m = re.fullmatch(r"/bot([^/]+)/([^/]+)", path)
        if m and verb in ("GET", "POST"):
            status, answer = await self._endpoint(unquote(m.group(1)), unquote(m.group(2)),
                                                  query, headers.get("content-type", ""), body)
            return status, json.dumps(answer, ensure_ascii=False).encode(), "application/json"
        m = re.fullmatch(r"/file/bot([^/]+)/(.+)", path)
        if m and verb == "GET":
            found = self._download(unquote(m.group(1)), unquote(m.group(2)))
            if found is not None:
                return 200, found["content"], found["mime_type"]
        return 404, json.dumps(_NOT_FOUND).encode(), "application/json"

    def _notify(self) -> None:
        loop = self._server.loop
        if loop is None or self._changed is None:
            return
        changed = self._changed
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(changed.set)

    # inspection -----------------------------------------------------------------
    def calls(self, method: str | None = None, chat_id: Any = None) -> list[Call]:
        """Recorded calls, optionally of one method (case-insensitive) and chat."""
        with self._lock:
            return [c for c in self._calls
                    if (method is None or c.method.lower() == method.lower())
                    and (chat_id is None or c.chat_id == str(chat_id))]

    def messages(self, chat_id: Any, *, include_deleted: bool = False) -> list[SentMessage]:
        """Messages the bot sent to ``chat_id``, in order, as they look now."""
        with self._lock:
            return [attrs.evolve(m, edits=list(m.edits), edit_times=list(m.edit_times))
                    for m in self._messages.get(str(chat_id), [])
                    if include_deleted or not m.deleted]

    def texts(self, chat_id: Any) -> list[str]:
        """The visible texts (or captions) of the bot's messages in ``chat_id``."""
        return [m.text for m in self.messages(chat_id)]

    def chats(self) -> list[str]:
        """Chat ids the bot has sent messages to."""
        with self._lock:
            return [k for k, v in self._messages.items() if v]

    @property
    def commands(self) -> list[dict[str, Any]]:
        """The command list of the last ``setMyCommands``."""
        with self._lock:
            return list(self._commands)

    @property
    def webhook(self) -> dict[str, Any] | None:
        """The registered webhook (url, secret_token, allowed_updates...), if any."""
        with self._lock:
            return dict(self._webhook) if self._webhook else None

    @property
    def flood_violations(self) -> list[FloodViolation]:
        """Calls that ignored a ``retry_after`` (should stay empty)."""
        with self._lock:
            return list(self._violations)

    @property
    def sent_count(self) -> int:
        """How many messages the bot has sent in all (cheap to poll)."""
        with self._lock:
            return self._sent

    @property
    def active_polls(self) -> int:
        """getUpdates requests waiting right now (long polls in progress)."""
        with self._lock:
            return self._active_polls

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued for ``getUpdates`` and not yet confirmed by an offset."""
        with self._lock:
            return list(self._updates)

    # injection -------------------------------------------------------------------
    def fail(self, method: str | None = "sendMessage", *, chat_id: Any = None, times: int = 1,
             status: int = 500, description: str | None = None,
             parameters: dict[str, Any] | None = None) -> None:
        """Answer the next ``times`` matching calls with ``status`` (and
        ``parameters``, e.g. ``{"migrate_to_chat_id": -100...}``)."""
        desc = description or {500: "Internal Server Error", 502: "Bad Gateway",
                               400: "Bad Request", 403: "Forbidden"}.get(status, "Error")
        with self._lock:
            self._rules.append(_Rule(method, None if chat_id is None else str(chat_id), times,
                                     status, desc, parameters=parameters))

    def clear_failures(self) -> None:
        """Forget every pending :meth:`fail` and :meth:`flood` injection."""
        with self._lock:
            self._rules.clear()

    def flood(self, chat_id: Any = None, *, retry_after: int = 1, times: int = 1,
              method: str | None = None) -> None:
        """Answer the next ``times`` matching calls with 429 and ``retry_after``;
        calls to that chat before it passes are recorded as violations."""
        with self._lock:
            self._rules.append(_Rule(method, None if chat_id is None else str(chat_id), times,
                                     429, f"Too Many Requests: retry after {retry_after}",
                                     retry_after))

    def block(self, chat_id: Any) -> None:
        """The user blocked the bot: 403 ``Forbidden: bot was blocked by the user``."""
        with self._lock:
            self._blocked.add(str(chat_id))

    def unblock(self, chat_id: Any) -> None:
        """Undo :meth:`block`."""
        with self._lock:
            self._blocked.discard(str(chat_id))

    def forget(self, chat_id: Any) -> None:
        """The chat does not exist: 400 ``Bad Request: chat not found``."""
        with self._lock:
            self._unknown.add(str(chat_id))

    def delay(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` after ``seconds`` (0 to stop)."""
        with self._lock:
            self._delays[method.lower()] = seconds

    def add_file(self, content: bytes, *, file_name: str = "file.bin",
                 mime_type: str = "application/octet-stream",
                 declared_size: int | None = None) -> str:
        """Register a file the bot can ``getFile`` and download; returns its file_id."""
        with self._lock:
            n = next(self._file_ids)
            file_id = f"FILE{n:06d}-{file_name}"
            self._files[file_id] = {"content": content, "file_name": file_name,
                                    "mime_type": mime_type,
                                    "size": declared_size if declared_size is not None
                                    else len(content),
                                    "path": f"documents/file_{n}{_ext(file_name)}"}
            return file_id

    def queue_update(self, update: dict[str, Any]) -> None:
        """Queue an update (a dict, e.g. ``telegram.Update(...).to_dict()``) for getUpdates."""
        update = json.loads(json.dumps(update))
        if not isinstance(update.get("update_id"), int):
            raise ValueError("an update needs an integer update_id")
        with self._lock:
            self._updates.append(update)
            self._updates.sort(key=lambda u: u["update_id"])
        self._notify()

    def _webhook_request(self, update: dict[str, Any], secret_token: str | None
                         ) -> tuple[str, bytes, dict[str, str]]:
        hook = self.webhook
        if not hook:
            raise RuntimeError("no webhook is registered (setWebhook was not called)")
        secret = secret_token if secret_token is not None else hook.get("secret_token")
        headers = {"content-type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return hook["url"], json.dumps(update).encode(), headers

    def deliver(self, update: dict[str, Any], *, secret_token: str | None = None,
                timeout: float = 10.0) -> int:
        """POST ``update`` to the registered webhook as Telegram would; the status code.

        Blocking: use it against a server process; in async tests use :meth:`adeliver`.
        """
        import httpx

        url, body, headers = self._webhook_request(update, secret_token)
        return httpx.post(url, content=body, headers=headers, timeout=timeout).status_code

    async def adeliver(self, update: dict[str, Any], *, secret_token: str | None = None,
                       timeout: float = 10.0) -> int:
        """:meth:`deliver` for async tests."""
        import httpx

        url, body, headers = self._webhook_request(update, secret_token)
        async with httpx.AsyncClient(timeout=timeout) as client:
            return (await client.post(url, content=body, headers=headers)).status_code

    # HTTP ----------------------------------------------------------------------------
    @staticmethod
    def _parse(query: str, ctype: str, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        files: dict[str, Any] = {}
        if not body:
            return params, files
        if ctype.startswith("application/json"):
            try:
                data = json.loads(body)
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(data, dict):
                raise _ApiError(400, "Bad Request: JSON object expected")
            params.update(data)
        elif ctype.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                raw = part.get_payload(decode=True)
                payload = raw if isinstance(raw, bytes) else b""
                filename = part.get_filename()
                if filename is not None:
                    files[str(name)] = {"name": filename, "content": payload,
                                        "mime_type": part.get_content_type()}
                elif name:
                    params[str(name)] = payload.decode("utf-8", "replace")
        return params, files

    def _reply(self, method: str, params: dict[str, Any], status: int,
               body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._calls.append(Call(method, params, time.monotonic(), status, body))
        return status, body

    async def _endpoint(self, token: str, name: str, query: str, ctype: str,
                        raw: bytes) -> tuple[int, dict[str, Any]]:
        self._in_flight += 1  # the fake's own loop: no lock needed
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return await self._answer(token, name, query, ctype, raw)
        finally:
            self._in_flight -= 1

    async def _answer(self, token: str, name: str, query: str, ctype: str,
                      raw: bytes) -> tuple[int, dict[str, Any]]:
        if token != self.token:
            if _TOKEN_SHAPE.fullmatch(token):
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return 404, dict(_NOT_FOUND)
        handler = self._handlers.get(name.lower())
        if handler is None:
            return 404, dict(_NOT_FOUND)
        method = handler.__name__[3:]
        params: dict[str, Any] = {}
        try:
            params, files = self._parse(query, ctype, raw)
            with self._lock:
                delay = self._delays.get(method.lower(), 0.0)
            if delay:
                await asyncio.sleep(delay)
            self._inject(method, params)
            result = await handler(params, files)
        except _ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error_code": exc.code,
                                    "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return self._reply(method, params, exc.code, body)
        except Exception:
            logging.getLogger("hostline.telegram.testing").exception("FakeBotAPI %s", method)
            return self._reply(method, params, 500, {"ok": False, "error_code": 500,
                                                     "description": "Internal Server Error"})
        return self._reply(method, params, 200, {"ok": True, "result": result})

    def _inject(self, method: str, params: dict[str, Any]) -> None:
        chat = params.get("chat_id")
        chat = None if chat is None else str(chat)
        now = time.monotonic()
        with self._lock:
            if chat is not None and chat in self._flood_until:
                left = self._flood_until[chat] - now
                if left > 0:
                    self._violations.append(FloodViolation(method, chat, left))
                    wait = math.ceil(left)
                    raise _ApiError(429, f"Too Many Requests: retry after {wait}",
                                    {"retry_after": wait})
                del self._flood_until[chat]
            for rule in self._rules:
                if rule.times <= 0:
                    continue
                if rule.method is not None and rule.method.lower() != method.lower():
                    continue
                if rule.chat_id is not None and rule.chat_id != chat:
                    continue
                rule.times -= 1
                self._rules = [r for r in self._rules if r.times > 0]
                if rule.status == 429:
                    ra = rule.retry_after or 1
                    if chat is not None:
                        self._flood_until[chat] = now + ra
                    raise _ApiError(429, rule.description, {"retry_after": ra})
                raise _ApiError(rule.status, rule.description, rule.parameters)

    def _download(self, token: str, path: str) -> dict[str, Any] | None:
        if token != self.token:
            return None
        with self._lock:
            return next((f for f in self._files.values() if f["path"] == path), None)

    @functools.cached_property
    def _handlers(self) -> dict[str, Callable[..., Any]]:
        return {h.__name__[3:].lower(): h for h in (
            self.op_getMe, self.op_setWebhook, self.op_deleteWebhook, self.op_getWebhookInfo,
            self.op_getUpdates, self.op_sendMessage, self.op_editMessageText,
            self.op_deleteMessage, self.op_sendChatAction, self.op_setMyCommands,
            self.op_getMyCommands, self.op_sendPhoto, self.op_sendDocument, self.op_getFile)}

    # validation helpers ----------------------------------------------------------------
    def _chat(self, params: dict[str, Any]) -> str:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(raw, bool) or isinstance(raw, float):
            raise _ApiError(400, "Bad Request: chat not found")
        chat = str(raw)
        if not (re.fullmatch(r"-?\d+", chat) or re.fullmatch(r"@[A-Za-z0-9_]{4,}", chat)):
            raise _ApiError(400, "Bad Request: chat not found")
        with self._lock:
            if chat in self._unknown:
                raise _ApiError(400, "Bad Request: chat not found")
            if chat in self._blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    @staticmethod
    def _formatted(text: Any, parse_mode: Any, *, limit: int, caption: bool = False,
                   entities: Any = None) -> FormattedText:
        what = "message caption" if caption else "message text"
        if text is None:
            text = ""
        if not isinstance(text, str):
            text = str(text)
        mode = str(parse_mode or "").lower()
        try:
            if entities is not None and mode:
                raise EntityError("can't parse entities: entities and parse_mode are exclusive")
            if entities is not None:
                listed = _obj(entities)
                if not isinstance(listed, list):
                    raise EntityError("can't parse entities: entities must be an array")
                ft = from_bot_api(text, listed)
            elif mode == "html":
                try:
                    ft = parse_html(text)
                except HTMLParseError as exc:
                    raise EntityError(f"can't parse entities: {exc}") from None
                check_entities(ft)
            elif mode in ("", "markdown", "markdownv2"):
                ft = FormattedText(text)
            else:
                raise _ApiError(400, "Bad Request: unsupported parse_mode")
        except EntityError as exc:
            raise _ApiError(400, f"Bad Request: {exc}") from None
        # Telegram trims leading and trailing whitespace.
        lead = len(ft.text) - len(ft.text.lstrip())
        visible = ft.text.strip()
        ents = []
        for e in ft.entities:
            a, b = max(e.start - lead, 0), min(e.end - lead, len(visible))
            if a < b:
                ents.append(attrs.evolve(e, start=a, end=b))
        ft = FormattedText(visible, tuple(ents))
        if not visible and not caption:
            raise _ApiError(400, f"Bad Request: {what} is empty")
        if utf16_len(visible) > limit:
            raise _ApiError(400, "Bad Request: message caption is too long" if caption
                            else "Bad Request: message is too long")
        return ft

    def _thread_id(self, params: dict[str, Any]) -> int | None:
        return _int(params.get("message_thread_id"), "message thread identifier")

    def _reply_to(self, params: dict[str, Any]) -> int | None:
        rp = _obj(params.get("reply_parameters"))
        if rp is not None:
            if not isinstance(rp, dict):
                raise _ApiError(400, "Bad Request: can't parse reply parameters JSON object")
            return _int(rp.get("message_id"), "message identifier", required=True)
        return _int(params.get("reply_to_message_id"), "message identifier")

    def _bot(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name,
                "username": self.username}

    def _message_json(self, m: SentMessage) -> dict[str, Any]:
        chat_type = "private" if m.chat_id.lstrip("-").isdigit() and int(m.chat_id) > 0 \
            else "supergroup"
        out: dict[str, Any] = {"message_id": m.message_id, "date": int(time.time()),
                               "chat": {"id": int(m.chat_id) if m.chat_id.lstrip("-").isdigit()
                                        else m.chat_id, "type": chat_type},
                               "from": self._bot()}
        if m.thread_id is not None:
            out["message_thread_id"] = m.thread_id
            out["is_topic_message"] = True
        if m.reply_to is not None:
            out["reply_to_message"] = {"message_id": m.reply_to, "date": int(time.time()),
                                       "chat": out["chat"]}
        if m.kind == "text":
            out["text"] = m.text
            if m.entities:
                out["entities"] = m.entities
        else:
            if m.text:
                out["caption"] = m.text
                if m.entities:
                    out["caption_entities"] = m.entities
            out[m.kind] = [m.file] if m.kind == "photo" else m.file
        if m.edits:
            out["edit_date"] = int(time.time())
        return out

    def _store(self, m: SentMessage) -> None:
        with self._lock:
            self._messages.setdefault(m.chat_id, []).append(m)
            self._sent += 1

    def _find(self, chat: str, message_id: int | None) -> SentMessage | None:
        with self._lock:
            for m in self._messages.get(chat, []):
                if m.message_id == message_id and not m.deleted:
                    return m
        return None

    # methods --------------------------------------------------------------------------
    async def op_getMe(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return {**self._bot(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def op_setWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        url = params.get("url")
        if url is None:
            raise _ApiError(400, "Bad Request: bad webhook: Failed to resolve host: Name or "
                                 "service not known")
        url = str(url)
        if url == "":
            with self._lock:
                self._webhook = None
            return True
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        # The real API needs HTTPS; plain HTTP is accepted for loopback tests only.
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided "
                                 "for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = _obj(params.get("allowed_updates"))
        if allowed is not None and not isinstance(allowed, list):
            raise _ApiError(400, "Bad Request: can't parse allowed updates JSON object")
        with self._lock:
            self._webhook = {"url": url, "secret_token": secret,
                             "allowed_updates": allowed,
                             "max_connections": _int(params.get("max_connections"),
                                                     "max_connections") or 40,
                             "drop_pending_updates": _bool(params.get("drop_pending_updates"))}
            if allowed:
                self._allowed_updates = list(allowed)
            if _bool(params.get("drop_pending_updates")):
                self._updates.clear()
        return True

    async def op_deleteWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        with self._lock:
            self._webhook = None
            if _bool(params.get("drop_pending_updates")):
                self._updates.clear()
        return True

    async def op_getWebhookInfo(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        with self._lock:
            hook = self._webhook or {}
            return {"url": hook.get("url", ""), "has_custom_certificate": False,
                    "pending_update_count": len(self._updates),
                    **({"allowed_updates": hook["allowed_updates"]}
                       if hook.get("allowed_updates") else {})}

    async def op_getUpdates(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        with self._lock:
            if self._webhook:
                raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                     "active; use deleteWebhook to delete the webhook first")
        offset = _int(params.get("offset"), "offset") or 0
        limit = _int(params.get("limit"), "limit") or 100
        limit = max(1, min(100, limit))
        timeout = max(0, _int(params.get("timeout"), "timeout") or 0)
        allowed = _obj(params.get("allowed_updates"))
        with self._lock:
            if isinstance(allowed, list):
                self._allowed_updates = list(allowed)
            self._poll_generation += 1
            generation = self._poll_generation
        # A newer getUpdates terminates this one (two pollers on one token).
        self._notify()
        deadline = time.monotonic() + timeout
        with self._lock:
            self._active_polls += 1
        try:
            return await self._poll(generation, offset, limit, deadline)
        finally:
            with self._lock:
                self._active_polls -= 1

    async def _poll(self, generation: int, offset: int, limit: int, deadline: float) -> Any:
        while True:
            with self._lock:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                wanted = self._allowed_updates or ["message", "edited_message", "channel_post",
                                                   "edited_channel_post", "callback_query",
                                                   "my_chat_member"]
                ready = [u for u in self._updates if any(k in u for k in wanted)]
                if generation != self._poll_generation:
                    raise _ApiError(409, "Conflict: terminated by other getUpdates request; "
                                         "make sure that only one bot instance is running")
            left = deadline - time.monotonic()
            if ready or left <= 0 or self._closing:
                return ready[:limit]
            assert self._changed is not None
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))

    async def op_sendMessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params)
        ft = self._formatted(params.get("text"), params.get("parse_mode"), limit=4096,
                             entities=params.get("entities"))
        m = SentMessage(next(self._ids), chat, "text", ft.text, to_bot_api(ft),
                        str(params.get("text")), params.get("parse_mode"), self._thread_id(params),
                        self._reply_to(params), sent_at=time.monotonic())
        self._store(m)
        return self._message_json(m)

    async def op_editMessageText(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        chat = self._chat(params)
        mid = _int(params.get("message_id"), "message identifier", required=True)
        ft = self._formatted(params.get("text"), params.get("parse_mode"), limit=4096,
                             entities=params.get("entities"))
        with self._lock:
            m = self._find(chat, mid)
            if m is None or m.kind != "text":
                raise _ApiError(400, "Bad Request: message to edit not found")
            entities = to_bot_api(ft)
            if m.text == ft.text and m.entities == entities:
                raise _ApiError(400, _NOT_MODIFIED)
            m.text, m.entities = ft.text, entities
            m.raw, m.parse_mode = str(params.get("text")), params.get("parse_mode")
            m.edits.append(ft.text)
            m.edit_times.append(time.monotonic())
            return self._message_json(m)

    async def op_deleteMessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params)
        mid = _int(params.get("message_id"), "message identifier", required=True)
        with self._lock:
            m = self._find(chat, mid)
            if m is None:
                raise _ApiError(400, "Bad Request: message to delete not found")
            m.deleted = True
        return True

    async def op_sendChatAction(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self._chat(params)
        self._thread_id(params)
        if str(params.get("action") or "") not in _ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def op_setMyCommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        commands = _obj(params.get("commands"))
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise _ApiError(400, "Bad Request: too many commands specified")
        for c in commands:
            if not isinstance(c, dict) or not re.fullmatch(r"[a-z0-9_]{1,32}",
                                                           str(c.get("command", ""))):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        with self._lock:
            self._commands = [{"command": c["command"], "description": c["description"]}
                              for c in commands]
        return True

    async def op_getMyCommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self.commands

    async def _send_file(self, params: dict[str, Any], files: dict[str, Any],
                         field: str) -> Any:
        chat = self._chat(params)
        ft = self._formatted(params.get("caption"), params.get("parse_mode"), limit=1024,
                             caption=True, entities=params.get("caption_entities"))
        upload = files.get(field)
        value = params.get(field)
        if upload is not None:
            file_id = self.add_file(upload["content"], file_name=upload["name"],
                                    mime_type=upload["mime_type"])
            size = len(upload["content"])
            name, mime = upload["name"], upload["mime_type"]
        elif isinstance(value, str) and value:
            if re.match(r"https?://", value):
                file_id, size, name, mime = f"URL-{value}", 0, value.rsplit("/", 1)[-1], None
            else:
                with self._lock:
                    known = self._files.get(value)
                if known is None:
                    raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
                file_id, size = value, known["size"]
                name, mime = known["file_name"], known["mime_type"]
        else:
            raise _ApiError(400, f"Bad Request: there is no {field} in the request")
        if field == "photo":
            info: dict[str, Any] = {"file_id": file_id, "file_unique_id": file_id[-16:],
                                    "width": 800, "height": 600, "file_size": size}
        else:
            info = {"file_id": file_id, "file_unique_id": file_id[-16:], "file_name": name,
                    "mime_type": mime, "file_size": size}
        m = SentMessage(next(self._ids), chat, field, ft.text, to_bot_api(ft),
                        str(params.get("caption") or ""), params.get("parse_mode"),
                        self._thread_id(params), self._reply_to(params), file=info,
                        sent_at=time.monotonic())
        self._store(m)
        return self._message_json(m)

    async def op_sendPhoto(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return await self._send_file(params, files, "photo")

    async def op_sendDocument(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return await self._send_file(params, files, "document")

    async def op_getFile(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        file_id = params.get("file_id")
        if not file_id:
            raise _ApiError(400, "Bad Request: file_id is empty")
        with self._lock:
            f = self._files.get(str(file_id))
        if f is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if f["size"] > _MAX_FILE:
            raise _ApiError(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": str(file_id)[-16:],
                "file_size": f["size"], "file_path": f["path"]}


def _ext(name: str) -> str:
    m = re.search(r"\.[A-Za-z0-9]{1,8}$", name)
    return m.group(0) if m else ""

