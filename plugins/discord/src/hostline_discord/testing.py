"""A local Discord for tests: :class:`FakeDiscordAPI` and :class:`InteractionSigner`.

:class:`FakeDiscordAPI` serves the REST routes hostline-discord uses on a free
loopback port (Starlette on Hypercorn in a background thread, so it works
from sync and async tests) and validates them as Discord does: ``Bot``
authorization on bot routes (401), unknown routes (404), unknown channels
(``10003``) and missing access (``50001``), message limits (2,000
characters of content, 10 embeds, 5 rows of 5 components: ``50035 Invalid
Form Body``; ``50006`` for an empty message), interaction tokens that were
never acknowledged or are older than 15 minutes (``10015 Unknown Webhook``),
and rate limits with ``X-RateLimit-*`` headers (a request into an exhausted
bucket is answered 429 and recorded as a violation). It records every call.

It also plays Discord's side of interactions: :meth:`FakeDiscordAPI.command`
and :meth:`FakeDiscordAPI.button` build interaction payloads (with a token
the fake will accept), :meth:`FakeDiscordAPI.deliver` signs one with the
application key (:class:`InteractionSigner`, a locally generated Ed25519
key) and POSTs it to hostline, then records the callback as Discord would
(a deferral creates the original response that the webhook edits).

Example::

    with FakeDiscordAPI() as fake:
        server = hostline_server(fake.config_toml())
        r = fake.deliver(server.url, fake.command("ask", text="hi"))
        assert r.json()["type"] == 5
        fake.wait_for(lambda: fake.answer_texts(...))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import httpx
from nacl.signing import SigningKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from ._fake_gateway import FakeGateway
from .interactions import DISCORD_EPOCH_MS, EPHEMERAL, TOKEN_LIFETIME

__all__ = ["APP_ID", "BOT_ID", "Call", "FakeDiscordAPI", "FakeMessage", "InteractionSigner",
           "RateViolation"]

T = TypeVar("T")

DEFAULT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.FAKE.bot-token_abcdefghijklmnop"
APP_ID = "1100000000000000001"
BOT_ID = "1100000000000000002"
_MAX_CONTENT = 2000
_MAX_EMBEDS = 10


class InteractionSigner:
    """Signs interactions like Discord, with a fresh local Ed25519 key."""

    def __init__(self, key: SigningKey | None = None) -> None:
        self._key = key or SigningKey.generate()

    @property
    def public_key(self) -> str:
        """The hex public key (``public_key`` in the channel config)."""
        return self._key.verify_key.encode().hex()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """``X-Signature-Ed25519`` and ``X-Signature-Timestamp`` for ``body``."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = self._key.sign(ts.encode() + body).signature.hex()
        return {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": ts,
                "Content-Type": "application/json"}


@attrs.define
class Call:
    """One request the fake answered."""

    method: str
    path: str
    route: str
    body: Any
    status: int
    at: float


@attrs.define
class FakeMessage:
    """A message as a channel shows it now (after edits)."""

    id: str
    channel_id: str | None
    content: str
    kind: str  # "original", "followup" or "bot"
    interaction_id: str | None = None
    components: list[Any] = attrs.field(factory=list)
    flags: int = 0
    edits: list[str] = attrs.field(factory=list)
    edit_times: list[float] = attrs.field(factory=list)
    created: float = 0.0

    @property
    def ephemeral(self) -> bool:
        """Only the person who interacted sees it."""
        return bool(self.flags & EPHEMERAL)


@attrs.frozen
class RateViolation:
    """A request into a bucket that had no requests left."""

    route: str
    early_by: float


@attrs.define
class _Bucket:
    limit: int
    per: float
    remaining: int
    reset_at: float


@attrs.define
class _Interaction:
    id: str
    token: str
    channel_id: str | None
    user_id: str
    created: float
    acked: bool = False
    delivering: bool = False
    ephemeral: bool = False
    original: str | None = None


def _error(status: int, message: str, code: int = 0, **extra: Any) -> Response:
    return JSONResponse({"message": message, "code": code, **extra}, status_code=status)


class FakeDiscordAPI:
    """Discord's REST API on ``127.0.0.1`` (context manager, sync or async).

    ``url`` is the ``api_base`` to configure, ``token`` the bot token it
    accepts, ``application_id`` and ``signer.public_key`` the rest of the
    config (:meth:`config_toml` writes the table). Inspect ``calls()``,
    ``messages()``, ``texts()``, ``commands()``, ``rate_violations``; inject
    with ``fail()``, ``rate_limit()``, ``forbid()``.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, application_id: str = APP_ID,
                 port: int | None = None) -> None:
        self.token = token
        self.application_id = application_id
        self.signer = InteractionSigner()
        self.port = port or 0
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._messages: list[FakeMessage] = []
        self._interactions: dict[str, _Interaction] = {}
        self._by_token: dict[str, _Interaction] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._channels: set[str] = set()
        self._forbidden: set[str] = set()
        self._dms: dict[str, str] = {}
        self._failures: list[tuple[str, int, int, float | None, bool]] = []
        self._buckets: dict[str, _Bucket] = {}
        self._limits: dict[str, tuple[int, float]] = {}
        self.rate_violations: list[RateViolation] = []
        self.ack_times: list[float] = []
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        #: The Gateway (``GET /gateway/bot`` points clients at it).
        self.gateway = FakeGateway(token, self._bot_json(),
                                   lambda: f"ws://127.0.0.1:{self.port}/gateway")

    def __repr__(self) -> str:
        return f"<FakeDiscordAPI {self.url}>"

    # lifecycle --------------------------------------------------------------
    @property
    def url(self) -> str:
        """The ``api_base`` to configure."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    def config_toml(self, name: str = "discord", **options: Any) -> str:
        """A ``[channels.<name>]`` table for an application served by this fake."""
        opts: dict[str, Any] = {"application_id": self.application_id,
                                "public_key": self.signer.public_key,
                                "bot_token": self.token, "api_base": self.url,
                                "stream_edit_interval": 0.2}
        opts.update(options)
        lines = [f"[channels.{name}]"] + ([] if name == "discord" else ['plugin = "discord"'])
        lines += [f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}"
                  for k, v in opts.items() if v is not None]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> FakeDiscordAPI:
        """Serve in a background thread; returns once the port accepts."""
        if self._thread is not None:
            return self
        import socket

        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True,
                                        name="FakeDiscordAPI")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError(f"FakeDiscordAPI failed to start: {self._error!r}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.02)
        raise RuntimeError("FakeDiscordAPI did not start listening")

    def stop(self) -> None:
        """Stop serving."""
        if self._thread is None or self._loop is None or self._stop is None:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        self._thread = None

    def __enter__(self) -> FakeDiscordAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeDiscordAPI:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def _main(self, ready: threading.Event) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        loop = asyncio.new_event_loop()
        self._loop = loop
        self.gateway.loop = loop
        self._stop = asyncio.Event()
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 0.5
        try:
            loop.run_until_complete(serve(self._app(), config,  # type: ignore[arg-type]
                                          shutdown_trigger=self._stop.wait))
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
        finally:
            loop.close()

    def _app(self) -> Starlette:
        base = "/api/v10"
        routes = [
            Route(base + "/users/@me", self._me, methods=["GET"]),
            Route(base + "/gateway/bot", self._gateway_bot, methods=["GET"]),
            WebSocketRoute("/gateway", self.gateway.endpoint),
            WebSocketRoute("/gateway/", self.gateway.endpoint),
            Route(base + "/users/@me/channels", self._open_dm, methods=["POST"]),
            Route(base + "/applications/{app}/commands", self._commands_route,
                  methods=["GET", "PUT"]),
            Route(base + "/applications/{app}/guilds/{guild}/commands", self._commands_route,
                  methods=["GET", "PUT"]),
            Route(base + "/channels/{channel}/messages", self._channel_message,
                  methods=["POST"]),
            Route(base + "/webhooks/{app}/{token}", self._followup, methods=["POST"]),
            Route(base + "/webhooks/{app}/{token}/messages/{message}", self._edit,
                  methods=["PATCH"]),
        ]
        async def not_found(request: Request, exc: Exception) -> Response:
            return _error(404, "404: Not Found")

        async def not_allowed(request: Request, exc: Exception) -> Response:
            return _error(405, "405: Method Not Allowed")

        app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
        return app

    # inspection -------------------------------------------------------------
    def calls(self, route: str | None = None) -> list[Call]:
        """Recorded calls, optionally of one route (``"PATCH /webhooks/..."`` prefix match)."""
        with self._lock:
            return [c for c in self._calls if route is None or c.route.startswith(route)]

    def messages(self, channel_id: Any = None, *, interaction_id: str | None = None
                 ) -> list[FakeMessage]:
        """Messages in ``channel_id`` (or of one interaction), in order, as they look now."""
        with self._lock:
            return [attrs.evolve(m, edits=list(m.edits), edit_times=list(m.edit_times))
                    for m in self._messages
                    if (channel_id is None or m.channel_id == str(channel_id))
                    and (interaction_id is None or m.interaction_id == interaction_id)]

    def texts(self, channel_id: Any = None, *, interaction_id: str | None = None) -> list[str]:
        """The visible contents of :meth:`messages` (answers still deferred are left out)."""
        return [m.content for m in self.messages(channel_id, interaction_id=interaction_id)
                if m.content]

    def commands(self, guild_id: str | None = None) -> list[dict[str, Any]]:
        """The registered commands (global, or of one guild)."""
        with self._lock:
            return list(self._commands.get(guild_id or "", []))

    def dm_channel_of(self, user_id: str) -> str | None:
        """The DM channel the bot opened with ``user_id``, if any."""
        with self._lock:
            return self._dms.get(str(user_id))

    @staticmethod
    def _polls(timeout: float) -> Any:
        """Yields until ``timeout`` has passed, then raises ``AssertionError``."""
        deadline = time.monotonic() + timeout
        while True:
            yield
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Poll ``predicate`` until truthy; raise ``AssertionError`` after ``timeout``."""
        for _ in self._polls(timeout):
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError("unreachable")

    async def until(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """:meth:`wait_for` for async tests."""
        for _ in self._polls(timeout):
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError("unreachable")

    # injection --------------------------------------------------------------
    def add_channel(self, channel_id: str) -> None:
        """Make a channel the bot can post in."""
        with self._lock:
            self._channels.add(str(channel_id))

    def forbid(self, channel_id: str) -> None:
        """Posting in ``channel_id`` fails with 403 Missing Access (50001)."""
        with self._lock:
            self._forbidden.add(str(channel_id))

    def fail(self, route: str, status: int = 500, *, times: int = 1,
             retry_after: float | None = None, is_global: bool = False) -> None:
        """Answer the next ``times`` calls whose route starts with ``route`` with ``status``
        (429s carry ``retry_after`` and start the bucket's wait)."""
        with self._lock:
            self._failures.append((route, status, times, retry_after, is_global))

    def rate_limit(self, route: str, limit: int, per: float) -> None:
        """Bucket of ``route`` (``"POST /channels/{channel_id}/messages"``) allows
        ``limit`` requests per ``per`` seconds (default: 50 per second)."""
        with self._lock:
            self._limits[route] = (limit, per)

    # interactions (Discord's side) ------------------------------------------
    def _snowflake(self, at: float | None = None) -> str:
        ms = int((time.time() if at is None else at) * 1000)
        return str(((ms - DISCORD_EPOCH_MS) << 22) | (next(self._ids) & 0x3FFFFF))

    def _interaction(self, kind: int, data: dict[str, Any], *, user_id: str, channel_id: str,
                     guild_id: str | None, username: str, global_name: str | None,
                     age: float) -> dict[str, Any]:
        created = time.time() - age
        iid = self._snowflake(created)
        token = f"aW50ZXJhY3Rpb246{iid}:{next(self._ids)}-fake-token"
        with self._lock:
            state = _Interaction(iid, token, channel_id, str(user_id), created)
            self._interactions[iid] = state
            self._by_token[token] = state
            self._channels.add(channel_id)
        user = {"id": str(user_id), "username": username, "global_name": global_name,
                "discriminator": "0", "avatar": None}
        payload: dict[str, Any] = {
            "id": iid, "application_id": self.application_id, "type": kind, "data": data,
            "channel_id": channel_id, "channel": {"id": channel_id,
                                                  "type": 0 if guild_id else 1},
            "token": token, "version": 1, "locale": "en-US", "app_permissions": "0",
            "context": 0 if guild_id else 1,
        }
        if guild_id:
            payload["guild_id"] = guild_id
            payload["member"] = {"user": user, "roles": [], "nick": None,
                                 "permissions": "0"}
        else:
            payload["user"] = user
        return payload

    def command(self, name: str, *, user_id: str = "4001", channel_id: str = "5001",
                guild_id: str | None = None, username: str = "ann",
                global_name: str | None = "Ann Lee", age: float = 0.0,
                **options: Any) -> dict[str, Any]:
        """An APPLICATION_COMMAND interaction for ``/name`` with string options.

        Without ``guild_id`` it comes from the bot's DM ``channel_id``.
        ``age`` makes it that many seconds old (to test expired tokens).
        """
        data: dict[str, Any] = {"id": self._snowflake(), "name": name, "type": 1}
        if options:
            data["options"] = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        return self._interaction(2, data, user_id=user_id, channel_id=channel_id,
                                 guild_id=guild_id, username=username,
                                 global_name=global_name, age=age)

    def button(self, custom_id: str, *, message: FakeMessage | None = None,
               user_id: str = "4001", channel_id: str = "5001", guild_id: str | None = None,
               username: str = "ann", global_name: str | None = "Ann Lee") -> dict[str, Any]:
        """A MESSAGE_COMPONENT interaction: someone pressed the button ``custom_id``
        (on ``message``, a message the bot sent)."""
        payload = self._interaction(3, {"custom_id": custom_id, "component_type": 2},
                                    user_id=user_id, channel_id=channel_id, guild_id=guild_id,
                                    username=username, global_name=global_name, age=0.0)
        if message is not None:
            payload["message"] = self._message_json(message)
        return payload

    def ping(self) -> dict[str, Any]:
        """A PING interaction (Discord checks the endpoint with it)."""
        return {"id": self._snowflake(), "application_id": self.application_id, "type": 1,
                "token": "ping-token", "version": 1}

    def signed(self, payload: Any, *, timestamp: int | None = None) -> tuple[bytes,
                                                                             dict[str, str]]:
        """The body and signature headers Discord would send for ``payload``."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return body, self.signer.headers(body, timestamp)

    def deliver(self, base_url: str, payload: Any, *, path: str = "/discord/interactions",
                timestamp: int | None = None, headers: dict[str, str] | None = None
                ) -> httpx.Response:
        """Sign and POST ``payload`` to hostline, then record the callback."""
        body, signed = self.signed(payload, timestamp=timestamp)
        self._delivering(payload, True)
        started = time.monotonic()
        response = httpx.post(base_url.rstrip("/") + path, content=body,
                              headers={**signed, **(headers or {})}, timeout=10.0)
        self._record_callback(payload, response, time.monotonic() - started)
        return response

    async def adeliver(self, client: httpx.AsyncClient, payload: Any, *,
                       path: str = "/discord/interactions", timestamp: int | None = None
                       ) -> httpx.Response:
        """:meth:`deliver` through an ``httpx.AsyncClient`` (an in-process host)."""
        body, signed = self.signed(payload, timestamp=timestamp)
        self._delivering(payload, True)
        started = time.monotonic()
        response = await client.post(path, content=body, headers=signed)
        self._record_callback(payload, response, time.monotonic() - started)
        return response

    def _delivering(self, payload: Any, flag: bool) -> None:
        with self._lock:
            state = self._interactions.get(str(payload.get("id"))) \
                if isinstance(payload, dict) else None
            if state is not None:
                state.delivering = flag

    async def _await_ack(self, token: str) -> None:
        """A webhook call racing the callback waits for it, as Discord handles
        the callback when it arrives (at most Discord's 3 seconds)."""
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            with self._lock:
                state = self._by_token.get(token)
                if state is None or state.acked or not state.delivering:
                    return
            await asyncio.sleep(0.005)

    def _record_callback(self, payload: Any, response: httpx.Response, took: float) -> None:
        self._delivering(payload, False)
        if not isinstance(payload, dict) or response.status_code != 200:
            return
        with self._lock:
            state = self._interactions.get(str(payload.get("id")))
            if state is None:
                return
            try:
                answer = response.json()
            except ValueError:
                return
            kind = answer.get("type") if isinstance(answer, dict) else None
            data = answer.get("data") or {} if isinstance(answer, dict) else {}
            if kind in (4, 5) and not state.acked:
                self.ack_times.append(took)
                state.acked = True
                state.ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
                message = FakeMessage(self._snowflake(), state.channel_id,
                                      str(data.get("content") or "") if kind == 4 else "",
                                      "original", state.id, flags=int(data.get("flags") or 0),
                                      created=time.time())
                state.original = message.id
                self._messages.append(message)
            elif kind in (6, 7):
                state.acked = True

    # request handling -------------------------------------------------------
    def _record(self, request: Request, route: str, body: Any, status: int) -> None:
        with self._lock:
            self._calls.append(Call(request.method, request.url.path, route, body, status,
                                    time.time()))

    def _injected(self, route: str, major: str) -> Response | None:
        for i, (prefix, status, times, retry_after, is_global) in enumerate(self._failures):
            if not route.startswith(prefix):
                continue
            if times <= 1:
                del self._failures[i]
            else:
                self._failures[i] = (prefix, status, times - 1, retry_after, is_global)
            if status == 429:
                after = 1.0 if retry_after is None else retry_after
                bucket = self._bucket(route, major)
                bucket.remaining = 0
                bucket.reset_at = max(bucket.reset_at, time.monotonic() + after)
                return JSONResponse({"message": "You are being rate limited.",
                                     "retry_after": after, "global": is_global},
                                    status_code=429, headers={
                                        "Retry-After": str(max(1, round(after))),
                                        "X-RateLimit-Global": str(is_global).lower(),
                                        "X-RateLimit-Scope": "global" if is_global else "user"})
            return _error(status, f"{status}: injected failure")
        return None

    def _bucket(self, route: str, major: str) -> _Bucket:
        key = f"{route} {major}"
        bucket = self._buckets.get(key)
        now = time.monotonic()
        if bucket is None or bucket.reset_at <= now:
            limit, per = self._limits.get(route, (50, 1.0))
            bucket = self._buckets[key] = _Bucket(limit, per, limit, now + per)
        return bucket

    async def _guard(self, request: Request, template: str, major: str, *,
                     bot: bool) -> tuple[Any, Response | None, str]:
        """Parse the body, check auth, rate limits and injected failures."""
        route = f"{request.method} {template}"
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return None, _error(400, "400: Bad Request", 50109), route
        if bot and request.headers.get("authorization") != f"Bot {self.token}":
            return body, _error(401, "401: Unauthorized"), route
        if not bot:
            await self._await_ack(request.path_params.get("token", ""))
        with self._lock:
            bucket = self._bucket(route, major)
            now = time.monotonic()
            if bucket.remaining <= 0:
                self.rate_violations.append(RateViolation(route, bucket.reset_at - now))
                after = round(bucket.reset_at - now, 3)
                return body, JSONResponse(
                    {"message": "You are being rate limited.", "retry_after": after,
                     "global": False}, status_code=429,
                    headers={"Retry-After": str(max(1, round(after))), **self._headers(
                        bucket, template)}), route
            injected = self._injected(route, major)
            if injected is not None:
                injected.headers.update(self._headers(bucket, template))
                return body, injected, route
            bucket.remaining -= 1
        return body, None, route

    @staticmethod
    def _headers(bucket: _Bucket, template: str) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(bucket.limit),
                "X-RateLimit-Remaining": str(max(0, bucket.remaining)),
                "X-RateLimit-Reset-After": f"{max(0.0, bucket.reset_at - time.monotonic()):.3f}",
                "X-RateLimit-Reset": f"{time.time() + bucket.reset_at - time.monotonic():.3f}",
                "X-RateLimit-Bucket": f"fake-{abs(hash(template)) % 10**8:08d}"}

    def _answer(self, request: Request, route: str, body: Any, status: int, data: Any,
                template: str, major: str) -> Response:
        self._record(request, route, body, status)
        with self._lock:
            headers = self._headers(self._bucket(route, major), template)
        if status == 204:
            return Response(status_code=204, headers=headers)
        return JSONResponse(data, status_code=status, headers=headers)

    @staticmethod
    def _invalid_message(body: Any, *, edit: bool) -> Response | None:
        if not isinstance(body, dict):
            return _error(400, "Invalid Form Body", 50035)
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            return _error(400, "Invalid Form Body", 50035,
                          errors={"content": {"_errors": [{"code": "BASE_TYPE_STRING"}]}})
        if isinstance(content, str) and len(content) > _MAX_CONTENT:
            return _error(400, "Invalid Form Body", 50035, errors={"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH",
                 "message": "Must be 2000 or fewer in length."}]}})
        embeds = body.get("embeds") or []
        if not isinstance(embeds, list) or len(embeds) > _MAX_EMBEDS:
            return _error(400, "Invalid Form Body", 50035, errors={"embeds": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}})
        rows = body.get("components") or []
        if not isinstance(rows, list) or len(rows) > 5 or any(
                not isinstance(r, dict) or r.get("type") != 1
                or not isinstance(r.get("components"), list) or not 1 <= len(r["components"]) <= 5
                or any(not isinstance(c, dict) or len(str(c.get("custom_id", ""))) > 100
                       or len(str(c.get("label", ""))) > 80 for c in r["components"])
                for r in rows):
            return _error(400, "Invalid Form Body", 50035,
                          errors={"components": {"_errors": [{"code": "COMPONENT_INVALID"}]}})
        if not edit and not (content or embeds or rows):
            return _error(400, "Cannot send an empty message", 50006)
        return None

    def _message_json(self, m: FakeMessage) -> dict[str, Any]:
        return {"id": m.id, "channel_id": m.channel_id, "content": m.content,
                "components": m.components, "flags": m.flags, "type": 0,
                "author": {"id": BOT_ID, "username": "hostline-test", "bot": True}}

    @staticmethod
    def _bot_json() -> dict[str, Any]:
        return {"id": BOT_ID, "username": "hostline-test", "global_name": None, "bot": True,
                "discriminator": "0"}

    async def _me(self, request: Request) -> Response:
        body, refused, route = await self._guard(request, "/users/@me", "", bot=True)
        if refused is not None:
            self._record(request, route, body, refused.status_code)
            return refused
        return self._answer(request, route, body, 200, self._bot_json(), "/users/@me", "")

    async def _gateway_bot(self, request: Request) -> Response:
        body, refused, route = await self._guard(request, "/gateway/bot", "", bot=True)
        if refused is not None:
            self._record(request, route, body, refused.status_code)
            return refused
        return self._answer(request, route, body, 200, {
            "url": f"ws://127.0.0.1:{self.port}/gateway", "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                    "max_concurrency": 1}}, "/gateway/bot", "")

    def message_create(self, text: str, *, user_id: str = "4001", channel_id: str = "5001",
                       guild_id: str | None = None, mention: bool = False,
                       username: str = "ann", global_name: str | None = "Ann Lee",
                       bot: bool = False) -> dict[str, Any]:
        """A ``MESSAGE_CREATE`` payload (a DM without ``guild_id``); ``mention`` puts
        ``<@bot>`` in front of the text as Discord does."""
        with self._lock:
            self._channels.add(channel_id)
        data: dict[str, Any] = {
            "id": self._snowflake(), "channel_id": channel_id, "type": 0,
            "content": f"<@{BOT_ID}> {text}" if mention else text,
            "author": {"id": user_id, "username": username, "global_name": global_name,
                       **({"bot": True} if bot else {})},
            "mentions": [self._bot_json()] if mention else [], "timestamp": "2026-01-01"}
        if guild_id:
            data["guild_id"] = guild_id
        return data

    async def _open_dm(self, request: Request) -> Response:
        template = "/users/@me/channels"
        body, refused, route = await self._guard(request, template, "", bot=True)
        if refused is not None:
            self._record(request, route, body, refused.status_code)
            return refused
        recipient = body.get("recipient_id") if isinstance(body, dict) else None
        if not isinstance(recipient, (str, int)) or not str(recipient).isdigit():
            return self._answer(request, route, body, 400, {"message": "Invalid Form Body",
                                                            "code": 50035}, template, "")
        with self._lock:
            channel = self._dms.get(str(recipient))
            if channel is None:
                channel = self._dms[str(recipient)] = self._snowflake()
                self._channels.add(channel)
        return self._answer(request, route, body, 200, {
            "id": channel, "type": 1, "recipients": [{"id": str(recipient)}]}, template, "")

    async def _commands_route(self, request: Request) -> Response:
        guild = request.path_params.get("guild")
        template = "/applications/{application_id}/" + (
            "guilds/{guild_id}/commands" if guild else "commands")
        body, refused, route = await self._guard(request, template, guild or "", bot=True)
        if refused is not None:
            self._record(request, route, body, refused.status_code)
            return refused
        if request.path_params["app"] != self.application_id:
            return self._answer(request, route, body, 403, {"message": "Missing Access",
                                                            "code": 50001}, template, "")
        key = guild or ""
        if request.method == "GET":
            return self._answer(request, route, body, 200, self.commands(guild), template, key)
        problem = _check_commands(body)
        if problem is not None:
            return self._answer(request, route, body, 400, {
                "message": "Invalid Form Body", "code": 50035, "errors": problem}, template, key)
        with self._lock:
            self._commands[key] = [{**c, "id": self._snowflake(),
                                    "application_id": self.application_id, "version": "1",
                                    **({"guild_id": guild} if guild else {})} for c in body]
            stored = list(self._commands[key])
        return self._answer(request, route, body, 200, stored, template, key)

    async def _channel_message(self, request: Request) -> Response:
        channel = request.path_params["channel"]
        template = "/channels/{channel_id}/messages"
        body, refused, route = await self._guard(request, template, channel, bot=True)
        if refused is not None:
            self._record(request, route, body, refused.status_code)
            return refused
        with self._lock:
            known, forbidden = channel in self._channels, channel in self._forbidden
        if forbidden:
            return self._answer(request, route, body, 403, {"message": "Missing Access",
                                                            "code": 50001}, template, channel)
        if not known:
            return self._answer(request, route, body, 404, {"message": "Unknown Channel",
                                                            "code": 10003}, template, channel)
        invalid = self._invalid_message(body, edit=False)
        if invalid is not None:
            self._record(request, route, body, invalid.status_code)
            return invalid
        message = FakeMessage(self._snowflake(), channel, body.get("content") or "", "bot",
                              components=list(body.get("components") or []),
                              created=time.time())
        with self._lock:
            self._messages.append(message)
        return self._answer(request, route, body, 200, self._message_json(message), template,
                            channel)

    def _live(self, app: str, token: str) -> _Interaction | None:
        state = self._by_token.get(token)
        if app != self.application_id or state is None or not state.acked or \
                time.time() > state.created + TOKEN_LIFETIME:
            return None
        return state

    async def _followup(self, request: Request) -> Response:
        app, token = request.path_params["app"], request.path_params["token"]
        template = "/webhooks/{webhook_id}/{webhook_token}"
        body, refused, route = await self._guard(request, template, token, bot=False)
        if refused is not None:
            self._record(request, route, body, refused.status_code)
            return refused
        with self._lock:
            state = self._live(app, token)
        if state is None:
            return self._answer(request, route, body, 404, {"message": "Unknown Webhook",
                                                            "code": 10015}, template, token)
        invalid = self._invalid_message(body, edit=False)
        if invalid is not None:
            self._record(request, route, body, invalid.status_code)
            return invalid
        message = FakeMessage(self._snowflake(), state.channel_id, body.get("content") or "",
                              "followup", state.id, list(body.get("components") or []),
                              int(body.get("flags") or 0), created=time.time())
        with self._lock:
            self._messages.append(message)
        return self._answer(request, route, body, 200, self._message_json(message), template,
                            token)

    async def _edit(self, request: Request) -> Response:
        app, token = request.path_params["app"], request.path_params["token"]
        which = request.path_params["message"]
        template = "/webhooks/{webhook_id}/{webhook_token}/messages/" + (
            "@original" if which == "@original" else "{message_id}")
        body, refused, route = await self._guard(request, template, token, bot=False)
        if refused is not None:
            self._record(request, route, body, refused.status_code)
            return refused
        with self._lock:
            state = self._live(app, token)
            target = None
            if state is not None:
                wanted = state.original if which == "@original" else which
                target = next((m for m in self._messages if m.id == wanted
                               and m.interaction_id == state.id), None)
        if state is None or target is None:
            return self._answer(request, route, body, 404, {
                "message": "Unknown Webhook" if state is None else "Unknown Message",
                "code": 10015 if state is None else 10008}, template, token)
        invalid = self._invalid_message(body, edit=True)
        if invalid is not None:
            self._record(request, route, body, invalid.status_code)
            return invalid
        with self._lock:
            if "content" in body:
                target.content = body.get("content") or ""
            if "components" in body:
                target.components = list(body.get("components") or [])
            target.edits.append(target.content)
            target.edit_times.append(time.monotonic())
            answer = self._message_json(target)
        return self._answer(request, route, body, 200, answer, template, token)


def _check_commands(body: Any) -> dict[str, Any] | None:
    """Discord's validation of a bulk overwrite, as an ``errors`` object or ``None``."""
    import re

    if not isinstance(body, list) or len(body) > 100:
        return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}
    names: set[str] = set()
    for i, cmd in enumerate(body):
        if not isinstance(cmd, dict):
            return {str(i): {"_errors": [{"code": "DICT_TYPE_CONVERT"}]}}
        name, desc = cmd.get("name"), cmd.get("description")
        if not isinstance(name, str) or not re.fullmatch(r"[-_\w]{1,32}", name) or \
                name != name.lower() or name in names:
            return {str(i): {"name": {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME"}]}}}
        names.add(name)
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            return {str(i): {"description": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH"}]}}}
        options = cmd.get("options") or []
        if not isinstance(options, list) or len(options) > 25:
            return {str(i): {"options": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}}
        seen_optional = False
        for opt in options:
            if not isinstance(opt, dict) or not isinstance(opt.get("name"), str) or \
                    not re.fullmatch(r"[-_\w]{1,32}", opt["name"]) or \
                    not 1 <= len(str(opt.get("description", ""))) <= 100:
                return {str(i): {"options": {"_errors": [{"code": "OPTION_INVALID"}]}}}
            if opt.get("required") and seen_optional:
                return {str(i): {"options": {"_errors": [
                    {"code": "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"}]}}}
            seen_optional = seen_optional or not opt.get("required")
    return None
