"""The REST routes of :class:`hostline_discord.testing.FakeDiscordAPI`.

Each handler checks what Discord checks (bot authorization, rate-limit
buckets, injected failures, message and command payloads, live interaction
tokens), records the call and answers with Discord's JSON and
``X-RateLimit-*`` headers. State lives on the fake; this mixin is its
request side.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import attrs

from hostline.testing import Reply

from ._fake_checks import check_commands, error, invalid_message, json_reply
from .interactions import EPHEMERAL, TOKEN_LIFETIME

__all__ = ["BOT_ID", "Bucket", "Call", "FakeMessage", "Interaction", "RateViolation",
           "RestRoutes", "Routed"]

BOT_ID = "1100000000000000002"


@attrs.frozen
class Routed:
    """A request matched to a route: its decoded path and the path's parameters."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, str]


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
class Bucket:
    """One rate-limit bucket's state."""

    limit: int
    per: float
    remaining: int
    reset_at: float


@attrs.define
class Interaction:
    """Discord's record of one interaction it sent."""

    id: str
    token: str
    channel_id: str | None
    user_id: str
    created: float
    acked: bool = False
    delivering: bool = False
    ephemeral: bool = False
    original: str | None = None


class RestRoutes:
    """Request handlers; the fake provides the state below."""

    token: str
    application_id: str
    port: int
    _lock: threading.RLock
    _calls: list[Call]
    _messages: list[FakeMessage]
    _by_token: dict[str, Interaction]
    _commands: dict[str, list[dict[str, Any]]]
    _channels: set[str]
    _forbidden: set[str]
    _dms: dict[str, str]
    _failures: list[tuple[str, int, int, float | None, bool]]
    _buckets: dict[str, Bucket]
    _limits: dict[str, tuple[int, float]]
    rate_violations: list[RateViolation]

    def _snowflake(self, at: float | None = None) -> str:
        raise NotImplementedError

    def commands(self, guild_id: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def _await_ack(self, token: str) -> None:
        raise NotImplementedError

    # request handling -------------------------------------------------------
    def _record(self, request: Routed, route: str, body: Any, status: int) -> None:
        with self._lock:
            self._calls.append(Call(request.method, request.path, route, body, status,
                                    time.time()))

    def _injected(self, route: str, major: str) -> Reply | None:
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
                return json_reply(429, {"message": "You are being rate limited.",
                                        "retry_after": after, "global": is_global}, {
                    "Retry-After": str(max(1, round(after))),
                    "X-RateLimit-Global": str(is_global).lower(),
                    "X-RateLimit-Scope": "global" if is_global else "user"})
            return error(status, f"{status}: injected failure")
        return None

    def _bucket(self, route: str, major: str) -> Bucket:
        key = f"{route} {major}"
        bucket = self._buckets.get(key)
        now = time.monotonic()
        if bucket is None or bucket.reset_at <= now:
            limit, per = self._limits.get(route, (50, 1.0))
            bucket = self._buckets[key] = Bucket(limit, per, limit, now + per)
        return bucket

    async def _guard(self, request: Routed, template: str, major: str, *,
                     bot: bool) -> tuple[Any, Reply | None, str]:
        """Parse the body, check auth, rate limits and injected failures;
        a refusal is recorded."""
        body, refused, route = await self._check(request, template, major, bot=bot)
        if refused is not None:
            self._record(request, route, body, refused[0])
        return body, refused, route

    async def _check(self, request: Routed, template: str, major: str, *,
                     bot: bool) -> tuple[Any, Reply | None, str]:
        route = f"{request.method} {template}"
        raw = request.body
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return None, error(400, "400: Bad Request", 50109), route
        if bot and request.headers.get("authorization") != f"Bot {self.token}":
            return body, error(401, "401: Unauthorized"), route
        if not bot:
            await self._await_ack(request.params.get("token", ""))
        with self._lock:
            bucket = self._bucket(route, major)
            now = time.monotonic()
            if bucket.remaining <= 0:
                self.rate_violations.append(RateViolation(route, bucket.reset_at - now))
                after = round(bucket.reset_at - now, 3)
                return body, json_reply(
                    429, {"message": "You are being rate limited.", "retry_after": after,
                          "global": False},
                    {"Retry-After": str(max(1, round(after))), **self._headers(
                        bucket, template)}), route
            injected = self._injected(route, major)
            if injected is not None:
                injected[1].update(self._headers(bucket, template))
                return body, injected, route
            bucket.remaining -= 1
        return body, None, route

    @staticmethod
    def _headers(bucket: Bucket, template: str) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(bucket.limit),
                "X-RateLimit-Remaining": str(max(0, bucket.remaining)),
                "X-RateLimit-Reset-After": f"{max(0.0, bucket.reset_at - time.monotonic()):.3f}",
                "X-RateLimit-Reset": f"{time.time() + bucket.reset_at - time.monotonic():.3f}",
                "X-RateLimit-Bucket": f"fake-{abs(hash(template)) % 10**8:08d}"}

    def _answer(self, request: Routed, route: str, body: Any, status: int, data: Any,
                template: str, major: str) -> Reply:
        self._record(request, route, body, status)
        with self._lock:
            headers = self._headers(self._bucket(route, major), template)
        return json_reply(status, data, headers)

    def _message_json(self, m: FakeMessage) -> dict[str, Any]:
        return {"id": m.id, "channel_id": m.channel_id, "content": m.content,
                "components": m.components, "flags": m.flags, "type": 0,
                "author": {"id": BOT_ID, "username": "hostline-test", "bot": True}}

    @staticmethod
    def _bot_json() -> dict[str, Any]:
        return {"id": BOT_ID, "username": "hostline-test", "global_name": None, "bot": True,
                "discriminator": "0"}

    async def _me(self, request: Routed) -> Reply:
        body, refused, route = await self._guard(request, "/users/@me", "", bot=True)
        if refused is not None:
            return refused
        return self._answer(request, route, body, 200, self._bot_json(), "/users/@me", "")

    async def _gateway_bot(self, request: Routed) -> Reply:
        body, refused, route = await self._guard(request, "/gateway/bot", "", bot=True)
        if refused is not None:
            return refused
        return self._answer(request, route, body, 200, {
            "url": f"ws://127.0.0.1:{self.port}/gateway", "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                    "max_concurrency": 1}}, "/gateway/bot", "")

    async def _open_dm(self, request: Routed) -> Reply:
        template = "/users/@me/channels"
        body, refused, route = await self._guard(request, template, "", bot=True)
        if refused is not None:
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

    async def _commands_route(self, request: Routed) -> Reply:
        guild = request.params.get("guild")
        template = "/applications/{application_id}/" + (
            "guilds/{guild_id}/commands" if guild else "commands")
        body, refused, route = await self._guard(request, template, guild or "", bot=True)
        if refused is not None:
            return refused
        if request.params["app"] != self.application_id:
            return self._answer(request, route, body, 403, {"message": "Missing Access",
                                                            "code": 50001}, template, "")
        key = guild or ""
        if request.method == "GET":
            return self._answer(request, route, body, 200, self.commands(guild), template, key)
        problem = check_commands(body)
        if problem is not None:
            return self._answer(request, route, body, 400, {
                "message": "Invalid Form Body", "code": 50035, "errors": problem}, template, key)
        with self._lock:
            self._commands[key] = [{**c, "id": self._snowflake(),
                                    "application_id": self.application_id, "version": "1",
                                    **({"guild_id": guild} if guild else {})} for c in body]
            stored = list(self._commands[key])
        return self._answer(request, route, body, 200, stored, template, key)

    async def _channel_message(self, request: Routed) -> Reply:
        channel = request.params["channel"]
        template = "/channels/{channel_id}/messages"
        body, refused, route = await self._guard(request, template, channel, bot=True)
        if refused is not None:
            return refused
        with self._lock:
            known, forbidden = channel in self._channels, channel in self._forbidden
        if forbidden:
            return self._answer(request, route, body, 403, {"message": "Missing Access",
                                                            "code": 50001}, template, channel)
        if not known:
            return self._answer(request, route, body, 404, {"message": "Unknown Channel",
                                                            "code": 10003}, template, channel)
        return self._post(request, route, body, template, channel,
                          channel_id=channel, kind="bot")

    def _post(self, request: Routed, route: str, body: Any, template: str, major: str, *,
              channel_id: str | None, kind: str, interaction: str | None = None) -> Reply:
        """Validate and store a new message."""
        invalid = invalid_message(body, edit=False)
        if invalid is not None:
            self._record(request, route, body, invalid[0])
            return invalid
        message = FakeMessage(self._snowflake(), channel_id, body.get("content") or "", kind,
                              interaction, list(body.get("components") or []),
                              int(body.get("flags") or 0) if interaction else 0,
                              created=time.time())
        with self._lock:
            self._messages.append(message)
        return self._answer(request, route, body, 200, self._message_json(message), template,
                            major)

    def _live(self, app: str, token: str) -> Interaction | None:
        state = self._by_token.get(token)
        if app != self.application_id or state is None or not state.acked or \
                time.time() > state.created + TOKEN_LIFETIME:
            return None
        return state

    async def _followup(self, request: Routed) -> Reply:
        app, token = request.params["app"], request.params["token"]
        template = "/webhooks/{webhook_id}/{webhook_token}"
        body, refused, route = await self._guard(request, template, token, bot=False)
        if refused is not None:
            return refused
        with self._lock:
            state = self._live(app, token)
        if state is None:
            return self._answer(request, route, body, 404, {"message": "Unknown Webhook",
                                                            "code": 10015}, template, token)
        return self._post(request, route, body, template, token, channel_id=state.channel_id,
                          kind="followup", interaction=state.id)

    async def _edit(self, request: Routed) -> Reply:
        app, token = request.params["app"], request.params["token"]
        which = request.params["message"]
        template = "/webhooks/{webhook_id}/{webhook_token}/messages/" + (
            "@original" if which == "@original" else "{message_id}")
        body, refused, route = await self._guard(request, template, token, bot=False)
        if refused is not None:
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
        invalid = invalid_message(body, edit=True)
        if invalid is not None:
            self._record(request, route, body, invalid[0])
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
