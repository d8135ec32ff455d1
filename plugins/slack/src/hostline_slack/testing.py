"""A local Slack Web API for tests: :class:`FakeSlackAPI`, and Slack's signing.

The fake serves ``POST /api/<method>`` on a free loopback port and checks
requests the way Slack does: the bot token (``Authorization: Bearer`` or a
``token`` field; ``not_authed`` / ``invalid_auth``), JSON bodies only for
methods that take them (``invalid_arguments`` otherwise), the arguments each
method needs (``channel_not_found``, ``no_text``, ``msg_too_long``,
``invalid_blocks``...), streams (``chat.startStream`` only in threads and
with a recipient outside DMs; appends only to a stream still open) and rate
limits per workspace and method with the same tiers as Slack (a 429 with
``Retry-After``; calls made before it has passed are recorded as
violations). It also plays the parts around the API: the OAuth authorize
page (approving at once) and ``oauth.v2.access``, the external-upload URL,
private file downloads and ``response_url``.

:func:`signed_headers` signs a request body the way Slack does, and
:func:`event_envelope` / :func:`message_event` build Events API payloads.

Example::

    with FakeSlackAPI() as slack:
        config = f'''
        [channels.slack]
        signing_secret = "{SIGNING_SECRET}"
        bot_token = "{slack.bot_token}"
        api_base = "{slack.api_base}"
        '''
        ...  # start hostline; POST signed events to /slack/events
        slack.wait_for(lambda: slack.texts("D0001"))
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import attrs

from hostline.testing import FakeRequest, FakeServer, Polling

from .signing import sign

__all__ = ["SIGNING_SECRET", "FakeMessage", "FakeSlackAPI", "RateViolation", "SlackCall",
           "event_envelope", "message_event", "signed_headers"]

T = TypeVar("T")
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
_FORM_ONLY = frozenset({"auth.test", "auth.revoke", "users.info", "files.info",
                        "files.getUploadURLExternal", "oauth.v2.access"})
_TIER_PER_MINUTE = {"auth.test": 100, "auth.revoke": 50, "users.info": 100, "files.info": 100,
                    "files.getUploadURLExternal": 100, "files.completeUploadExternal": 100,
                    "oauth.v2.access": 100, "chat.update": 50, "chat.delete": 50,
                    "chat.postEphemeral": 100, "chat.startStream": 20, "chat.appendStream": 100,
                    "chat.stopStream": 20, "conversations.open": 50,
                    "assistant.threads.setStatus": 50, "assistant.threads.setSuggestedPrompts": 50,
                    "assistant.threads.setTitle": 50}
_BLOCK_TYPES = frozenset({"section", "actions", "context", "context_actions", "divider", "header",
                          "image", "markdown", "rich_text", "input", "file", "video"})
_ids = itertools.count(1)


def signed_headers(body: bytes | str, secret: str = SIGNING_SECRET, *,
                   timestamp: int | None = None, content_type: str = "application/json",
                   retry_num: int | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``: timestamp and ``v0`` signature."""
    raw = body.encode() if isinstance(body, str) else body
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {"content-type": content_type, "x-slack-request-timestamp": str(stamp),
               "x-slack-signature": sign(secret, raw, stamp)}
    if retry_num is not None:
        headers["x-slack-retry-num"] = str(retry_num)
        headers["x-slack-retry-reason"] = "http_timeout"
    return headers


def message_event(text: str = "hello", *, user: str = "U0USER1", channel: str = "D0DM001",
                  channel_type: str | None = None, ts: str | None = None,
                  thread_ts: str | None = None, team: str = "T0TEAM1", kind: str = "message",
                  **extra: Any) -> dict[str, Any]:
    """A ``message`` (or ``app_mention``) event as Slack sends it."""
    n = next(_ids)
    event: dict[str, Any] = {
        "type": kind, "user": user, "text": text, "ts": ts or f"{1_767_000_000 + n}.{n:06d}",
        "channel": channel, "team": team, "event_ts": ts or f"{1_767_000_000 + n}.{n:06d}",
        "client_msg_id": f"00000000-0000-0000-0000-{n:012d}"}
    if kind == "message":
        event["channel_type"] = channel_type or ("im" if channel.startswith("D") else "channel")
    if thread_ts:
        event["thread_ts"] = thread_ts
    event.update(extra)
    return event


def event_envelope(event: dict[str, Any], *, team: str = "T0TEAM1", bot_user: str = "U0BOT01",
                   event_id: str | None = None, api_app_id: str = "A0APP01") -> dict[str, Any]:
    """An Events API ``event_callback`` envelope around ``event``."""
    n = next(_ids)
    return {"token": "verification-token-unused", "team_id": team, "api_app_id": api_app_id,
            "event": event, "type": "event_callback",
            "event_id": event_id or f"Ev{n:010d}", "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": bot_user,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False, "event_context": f"4-{n}"}


@attrs.define
class SlackCall:
    """One Web API request the fake answered."""

    method: str
    params: dict[str, Any]
    team: str | None
    at: float
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the answer was ``ok``."""
        return bool(self.response.get("ok"))


@attrs.define
class FakeMessage:
    """A message the bot posted, as the conversation shows it now."""

    ts: str
    channel: str
    team: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    streamed: bool = False
    streaming: bool = False
    chunks: list[str] = attrs.field(factory=list)
    edits: int = 0
    deleted: bool = False
    posted_at: float = 0.0


@attrs.frozen
class RateViolation:
    """A call made while a 429's ``Retry-After`` for it had not passed."""

    method: str
    team: str
    early_by: float


@attrs.define
class _Workspace:
    team_id: str
    name: str
    bot_token: str
    bot_user_id: str
    users: dict[str, dict[str, Any]] = attrs.field(factory=dict)


class _Refusal(Exception):
    def __init__(self, error: str, status: int = 200, headers: dict[str, str] | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}


class FakeSlackAPI(Polling):
    """A Slack Web API on ``127.0.0.1`` (context manager, sync or async).

    ``api_base`` is the URL to configure; ``bot_token`` the first workspace's
    token (``team_id``, ``bot_user_id``). More workspaces come from
    :meth:`add_workspace` or the OAuth flow (``client_id``,
    ``client_secret``, ``authorize_url``). Inspect :meth:`calls`,
    :meth:`messages`, :meth:`texts`, :attr:`violations`,
    :attr:`responses` (``response_url`` posts), :attr:`uploads`; inject with
    :meth:`fail`, :meth:`rate_limit`, :meth:`remove_channel`,
    :meth:`leave_channel`, :meth:`deactivate`; ``native_streaming = False``
    makes the streaming methods unknown.
    """

    def __init__(self, *, team_id: str = "T0TEAM1", bot_user_id: str = "U0BOT01",
                 enforce_tiers: bool = True) -> None:
        self._lock = threading.RLock()
        self._server = FakeServer(self._handle, name="FakeSlackAPI")
        self.workspaces: dict[str, _Workspace] = {}
        first = self.add_workspace(team_id, bot_user_id=bot_user_id, name="Test Workspace")
        self.bot_token = first.bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.client_id = "1111111111.2222222222"
        self.client_secret = "fake-client-secret-0123456789abcdef"
        self.native_streaming = True
        self.enforce_tiers = enforce_tiers
        self._calls: list[SlackCall] = []
        self._messages: dict[str, list[FakeMessage]] = {}
        self._ts = itertools.count(1)
        self._rules: list[dict[str, Any]] = []
        self._window: dict[tuple[str, str, str], list[float]] = {}
        self._blocked: dict[tuple[str, str], float] = {}
        self.violations: list[RateViolation] = []
        self._gone: dict[str, str] = {}  # channel -> error
        self._codes: dict[str, dict[str, Any]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._pending_uploads: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.delays: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<FakeSlackAPI {self.url}>"

    # lifecycle --------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def api_base(self) -> str:
        """The ``api_base`` to configure."""
        return f"{self.url}/api"

    @property
    def authorize_url(self) -> str:
        """The ``authorize_url`` to configure (approves at once and redirects back)."""
        return f"{self.url}/oauth/v2/authorize"

    def response_url(self, name: str = "cmd") -> str:
        """A ``response_url`` for a slash command payload; posts land in :attr:`responses`."""
        return f"{self.url}/commands/{name}/{next(_ids)}"

    def start(self) -> FakeSlackAPI:
        """Start serving in a background thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> FakeSlackAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeSlackAPI:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # setup and injection ----------------------------------------------------
    def add_workspace(self, team_id: str, *, bot_user_id: str | None = None,
                      name: str | None = None) -> _Workspace:
        """A workspace the app is installed in; returns it (with its ``bot_token``)."""
        with self._lock:
            ws = _Workspace(team_id, name or f"Workspace {team_id}",
                            f"xoxb-{team_id}-{secrets.token_hex(12)}",
                            bot_user_id or f"U0BOT{len(self.workspaces) + 1:02d}")
            self.workspaces[team_id] = ws
            return ws

    def add_user(self, user_id: str, *, team_id: str | None = None, name: str = "Ann Lee",
                 display_name: str = "ann", email: str | None = None) -> None:
        """A person users.info knows."""
        with self._lock:
            ws = self.workspaces[team_id or self.team_id]
            ws.users[user_id] = {"id": user_id, "team_id": ws.team_id, "name": display_name,
                                 "real_name": name,
                                 "profile": {"display_name": display_name, "real_name": name,
                                             **({"email": email} if email else {})}}

    def add_file(self, content: bytes, *, name: str = "notes.txt", mimetype: str = "text/plain",
                 team_id: str | None = None) -> dict[str, Any]:
        """A file shared in Slack; returns its ``files`` entry for an event."""
        with self._lock:
            fid = f"F{next(_ids):08d}"
            team = team_id or self.team_id
            url = f"{self.url}/files-pri/{team}-{fid}/{name}"
            info = {"id": fid, "name": name, "mimetype": mimetype, "size": len(content),
                    "url_private": url, "url_private_download": url + "?download=1"}
            self._files[fid] = {"info": info, "content": content, "team": team}
            return dict(info)

    def fail(self, method: str, *, error: str = "internal_error", status: int = 200,
             times: int = 1, channel: str | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` with ``error`` (HTTP ``status``)."""
        with self._lock:
            self._rules.append({"method": method, "error": error, "status": status,
                                "times": times, "channel": channel, "retry_after": None})

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        with self._lock:
            self._rules.append({"method": method, "error": "ratelimited", "status": 429,
                                "times": times, "channel": None, "retry_after": retry_after})

    def remove_channel(self, channel: str) -> None:
        """The conversation no longer exists: ``channel_not_found``."""
        with self._lock:
            self._gone[channel] = "channel_not_found"

    def leave_channel(self, channel: str) -> None:
        """The bot is not a member: ``not_in_channel``."""
        with self._lock:
            self._gone[channel] = "not_in_channel"

    def deactivate(self, channel: str) -> None:
        """The person of a DM left the workspace: ``account_inactive``."""
        with self._lock:
            self._gone[channel] = "account_inactive"

    def revoke(self, team_id: str) -> None:
        """The workspace revoked the bot token: ``token_revoked``."""
        with self._lock:
            self.workspaces[team_id].bot_token = "revoked:" + self.workspaces[team_id].bot_token

    # inspection -------------------------------------------------------------
    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[SlackCall]:
        """Recorded calls, optionally of one method and outcome."""
        with self._lock:
            return [c for c in self._calls if (method is None or c.method == method)
                    and (ok is None or c.ok == ok)]

    def messages(self, channel: str, *, include_deleted: bool = False) -> list[FakeMessage]:
        """The bot's messages in ``channel``, in ``ts`` order, as they are now."""
        with self._lock:
            return [attrs.evolve(m, chunks=list(m.chunks))
                    for m in self._messages.get(channel, [])
                    if include_deleted or not m.deleted]

    def texts(self, channel: str) -> list[str]:
        """The visible texts of the bot's messages in ``channel``."""
        return [m.text for m in self.messages(channel)]

    # HTTP -------------------------------------------------------------------
    async def _handle(self, req: FakeRequest) -> tuple[int, dict[str, str], bytes]:
        path = req.path
        if path.startswith("/api/") and req.method in ("POST", "GET"):
            method = path[5:]
            delay = self.delays.get(method)
            if delay:
                await asyncio.sleep(delay)
            status, headers, answer = self._api(method, req)
            return status, {"content-type": "application/json; charset=utf-8", **headers}, \
                json.dumps(answer).encode()
        if path == "/oauth/v2/authorize" and req.method == "GET":
            return self._authorize(req)
        if path.startswith("/upload/") and req.method == "POST":
            return self._upload(path[8:], req)
        if path.startswith("/files-pri/") and req.method == "GET":
            return self._download(path, req)
        if path.startswith("/commands/") and req.method == "POST":
            try:
                body = json.loads(req.body)
            except ValueError:
                return 400, {"content-type": "text/plain"}, b"invalid_payload"
            with self._lock:
                self.responses.append({"url": f"{self.url}{path}", "body": body})
            return 200, {"content-type": "text/plain"}, b"ok"
        return 404, {"content-type": "text/plain"}, b"not found"

    def _params(self, method: str, req: FakeRequest) -> dict[str, Any]:
        ctype = req.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            if method in _FORM_ONLY:
                raise _Refusal("invalid_arguments")
            try:
                data = json.loads(req.body or b"{}")
            except ValueError:
                raise _Refusal("invalid_json") from None
            if not isinstance(data, dict):
                raise _Refusal("invalid_json")
            return data
        fields: dict[str, Any] = dict(parse_qsl(req.body.decode("utf-8", "replace")))
        fields.update(dict(parse_qsl(req.query)))
        for key in ("blocks", "files", "prompts", "users"):
            value = fields.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    fields[key] = json.loads(value)
                except ValueError:
                    raise _Refusal("invalid_arguments") from None
        return fields

    def _workspace(self, req: FakeRequest, params: dict[str, Any]) -> _Workspace:
        auth = req.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else str(params.get("token", ""))
        if not token:
            raise _Refusal("not_authed")
        for ws in self.workspaces.values():
            if ws.bot_token == token:
                return ws
            if ws.bot_token == "revoked:" + token:
                raise _Refusal("token_revoked")
        raise _Refusal("invalid_auth")

    def _api(self, method: str, req: FakeRequest) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            params: dict[str, Any] = {}
            team: str | None = None
            try:
                params = self._params(method, req)
                if method == "oauth.v2.access":
                    answer = self._oauth_access(req, params)
                else:
                    handler = self._methods().get(method)
                    if handler is None or (not self.native_streaming
                                           and method.startswith("chat.") and
                                           method.endswith("Stream")):
                        raise _Refusal("unknown_method")
                    ws = self._workspace(req, params)
                    team = ws.team_id
                    self._limit(method, ws.team_id, params)
                    self._inject(method, params)
                    answer = handler(ws, params)
                status, headers = 200, {}
                answer = {"ok": True, **answer}
            except _Refusal as exc:
                status, headers = exc.status, exc.headers
                answer = {"ok": False, "error": exc.error}
            self._calls.append(SlackCall(method, params, team, time.time(), status, answer))
            return status, headers, answer

    def _inject(self, method: str, params: dict[str, Any]) -> None:
        for rule in self._rules:
            if rule["method"] == method and rule["times"] > 0 and (
                    rule["channel"] is None or rule["channel"] == params.get("channel")):
                rule["times"] -= 1
                headers = {"retry-after": str(rule["retry_after"])} if rule["retry_after"] \
                    else {}
                if rule["status"] == 429:
                    team = "*"
                    self._blocked[(team, method)] = time.monotonic() + rule["retry_after"]
                raise _Refusal(rule["error"], rule["status"], headers)

    def _limit(self, method: str, team: str, params: dict[str, Any]) -> None:
        now = time.monotonic()
        for key in ((team, method), ("*", method)):
            until = self._blocked.get(key)
            if until is not None:
                if now < until:
                    self.violations.append(RateViolation(method, team, until - now))
                    raise _Refusal("ratelimited", 429,
                                   {"retry-after": str(max(1, round(until - now)))})
                del self._blocked[key]
        if not self.enforce_tiers:
            return
        if method == "chat.postMessage":
            key3, limit, span = (team, method, str(params.get("channel"))), 5, 1.0
        else:
            key3, limit, span = (team, method, ""), _TIER_PER_MINUTE.get(method, 50), 60.0
        window = [t for t in self._window.get(key3, []) if t > now - span]
        if len(window) >= limit:
            retry = max(1, round(window[0] + span - now))
            self._blocked[(team, method)] = now + retry
            raise _Refusal("ratelimited", 429, {"retry-after": str(retry)})
        window.append(now)
        self._window[key3] = window

    # OAuth ------------------------------------------------------------------
    def _authorize(self, req: FakeRequest) -> tuple[int, dict[str, str], bytes]:
        q = dict(parse_qsl(req.query))
        if q.get("client_id") != self.client_id or not q.get("redirect_uri"):
            return 400, {"content-type": "text/plain"}, b"invalid client_id or redirect_uri"
        with self._lock:
            n = next(_ids)
            team = f"T0NEW{n:04d}"
            code = f"code-{secrets.token_hex(8)}"
            self._codes[code] = {"team": team, "redirect_uri": q["redirect_uri"],
                                 "scope": q.get("scope", "")}
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        return 302, {"location": target, "content-type": "text/plain"}, b""

    def _oauth_access(self, req: FakeRequest, params: dict[str, Any]) -> dict[str, Any]:
        auth = req.headers.get("authorization", "")
        cid, secret = params.get("client_id"), params.get("client_secret")
        if auth.lower().startswith("basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if cid != self.client_id or secret != self.client_secret:
            raise _Refusal("invalid_client_id" if cid != self.client_id else "bad_client_secret")
        grant = self._codes.pop(str(params.get("code")), None)
        if grant is None:
            raise _Refusal("invalid_code")
        if params.get("redirect_uri") != grant["redirect_uri"]:
            raise _Refusal("bad_redirect_uri")
        ws = self.add_workspace(grant["team"], name=f"New {grant['team']}")
        return {"access_token": ws.bot_token, "token_type": "bot", "scope": grant["scope"],
                "bot_user_id": ws.bot_user_id, "app_id": "A0APP01",
                "team": {"id": ws.team_id, "name": ws.name}, "enterprise": None,
                "authed_user": {"id": "U0INSTALLER"}}

    # methods ----------------------------------------------------------------
    def _methods(self) -> dict[str, Callable[[_Workspace, dict[str, Any]], dict[str, Any]]]:
        return {"auth.test": self._auth_test, "chat.postMessage": self._post,
                "chat.update": self._update, "chat.delete": self._delete,
                "chat.postEphemeral": self._ephemeral, "chat.startStream": self._start_stream,
                "chat.appendStream": self._append_stream, "chat.stopStream": self._stop_stream,
                "assistant.threads.setStatus": self._assistant,
                "assistant.threads.setSuggestedPrompts": self._assistant,
                "assistant.threads.setTitle": self._assistant,
                "conversations.open": self._open, "users.info": self._users_info,
                "files.info": self._files_info,
                "files.getUploadURLExternal": self._upload_url,
                "files.completeUploadExternal": self._complete_upload}

    def _auth_test(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"https://{ws.team_id.lower()}.slack.com/", "team": ws.name,
                "user": "hostline", "team_id": ws.team_id, "user_id": ws.bot_user_id,
                "bot_id": "B0BOT01", "is_enterprise_install": False}

    def _channel(self, p: dict[str, Any], key: str = "channel") -> str:
        channel = p.get(key)
        if not isinstance(channel, str) or not channel:
            raise _Refusal("channel_not_found")
        if channel in self._gone:
            raise _Refusal(self._gone[channel])
        if channel[:1] not in ("C", "D", "G"):
            raise _Refusal("channel_not_found")
        return channel

    @staticmethod
    def _ts_arg(p: dict[str, Any], key: str, *, required: bool = False) -> str | None:
        value = p.get(key)
        if value is None or value == "":
            if required:
                raise _Refusal("invalid_arguments")
            return None
        if not isinstance(value, str) or "." not in value:
            raise _Refusal("invalid_thread_ts" if key == "thread_ts" else "invalid_arguments")
        return value

    @staticmethod
    def _blocks(p: dict[str, Any]) -> list[dict[str, Any]]:
        blocks = p.get("blocks")
        if blocks is None:
            return []
        if not isinstance(blocks, list) or len(blocks) > 50:
            raise _Refusal("invalid_blocks")
        for b in blocks:
            if not isinstance(b, dict) or b.get("type") not in _BLOCK_TYPES:
                raise _Refusal("invalid_blocks")
            text = b.get("text")
            if b["type"] == "section":
                if not isinstance(text, dict) or not isinstance(text.get("text"), str) or \
                        not 1 <= len(text["text"]) <= 3000:
                    raise _Refusal("invalid_blocks")
            if b["type"] == "markdown" and (not isinstance(text, str) or len(text) > 12000):
                raise _Refusal("invalid_blocks")
            if b["type"] in ("actions", "context_actions") and not b.get("elements"):
                raise _Refusal("invalid_blocks")
        return blocks

    def _text(self, p: dict[str, Any], blocks: list[dict[str, Any]]) -> str:
        text = p.get("text")
        if text is not None and not isinstance(text, str):
            raise _Refusal("invalid_arguments")
        if not text and not blocks:
            raise _Refusal("no_text")
        if text and len(text) > 40000:
            raise _Refusal("msg_too_long")
        return text or ""

    def _new_ts(self) -> str:
        return f"{1_767_100_000 + next(self._ts)}.{next(self._ts):06d}"

    def _store(self, m: FakeMessage) -> None:
        self._messages.setdefault(m.channel, []).append(m)

    def _find(self, channel: str, ts: Any) -> FakeMessage:
        for m in self._messages.get(channel, []):
            if m.ts == ts and not m.deleted:
                return m
        raise _Refusal("message_not_found")

    def _post(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        blocks = self._blocks(p)
        text = self._text(p, blocks)
        thread = self._ts_arg(p, "thread_ts")
        m = FakeMessage(self._new_ts(), channel, ws.team_id, text, blocks, thread,
                        posted_at=time.time())
        self._store(m)
        return {"channel": channel, "ts": m.ts,
                "message": {"text": text, "ts": m.ts, "user": ws.bot_user_id}}

    def _update(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        m = self._find(channel, self._ts_arg(p, "ts", required=True))
        blocks = self._blocks(p)
        m.text = self._text(p, blocks)
        m.blocks = blocks
        m.edits += 1
        return {"channel": channel, "ts": m.ts, "text": m.text}

    def _delete(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        m = self._find(channel, self._ts_arg(p, "ts", required=True))
        m.deleted = True
        return {"channel": channel, "ts": m.ts}

    def _ephemeral(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        self._channel(p)
        if not isinstance(p.get("user"), str):
            raise _Refusal("user_not_in_channel")
        self._text(p, self._blocks(p))
        return {"message_ts": self._new_ts()}

    def _markdown(self, p: dict[str, Any]) -> str:
        text = p.get("markdown_text")
        if text is None:
            return ""
        if not isinstance(text, str) or len(text) > 12000:
            raise _Refusal("invalid_arguments" if not isinstance(text, str) else "msg_too_long")
        return text

    def _start_stream(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        thread = self._ts_arg(p, "thread_ts", required=True)
        if not channel.startswith("D") and not (p.get("recipient_user_id")
                                                and p.get("recipient_team_id")):
            raise _Refusal("invalid_arguments")
        text = self._markdown(p)
        m = FakeMessage(self._new_ts(), channel, ws.team_id, text, [], thread, streamed=True,
                        streaming=True, chunks=[text] if text else [], posted_at=time.time())
        self._store(m)
        return {"channel": channel, "ts": m.ts}

    def _streaming(self, p: dict[str, Any]) -> FakeMessage:
        m = self._find(self._channel(p), self._ts_arg(p, "ts", required=True))
        if not m.streaming:
            raise _Refusal("message_not_in_streaming_state")
        return m

    def _append_stream(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        m = self._streaming(p)
        text = self._markdown(p)
        if not text:
            raise _Refusal("invalid_arguments")
        m.chunks.append(text)
        m.text += text
        return {"channel": m.channel, "ts": m.ts}

    def _stop_stream(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        m = self._streaming(p)
        text = self._markdown(p)
        if text:
            m.chunks.append(text)
            m.text += text
        m.blocks = self._blocks(p)
        m.streaming = False
        return {"channel": m.channel, "ts": m.ts, "message": {"text": m.text, "ts": m.ts}}

    def _assistant(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p, "channel_id")
        self._ts_arg(p, "thread_ts", required=True)
        if not channel.startswith("D"):
            raise _Refusal("not_in_assistant_thread")
        for key in ("status", "title"):
            if key in p and not isinstance(p[key], str):
                raise _Refusal("invalid_arguments")
        prompts = p.get("prompts")
        if prompts is not None and (not isinstance(prompts, list) or not 1 <= len(prompts) <= 4
                                    or not all(isinstance(x, dict) and x.get("title")
                                               and x.get("message") for x in prompts)):
            raise _Refusal("invalid_arguments")
        return {}

    def _open(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        users = p.get("users")
        if isinstance(users, list):
            users = ",".join(str(u) for u in users)
        if not isinstance(users, str) or not users or users[:1] not in ("U", "W"):
            raise _Refusal("user_not_found")
        return {"channel": {"id": "D" + users.split(",")[0][1:]}}

    def _users_info(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        user = ws.users.get(str(p.get("user")))
        if user is None:
            raise _Refusal("user_not_found")
        return {"user": user}

    def _files_info(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        f = self._files.get(str(p.get("file")))
        if f is None or f["team"] != ws.team_id:
            raise _Refusal("file_not_found")
        return {"file": dict(f["info"])}

    def _upload_url(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        name, length = p.get("filename"), p.get("length")
        if not isinstance(name, str) or not name or not str(length).isdigit():
            raise _Refusal("invalid_arguments")
        fid = f"F{next(_ids):08d}"
        self._pending_uploads[fid] = {"name": name, "length": int(str(length)),
                                      "team": ws.team_id, "content": None}
        return {"upload_url": f"{self.url}/upload/{fid}", "file_id": fid}

    def _upload(self, fid: str, req: FakeRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            pending = self._pending_uploads.get(fid)
            if pending is None:
                return 404, {"content-type": "text/plain"}, b"unknown upload"
            content = _multipart_file(req)
            if content is None or len(content) != pending["length"]:
                return 400, {"content-type": "text/plain"}, b"length mismatch"
            pending["content"] = content
        return 200, {"content-type": "text/plain"}, b"OK - " + str(len(content)).encode()

    def _complete_upload(self, ws: _Workspace, p: dict[str, Any]) -> dict[str, Any]:
        files = p.get("files")
        if not isinstance(files, list) or not files:
            raise _Refusal("invalid_arguments")
        channel = self._channel(p, "channel_id") if p.get("channel_id") else None
        done = []
        for f in files:
            pending = self._pending_uploads.pop(str(f.get("id")) if isinstance(f, dict)
                                                else "", None)
            if pending is None or pending["content"] is None:
                raise _Refusal("file_not_found" if pending is None else "file_upload_incomplete")
            record = {"id": f["id"], "name": pending["name"], "content": pending["content"],
                      "channel": channel, "thread_ts": p.get("thread_ts"),
                      "title": f.get("title")}
            self.uploads.append(record)
            done.append({"id": f["id"], "title": f.get("title") or pending["name"]})
        return {"files": done}

    def _download(self, path: str, req: FakeRequest) -> tuple[int, dict[str, str], bytes]:
        key = path.split("/")[2]
        team, _, fid = key.partition("-")
        with self._lock:
            f = self._files.get(fid)
            ws = self.workspaces.get(team)
        auth = req.headers.get("authorization", "")
        if f is None or ws is None or auth != f"Bearer {ws.bot_token}":
            # Slack answers an unauthenticated download with its login page.
            return 200 if f is not None else 404, {"content-type": "text/html"}, b"<html>login"
        return 200, {"content-type": f["info"]["mimetype"]}, f["content"]


def _multipart_file(req: FakeRequest) -> bytes | None:
    ctype = req.headers.get("content-type", "")
    if "boundary=" not in ctype:
        return req.body
    boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
    for part in req.body.split(b"--" + boundary):
        head, sep, rest = part.partition(b"\r\n\r\n")
        if sep and b'name="file"' in head:
            return rest[:-2] if rest.endswith(b"\r\n") else rest
    return None
