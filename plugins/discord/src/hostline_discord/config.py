"""The ``[channels.<instance>]`` schema of a Discord channel."""

from __future__ import annotations

import re
from typing import Literal

import attrs

import hostline

__all__ = ["DiscordConfig"]

_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
#: Discord's rule for chat-input command names (lowercase letters, digits, - and _).
COMMAND_NAME = re.compile(r"[-_a-z0-9]{1,32}")


def _snowflake(value: str | int | None, key: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not _SNOWFLAKE.fullmatch(text):
        raise ValueError(f"key '{key}': expected a Discord id (a snowflake of digits)")
    return text


@attrs.frozen
class DiscordConfig:
    """Keys of a Discord channel table (see the README for each one)."""

    #: The application id (Developer Portal, General Information).
    application_id: str | int
    #: The application's Ed25519 public key, hex (verifies interaction signatures).
    public_key: str
    #: The bot token (a secret: never logged).
    bot_token: hostline.Secret = hostline.secret()  # noqa: RUF009 - an attrs field
    #: REST API base; tests point it at :class:`hostline_discord.testing.FakeDiscordAPI`.
    api_base: str = "https://discord.com/api/v10"
    #: Register commands in this guild only (instant) instead of globally.
    guild_id: str | int | None = None
    #: Name of the slash command that asks the agent; its option is ``text``.
    command: str = "ask"
    #: Overwrite the application's commands at start-up when they differ.
    register_commands: bool = True
    #: Edit the deferred answer as the target streams text.
    stream: bool = True
    #: Minimum seconds between two edits of a streamed answer.
    stream_edit_interval: float = 1.0
    #: Which conversation an interaction belongs to ("chat" = Discord channel or DM).
    session_scope: Literal["per_user", "per_chat", "per_user_per_chat"] = "per_user_per_chat"
    #: Put a "New conversation" button under each answer.
    new_conversation_button: bool = True
    #: Put thumbs up / down buttons under each answer (they feed ``hostline_feedback``).
    feedback_buttons: bool = False
    #: Answers to commands other than the ask command are visible only to the person.
    ephemeral_commands: bool = True
    #: Interaction timestamps older (or newer) than this many seconds are refused.
    max_timestamp_skew: float = 300.0
    #: Seconds of an interaction token's 15-minute life kept in reserve: a
    #: follow-up later than that goes to the channel as a bot message instead.
    token_margin: float = 60.0
    #: Longest wait (seconds) for a rate limit inside one send; longer waits
    #: hand the rest of the reply to a durable task that runs when it is over.
    max_rate_limit_wait: float = 5.0
    #: Requests per second across the bot (Discord's global limit is 50).
    global_rate_limit: float = 50.0
    #: Connection pool size; default sized to the runner's concurrency.
    max_connections: int | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: Seconds to wait for a free pooled connection before a retryable failure.
    pool_timeout: float = 5.0
    #: How long interaction ids are remembered for de-duplication, seconds.
    dedupe_ttl: float = 24 * 3600.0
    #: ``Retry-After`` of the 503 answered to Discord when the host is overloaded.
    overload_retry_after: int = 5
    #: Also receive DMs and mentions over the Gateway (needs ``hostline-discord[gateway]``).
    gateway: bool = False
    #: Ask for the privileged MESSAGE_CONTENT intent (guild messages without a mention).
    message_content_intent: bool = False
    #: Seconds between tries of a process waiting to hold the Gateway connection.
    gateway_lock_retry: float = 5.0
    #: Sent when the target fails (empty: send nothing).
    error_reply: str = "Sorry, something went wrong. Please try again."

    def __attrs_post_init__(self) -> None:
        _snowflake(self.application_id, "application_id")
        if not _HEX_KEY.fullmatch(self.public_key):
            raise ValueError("key 'public_key': expected the application's public key "
                             "(64 hex digits)")
        if not self.bot_token.reveal().strip():
            raise ValueError("key 'bot_token': the bot token is empty")
        _snowflake(self.guild_id, "guild_id")
        if not COMMAND_NAME.fullmatch(self.command):
            raise ValueError("key 'command': 1-32 lowercase letters, digits, - or _")
        if not re.match(r"https?://", self.api_base):
            raise ValueError("key 'api_base': expected an http(s) URL")
        for key in ("stream_edit_interval", "connect_timeout", "read_timeout", "pool_timeout",
                    "global_rate_limit", "max_timestamp_skew", "gateway_lock_retry"):
            if getattr(self, key) <= 0:
                raise ValueError(f"key '{key}': must be positive")
        if self.gateway:
            try:
                import websockets  # noqa: F401
            except ImportError:
                raise ValueError("key 'gateway': needs the websockets package "
                                 "(pip install 'hostline-discord[gateway]')") from None
        if not 0 <= self.token_margin < 900:
            raise ValueError("key 'token_margin': must be between 0 and 900 seconds")
        if self.max_rate_limit_wait < 0:
            raise ValueError("key 'max_rate_limit_wait': must not be negative")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("key 'max_connections': must be at least 1")

    @property
    def app_id(self) -> str:
        """``application_id`` as a string."""
        return str(self.application_id)

    @property
    def guild(self) -> str | None:
        """``guild_id`` as a string, if set."""
        return None if self.guild_id is None else str(self.guild_id)
