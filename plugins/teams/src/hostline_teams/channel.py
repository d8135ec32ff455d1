"""The Teams channel: ``POST /<instance>/api/messages`` and delivery back to Teams.

The webhook only verifies, persists and acknowledges: every authenticated
activity (but ``typing``) becomes a durable task (partition = conversation,
key = activity id) committed before the 202, and the runner's workers do
the rest (bounded, fair across conversations, in order within one).

Invoke activities need their answer in the HTTP response. An Adaptive Card
``Action.Execute`` (``adaptiveCard/action``) is acknowledged at once with an
invoke response carrying ``invoke_reply``, and the action itself is queued
like a message: the target's answer arrives as an ordinary reply. The
webhook never waits for the target, so a slow target cannot make Teams
time the invoke out, and the action survives a restart. Other invoke names
get 501 Not Implemented, as the Bot Framework SDK answers unhandled invokes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import hostline
from hostline import (
    DeliveryError,
    DeliveryReceipt,
    Destination,
    Host,
    Identity,
    Message,
    PermanentDeliveryError,
    PooledTransport,
    Reject,
    RetryableDeliveryError,
    RunResult,
    Task,
    TextPart,
    Turn,
    error_response,
    read_json,
)

from .activities import (
    BadActivity,
    Inbound,
    attachments_for,
    inbound_parts,
    outgoing,
    split_text,
    strip_mentions,
)
from .authentication import (
    AuthenticationError,
    InboundAuthenticator,
    IssuerProfile,
    KeysUnavailable,
    OpenIdKeys,
    TokenProvider,
)
from .config import TeamsConfig
from .connector import Connector, TrustedServiceUrls
from .streaming import TeamsStream

log = logging.getLogger("hostline.teams")

__all__ = ["TargetFailed", "TeamsChannel"]

INVOKE_MESSAGE = "application/vnd.microsoft.activity.message"
#: How long activity ids are remembered to drop the connector's redeliveries.
DEDUPE_SECONDS = 24 * 3600.0


class TargetFailed(Exception):
    """The target raised; the person got ``error_reply`` and the task is not retried
    (running the target again could repeat its side effects)."""

    retryable = False


def _value_text(value: Any) -> str:
    """Text for the target from a card's submitted data."""
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class TeamsChannel(hostline.Channel):
    """A Microsoft Teams bot speaking the Bot Framework protocol."""

    Config = TeamsConfig
    needs_secrets = True

    def __init__(self, name: str, config: TeamsConfig, host: Host) -> None:
        super().__init__(name, config, host)
        self.config: TeamsConfig = config
        self.activity_kind = f"teams:{name}:activity"
        self.send_kind = f"teams:{name}:send"
        self._ns = f"teams:{name}"
        self.trusted = TrustedServiceUrls(host.store, f"{self._ns}:service-urls")
        self.client: httpx.AsyncClient | None = None
        self.tokens: TokenProvider | None = None
        self.connector: Connector | None = None
        self.authenticator: InboundAuthenticator | None = None

    # hooks ------------------------------------------------------------------
    @hostline.hookimpl
    def hostline_routes(self, host: Host) -> list[Route]:
        """``POST /<instance>/api/messages``: the bot's messaging endpoint."""
        return [Route("/api/messages", self.messages, methods=["POST"])]

    @hostline.hookimpl
    def hostline_lifespan(self, host: Host) -> Any:
        """The outbound HTTP client, token provider, key cache and trusted URLs."""
        return self._lifespan()

    @hostline.hookimpl
    def hostline_task_handlers(self, host: Host) -> dict[str, Any]:
        """Inbound activities and deferred sends, run by the durable runner."""
        return {self.activity_kind: self.handle_activity, self.send_kind: self.handle_send}

    @hostline.hookimpl
    async def hostline_push(self, destination: Destination, message: Message, host: Host,
                            key: str) -> DeliveryReceipt | None:
        """Post ``message`` into a conversation the bot has seen (proactive message)."""
        if destination.channel != self.name:
            return None
        connector = self._require_connector()
        done_ns = f"{self._ns}:pushed"
        done = await host.store.kv_get(done_ns, key)
        if done is not None:  # sent before a crash kept the task from finishing
            return DeliveryReceipt(destination, tuple(done))
        ref = dict(destination.reference) or await self.conversation_reference(
            destination.address)
        conversation = ref.get("conversation") if ref else None
        if not ref or not isinstance(conversation, dict) or not conversation.get("id"):
            raise PermanentDeliveryError(
                f"teams {self.name}: no conversation reference for {destination.address!r}; "
                "the person has to message the bot first")
        service_url = ref.get("serviceUrl")
        if not isinstance(service_url, str) or not await self.trusted.is_trusted(service_url):
            raise PermanentDeliveryError(
                f"teams {self.name}: refusing to send to a serviceUrl that never arrived on an "
                "authenticated activity")
        text = message.text
        attachments = attachments_for([message])
        ids: list[str] = []
        if text or attachments:
            pieces = split_text(text) if text else [""]
            for i, piece in enumerate(pieces):
                activity = outgoing(ref, text=piece or None,
                                    attachments=attachments if i == len(pieces) - 1 else None)
                body = await connector.send(service_url, str(conversation["id"]), activity)
                if isinstance(body.get("id"), str):
                    ids.append(body["id"])
        await host.store.kv_put(done_ns, key, ids, ttl=DEDUPE_SECONDS)
        return DeliveryReceipt(destination, tuple(ids))

    # lifespan -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        cfg = self.config
        # At most [host.outbox] outbound_calls connector calls at once: the pool is the limit.
        size = cfg.max_connections or self.host.config.host.outbox.outbound_calls
        # hostline's lean transport: one bounded keep-alive pool, httpx errors.
        async with httpx.AsyncClient(timeout=httpx.Timeout(cfg.timeout),
                                     transport=PooledTransport(
                                         max_connections=size, trust_env=cfg.trust_env,
                                         proxy=cfg.proxy.reveal() if cfg.proxy else None),
                                     follow_redirects=False) as client:
            self.client = client
            self.tokens = TokenProvider(client, cfg.resolved_token_url(), cfg.app_id,
                                        cfg.app_password, cfg.oauth_scope)
            self.connector = Connector(client, self.tokens,
                                       max_calls=self.host.config.host.outbox.outbound_calls)
            profiles = [IssuerProfile("channel", tuple(cfg.allowed_issuers), OpenIdKeys(
                client, cfg.openid_metadata_url, cache_seconds=cfg.keys_cache_seconds,
                refresh_interval=cfg.keys_refresh_interval))]
            if cfg.allow_emulator:
                profiles.append(IssuerProfile("emulator", tuple(cfg.emulator_issuers), OpenIdKeys(
                    client, cfg.emulator_openid_metadata_url,
                    cache_seconds=cfg.keys_cache_seconds,
                    refresh_interval=cfg.keys_refresh_interval), channel=False))
            self.authenticator = InboundAuthenticator(cfg.app_id, profiles,
                                                      clock_skew=cfg.clock_skew)
            await self.trusted.load()
            try:
                yield
            finally:
                self.authenticator = None
                self.connector = None
                self.tokens = None
                self.client = None

    def _require_connector(self) -> Connector:
        if self.connector is None:
            raise RetryableDeliveryError(f"teams {self.name}: channel is not started")
        return self.connector

    # webhook --------------------------------------------------------------------
    def _unavailable(self, message: str) -> Response:
        return error_response(503, message, code="unavailable",
                              headers={"Retry-After": str(self.config.retry_after)})

    def _partition(self, conversation_id: str) -> str:
        return f"{self._ns}:{conversation_id}"

    async def messages(self, request: Request) -> Response:
        """Verify, persist, acknowledge. Nothing else happens on the request path."""
        authenticator = self.authenticator
        if authenticator is None:
            return self._unavailable("the Teams channel is starting")
        body = await read_json(request)
        if not isinstance(body, dict):
            return error_response(400, "the activity must be a JSON object",
                                  code="invalid_activity")
        try:
            await authenticator.authenticate(request.headers.get("authorization"), body)
        except AuthenticationError as exc:
            log.info("teams %s: refused an activity: %s", self.name, exc)
            return error_response(401, "unauthorized", code="unauthorized",
                                  headers={"WWW-Authenticate": "Bearer"})
        except KeysUnavailable as exc:
            log.warning("teams %s: cannot verify activities: %s", self.name, exc)
            return self._unavailable("the Bot Framework signing keys are unavailable")
        try:
            inbound = Inbound.parse(body)
        except BadActivity as exc:
            # Authenticated but never processable: the Bot Framework would
            # resend it, so it is acked and kept as a dead letter.
            await self.host.dead_letter(self.name, self.activity_kind,
                                        f"invalid_activity: {exc}", update=body)
            return Response(status_code=200)
        if inbound.type == "typing":
            return Response(status_code=200)
        if self.host.overloaded:
            return self._unavailable("overloaded, retry later")
        key = None
        if inbound.id:
            digest = hashlib.sha256(
                f"{inbound.conversation_id}\0{inbound.id}".encode()).hexdigest()[:40]
            key = f"{self._ns}:{digest}"
        try:
            await self.host.runner.enqueue(self.activity_kind, {"activity": body},
                                           partition=self._partition(inbound.conversation_id),
                                           key=key, remember=DEDUPE_SECONDS)
        except Exception as exc:  # noqa: BLE001 - the connector retries a 503
            log.warning("teams %s: could not persist an activity (%s: %s)", self.name,
                        type(exc).__name__, exc)
            return self._unavailable("could not persist the activity")
        if inbound.type == "invoke":
            if body.get("name") == "adaptiveCard/action":
                return JSONResponse({"statusCode": 200, "type": INVOKE_MESSAGE,
                                     "value": self.config.invoke_reply})
            return Response(status_code=501)
        return Response(status_code=202)

    # worker side ----------------------------------------------------------------
    async def handle_activity(self, task: Task) -> None:
        """Process one persisted inbound activity (runs in the runner's workers)."""
        inbound = Inbound.parse(task.payload.get("activity"))
        await self.trusted.add(inbound.service_url)
        await self._remember(inbound)
        if inbound.type == "message":
            await self._on_message(inbound)
        elif inbound.type == "invoke" and inbound.raw.get("name") == "adaptiveCard/action":
            await self._on_card_action(inbound)
        elif inbound.type == "conversationUpdate":
            await self._on_conversation_update(inbound)
        # messageReaction, installationUpdate, invokes we do not handle...: no run.

    async def handle_send(self, task: Task) -> None:
        """Retry one reply whose first send failed transiently."""
        p = task.payload
        service_url = str(p["service_url"])
        if not await self.trusted.is_trusted(service_url):
            raise PermanentDeliveryError(f"teams {self.name}: untrusted serviceUrl")
        await self._require_connector().send(service_url, str(p["conversation_id"]),
                                             dict(p["activity"]), p.get("reply_to_id"))

    async def _remember(self, inbound: Inbound) -> None:
        """Store the conversation reference by conversation and by person."""
        store = self.host.store
        ref = inbound.reference()
        await store.kv_put(f"{self._ns}:conversations", inbound.conversation_id, ref)
        native = inbound.native_id
        if native is not None:
            users = f"{self._ns}:users"
            if inbound.is_group:
                # A personal chat is the better place to reach someone: keep it.
                await store.kv_add(users, native, ref)
            else:
                await store.kv_put(users, native, ref)

    async def conversation_reference(self, address: str) -> dict[str, Any] | None:
        """The stored reference of a conversation id, or of a person's native id."""
        store = self.host.store
        for ns in (f"{self._ns}:conversations", f"{self._ns}:users"):
            ref = await store.kv_get(ns, address)
            if isinstance(ref, dict):
                return ref
        return None

    async def destination_for(self, native_id: str) -> Destination | None:
        """A :class:`hostline.Destination` for :meth:`hostline.Host.push` to a person
        (their personal chat when the bot has one), or ``None`` if never seen."""
        ref = await self.host.store.kv_get(f"{self._ns}:users", native_id)
        if not isinstance(ref, dict) or not isinstance(ref.get("conversation"), dict):
            return None
        conversation = ref["conversation"]
        is_group = conversation.get("isGroup") is True or conversation.get(
            "conversationType") in ("groupChat", "channel")
        return Destination(self.name, str(conversation["id"]), f"{self.name}:{native_id}",
                           is_group, ref)

    # activities -----------------------------------------------------------------
    def _identity(self, inbound: Inbound) -> Identity | None:
        native = inbound.native_id
        if native is None:
            return None
        claims = {"tenant_id": inbound.tenant_id,
                  "aad_object_id": inbound.user.get("aadObjectId"),
                  "teams_user_id": inbound.user_id,
                  "conversation_type": inbound.conversation_type or None}
        return Identity(self.name, native, inbound.display_name,
                        {k: v for k, v in claims.items() if v})

    def _scope(self, inbound: Inbound, native: str) -> str:
        mode = self.config.session_scope
        if mode == "per_user":
            return f"user:{native}"
        if mode == "per_conversation":
            return f"conversation:{inbound.conversation_id}"
        return f"conversation:{inbound.conversation_id}:user:{native}"

    async def _on_message(self, inbound: Inbound) -> None:
        text, mentioned = strip_mentions(
            inbound.text, inbound.raw.get("entities"), bot_id=inbound.bot_id,
            bot_name=inbound.bot.get("name") if isinstance(inbound.bot.get("name"), str)
            else None, app_id=self.config.app_id)
        if inbound.is_group:
            mode = self.config.group_mode
            if mode == "never" or (mode == "mention" and not mentioned):
                return
        options: dict[str, Any] = {}
        value = inbound.raw.get("value")
        if value is not None:  # an Adaptive Card Action.Submit arrives as a message
            options["teams_value"] = value
            if not text:
                text = _value_text(value)
        await self._run(inbound, text, inbound_parts(inbound.raw), options)

    async def _on_card_action(self, inbound: Inbound) -> None:
        value = inbound.raw.get("value")
        action = value.get("action") if isinstance(value, dict) else None
        action = action if isinstance(action, dict) else {}
        verb = action.get("verb") if isinstance(action.get("verb"), str) else None
        data = action.get("data")
        text = _value_text(data) if data not in (None, {}, "") else (verb or "")
        await self._run(inbound, text, [], {"teams_action": {"verb": verb, "data": data}})

    async def _on_conversation_update(self, inbound: Inbound) -> None:
        welcome = self.config.welcome_text
        added = inbound.raw.get("membersAdded")
        if not welcome or not isinstance(added, list):
            return
        members = [m for m in added if isinstance(m, dict)]
        bot_ids = {inbound.bot_id, self.config.app_id, f"28:{self.config.app_id}"}
        bot_added = any(m.get("id") in bot_ids for m in members)
        people_added = any(m.get("id") not in bot_ids for m in members)
        # Personal chat: greet on install. Groups: greet once, when the bot joins.
        if (inbound.is_group and bot_added) or (not inbound.is_group and (
                bot_added or people_added)):
            await self._deliver(inbound, outgoing(inbound.reference(), text=welcome),
                                reply=False)

    async def _run(self, inbound: Inbound, text: str, parts: list[Any],
                   options: dict[str, Any]) -> None:
        identity = self._identity(inbound)
        if identity is None:
            log.info("teams %s: ignoring an activity without a sender", self.name)
            return
        scope = self._scope(inbound, identity.native_id)
        if text.startswith("/"):
            answer = await self.host.dispatch_command(text, channel=self.name, scope=scope,
                                                      identity=identity)
            if answer is not None:
                await self._send_text(inbound, answer)
                return
        if not text and not parts:
            return
        content: list[Any] = ([TextPart(text)] if text else []) + parts
        ref = inbound.reference()
        destination = Destination(self.name, inbound.conversation_id, identity.key,
                                  inbound.is_group, ref)
        teams_options = {"conversation_id": inbound.conversation_id,
                         "conversation_type": inbound.conversation_type,
                         "tenant_id": inbound.tenant_id, "activity_id": inbound.id,
                         "locale": inbound.locale}
        try:
            turn = await self.host.begin_turn(
                channel=self.name, scope=scope, input=[Message.user(content)],
                identity=identity, destination=destination,
                options={"teams": teams_options, **options})
        except Reject as exc:
            if exc.reply:
                await self._send_text(inbound, exc.reply)
            return
        if self._can_stream(inbound, turn):
            await self._stream_turn(inbound, turn)
            return
        try:
            reply = await self._run_with_typing(inbound, turn)
        except Exception as exc:
            log.exception("teams %s: the target failed", self.name)
            await self._send_error(inbound)
            raise TargetFailed(f"target failed: {type(exc).__name__}") from None
        await self._send_result(inbound, reply)

    def _can_stream(self, inbound: Inbound, turn: Turn) -> bool:
        target = turn.request.response_target
        return (self.config.stream and not inbound.is_group
                and inbound.channel_id == "msteams"
                and inbound.conversation_type in ("personal", "")
                and self.host.target.can_stream
                and (target is None or target.kind == "originating"))

    async def _run_with_typing(self, inbound: Inbound, turn: Turn) -> RunResult | None:
        if not self.config.typing:
            return await turn.run()
        stop = asyncio.Event()
        typing = asyncio.create_task(self._typing(inbound, stop))
        try:
            return await turn.run()
        finally:
            stop.set()
            # Let an in-flight indicator land first so it never follows the reply.
            await typing

    async def _typing(self, inbound: Inbound, stop: asyncio.Event) -> None:
        activity = outgoing(inbound.reference(), type="typing", reply_to_id=inbound.id)
        connector = self._require_connector()
        if self.config.typing_delay:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.typing_delay)
        while not stop.is_set():
            try:
                await connector.send(inbound.service_url, inbound.conversation_id, activity,
                                     inbound.id)
            except DeliveryError as exc:
                log.debug("teams %s: typing indicator failed: %s", self.name, exc)
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.typing_interval)

    # sending ----------------------------------------------------------------------
    async def _deliver(self, inbound: Inbound, activity: dict[str, Any], *,
                       reply: bool = True) -> dict[str, Any] | None:
        """Send now; after a transient failure hand the activity to a durable send task
        so only this reply is retried (never the run, never the whole conversation)."""
        reply_to = inbound.id if reply else None
        try:
            return await self._require_connector().send(
                inbound.service_url, inbound.conversation_id, activity, reply_to)
        except RetryableDeliveryError as exc:
            log.info("teams %s: send failed (%s); retrying it in the background",
                     self.name, exc)
            await self.host.runner.enqueue(
                self.send_kind, {"service_url": inbound.service_url,
                                 "conversation_id": inbound.conversation_id,
                                 "reply_to_id": reply_to, "activity": activity},
                partition=self._partition(inbound.conversation_id), key=uuid.uuid4().hex,
                delay=exc.retry_after if exc.retry_after is not None else 0.5)
            return None

    async def _send_text(self, inbound: Inbound, text: str) -> None:
        for piece in split_text(text):
            await self._deliver(inbound, outgoing(inbound.reference(), text=piece,
                                                  reply_to_id=inbound.id))

    async def _send_error(self, inbound: Inbound) -> None:
        try:
            await self._send_text(inbound, self.config.error_reply)
        except DeliveryError as exc:
            log.warning("teams %s: could not tell the person about the failure: %s",
                        self.name, exc)

    async def _send_result(self, inbound: Inbound, reply: RunResult | None) -> None:
        if reply is None:
            return
        text = reply.text
        attachments = attachments_for(reply.messages)
        if not text and not attachments:
            return
        pieces = split_text(text) if text else [""]
        ref = inbound.reference()
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            await self._deliver(inbound, outgoing(
                ref, text=piece or None, attachments=attachments if last else None,
                reply_to_id=inbound.id))

    async def _stream_turn(self, inbound: Inbound, turn: Turn) -> None:
        stream = TeamsStream(self, inbound)
        stream.start()
        try:
            async for update in turn.stream():
                if update.delta:
                    stream.feed(update.delta)
        except Exception as exc:
            await stream.stop()
            log.exception("teams %s: the target failed while streaming", self.name)
            if stream.started:
                await stream.close_with(self.config.error_reply, [])
            else:
                await self._send_error(inbound)
            raise TargetFailed(f"target failed: {type(exc).__name__}") from None
        finally:
            await stream.stop()
        reply = turn.reply
        if reply is None:
            if stream.started and stream.text:
                await stream.close_with(stream.text, [])  # close what was already shown
            return
        if not stream.started:
            # Done before the stream opened (or it never could): one plain message.
            await self._send_result(inbound, reply)
            return
        await stream.close_with(reply.text, attachments_for(reply.messages))
