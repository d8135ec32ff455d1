"""The Telegram channel: webhook and polling in, Bot API out.

Inbound updates take the host's durable path: the webhook verifies the
secret, commits the update as a runner task (partition = chat, key = update
id) and acks; the polling loop does the same. Tasks run in the runner's
bounded worker pool, one at a time per chat, fair across chats. A reply that
fails transiently is handed to a durable reply task, so the update is done
and the chat's next message is handled normally. Nothing is kept per chat
beyond the work in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import hostline
from hostline import (
    DeliveryReceipt,
    Destination,
    FilePart,
    FileTooLarge,
    Identity,
    ImagePart,
    Message,
    PermanentDeliveryError,
    RetryableDeliveryError,
    RunResult,
    Task,
    TextPart,
    decode_data_url,
)

from .api import BotAPI, TelegramError, TelegramPermanentError, TelegramRetryableError
from .config import TelegramConfig
from .format import render
from .ratelimit import SendPacer
from .streaming import LiveReply

log = logging.getLogger("hostline.telegram")

__all__ = ["TelegramChannel"]

OFFSET_NS = "telegram-offset"
UNREACHABLE_NS = "telegram-unreachable"
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_MEDIA = ("document", "audio", "video", "voice", "animation", "video_note")
_TYPING_EVERY = 4.5  # a chat action shows for 5 s
#: Methods that post or change a message: paced by :class:`SendPacer`.
_PACED = frozenset({"sendMessage", "editMessageText", "sendPhoto", "sendDocument"})


@attrs.frozen
class Where:
    """Where a reply goes: a chat, a forum topic, the message it answers."""

    chat_id: int | str
    thread_id: int | None = None
    reply_to: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (for reply tasks)."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Where:
        """Inverse of :meth:`to_json`."""
        return cls(data["chat_id"], data.get("thread_id"), data.get("reply_to"))


def _chat_id(address: str) -> int | str:
    try:
        return int(address)
    except ValueError:
        return address  # "@channelusername"


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}`` (updates are untrusted input)."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _utf16_slice(text: str, offset: int, length: int) -> str:
    raw = text.encode("utf-16-le")
    return raw[2 * offset:2 * (offset + length)].decode("utf-16-le", "replace")


def _display_name(user: dict[str, Any]) -> str | None:
    name = " ".join(user[k] for k in ("first_name", "last_name") if isinstance(user.get(k), str)
                    and user[k])
    username = user.get("username")
    return name or (username if isinstance(username, str) and username else None)


def _chat_of(update: dict[str, Any]) -> Any:
    """The chat id an update belongs to (for ordering), or ``None``."""
    for key in ("message", "edited_message", "channel_post", "edited_channel_post",
                "business_message", "my_chat_member", "chat_member", "chat_join_request",
                "message_reaction"):
        value = update.get(key)
        if isinstance(value, dict) and isinstance(value.get("chat"), dict):
            return value["chat"].get("id")
    cq = update.get("callback_query")
    if isinstance(cq, dict):
        msg = cq.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("chat"), dict):
            return msg["chat"].get("id")
        if isinstance(cq.get("from"), dict):
            return cq["from"].get("id")
    return None


class TelegramChannel(hostline.Channel):
    """A Telegram bot: ``[channels.<name>]`` with ``plugin = "telegram"``.

    Hooks: routes (``POST /<name>/webhook``), a lifespan (HTTP client,
    ``getMe``, webhook registration or the polling loop, ``setMyCommands``),
    runner task handlers (updates, replies) and ``hostline_push``. Targets
    can fetch an incoming file with ``await host.channels[name].download(file_id)``.
    """

    Config = TelegramConfig
    needs_secrets = True

    def __init__(self, name: str, config: TelegramConfig, host: hostline.Host) -> None:
        super().__init__(name, config, host)
        self.config: TelegramConfig = config
        self._api: BotAPI | None = None
        self.bot_id: int | None = None
        self.username: str | None = None
        self.kind_update = f"{name}:update"
        self.kind_reply = f"{name}:reply"
        self._poller: asyncio.Task[None] | None = None
        # chat -> monotonic time until which Telegram asked us to wait (429).
        # Entries expire; nothing else is kept per chat.
        self._flood: dict[str, float] = {}
        # [host.outbox] outbound_calls: calls beyond it wait here as coroutines for as
        # long as it takes; only a pool set smaller (max_connections) makes them time out.
        self._outbound = asyncio.Semaphore(host.config.host.outbox.outbound_calls)
        self._pacer = SendPacer(chat_rate=config.chat_rate, chat_burst=config.chat_burst,
                                group_rate=config.group_rate_per_minute / 60,
                                bot_rate=config.bot_rate, bot_burst=config.bot_burst)

    @property
    def api(self) -> BotAPI:
        """The Bot API client (available while the host runs)."""
        if self._api is None:
            raise RuntimeError(f"channel {self.name!r} is not running")
        return self._api

    # hooks ------------------------------------------------------------------
    @hostline.hookimpl
    def hostline_routes(self, host: hostline.Host) -> list[Route]:
        """``POST /<name>/webhook`` in webhook mode."""
        if self.config.mode != "webhook":
            return []
        return [Route("/webhook", self.webhook, methods=["POST"])]

    @hostline.hookimpl
    def hostline_lifespan(self, host: hostline.Host) -> Any:
        """Client pool, getMe, setMyCommands, then setWebhook or the polling loop."""
        return self._lifespan()

    @hostline.hookimpl
    def hostline_task_handlers(self, host: hostline.Host) -> dict[str, Any]:
        """Runner handlers: inbound updates and durable replies."""
        return {self.kind_update: self.handle_update, self.kind_reply: self.handle_reply}

    @hostline.hookimpl
    async def hostline_push(self, destination: Destination, message: Message,
                            host: hostline.Host, key: str) -> DeliveryReceipt | None:
        """Send ``message`` to the chat ``destination.address`` (from the outbox)."""
        if destination.channel != self.name:
            return None
        await self._check_reachable(destination)
        topic = destination.reference.get("message_thread_id")
        where = Where(_chat_id(destination.address), topic if isinstance(topic, int) else None)
        ids = await self._deliver(where, self._items(RunResult((message,))),
                                  key=f"{self.name}:push:{key}", in_task=True)
        return DeliveryReceipt(destination, tuple(str(i) for i in ids))

    # lifespan ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        cfg = self.config
        outbox = self.host.config.host.outbox
        self._api = BotAPI(
            cfg.token.reveal(), api_base=cfg.api_base,
            # At most [host.outbox] outbound_calls calls at once (plus the long poll):
            # the pool is the limit, turns waiting for it hold nothing else.
            max_connections=cfg.max_connections or outbox.outbound_calls + (
                cfg.mode == "polling"),
            connect_timeout=cfg.connect_timeout, read_timeout=cfg.read_timeout,
            pool_timeout=cfg.pool_timeout, proxy=cfg.proxy.reveal() if cfg.proxy else None,
            trust_env=cfg.trust_env)
        try:
            try:
                me = await self.api.call("getMe")
            except TelegramError as exc:
                raise RuntimeError(f"getMe failed: {exc} (check token and api_base)") from None
            self.bot_id = me.get("id")
            self.username = me.get("username")
            # A runner process only sends: registering and receiving updates
            # is the serving process's job.
            if self.host.role != "runner":
                await self._start_inbound()
            log.info("telegram channel %r: @%s, %s mode", self.name, self.username, cfg.mode)
            yield
        finally:
            if self._poller is not None:
                self._poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._poller
                self._poller = None
            self._pacer.close()
            await self.api.aclose()
            self._api = None

    async def _start_inbound(self) -> None:
        """Commands, then the webhook or the polling loop."""
        cfg = self.config
        if cfg.set_commands:
            await self._set_commands()
        if cfg.mode == "webhook":
            await self._set_webhook()
            return
        try:
            await self.api.call("deleteWebhook",
                                {"drop_pending_updates": cfg.drop_pending_updates})
        except TelegramError as exc:
            raise RuntimeError(f"deleteWebhook failed: {exc}") from None
        # One getUpdates loop for the bot among every process sharing the
        # store (Telegram allows one): the others wait to take over.
        self._poller = asyncio.create_task(
            self.host.singleton(f"telegram:{self.bot_id}:getUpdates", self._poll_loop),
            name=f"hostline-telegram-poll-{self.name}")

    async def _set_commands(self) -> None:
        commands = await self.host.commands()
        payload = [{"command": c.name, "description": (c.description or c.name)[:256]}
                   for c in sorted(commands.values(), key=lambda c: c.name)
                   if _COMMAND.fullmatch(c.name)]
        try:
            await self.api.call("setMyCommands", {"commands": payload[:100]})
        except TelegramError as exc:
            log.warning("telegram channel %r: setMyCommands failed: %s", self.name, exc)

    async def _set_webhook(self) -> None:
        public = self.host.config.host.public_url
        if not public or not self.config.set_webhook:
            log.info("telegram channel %r: not registering the webhook (no [host] public_url)",
                     self.name)
            return
        secret = self.config.secret_token
        params = {
            "url": f"{public.rstrip('/')}/{self.name}/webhook",
            "secret_token": secret.reveal() if secret else None,
            "allowed_updates": list(self.config.allowed_updates),
            "drop_pending_updates": self.config.drop_pending_updates,
        }
        try:
            await self.api.call("setWebhook", params)
        except TelegramError as exc:
            raise RuntimeError(f"setWebhook failed: {exc}") from None

    # inbound ----------------------------------------------------------------
    async def webhook(self, request: Request) -> Response:
        """Verify the secret, persist the update, ack. Nothing else on this path."""
        secret = self.config.secret_token
        got = request.headers.get("x-telegram-bot-api-secret-token", "")
        if secret is None or not hmac.compare_digest(got.encode(), secret.reveal().encode()):
            return hostline.error_response(401, "invalid or missing secret token",
                                           code="unauthorized")
        if self.host.overloaded:
            retry = str(self.config.overload_retry_after)
            return hostline.error_response(429, "overloaded, retry later", code="overloaded",
                                           headers={"Retry-After": retry})
        try:
            update = await hostline.read_json(request)
        except hostline.BadRequest as exc:
            if exc.status == 413:
                return hostline.error_response(exc.status, exc.message, code=exc.code)
            return await self._poison(f"{exc.code}: {exc.message}", raw=await request.body())
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return await self._poison("not a Telegram Update with an integer update_id",
                                      update=update)
        try:
            await self.enqueue_update(update)
        except Exception:
            log.exception("telegram channel %r: could not persist update %s", self.name,
                          update_id)
            return hostline.error_response(503, "could not persist the update",
                                           code="unavailable", headers={"Retry-After": "1"})
        return Response(_ACK, media_type="application/json")

    async def _poison(self, reason: str, *, update: Any = None,
                      raw: bytes | None = None) -> Response:
        """Ack an authenticated update that can never be processed (Telegram
        would resend it until it gives up) and keep it as a dead letter; the
        chat, when the update names one, gets the error reply."""
        await self.host.dead_letter(self.name, self.kind_update, reason, update=update, raw=raw)
        chat = _chat_of(update) if isinstance(update, dict) else None
        if isinstance(chat, int) and not isinstance(chat, bool):
            try:
                await self.host.delivery.enqueue(Destination(self.name, str(chat)),
                                                 Message.assistant(self.config.error_reply))
            except Exception as exc:  # noqa: BLE001 - the ack must not depend on it
                log.warning("telegram channel %r: could not queue the error reply (%s)",
                            self.name, type(exc).__name__)
        return Response(_ACK, media_type="application/json")

    async def enqueue_update(self, update: dict[str, Any]) -> int | None:
        """Commit one update to the durable queue (idempotent on its update id)."""
        chat = _chat_of(update)
        partition = f"{self.name}:{chat}" if chat is not None else ""
        return await self.host.runner.enqueue(
            self.kind_update, {"update": update}, partition=partition,
            key=f"{self.name}:{update['update_id']}", remember=self.config.dedupe_ttl)

    async def _poll_loop(self) -> None:
        cfg = self.config
        store = self.host.store
        key = f"{self.name}:{self.bot_id}"
        offset = await store.kv_get(OFFSET_NS, key)
        failures = 0
        while True:
            if self.host.overloaded:
                await asyncio.sleep(1.0)
                continue
            try:
                updates = await self.api.call(
                    "getUpdates", {"offset": offset, "timeout": cfg.polling_timeout,
                                   "allowed_updates": list(cfg.allowed_updates)},
                    timeout=cfg.polling_timeout + 10.0)
                batch = [u for u in updates or () if isinstance(u, dict)
                         and isinstance(u.get("update_id"), int)]
                for update in batch:
                    await self.enqueue_update(update)
                if batch:
                    offset = max(u["update_id"] for u in batch) + 1
                    await store.kv_put(OFFSET_NS, key, offset)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any failure
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                if isinstance(exc, TelegramError) and exc.retry_after:
                    delay = max(delay, exc.retry_after)
                message = str(exc) if isinstance(exc, TelegramError) else \
                    f"{type(exc).__name__}: {self.api.redact(str(exc))}"
                log.warning("telegram channel %r: getUpdates failed (%s); retrying in %.1fs",
                            self.name, message, delay)
                await asyncio.sleep(delay)

    async def handle_update(self, task: Task) -> None:
        """Runner handler: one update, in order within its chat."""
        update = task.payload.get("update")
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            log.warning("telegram channel %r: dropping a malformed update task %s", self.name,
                        task.id)
            return
        member = update.get("my_chat_member")
        if isinstance(member, dict):
            await self._on_member(member)
            return
        message = update.get("message")
        if isinstance(message, dict):
            await self._on_message(message, update["update_id"])

    async def _on_member(self, member: dict[str, Any]) -> None:
        chat = _int(_dict(member.get("chat")).get("id"))
        status = _dict(member.get("new_chat_member")).get("status")
        if chat is None:
            return
        if status in ("kicked", "left"):
            await self.host.store.kv_put(UNREACHABLE_NS, f"{self.name}:{chat}",
                                         {"reason": f"bot {status}", "at": time.time()})
        elif status in ("member", "administrator", "creator"):
            await self.host.store.kv_delete(UNREACHABLE_NS, f"{self.name}:{chat}")

    def scope(self, chat_id: Any, user_id: Any, thread_id: int | None) -> str:
        """The conversation scope of a message under ``session_scope``."""
        mode = self.config.session_scope
        chat = f"chat:{chat_id}" + (f":topic:{thread_id}" if thread_id else "")
        if mode == "per_user":
            return f"user:{user_id}"
        if mode == "per_chat":
            return chat
        return f"{chat}:user:{user_id}"

    def _mentions_me(self, text: str, entities: Sequence[Any]) -> bool:
        if not self.username:
            return False
        at = "@" + self.username.lower()
        for e in entities:
            if not isinstance(e, dict):
                continue
            offset, length = _int(e.get("offset")), _int(e.get("length"))
            if e.get("type") == "mention" and offset is not None and length is not None and \
                    _utf16_slice(text, offset, length).lower() == at:
                return True
            if e.get("type") == "text_mention" and _dict(e.get("user")).get("id") == self.bot_id:
                return True
        return re.search(re.escape(at) + r"(?![A-Za-z0-9_])", text, re.IGNORECASE) is not None

    def _replies_to_me(self, message: dict[str, Any]) -> bool:
        replied = message.get("reply_to_message")
        if not isinstance(replied, dict) or self.bot_id is None:
            return False
        # In a forum topic every message "replies" to the topic's first message.
        if message.get("is_topic_message") and \
                replied.get("message_id") == message.get("message_thread_id"):
            return False
        return _dict(replied.get("from")).get("id") == self.bot_id

    async def _on_message(self, msg: dict[str, Any], update_id: int) -> None:
        chat = _dict(msg.get("chat"))
        user = _dict(msg.get("from"))
        chat_id, ctype = _int(chat.get("id")), chat.get("type")
        if chat_id is None or ctype == "channel" or user.get("is_bot"):
            return
        is_group = ctype in ("group", "supergroup")
        topic = _int(msg.get("message_thread_id")) if msg.get("is_topic_message") else None
        where = Where(chat_id, topic, _int(msg.get("message_id")) if is_group else None)
        raw_text = msg.get("text") if msg.get("text") is not None else msg.get("caption")
        text = raw_text if isinstance(raw_text, str) else ""
        entities = msg.get("entities") or msg.get("caption_entities") or []
        if not isinstance(entities, list):
            entities = []
        user_id = _int(user.get("id"))
        scope = self.scope(chat_id, user_id if user_id is not None else chat_id, topic)
        identity = None
        if user_id is not None:
            claims = {k: user[k] for k in ("username", "language_code")
                      if isinstance(user.get(k), str) and user[k]}
            identity = Identity(self.name, str(user_id), _display_name(user), claims)
        addressed = False
        if text.startswith("/"):
            head = (text[1:].split(maxsplit=1) or [""])[0]
            target_bot = head.partition("@")[2]
            if target_bot and target_bot.lower() != (self.username or "").lower():
                return  # a command for another bot in this group
            reply = await self.host.dispatch_command(
                text, channel=self.name, scope=scope, identity=identity,
                bot_username=self.username)
            if reply is not None:
                await self._deliver(where, self._plain_items(reply),
                                    key=f"{self.name}:{update_id}", in_task=False)
                return
            addressed = bool(target_bot)
        if is_group and self.config.group_mode == "mention_only" and not (
                addressed or self._mentions_me(text, entities) or self._replies_to_me(msg)):
            return
        if is_group and self.username:
            text = re.sub(r"@" + re.escape(self.username) + r"(?![A-Za-z0-9_])", "", text,
                          flags=re.IGNORECASE).strip()
        parts = self._parts(text, msg)
        if not parts:
            return
        destination = Destination(
            self.name, str(chat_id), identity.key if identity else None, is_group,
            {"message_thread_id": where.thread_id} if where.thread_id else {})
        try:
            turn = await self.host.begin_turn(
                channel=self.name, scope=scope, input=[Message.user(parts)], identity=identity,
                destination=destination)
        except hostline.Reject as exc:
            if exc.reply:
                await self._deliver(where, self._plain_items(exc.reply),
                                    key=f"{self.name}:{update_id}", in_task=False)
            return
        key = f"{self.name}:{update_id}"
        typing = _Typing(self._typing, where, self.config.typing_delay)
        try:
            if self.config.stream and self.host.target.can_stream:
                await self._stream(turn, where, key, typing)
                return
            try:
                result = await turn.run()
            except Exception:
                log.exception("telegram channel %r: target failed on update %s", self.name,
                              update_id)
                items = self._plain_items(self.config.error_reply)
            else:
                items = self._items(result) if result is not None else []
        finally:
            await typing.stop()
        await self._deliver(where, items, key=key, in_task=False)

    def _parts(self, text: str, msg: dict[str, Any]) -> list[Any]:
        def s(value: Any) -> str | None:
            return value if isinstance(value, str) and value else None

        parts: list[Any] = [TextPart(text)] if text else []
        photo = msg.get("photo")
        if isinstance(photo, list):
            sizes = [p for p in photo if isinstance(p, dict) and s(p.get("file_id"))]
            if sizes:
                best = max(sizes, key=lambda p: (_int(p.get("file_size")) or 0,
                                                 (_int(p.get("width")) or 0)
                                                 * (_int(p.get("height")) or 0)))
                parts.append(ImagePart(file_id=best["file_id"], mime_type="image/jpeg"))
        for kind in _MEDIA:
            media = msg.get(kind)
            if isinstance(media, dict) and s(media.get("file_id")):
                parts.append(FilePart(file_id=media["file_id"], mime_type=s(media.get("mime_type")),
                                      name=s(media.get("file_name")),
                                      size=_int(media.get("file_size"))))
        return parts

    async def download(self, file_id: str, *, max_bytes: int | None = None) -> bytes:
        """Fetch an incoming file's bytes (``getFile`` then the file URL).

        Raises :class:`hostline_telegram.FileTooLarge` over ``max_bytes``
        (default ``max_download_bytes``) and :class:`TelegramError` otherwise.
        """
        limit = max_bytes or self.config.max_download_bytes
        info = await self.api.call("getFile", {"file_id": file_id})
        size = info.get("file_size") if isinstance(info, dict) else None
        if isinstance(size, int) and size > limit:
            raise FileTooLarge(size, limit)
        path = info.get("file_path") if isinstance(info, dict) else None
        if not path:
            raise TelegramPermanentError("getFile", 400, "no file_path in the answer")
        return await self.api.download(str(path), max_bytes=limit)

    # outbound ---------------------------------------------------------------
    def _plain_items(self, text: str) -> list[dict[str, Any]]:
        return [{"t": "text", "plain": c.plain, "html": None}
                for c in render(text, "plain") if c.plain.strip()]

    def _items(self, result: RunResult) -> list[dict[str, Any]]:
        """A result as JSON-able send operations: text chunks, then media."""
        items: list[dict[str, Any]] = []
        for message in result.messages:
            if message.text.strip():
                items.extend({"t": "text", "plain": c.plain, "html": c.html}
                             for c in render(message.text, self.config.parse_mode)
                             if c.plain.strip())
            for part in message.content:
                if isinstance(part, (ImagePart, FilePart)) and (part.file_id or part.url):
                    items.append({"t": "photo" if isinstance(part, ImagePart) else "document",
                                  "ref": part.file_id or part.url, "name": part.name,
                                  "mime": part.mime_type})
        return items

    def _flood_left(self, chat: str) -> float:
        until = self._flood.get(chat)
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            self._flood.pop(chat, None)
            return 0.0
        return left

    def _set_flood(self, chat: str, seconds: float) -> None:
        now = time.monotonic()
        if len(self._flood) > 64:
            for k in [k for k, v in self._flood.items() if v <= now]:
                del self._flood[k]
        self._flood[chat] = max(self._flood.get(chat, 0.0), now + seconds)

    async def _call(self, where: Where, method: str, params: dict[str, Any],
                    files: dict[str, tuple[str, bytes, str]] | None = None) -> Any:
        chat = str(where.chat_id)
        left = self._flood_left(chat)
        if left > 0:
            raise TelegramRetryableError(method, 429, f"waiting {left:.1f}s for flood control",
                                         retry_after=left)
        if method in _PACED:
            # Keep inside Telegram's limits instead of learning them from 429s.
            await self._pacer.wait(chat, group=not (isinstance(where.chat_id, int)
                                                    and where.chat_id > 0))
        try:
            async with self._outbound:
                return await self.api.call(method, params, files=files)
        except TelegramError as exc:
            if exc.error_code == 429:
                self._set_flood(chat, exc.retry_after or 1.0)
            raise

    async def _typing(self, where: Where) -> None:
        params: dict[str, Any] = {"chat_id": where.chat_id, "action": "typing",
                                  "message_thread_id": where.thread_id}
        while True:
            try:
                await self._call(where, "sendChatAction", params)
            except TelegramPermanentError:
                return
            except TelegramError:
                pass  # best effort: the reply matters, the indicator does not
            await asyncio.sleep(_TYPING_EVERY)

    async def _send_item(self, where: Where, item: dict[str, Any]) -> int | None:
        if item["t"] == "text":
            return await self._send_text(where, item)
        return await self._send_media(where, item)

    async def _send_text(self, where: Where, item: dict[str, Any]) -> int | None:
        html = item.get("html")
        text = html if html is not None else item["plain"]
        edit = item.get("edit")
        params: dict[str, Any] = {"chat_id": where.chat_id, "text": text}
        if html is not None:
            params["parse_mode"] = "HTML"
        if edit is not None:
            params["message_id"] = edit
            method = "editMessageText"
        else:
            method = "sendMessage"
            params["message_thread_id"] = where.thread_id
            if where.reply_to is not None:
                params["reply_parameters"] = {"message_id": where.reply_to,
                                              "allow_sending_without_reply": True}
        try:
            result = await self._call(where, method, params)
        except TelegramError as exc:
            if exc.cant_parse_entities and "parse_mode" in params:
                # Telegram refused the markup: the same text, plain.
                params.pop("parse_mode")
                params["text"] = item["plain"]
                try:
                    result = await self._call(where, method, params)
                except TelegramError as again:
                    if edit is not None and again.not_modified:
                        return int(edit)
                    raise
            elif edit is not None and exc.not_modified:
                return int(edit)
            elif edit is not None and exc.error_code == 400 and \
                    "message to edit not found" in exc.description.lower():
                return await self._send_text(where, {k: v for k, v in item.items()
                                                     if k != "edit"})
            else:
                raise
        if isinstance(result, dict) and isinstance(result.get("message_id"), int):
            return int(result["message_id"])
        return int(edit) if edit is not None else None

    async def _send_media(self, where: Where, item: dict[str, Any]) -> int | None:
        method, field = ("sendPhoto", "photo") if item["t"] == "photo" else \
            ("sendDocument", "document")
        ref = str(item["ref"])
        params: dict[str, Any] = {"chat_id": where.chat_id,
                                  "message_thread_id": where.thread_id}
        if where.reply_to is not None:
            params["reply_parameters"] = {"message_id": where.reply_to,
                                          "allow_sending_without_reply": True}
        files = None
        if ref.startswith("data:"):
            try:
                inline = decode_data_url(ref)
            except ValueError:
                raise TelegramPermanentError(method, 400, "invalid data URL") from None
            name = item.get("name") or ("image" if field == "photo" else "file")
            files = {field: (str(name), inline.data, inline.mime_type)}
        else:
            params[field] = ref
        result = await self._call(where, method, params, files=files)
        return int(result["message_id"]) if isinstance(result, dict) and \
            isinstance(result.get("message_id"), int) else None

    async def _deliver(self, where: Where, items: list[dict[str, Any]], *, key: str,
                       in_task: bool, last_edit: float = -math.inf) -> list[int]:
        """Send ``items`` in order; returns the message ids.

        A transient failure hands the rest to a durable reply task (or, when
        nothing was sent yet inside a task, re-raises so the runner retries
        the task). A chat that is gone is marked unreachable.
        """
        ids: list[int] = []
        i = 0
        interval = self.config.stream_edit_interval
        while i < len(items):
            item = items[i]
            if item.get("edit") is not None:
                gap = last_edit + interval - time.monotonic()
                if gap > 0:
                    await asyncio.sleep(gap)
            try:
                mid = await self._send_item(where, item)
            except TelegramError as exc:
                if exc.migrate_to_chat_id is not None and exc.migrate_to_chat_id != where.chat_id:
                    where = attrs.evolve(where, chat_id=exc.migrate_to_chat_id)
                    continue
                if isinstance(exc, RetryableDeliveryError):
                    if in_task and i == 0:
                        raise
                    await self._enqueue_reply(where, items[i:], f"{key}/{i}",
                                              exc.retry_after or 0.0)
                    return ids
                if exc.chat_gone:
                    await self._mark_unreachable(where, exc)
                    if in_task:
                        raise
                    log.info("telegram channel %r: chat %s unreachable: %s", self.name,
                             where.chat_id, exc)
                    return ids
                log.warning("telegram channel %r: dropped part %d of a reply to %s: %s",
                            self.name, i, where.chat_id, exc)
                i += 1
                continue
            if item.get("edit") is not None:
                last_edit = time.monotonic()
            if mid is not None:
                ids.append(mid)
            where = attrs.evolve(where, reply_to=None)  # only the first part quotes
            i += 1
        return ids

    async def _enqueue_reply(self, where: Where, items: list[dict[str, Any]], key: str,
                             delay: float) -> None:
        await self.host.runner.enqueue(
            self.kind_reply, {"where": where.to_json(), "items": items},
            partition=f"{self.name}:reply:{where.chat_id}", key=key, delay=delay)

    async def handle_reply(self, task: Task) -> None:
        """Runner handler: the rest of a reply whose first try failed."""
        where = Where.from_json(task.payload["where"])
        await self._deliver(where, list(task.payload["items"]), key=task.key or str(task.id),
                            in_task=True)

    async def _mark_unreachable(self, where: Where, exc: TelegramError) -> None:
        await self.host.store.kv_put(UNREACHABLE_NS, f"{self.name}:{where.chat_id}",
                                     {"reason": exc.description, "at": time.time()})

    async def _check_reachable(self, destination: Destination) -> None:
        store = self.host.store
        key = f"{self.name}:{destination.address}"
        mark = await store.kv_get(UNREACHABLE_NS, key)
        if not isinstance(mark, dict):
            return
        # The person wrote to us after the mark: they unblocked the bot.
        seen = await store.kv_get("dest", destination.identity) if destination.identity else None
        if isinstance(seen, dict) and float(seen.get("at", 0)) > float(mark.get("at", 0)) and \
                str((seen.get("destination") or {}).get("address")) == destination.address:
            await store.kv_delete(UNREACHABLE_NS, key)
            return
        raise PermanentDeliveryError(f"telegram chat {destination.address} is unreachable: "
                                     f"{mark.get('reason', 'unknown')}")

    # streaming --------------------------------------------------------------
    async def _stream(self, turn: hostline.Turn, where: Where, key: str,
                      typing: _Typing) -> None:
        """Show the reply as it grows (:class:`LiveReply`: coalesced, one edit per
        ``stream_edit_interval`` from a timer), then a final delivery makes it
        exact; the final edit waits only if the chat had an edit too recently."""
        cfg = self.config
        live = LiveReply(self._send_text, where, cfg.parse_mode,
                         first_delay=cfg.stream_first_delay, interval=cfg.stream_edit_interval,
                         on_visible=typing.stop, channel=self.name)
        failed = False
        try:
            async for update in turn.stream():
                if update.delta:
                    live.feed(update.delta)
        except Exception:
            log.exception("telegram channel %r: target failed while streaming", self.name)
            failed = True
        finally:
            await live.close()
        await typing.stop()
        where, ids, shown = live.where, live.ids, live.shown
        if failed:
            await self._deliver(where, self._plain_items(cfg.error_reply), key=key,
                                in_task=False)
            return
        reply = turn.reply
        items = self._items(reply) if reply is not None else []
        texts = [it for it in items if it["t"] == "text"]
        for i, mid in enumerate(ids):
            if i < len(texts):
                payload = texts[i]["html"] if texts[i]["html"] is not None else texts[i]["plain"]
                if shown[i] == payload:
                    texts[i]["skip"] = True
                else:
                    texts[i]["edit"] = mid
            else:
                with contextlib.suppress(TelegramError):
                    await self._call(where, "deleteMessage", {"chat_id": where.chat_id,
                                                              "message_id": mid})
        await self._deliver(where, [it for it in items if not it.get("skip")], key=key,
                            in_task=False, last_edit=live.last_edit)


_ACK = b'{"ok":true}'


class _Typing:
    """Starts the typing indicator only if the run takes longer than ``delay``
    (a timer, not a task: most replies are faster and cost nothing)."""

    def __init__(self, indicator: Callable[[Where], Awaitable[None]], where: Where,
                 delay: float) -> None:
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            delay, self._start, indicator, where)

    def _start(self, indicator: Callable[[Where], Awaitable[None]], where: Where) -> None:
        self._timer = None
        self._task = asyncio.ensure_future(indicator(where))

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
