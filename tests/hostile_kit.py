"""Hostile requests for every route of every channel, sent to a real ``hostline serve``.

Used by ``tests/test_fuzz.py`` (driven by hypothesis) and runnable as a
script for a long run (``uv run python tests/hostile_kit.py --requests 5000``),
which prints how many answers were 5xx, how many streams did not end with a
terminal event, how many later reads failed and how many ERROR lines and
tracebacks the server logged.

**Adding a channel.** Write one function ``def mychannel(stack) -> ChannelUnderTest``
below (start the channel's local fakes on ``stack``, return its config table,
how to authenticate a body, its routes with a valid seed body each, and how
its streams end) and append it to :data:`CHANNELS`. Every hostile class then
runs against every one of its routes; nothing else changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from hostline.testing import ServerProcess

API_KEY = "fuzz-key-0123456789"
TG_SECRET = "fuzz-Secret_1"
#: The host's body limit in the fuzz server (small: oversized bodies stay cheap).
MAX_BODY = 256 * 1024

Headers = dict[str, str]


@dataclass
class Route:
    """One route: ``seed()`` makes a valid body (``None``: no body, a GET);
    ``reads(response)`` lists paths to GET afterwards (what was accepted must
    read back as 2xx or 404); ``{id}`` in ``path`` is filled with fuzzed ids."""

    method: str
    path: str
    seed: Callable[[], Any] | None = None
    reads: Callable[[httpx.Response], list[str]] = lambda r: []
    #: Puts the (hostile) JSON body into the route's wire format: ``(body, content type)``
    #: (a form field, for instance). ``None``: the body is sent as JSON.
    wrap: Callable[[bytes], tuple[bytes, str]] | None = None


@dataclass
class ChannelUnderTest:
    """A channel as the fuzz suite sees it."""

    name: str
    config: str
    auth: Callable[[str, str, bytes], Headers]
    routes: list[Route]
    #: Whether the text of an event stream ends with the protocol's terminal event.
    stream_ended: Callable[[str], bool] = lambda text: True
    #: Statuses of 500 and over that are the protocol's own answer, not a failure.
    protocol_5xx: frozenset[int] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)


# channels ---------------------------------------------------------------------
def _sse_events(text: str) -> list[tuple[str | None, str]]:
    out = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        kind = None
        data = []
        for line in frame.splitlines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            out.append((kind, "\n".join(data)))
    return out


_RESPONSES_TERMINAL = {"response.completed", "response.failed", "response.incomplete",
                       "response.cancelled", "error"}


def _responses_ended(text: str) -> bool:
    events = _sse_events(text)
    return bool(events) and events[-1][0] in _RESPONSES_TERMINAL


def _response_reads(r: httpx.Response) -> list[str]:
    rid = _json_field(r, "id")
    if not isinstance(rid, str) or not rid.startswith("resp_"):
        return []
    return [f"/responses/v1/responses/{rid}", f"/responses/v1/responses/{rid}/input_items"]


def _conversation_reads(r: httpx.Response) -> list[str]:
    cid = _json_field(r, "id")
    if not isinstance(cid, str) or not cid.startswith("conv_"):
        return []
    return [f"/responses/v1/conversations/{cid}", f"/responses/v1/conversations/{cid}/items"]


def _json_field(r: httpx.Response, key: str) -> Any:
    if not r.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get(key) if isinstance(body, dict) else None


def _bearer(method: str, path: str, body: bytes) -> Headers:
    return {"authorization": f"Bearer {API_KEY}"}


def responses(stack: contextlib.ExitStack) -> ChannelUnderTest:
    """The OpenAI Responses API."""
    base = "/responses/v1"

    def create(**extra: Any) -> Callable[[], Any]:
        return lambda: {"model": "m", "input": "hello", "metadata": {"k": "v"},
                        "instructions": "be brief", "user": "u1",
                        "tools": [{"type": "function", "name": "f",
                                   "parameters": {"type": "object"}}], **extra}

    return ChannelUnderTest(
        "responses", f'[channels.responses]\napi_keys = ["{API_KEY}"]\n', _bearer, [
            Route("POST", f"{base}/responses", create(), _response_reads),
            Route("POST", f"{base}/responses", create(stream=True), _response_reads),
            Route("POST", f"{base}/responses", create(background=True), _response_reads),
            Route("POST", f"{base}/responses", create(background=True, stream=True)),
            Route("GET", f"{base}/responses/{{id}}"),
            Route("GET", f"{base}/responses/{{id}}/input_items"),
            Route("DELETE", f"{base}/responses/{{id}}"),
            Route("POST", f"{base}/responses/{{id}}/cancel", lambda: {}),
            Route("POST", f"{base}/conversations",
                  lambda: {"metadata": {"a": "b"},
                           "items": [{"type": "message", "role": "user", "content": "hi"}]},
                  _conversation_reads),
            Route("GET", f"{base}/conversations/{{id}}"),
            Route("POST", f"{base}/conversations/{{id}}", lambda: {"metadata": {"a": "c"}}),
            Route("DELETE", f"{base}/conversations/{{id}}"),
            Route("POST", f"{base}/conversations/{{id}}/items",
                  lambda: {"items": [{"type": "message", "role": "user", "content": "x"}]}),
            Route("GET", f"{base}/conversations/{{id}}/items"),
            Route("GET", f"{base}/conversations/{{id}}/items/{{id}}"),
            Route("DELETE", f"{base}/conversations/{{id}}/items/{{id}}"),
            Route("GET", f"{base}/models"),
            Route("GET", f"{base}/models/{{id}}"),
        ], _responses_ended)


def telegram(stack: contextlib.ExitStack) -> ChannelUnderTest:
    """A Telegram bot (webhook) against the local fake Bot API."""
    from hostline_telegram.testing import FakeBotAPI

    fake = stack.enter_context(FakeBotAPI())
    ids = iter(range(10_000_000, 99_000_000))

    def update() -> Any:
        n = next(ids)
        return {"update_id": n, "message": {
            "message_id": n, "date": int(time.time()), "text": "hello there",
            "chat": {"id": 7000 + n % 50, "type": "private", "first_name": "Ann"},
            "from": {"id": 7000 + n % 50, "is_bot": False, "first_name": "Ann"}}}

    config = (f'[channels.telegram]\ntoken = "{fake.token}"\nsecret_token = "{TG_SECRET}"\n'
              f'api_base = "{fake.url}"\nmode = "webhook"\n')
    return ChannelUnderTest(
        "telegram", config,
        lambda m, p, b: {"x-telegram-bot-api-secret-token": TG_SECRET},
        [Route("POST", "/telegram/webhook", update)], extra={"fake": fake})


def teams(stack: contextlib.ExitStack) -> ChannelUnderTest:
    """A Teams bot against the local Bot Framework fakes (RS256 tokens)."""
    from hostline_teams.testing import FakeBotFramework

    bf = stack.enter_context(FakeBotFramework())

    def auth(method: str, path: str, body: bytes) -> Headers:
        # Signed for the fakes' serviceUrl: a body naming another one is refused.
        return {"authorization": bf.sign({"serviceUrl": bf.service_url})}

    return ChannelUnderTest(
        "teams", bf.config_toml(stream_interval=0.0, typing_interval=0.05), auth,
        [Route("POST", "/teams/api/messages", lambda: bf.message("hello")),
         Route("POST", "/teams/api/messages", lambda: bf.invoke())], extra={"fake": bf},
        # An invoke no handler knows (a fuzzed ``name``) is answered 501, as the Bot
        # Framework SDK does: the connector shows "not supported", nothing failed.
        protocol_5xx=frozenset({501}))


def discord(stack: contextlib.ExitStack) -> ChannelUnderTest:
    """A Discord application (interactions endpoint, Ed25519 signatures)."""
    from hostline_discord.testing import FakeDiscordAPI

    fake = stack.enter_context(FakeDiscordAPI())
    return ChannelUnderTest(
        "discord", fake.config_toml(stream=False),
        lambda m, p, b: fake.signer.headers(b),
        [Route("POST", "/discord/interactions", lambda: fake.command("ask", text="hello")),
         Route("POST", "/discord/interactions", lambda: fake.command("link", code="ABC")),
         Route("POST", "/discord/interactions", lambda: fake.button("hostline:new")),
         Route("POST", "/discord/interactions", fake.ping)], extra={"fake": fake})


def slack(stack: contextlib.ExitStack) -> ChannelUnderTest:
    """A Slack app (Events API, slash commands, interactions; v0 signatures)."""
    from urllib.parse import urlencode

    from hostline_slack.testing import (
        SIGNING_SECRET,
        FakeSlackAPI,
        event_envelope,
        message_event,
        signed_headers,
    )

    fake = stack.enter_context(FakeSlackAPI())
    form = "application/x-www-form-urlencoded"

    def command(body: bytes) -> tuple[bytes, str]:
        fields = {"command": "/ask", "team_id": "T0TEAM1", "user_id": "U0USER1",
                  "channel_id": "D0DM001", "text": body.decode("utf-8", "replace"),
                  "response_url": fake.response_url()}
        return urlencode(fields).encode(), form

    def interaction(body: bytes) -> tuple[bytes, str]:
        return b"payload=" + quote(body, safe="").encode(), form

    def auth(method: str, path: str, body: bytes) -> Headers:
        headers = signed_headers(body)
        del headers["content-type"]
        return headers

    config = (f'[channels.slack]\nsigning_secret = "{SIGNING_SECRET}"\n'
              f'bot_token = "{fake.bot_token}"\napi_base = "{fake.api_base}"\n')
    block_actions = {"type": "block_actions", "team": {"id": "T0TEAM1"},
                     "user": {"id": "U0USER1"}, "trigger_id": "1.2.3",
                     "actions": [{"action_id": "hostline_feedback", "value": "up",
                                  "action_ts": "1.2"}]}
    return ChannelUnderTest(
        "slack", config, auth,
        [Route("POST", "/slack/events", lambda: event_envelope(message_event("hello"))),
         Route("POST", "/slack/events",
               lambda: {"type": "url_verification", "challenge": "c" * 20}),
         Route("POST", "/slack/commands", lambda: {"text": "hello"}, wrap=command),
         Route("POST", "/slack/interactions", lambda: dict(block_actions), wrap=interaction)],
        extra={"fake": fake})


def _last_json(text: str) -> Any:
    events = _sse_events(text)
    try:
        return json.loads(events[-1][1]) if events else None
    except ValueError:
        return None


def _mcp_ended(text: str) -> bool:
    """A JSON-RPC stream ends with the response to the request (result or error)."""
    last = _last_json(text)
    return isinstance(last, dict) and ("result" in last or "error" in last)


def mcp(stack: contextlib.ExitStack) -> ChannelUnderTest:
    """The MCP tool over Streamable HTTP (stateless: every call stands alone)."""
    def auth(method: str, path: str, body: bytes) -> Headers:
        return {"authorization": f"Bearer {API_KEY}",
                "accept": "application/json, text/event-stream",
                "mcp-protocol-version": "2025-06-18"}

    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "1"}}}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "ask", "arguments": {"input": "hello"}}}
    return ChannelUnderTest(
        "mcp", f'[channels.mcp]\napi_keys = ["{API_KEY}"]\nstateless = true\n', auth,
        [Route("POST", "/mcp/", lambda: dict(init)), Route("POST", "/mcp/", lambda: dict(call)),
         Route("POST", "/mcp/", lambda: {"jsonrpc": "2.0", "id": 3, "method": "tools/list"})],
        _mcp_ended)


def _a2a_ended(text: str) -> bool:
    """An A2A stream ends with an error or the final event of the task."""
    last = _last_json(text)
    if not isinstance(last, dict):
        return False
    if "error" in last:
        return True
    raw = json.dumps(last.get("result"))
    return '"final": true' in raw or '"kind": "message"' in raw or any(
        f'"{state}"' in raw for state in ("completed", "failed", "canceled", "rejected",
                                          "input-required", "TASK_STATE_COMPLETED",
                                          "TASK_STATE_FAILED"))


def a2a(stack: contextlib.ExitStack) -> ChannelUnderTest:
    """The A2A JSON-RPC endpoint and its agent card."""
    n = iter(range(1, 10**9))

    def send(method: str) -> Callable[[], Any]:
        return lambda: {"jsonrpc": "2.0", "id": next(n), "method": method, "params": {
            "message": {"role": "user", "kind": "message", "messageId": f"m{next(n)}",
                        "parts": [{"kind": "text", "text": "hello"}]}}}

    return ChannelUnderTest(
        "a2a", f'[channels.a2a]\napi_keys = ["{API_KEY}"]\n', _bearer,
        [Route("POST", "/a2a/", send("message/send")),
         Route("POST", "/a2a/", send("message/stream")),
         Route("POST", "/a2a/", lambda: {"jsonrpc": "2.0", "id": 9, "method": "tasks/get",
                                         "params": {"id": "t1"}}),
         Route("GET", "/a2a/.well-known/agent-card.json")],
        _a2a_ended)


def _invocations_ended(text: str) -> bool:
    events = _sse_events(text)
    return bool(events) and events[-1][1] == "[DONE]"


def invocations(stack: contextlib.ExitStack) -> ChannelUnderTest:
    """The plain invocation endpoint."""
    return ChannelUnderTest(
        "invocations", f'[channels.invocations]\napi_keys = ["{API_KEY}"]\n', _bearer,
        [Route("POST", "/invocations/invoke", lambda: {"message": "hello"}),
         Route("POST", "/invocations/invoke", lambda: {"message": "hi", "stream": True})],
        _invocations_ended)


#: Every channel the suite covers: a new channel appends its function here.
CHANNELS: list[Callable[[contextlib.ExitStack], ChannelUnderTest]] = [
    responses, telegram, teams, discord, slack, invocations, mcp, a2a,
]


# hostile bodies ---------------------------------------------------------------------
_RAW = "\x00raw\x00"  # a placeholder string replaced by a raw JSON token after encoding

SURROGATES = ["\ud800", "\udfff", "a\udbff", "\udc00b", "\ud83d"]
RAW_NUMBERS = ["1" * 25, "9" * 5000, "1e999", "-1e400", "1" * 400 + ".5",
               "123456789012345678901234567890", "NaN", "Infinity", "-Infinity", "1E+99999"]
CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/xml", "", "application/json; charset=latin-1"]
CLASSES = ["surrogate", "deep", "number", "duplicate", "wrong_type", "content_type",
           "invalid_utf8", "truncated", "garbage", "valid"]


def _slots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in ``value`` (leaves and containers), the root included."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_slots(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_slots(v, (*path, i)))
    return out


def _put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    node = value
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return value


def _nest(rnd: random.Random, depth: int) -> str:
    """``depth`` levels of arrays and objects around a string, as JSON text."""
    opens = [rnd.choice(("[", '{"k":')) for _ in range(depth)]
    closes = "".join("]" if o == "[" else "}" for o in reversed(opens))
    return "".join(opens) + '"x"' + closes


def _dumps(value: Any, raw: str = "") -> bytes:
    text = json.dumps(value)  # ASCII: a lone surrogate is written as its \\u escape
    return text.replace(json.dumps(_RAW), raw).encode()


def hostile_body(rnd: random.Random, seed: Any, kind: str) -> tuple[bytes, str]:
    """``(body, content type)`` of hostile ``kind`` made from a valid ``seed``."""
    value = json.loads(json.dumps(seed))
    slots = _slots(value)
    slot = rnd.choice(slots)
    ctype = "application/json"
    if kind == "surrogate":
        s = rnd.choice(SURROGATES)
        if slot and isinstance(slot[-1], str) and rnd.random() < 0.3:  # in a key
            node = value
            for step in slot[:-1]:
                node = node[step]
            node[slot[-1] + s] = node.pop(slot[-1])
            return _dumps(value), ctype
        return _dumps(_put(value, slot, f"x{s}y")), ctype
    if kind == "deep":
        depth = rnd.choice([63, 64, 65, 100, 500, 960, 1000, 5000, 50_000])
        return _dumps(_put(value, slot, _RAW), _nest(rnd, depth)), ctype
    if kind == "number":
        return _dumps(_put(value, slot, _RAW), rnd.choice(RAW_NUMBERS)), ctype
    if kind == "duplicate":
        body = _dumps(value).decode()
        if isinstance(value, dict) and value and body.startswith("{"):
            key = rnd.choice(list(value))
            other = rnd.choice([None, 1, "x", [], {}, True])
            body = "{" + json.dumps(key) + ":" + json.dumps(other) + "," + body[1:]
        return body.encode(), ctype
    if kind == "wrong_type":
        other = rnd.choice([None, True, 0, -1, 1.5, "", "x" * 300, [], [1, "a"], {},
                            {"a": {"b": []}}, 2**62])
        return _dumps(_put(value, slot, other)), ctype
    if kind == "content_type":
        return _dumps(value), rnd.choice(CONTENT_TYPES)
    if kind == "invalid_utf8":
        body = _dumps(value)
        at = body.find(b'"', rnd.randrange(max(1, len(body))))
        bad = rnd.choice([b"\xff", b"\xfe\xfe", b"\xed\xa0\x80", b"\xc3", b"\x80abc"])
        at = at + 1 if at >= 0 else len(body) // 2
        return body[:at] + bad + body[at:], ctype
    if kind == "truncated":
        body = _dumps(value)
        return body[:rnd.randrange(len(body))], ctype
    if kind == "garbage":
        choices = [b"", b"null", b"[]", b'"str"', b"0", b"{", b"}", b"\x00", b"[" * 10_000,
                   bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))),
                   b"\xef\xbb\xbf" + _dumps(value), _dumps(value) + b"trailing",
                   _dumps(value) * 2]
        return rnd.choice(choices), ctype
    return _dumps(value), ctype


def hostile_id(rnd: random.Random) -> str:
    """A path segment: real-looking, long, percent-encoded oddities."""
    choice = rnd.randrange(8)
    if choice == 0:
        return "resp_" + "0" * 48
    if choice == 1:
        return "x" * rnd.choice([201, 5000])
    if choice == 2:
        return rnd.choice(["%ED%A0%80", "%FF", "%00", "%C3", "..%2F..%2Fetc", "%F0%9F%98%80"])
    if choice == 3:
        return quote("".join(chr(rnd.randrange(32, 0x2FFF)) for _ in range(10)), safe="")
    if choice == 4:
        return "conv_" + "a" * 48
    return rnd.choice(["resp_1", "conv_1", "msg_1", "m", "gpt-4o", "echo"])


@dataclass
class Outcome:
    """What one hostile request got."""

    status: int
    path: str
    kind: str
    problem: str | None = None


class Sender:
    """Sends hostile requests to a server and checks every answer."""

    def __init__(self, url: str, channels: list[ChannelUnderTest]) -> None:
        self.url = url
        self.channels = channels
        self.routes = [(c, r) for c in channels for r in c.routes]
        self.http = httpx.Client(base_url=url, timeout=20.0)
        self.last = ""

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def send(self, rnd: random.Random, index: int | None = None,
             kind: str | None = None) -> list[Outcome]:
        """One hostile request (``index`` picks the route) and its follow-up reads."""
        channel, route = self.routes[rnd.randrange(len(self.routes)) if index is None
                                     else index % len(self.routes)]
        path = route.path
        while "{id}" in path:
            path = path.replace("{id}", hostile_id(rnd), 1)
        if route.seed is None:
            kind, body, ctype = "path", b"", ""
        else:
            kind = kind or rnd.choice(CLASSES)
            body, ctype = hostile_body(rnd, route.seed(), kind)
            if route.wrap is not None:
                body, wrapped = route.wrap(body)
                ctype = ctype if kind == "content_type" else wrapped
        headers = channel.auth(route.method, path, body)
        if ctype:
            headers = {**headers, "content-type": ctype}
        if route.method == "GET" and rnd.random() < 0.2:
            path += "?" + rnd.choice(["limit=-1", "limit=x", "order=sideways", "after=%ED%A0%80",
                                      "stream=true", "stream=maybe", "starting_after=1e9",
                                      "limit=99999999999999999999"])
        where = f"{route.method} {route.path}"
        try:
            with self.http.stream(route.method, path, content=body or None,
                                  headers=headers) as r:
                text = r.read().decode("utf-8", "replace")
        except httpx.HTTPError as exc:  # a hang or a dropped connection is a failure too
            return [Outcome(0, where, kind, f"{type(exc).__name__} for {body[:200]!r} "
                                            f"(the request before: {self.last})")]
        self.last = f"{where} {kind} -> {r.status_code}"
        outcome = Outcome(r.status_code, where, kind)
        if r.status_code >= 500 and r.status_code not in channel.protocol_5xx:
            outcome.problem = f"{r.status_code}: {text[:300]}"
        elif r.headers.get("content-type", "").startswith("text/event-stream") and \
                not channel.stream_ended(text):
            outcome.problem = f"stream cut short: ...{text[-1200:]}"
        outcomes = [outcome]
        if 200 <= r.status_code < 300:
            for read in route.reads(r):
                got = self.http.get(read, headers=channel.auth("GET", read, b""))
                o = Outcome(got.status_code, f"GET {read}", f"read after {kind}")
                if not (200 <= got.status_code < 300 or got.status_code == 404):
                    o.problem = f"{got.status_code}: {got.text[:300]}"
                outcomes.append(o)
        return outcomes

    def oversized(self, index: int, *, chunked: bool) -> Outcome:
        """A body over the limit, declared (``content-length``) or chunked."""
        channel, route = self.routes[index % len(self.routes)]
        body = b'{"a":"' + b"x" * (MAX_BODY + 10) + b'"}'
        headers = {**channel.auth(route.method, route.path, body),
                   "content-type": "application/json"}
        content: Any = iter([body[i:i + 65536] for i in range(0, len(body), 65536)]) \
            if chunked else body
        try:
            r = self.http.request(route.method, route.path, content=content, headers=headers)
        except (httpx.RemoteProtocolError, httpx.WriteError):
            # The server may answer 413 and close before the client sent it all.
            return Outcome(0, route.path, "oversized")
        except httpx.HTTPError as exc:
            return Outcome(0, route.path, "oversized", f"{type(exc).__name__}: {exc}")
        self.last = f"oversized {route.path} chunked={chunked} -> {r.status_code}"
        # A route that reads no body (a GET, an unknown id) may answer before
        # reading it; one that reads it refuses it; never a 5xx.
        problem = f"{r.status_code}: {r.text[:200]}" if r.status_code >= 500 or (
            route.seed is not None and r.status_code < 400) else None
        return Outcome(r.status_code, route.path, "oversized", problem)

    def truncated(self, index: int) -> None:
        """Half a body, then the client goes away."""
        channel, route = self.routes[index % len(self.routes)]
        host, _, port = self.url.removeprefix("http://").partition(":")
        body = _dumps(route.seed() if route.seed else {})
        headers = {**channel.auth(route.method, route.path, body),
                   "content-type": "application/json", "content-length": str(len(body) + 100),
                   "host": host}
        head = f"{route.method} {route.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.last = f"truncated {route.path}"
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(head.encode() + body[: len(body) // 2])
            time.sleep(0.01)


def log_problems(text: str) -> list[str]:
    """ERROR (and worse) lines and tracebacks in a server log."""
    return [line for line in text.splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]


def server_config(channels: list[ChannelUnderTest], state_dir: Path) -> str:
    """A ``hostline.toml`` with every channel."""
    head = (f'[host]\nstate_dir = "{state_dir.as_posix()}"\nmax_body_bytes = {MAX_BODY}\n'
            "shutdown_grace = 2\n\n[host.outbox]\npoll_interval = 0.05\n"
            "backoff_initial = 0.1\nbackoff_max = 1.0\n\n")
    return head + "\n".join(c.config for c in channels)


def start_server(directory: Path, channels: list[ChannelUnderTest]) -> ServerProcess:
    """``hostline serve`` with every channel, on a free loopback port."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hostline.toml"
    path.write_text(server_config(channels, directory / "state"), encoding="utf-8")
    return ServerProcess(path).start()


def main(argv: list[str] | None = None) -> int:
    """The long run: ``--requests N`` hostile requests, then a report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rnd = random.Random(args.seed)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        channels = [make(stack) for make in CHANNELS]
        server = start_server(Path(tmp), channels)
        stack.callback(server.stop)
        sender = Sender(server.url, channels)
        stack.callback(sender.close)
        started = time.monotonic()
        counts: dict[str, int] = {}
        problems: list[Outcome] = []
        sent = 0
        for i in range(args.requests):
            if i % 50 == 0:
                sender.truncated(i // 50)
                sent += 1
            if i % 100 == 0:
                problems += [o for o in (sender.oversized(i // 100, chunked=i % 200 == 0),)
                             if o.problem]
                sent += 1
            for o in sender.send(rnd, i):
                sent += 1
                key = f"{o.status // 100}xx"
                if o.status >= 500 and not o.problem:
                    key = f"{o.status} (the protocol's answer)"
                counts[key] = counts.get(key, 0) + 1
                if o.problem:
                    problems.append(o)
        took = time.monotonic() - started
        healthy = httpx.get(server.url + "/readyz").status_code == 200
        normal = httpx.post(server.url + "/responses/v1/responses",
                            json={"model": "m", "input": "still there?"},
                            headers={"authorization": f"Bearer {API_KEY}"}, timeout=30)
        time.sleep(1.0)  # let the runner finish what was queued
        logged = log_problems(server.output())
        print(f"{sent} hostile requests in {took:.1f}s across {len(sender.routes)} routes of "
              f"{len(channels)} channels ({', '.join(c.name for c in channels)})")
        print("answers:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print(f"problems (5xx, cut streams, failed reads): {len(problems)}")
        for o in problems[:20]:
            print(f"  {o.kind} {o.path}: {o.problem}")
        print(f"ERROR lines / tracebacks in the server log: {len(logged)}")
        for line in logged[:20]:
            print("  " + line)
        print(f"afterwards: /readyz {'200' if healthy else 'not ready'}, a normal request "
              f"answered {normal.status_code}")
        return 0 if not problems and not logged and healthy and normal.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
