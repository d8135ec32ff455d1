"""A local Discord for tests: :class:`FakeDiscordAPI` and :class:`InteractionSigner`.

:class:`FakeDiscordAPI` serves the REST routes hostline-discord uses, and the
Gateway's WebSocket, on a free loopback port (:class:`hostline.testing.FakeServer`,
in a background thread, so it works from sync and async tests) and validates
them as Discord does: ``Bot``
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
import itertools
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import unquote

import attrs
import httpx
from nacl.signing import SigningKey

from hostline.testing import FakeRequest, FakeServer, Polling, Reply, Upgrade, accept_websocket

from ._fake_checks import error
from ._fake_gateway import FakeGateway
from ._fake_rest import (
    BOT_ID,
    Bucket,
    Call,
    FakeMessage,
    Interaction,
    RateViolation,
    RestRoutes,
    Routed,
)
from .interactions import DISCORD_EPOCH_MS, EPHEMERAL

__all__ = ["APP_ID", "BOT_ID", "Call", "FakeDiscordAPI", "FakeMessage", "InteractionSigner",
           "RateViolation"]

T = TypeVar("T")
_Route = Callable[[Routed], Awaitable[Reply]]

DEFAULT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.FAKE.bot-token_abcdefghijklmnop"
APP_ID = "1100000000000000001"


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


class FakeDiscordAPI(RestRoutes, Polling):
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
        self._interactions: dict[str, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._channels: set[str] = set()
        self._forbidden: set[str] = set()
        self._dms: dict[str, str] = {}
        self._failures: list[tuple[str, int, int, float | None, bool]] = []
        self._buckets: dict[str, Bucket] = {}
        self._limits: dict[str, tuple[int, float]] = {}
        self.rate_violations: list[RateViolation] = []
        self.ack_times: list[float] = []
        self._ids = itertools.count(1)
        self._server: FakeServer | None = None
        self._routes = self._route_table()
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
        """Serve in a background thread; returns once the port listens."""
        if self._server is None:
            server = FakeServer(self._handle, port=self.port, name="FakeDiscordAPI")
            server.start(timeout)
            self.port = server.port
            self.gateway.loop = server.loop
            self._server = server
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> FakeDiscordAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeDiscordAPI:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def _route_table(self) -> list[tuple[re.Pattern[str], dict[str, _Route]]]:
        base = "/api/v10"
        table: list[tuple[str, dict[str, _Route]]] = [
            ("/users/@me", {"GET": self._me}),
            ("/gateway/bot", {"GET": self._gateway_bot}),
            ("/users/@me/channels", {"POST": self._open_dm}),
            ("/applications/{app}/commands", {"GET": self._commands_route,
                                              "PUT": self._commands_route}),
            ("/applications/{app}/guilds/{guild}/commands", {"GET": self._commands_route,
                                                             "PUT": self._commands_route}),
            ("/channels/{channel}/messages", {"POST": self._channel_message}),
            ("/webhooks/{app}/{token}", {"POST": self._followup}),
            ("/webhooks/{app}/{token}/messages/{message}", {"PATCH": self._edit}),
        ]
        # "{name}" is one path segment, as Discord's route templates mean it.
        return [(re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(base + path))
                            + "$"), methods) for path, methods in table]

    async def _handle(self, request: FakeRequest) -> Reply | Upgrade:
        path = unquote(request.path)
        if path in ("/gateway", "/gateway/"):
            return accept_websocket(request, self.gateway.endpoint)
        for pattern, methods in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                return error(405, "405: Method Not Allowed")
            return await handler(Routed(request.method, path, request.headers, request.body,
                                        match.groupdict()))
        return error(404, "404: Not Found")

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
            state = Interaction(iid, token, channel_id, str(user_id), created)
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
