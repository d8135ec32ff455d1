"""The ``[channels.<instance>]`` schema of a Telegram channel."""

from __future__ import annotations

import re
from typing import Literal

import attrs

import hostline

__all__ = ["TelegramConfig"]

_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages",
    "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
    "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
    "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
    "removed_chat_boost",
})


@attrs.frozen
class TelegramConfig:
    """Keys of a Telegram channel table (see the README for each one)."""

    #: The bot token from @BotFather (a secret: never logged).
    token: hostline.Secret = hostline.secret()  # noqa: RUF009 - an attrs field
    #: ``webhook`` (Telegram POSTs to ``/<instance>/webhook``) or ``polling``.
    mode: Literal["webhook", "polling"] = "webhook"
    #: Sent by Telegram in ``X-Telegram-Bot-Api-Secret-Token``; required in webhook mode.
    secret_token: hostline.Secret | None = hostline.secret(default=None)  # noqa: RUF009
    #: Bot API server (a local ``telegram-bot-api`` server or a test fake).
    api_base: str = "https://api.telegram.org"
    #: In groups: answer only when mentioned, replied to or commanded, or answer everything.
    group_mode: Literal["mention_only", "all"] = "mention_only"
    #: Which conversation a message belongs to.
    session_scope: Literal["per_user", "per_chat", "per_user_per_chat"] = "per_user_per_chat"
    #: How the agent's text is formatted: Markdown (converted to HTML), Telegram HTML, plain.
    parse_mode: Literal["markdown", "html", "plain"] = "markdown"
    #: Stream replies by editing one message as the target produces text.
    stream: bool = True
    #: Minimum seconds between two edits of a streamed reply (Telegram allows about 1/s).
    stream_edit_interval: float = 1.0
    #: Seconds after the first streamed text before the first message goes out (sooner
    #: once there is enough text); a stream that ends by then is one sendMessage.
    stream_first_delay: float = 1.0
    #: Sends and edits per second to one private chat (0: no limit), and the burst allowed.
    chat_rate: float = 1.0
    chat_burst: int = 3
    #: Sends and edits per minute to one group (0: no limit).
    group_rate_per_minute: float = 20.0
    #: Sends and edits per second across all chats (Telegram: about 30; 0: no limit), and
    #: the burst allowed.
    bot_rate: float = 30.0
    bot_burst: int = 30
    #: Update types Telegram should send (setWebhook / getUpdates).
    allowed_updates: list[str] = attrs.field(factory=lambda: ["message", "my_chat_member"])
    #: Drop updates queued at Telegram while the bot was down (setWebhook / deleteWebhook).
    drop_pending_updates: bool = False
    #: Register the webhook at start-up when ``[host] public_url`` is set.
    set_webhook: bool = True
    #: Publish the command list with setMyCommands at start-up.
    set_commands: bool = True
    #: Seconds a run may take before "typing..." is shown (a fast reply needs no indicator).
    typing_delay: float = 0.5
    #: Long-poll timeout of getUpdates, seconds.
    polling_timeout: int = 30
    #: Bot API calls in flight at once (the pool size); default outbound_calls (+ 1 to poll).
    max_connections: int | None = None
    #: HTTP(S) proxy for Bot API calls (``http://user:pass@host:port``); a secret.
    proxy: hostline.Secret | None = hostline.secret(default=None)  # noqa: RUF009
    #: Without ``proxy``, use the proxy ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``
    #: name for the Bot API (``NO_PROXY`` respected), as httpx's ``trust_env``.
    trust_env: bool = True
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: Seconds to wait for a free pooled connection before a retryable failure.
    pool_timeout: float = 5.0
    #: Largest file :meth:`TelegramChannel.download` fetches (the Bot API serves up to 20 MB).
    max_download_bytes: int = 20 * 1024 * 1024
    #: How long update ids are remembered for de-duplication, seconds.
    dedupe_ttl: float = 2 * 24 * 3600.0
    #: ``Retry-After`` seconds of a 429 answered to Telegram when the host is overloaded.
    overload_retry_after: int = 5
    #: Sent when the target fails (empty: send nothing).
    error_reply: str = "Sorry, something went wrong. Please try again."

    def __attrs_post_init__(self) -> None:
        if not self.token.reveal().strip():
            raise ValueError("key 'token': the bot token is empty")
        if self.mode == "webhook":
            if self.secret_token is None or not self.secret_token.reveal():
                raise ValueError("key 'secret_token': required in webhook mode (Telegram sends "
                                 "it in X-Telegram-Bot-Api-Secret-Token; 1-256 characters "
                                 "A-Z, a-z, 0-9, _ and -)")
        if self.secret_token is not None and not _SECRET_TOKEN.fullmatch(
                self.secret_token.reveal()):
            raise ValueError("key 'secret_token': only 1-256 characters A-Z, a-z, 0-9, _ and - "
                             "are allowed")
        if not re.match(r"https?://", self.api_base):
            raise ValueError("key 'api_base': expected an http(s) URL")
        unknown = [u for u in self.allowed_updates if u not in _UPDATE_TYPES]
        if unknown:
            raise ValueError(f"key 'allowed_updates': unknown update type {unknown[0]!r}")
        for key in ("stream_edit_interval", "connect_timeout", "read_timeout", "pool_timeout"):
            if getattr(self, key) <= 0:
                raise ValueError(f"key '{key}': must be positive")
        for key in ("typing_delay", "stream_first_delay", "chat_rate", "group_rate_per_minute",
                    "bot_rate"):
            if getattr(self, key) < 0:
                raise ValueError(f"key '{key}': must not be negative")
        for key in ("chat_burst", "bot_burst"):
            if getattr(self, key) < 1:
                raise ValueError(f"key '{key}': must be at least 1")
        if not 0 <= self.polling_timeout <= 50:
            raise ValueError("key 'polling_timeout': must be between 0 and 50 seconds")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("key 'max_connections': must be at least 1")
