"""The Discord channel: signed HTTP interactions in, REST out.

The interactions endpoint verifies the Ed25519 signature, answers PING,
commits every command and button press as a runner task (partition = the
conversation, key = the interaction id) and only then defers (type 5), well
within Discord's 3 seconds. The runner answers: it edits the deferred
response as the target streams, at most once per ``stream_edit_interval``,
and sends the text past 2,000 characters as follow-ups. What fails
transiently goes to a durable reply task; what outlives the interaction
token goes to the channel as a bot message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HTTPRoute

import hostline
from hostline import DeliveryReceipt, Destination, Identity, Message, RunResult, Task

from .api import DiscordAPI, DiscordError, DiscordPermanentError, DiscordRetryableError
from .commands import ARG_OPTIONS, command_payloads, register_commands
from .config import DiscordConfig
from .format import render_chunks
from .gateway import DEFAULT_INTENTS, MESSAGE_CONTENT, GatewayClient, GatewayFatal, hold_lock
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    MESSAGE_COMPONENT,
    PING,
    PONG,
    Interaction,
    identity_of,
    parse,
)
from .messages import GatewayMessage, parse_message
from .ratelimit import Route
from .replies import (
    FEEDBACK_PREFIX,
    NEW_BUTTON,
    Where,
    answer_items,
    as_bot_messages,
    dm_channel,
    plain_items,
    result_chunks,
    send_item,
)
from .signature import InteractionVerifier

log = logging.getLogger("hostline.discord")

__all__ = ["DiscordChannel"]

DM_NS = "discord-dm"


def _json(status: int, data: Any) -> Response:
    return hostline.JSONResponse(data, status_code=status)


class DiscordChannel(hostline.Channel):
    """A Discord application: ``[channels.<name>]`` with ``plugin = "discord"``.

    Hooks: routes (``POST /<name>/interactions``), a lifespan (REST client,
    command registration), runner task handlers (interactions, replies) and
    ``hostline_push`` (to a channel id or ``user:<id>``).
    """

    Config = DiscordConfig
    streaming = True
    needs_secrets = True

    def __init__(self, name: str, config: DiscordConfig, host: hostline.Host) -> None:
        super().__init__(name, config, host)
        self.config: DiscordConfig = config
        self.verifier = InteractionVerifier(config.public_key,
                                            max_skew=config.max_timestamp_skew)
        self._api: DiscordAPI | None = None
        self.bot_user: dict[str, Any] = {}
        self.kind_interaction = f"{name}:interaction"
        self.kind_reply = f"{name}:reply"
        self.kind_message = f"{name}:message"
        self.gateway: GatewayClient | None = None
        self._gateway_task: asyncio.Task[None] | None = None

    @property
    def api(self) -> DiscordAPI:
        """The REST client (available while the host runs)."""
        if self._api is None:
            raise RuntimeError(f"channel {self.name!r} is not running")
        return self._api

    # hooks ------------------------------------------------------------------
    @hostline.hookimpl
    def hostline_routes(self, host: hostline.Host) -> list[HTTPRoute]:
        """``POST /<name>/interactions``."""
        return [HTTPRoute("/interactions", self.interactions, methods=["POST"])]

    @hostline.hookimpl
    def hostline_lifespan(self, host: hostline.Host) -> Any:
        """REST client, the bot user, then command registration."""
        return self._lifespan()

    @hostline.hookimpl
    def hostline_task_handlers(self, host: hostline.Host) -> dict[str, Any]:
        """Runner handlers: interactions and durable replies."""
        return {self.kind_interaction: self.handle_interaction, self.kind_reply: self.handle_reply,
                self.kind_message: self.handle_message}

    @hostline.hookimpl
    async def hostline_push(self, destination: Destination, message: Message,
                            host: hostline.Host, key: str) -> DeliveryReceipt | None:
        """Send ``message`` to a channel id, or to ``user:<id>`` through a DM."""
        if destination.channel != self.name:
            return None
        address = destination.address
        if address.startswith("user:"):
            where = Where(None, address[5:], ephemeral=True)
        else:
            where = Where(address)
        items = [{"op": "channel", "content": c} for c in result_chunks(RunResult((message,)))]
        ids = await self._deliver(where, items, key=f"{self.name}:push:{key}", in_task=True)
        return DeliveryReceipt(destination, tuple(ids))

    # lifespan ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        cfg = self.config
        outbox = self.host.config.host.outbox
        self._api = DiscordAPI(
            cfg.bot_token.reveal(), api_base=cfg.api_base,
            max_connections=cfg.max_connections or 2 * outbox.concurrency + 4,
            connect_timeout=cfg.connect_timeout, read_timeout=cfg.read_timeout,
            pool_timeout=cfg.pool_timeout, global_rate_limit=cfg.global_rate_limit,
            max_wait=cfg.max_rate_limit_wait)
        try:
            try:
                me = await self.api.request(Route("GET", "/users/@me"))
            except DiscordError as exc:
                raise RuntimeError(f"GET /users/@me failed: {exc} (check bot_token and "
                                   "api_base)") from None
            self.bot_user = me if isinstance(me, dict) else {}
            if self.host.role != "runner" and cfg.register_commands:
                await self._register()
            if self.host.role != "runner" and cfg.gateway:
                self._gateway_task = asyncio.create_task(
                    self._hold_gateway(), name=f"hostline-discord-gateway-{self.name}")
            log.info("discord channel %r: bot %s", self.name, self.bot_user.get("username"))
            yield
        finally:
            if self._gateway_task is not None:
                self._gateway_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._gateway_task
                self._gateway_task = None
            await self.api.aclose()
            self._api = None

    async def _register(self) -> None:
        commands = (await self.host.commands()).values()
        payloads = command_payloads(self.config.command, commands,
                                    guild=self.config.guild is not None)
        try:
            await register_commands(self.api, self.config.app_id, self.config.guild, payloads)
        except DiscordError as exc:
            log.warning("discord channel %r: registering commands failed: %s", self.name, exc)

    # gateway ----------------------------------------------------------------
    async def _hold_gateway(self) -> None:
        """Wait to be the one process of this state dir holding the connection, then hold it."""
        cfg = self.config
        lock = self.host.config.state_dir / f"discord-gateway-{self.name}.lock"
        async with hold_lock(lock, retry=cfg.gateway_lock_retry):
            self.gateway = GatewayClient(
                cfg.bot_token.reveal(), gateway_url=self._gateway_url,
                intents=DEFAULT_INTENTS | (MESSAGE_CONTENT if cfg.message_content_intent else 0),
                on_dispatch=self._on_dispatch)
            try:
                await self.gateway.run()
            except GatewayFatal as exc:
                log.error("discord channel %r: %s (check bot_token and intents)", self.name,
                          exc)

    async def _gateway_url(self) -> str:
        answer = await self.api.request(Route("GET", "/gateway/bot"))
        url = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str):
            raise ValueError("no url in GET /gateway/bot")
        return url

    async def _on_dispatch(self, event: str, data: dict[str, Any]) -> None:
        if event != "MESSAGE_CREATE":
            return
        message = parse_message(data, self.bot_user.get("id"))
        if message is None:
            return
        await self.host.runner.enqueue(
            self.kind_message, {"message": attrs.asdict(message)},
            partition=f"{self.name}:{self._message_scope(message)}",
            key=f"{self.name}:message:{message.id}", remember=self.config.dedupe_ttl)

    def _message_scope(self, message: GatewayMessage) -> str:
        mode = self.config.session_scope
        chat = f"chat:{message.channel_id}" if message.guild_id else f"chat:dm:{message.user_id}"
        if mode == "per_user":
            return f"user:{message.user_id}"
        return chat if mode == "per_chat" else f"{chat}:user:{message.user_id}"

    async def handle_message(self, task: Task) -> None:
        """Runner handler: a DM or a mention received over the Gateway."""
        try:
            message = GatewayMessage(**task.payload["message"])
        except (KeyError, TypeError):
            log.warning("discord channel %r: dropping a malformed message task %s", self.name,
                        task.id)
            return
        author = message.author
        claims = {k: v for k, v in (("username", author.get("username")),
                                    ("guild_id", message.guild_id)) if v}
        identity = Identity(self.name, message.user_id,
                            author.get("global_name") or author.get("username"), claims)
        scope = self._message_scope(message)
        where = Where(message.channel_id, message.user_id)
        key = f"{self.name}:message:{message.id}"
        reply = await self.host.dispatch_command(message.text, channel=self.name, scope=scope,
                                                 identity=identity)
        if reply is not None:
            await self._deliver(where, as_bot_messages(plain_items(reply)), key=key,
                                in_task=False)
            return
        destination = Destination(self.name, message.channel_id if message.guild_id else
                                  f"user:{message.user_id}", identity.key,
                                  message.guild_id is not None,
                                  {"guild_id": message.guild_id} if message.guild_id else {})
        try:
            turn = await self.host.begin_turn(channel=self.name, scope=scope,
                                              input=[Message.user(message.text)],
                                              identity=identity, destination=destination)
        except hostline.Reject as exc:
            await self._deliver(where, as_bot_messages(plain_items(exc.reply or "Not allowed.")),
                                key=key, in_task=False)
            return
        try:
            await turn.run()
        except Exception:
            log.exception("discord channel %r: target failed on message %s", self.name,
                          message.id)
            items = plain_items(self.config.error_reply or "…")
        else:
            chunks = result_chunks(turn.reply) if turn.reply is not None else []
            items = self._answer(chunks, turn.run_id) if chunks else []
        await self._deliver(where, as_bot_messages(items), key=key, in_task=False)

    # inbound ----------------------------------------------------------------
    async def interactions(self, request: Request) -> Response:
        """Verify, persist, defer. Nothing else on this path."""
        body = await request.body()
        reason = self.verifier.verify(request.headers.get("x-signature-ed25519", ""),
                                      request.headers.get("x-signature-timestamp", ""), body)
        if reason is not None:
            return hostline.error_response(401, reason, code="unauthorized")
        try:
            payload = hostline.decode_json(body)
        except hostline.InvalidJSON as exc:
            return hostline.error_response(400, f"body: {exc.message}", code=exc.code)
        if isinstance(payload, dict) and payload.get("type") == PING:
            return _json(200, {"type": PONG})
        interaction = parse(payload)
        if interaction is None:
            return hostline.error_response(400, "not a Discord interaction",
                                           code="invalid_interaction")
        if interaction.application_id != self.config.app_id:
            return hostline.error_response(400, "interaction for another application",
                                           code="invalid_interaction")
        if interaction.type == AUTOCOMPLETE:
            return _json(200, {"type": AUTOCOMPLETE_RESULT, "data": {"choices": []}})
        ours = interaction.type == APPLICATION_COMMAND or (
            interaction.type == MESSAGE_COMPONENT and interaction.custom_id is not None
            and (interaction.custom_id == NEW_BUTTON
                 or interaction.custom_id.startswith(FEEDBACK_PREFIX)))
        if not ours or interaction.user_id is None:
            return _json(200, {"type": DEFERRED_UPDATE_MESSAGE})
        if self.host.overloaded:
            return _json(200, {"type": CHANNEL_MESSAGE, "data": {
                "content": "Busy right now, please try again in a moment.", "flags": EPHEMERAL}})
        try:
            await self.host.runner.enqueue(
                self.kind_interaction, {"interaction": attrs.asdict(interaction)},
                partition=f"{self.name}:{self.scope(interaction)}",
                key=f"{self.name}:{interaction.id}", remember=self.config.dedupe_ttl)
        except Exception:
            log.exception("discord channel %r: could not persist interaction %s", self.name,
                          interaction.id)
            return hostline.error_response(503, "could not persist the interaction",
                                           code="unavailable", headers={"Retry-After": "1"})
        data = {"flags": EPHEMERAL} if self._ephemeral(interaction) else {}
        return _json(200, {"type": DEFERRED_CHANNEL_MESSAGE, "data": data})

    def _ephemeral(self, interaction: Interaction) -> bool:
        if interaction.type == MESSAGE_COMPONENT:
            return True
        return self.config.ephemeral_commands and interaction.command != self.config.command

    def scope(self, interaction: Interaction) -> str:
        """The conversation scope of an interaction under ``session_scope``."""
        mode = self.config.session_scope
        user = interaction.user_id
        chat = f"chat:{interaction.channel_id or 'dm:' + str(user)}"
        if mode == "per_user":
            return f"user:{user}"
        if mode == "per_chat":
            return chat
        return f"{chat}:user:{user}"

    def _where(self, interaction: Interaction) -> Where:
        return Where(interaction.channel_id, interaction.user_id, interaction.token,
                     interaction.created_at, self._ephemeral(interaction))

    def _destination(self, interaction: Interaction, identity: Identity) -> Destination:
        if interaction.is_dm or interaction.channel_id is None:
            return Destination(self.name, f"user:{interaction.user_id}", identity.key, False)
        return Destination(self.name, interaction.channel_id, identity.key, True,
                           {"guild_id": interaction.guild_id})

    async def handle_interaction(self, task: Task) -> None:
        """Runner handler: one command or button press, in order per conversation."""
        try:
            interaction = Interaction(**task.payload["interaction"])
        except (KeyError, TypeError):
            log.warning("discord channel %r: dropping a malformed interaction task %s",
                        self.name, task.id)
            return
        identity = identity_of(self.name, interaction)
        if identity is None:
            return
        where = self._where(interaction)
        key = f"{self.name}:{interaction.id}"
        if interaction.type == MESSAGE_COMPONENT:
            reply = await self._on_component(interaction, identity)
        elif interaction.command == self.config.command:
            await self._on_ask(interaction, identity, where, key)
            return
        else:
            name = interaction.command or ""
            arg = ARG_OPTIONS.get(name, ("args", ""))
            args = interaction.options.get(arg[0], "") if arg else ""
            reply = await self.host.dispatch_command(
                f"/{name} {args}".strip(), channel=self.name, scope=self.scope(interaction),
                identity=identity) or f"Unknown command /{name}."
        await self._deliver(where, plain_items(reply), key=key, in_task=False)

    async def _on_component(self, interaction: Interaction, identity: Identity) -> str:
        custom = interaction.custom_id or ""
        if custom == NEW_BUTTON:
            reply = await self.host.dispatch_command(
                "/new", channel=self.name, scope=self.scope(interaction), identity=identity)
            return reply or "Started a new conversation."
        return await self._feedback(interaction, identity, custom[len(FEEDBACK_PREFIX):])

    async def _feedback(self, interaction: Interaction, identity: Identity, value: str) -> str:
        rating, _, run_id = value.partition(":")
        if rating not in ("up", "down"):
            return "Unknown button."
        await self.host.feedback(hostline.Feedback(
            self.name, "positive" if rating == "up" else "negative",
            answer=interaction.message_content or "", message_id=interaction.message_id or "",
            identity=identity, scope=self.scope(interaction), run_id=run_id or None,
            extra={k: v for k, v in (("channel_id", interaction.channel_id),
                                     ("guild_id", interaction.guild_id)) if v}))
        return "Thanks for the feedback."

    async def _on_ask(self, interaction: Interaction, identity: Identity, where: Where,
                      key: str) -> None:
        text = interaction.options.get("text", "").strip()
        if not text:
            await self._deliver(where, plain_items(f"Usage: /{self.config.command} text"),
                                key=key, in_task=False)
            return
        try:
            turn = await self.host.begin_turn(
                channel=self.name, scope=self.scope(interaction),
                input=[Message.user(text)], identity=identity,
                destination=self._destination(interaction, identity))
        except hostline.Reject as exc:
            await self._deliver(where, plain_items(exc.reply or "Not allowed."), key=key,
                                in_task=False)
            return
        last_edit = -math.inf
        if self.config.stream and self.host.target.can_stream:
            failed, last_edit = await self._stream(turn, where)
        else:
            try:
                await turn.run()
                failed = False
            except Exception:
                log.exception("discord channel %r: target failed on interaction %s",
                              self.name, interaction.id)
                failed = True
        if failed:
            items = plain_items(self.config.error_reply or "…")
        else:
            chunks = result_chunks(turn.reply) if turn.reply is not None else []
            items = self._answer(chunks or ["…"], turn.run_id)
        gap = last_edit + self.config.stream_edit_interval - time.monotonic()
        if gap > 0:
            await asyncio.sleep(gap)  # the final edit keeps the edit rate too
        await self._deliver(where, items, key=key, in_task=False)

    async def _stream(self, turn: hostline.Turn, where: Where) -> tuple[bool, float]:
        """Edit the deferred answer as text arrives, at most once per interval."""
        interval = self.config.stream_edit_interval
        text, shown, last_edit = "", "", -math.inf
        try:
            async for update in turn.stream():
                text += update.delta
                if not text.strip() or time.monotonic() - last_edit < interval:
                    continue
                preview = render_chunks(text)[0] if text.strip() else ""
                if not preview:
                    continue
                if preview == shown:
                    continue
                last_edit = time.monotonic()
                try:
                    await send_item(self.api, self.config.app_id, where,
                                    {"op": "original", "content": preview},
                                    margin=self.config.token_margin, dm=self._dm)
                    shown = preview
                except DiscordError as exc:
                    log.debug("discord channel %r: streaming edit failed: %s", self.name, exc)
        except Exception:
            log.exception("discord channel %r: target failed while streaming", self.name)
            return True, last_edit
        return False, last_edit

    # outbound ---------------------------------------------------------------
    def _answer(self, chunks: list[str], run_id: str) -> list[dict[str, Any]]:
        return answer_items(chunks, run_id, new_button=self.config.new_conversation_button,
                            feedback=self.config.feedback_buttons)

    async def _dm(self, user_id: str) -> str:
        store = self.host.store
        key = f"{self.name}:{user_id}"
        cached = await store.kv_get(DM_NS, key)
        if isinstance(cached, str):
            return cached
        channel = await dm_channel(self.api, user_id)
        await store.kv_put(DM_NS, key, channel)
        return channel

    async def _deliver(self, where: Where, items: list[dict[str, Any]], *, key: str,
                       in_task: bool) -> list[str]:
        """Send ``items`` in order; returns the message ids.

        A transient failure hands the rest to a durable reply task (inside a
        task, before anything was sent, it re-raises so the runner retries).
        """
        ids: list[str] = []
        for i, item in enumerate(items):
            try:
                mid = await send_item(self.api, self.config.app_id, where, item,
                                      margin=self.config.token_margin, dm=self._dm)
            except DiscordRetryableError as exc:
                if in_task and i == 0:
                    raise
                await self.host.runner.enqueue(
                    self.kind_reply, {"where": where.to_json(), "items": items[i:]},
                    partition=f"{self.name}:reply:{where.channel_id or where.user_id}",
                    key=f"{key}/{i}", delay=exc.retry_after or 0.0)
                return ids
            except DiscordError as exc:
                if exc.destination_gone or (isinstance(exc, DiscordPermanentError) and i == 0):
                    if in_task:
                        raise
                    log.info("discord channel %r: cannot answer in %s: %s", self.name,
                             where.channel_id, exc)
                    return ids
                log.warning("discord channel %r: dropped part %d of an answer: %s",
                            self.name, i, exc)
                continue
            if mid is not None:
                ids.append(mid)
        return ids

    async def handle_reply(self, task: Task) -> None:
        """Runner handler: the rest of an answer whose first try failed."""
        where = Where.from_json(task.payload["where"])
        await self._deliver(where, list(task.payload["items"]), key=task.key or str(task.id),
                            in_task=True)
