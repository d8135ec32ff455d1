"""The ``[channels.<instance>]`` schema of a Slack channel."""

from __future__ import annotations

import re
from typing import Literal

import attrs

import hostline

__all__ = ["SlackConfig"]

_SCOPE = re.compile(r"[a-z0-9_.:-]+")


@attrs.frozen
class SlackConfig:
    """Keys of a Slack channel table (see the README for each one)."""

    #: The app's signing secret (Basic Information page); verifies every request.
    signing_secret: hostline.Secret = hostline.secret()  # noqa: RUF009 - an attrs field
    #: One workspace: the bot token (``xoxb-...``). Leave unset for OAuth installs.
    bot_token: hostline.Secret | None = hostline.secret(default=None)  # noqa: RUF009
    #: Many workspaces: the app's OAuth client id and secret, and the bot scopes to ask for.
    client_id: str | None = None
    client_secret: hostline.Secret | None = hostline.secret(default=None)  # noqa: RUF009
    scopes: list[str] = attrs.field(factory=lambda: [
        "app_mentions:read", "assistant:write", "channels:history", "chat:write", "commands",
        "files:read", "files:write", "groups:history", "im:history", "im:write", "users:read"])
    #: Where the OAuth flow sends the browser (the fake's URL in tests).
    authorize_url: str = "https://slack.com/oauth/v2/authorize"
    #: Seconds an OAuth ``state`` stays valid.
    state_ttl: float = 600.0
    #: Web API base URL (tests point it at :class:`hostline_slack.testing.FakeSlackAPI`).
    api_base: str = "https://slack.com/api"
    #: Answer in the message's thread (a thread is a conversation); false: in the channel.
    reply_in_thread: bool = True
    #: In channels: answer only when mentioned, or every message the app can see.
    group_mode: Literal["mention_only", "all"] = "mention_only"
    #: Stream answers (native chat.startStream/appendStream/stopStream, else post-and-update).
    stream: bool = True
    #: Use Slack's native streaming methods when the workspace has them.
    native_streaming: bool = True
    #: Seconds after which the first streamed text is shown even if it is short.
    stream_first_delay: float = 0.6
    #: Characters that open a stream before ``stream_first_delay`` has passed.
    stream_min_chars: int = 80
    #: Minimum seconds between two appends (or updates) of a streamed answer.
    stream_interval: float = 1.0
    #: Assistant threads: prompts suggested when a thread starts (each at most 75 characters
    #: shown as the title).
    suggested_prompts: list[str] = attrs.field(factory=list)
    #: Title above the suggested prompts.
    prompts_title: str = "Try asking:"
    #: Status shown in an assistant thread while the target runs.
    thinking_status: str = "is thinking\u2026"
    #: Set an assistant thread's title from its first message.
    set_thread_title: bool = True
    #: Thumbs-up / thumbs-down buttons under answers; clicks reach ``hostline_feedback``.
    feedback_buttons: bool = False
    #: Look people up with users.info for their display name (needs ``users:read``).
    lookup_users: bool = True
    #: Add the person's ``email`` to identity claims (needs ``users:read.email``).
    email_claim: bool = False
    #: Seconds a looked-up profile is reused.
    user_cache_ttl: float = 6 * 3600.0
    #: How long event ids are remembered for de-duplication, seconds.
    dedupe_ttl: float = 2 * 24 * 3600.0
    #: Requests older (or newer) than this many seconds are refused as replays.
    replay_window: float = 300.0
    #: Largest file :meth:`SlackChannel.download` fetches.
    max_download_bytes: int = 50 * 1024 * 1024
    #: Longest text of one posted message, characters (Slack shows up to 4,000 unsplit).
    max_message_chars: int = 3000
    #: Connection pool size; default sized to the runner's concurrency.
    max_connections: int | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: Seconds to wait for a free pooled connection before a retryable failure.
    pool_timeout: float = 5.0
    #: Calls that must wait longer than this for a rate limit become durable retries.
    max_inline_wait: float = 2.0
    #: ``Retry-After`` answered to Slack when the host is overloaded (Slack retries later).
    overload_retry_after: int = 5
    #: Sent when the target fails (empty: send nothing).
    error_reply: str = "Sorry, something went wrong. Please try again."

    @property
    def oauth(self) -> bool:
        """Whether this instance installs into workspaces with OAuth."""
        return self.client_id is not None

    def __attrs_post_init__(self) -> None:
        if not self.signing_secret.reveal().strip():
            raise ValueError("key 'signing_secret': the signing secret is empty")
        has_token = self.bot_token is not None and bool(self.bot_token.reveal().strip())
        if has_token == self.oauth:
            raise ValueError("key 'bot_token': set either bot_token (one workspace) or "
                             "client_id and client_secret (OAuth install), not both or neither")
        if self.oauth and (self.client_secret is None or not self.client_secret.reveal()):
            raise ValueError("key 'client_secret': required with client_id")
        if self.oauth and not self.scopes:
            raise ValueError("key 'scopes': OAuth needs at least one bot scope")
        for scope in self.scopes:
            if not _SCOPE.fullmatch(scope):
                raise ValueError(f"key 'scopes': {scope!r} is not a Slack scope")
        for key in ("api_base", "authorize_url"):
            if not re.match(r"https?://", getattr(self, key)):
                raise ValueError(f"key '{key}': expected an http(s) URL")
        for key in ("stream_interval", "connect_timeout", "read_timeout", "pool_timeout",
                    "replay_window", "state_ttl"):
            if getattr(self, key) <= 0:
                raise ValueError(f"key '{key}': must be positive")
        for key in ("stream_first_delay", "max_inline_wait"):
            if getattr(self, key) < 0:
                raise ValueError(f"key '{key}': must not be negative")
        if not 500 <= self.max_message_chars <= 3000:
            raise ValueError("key 'max_message_chars': between 500 and 3000 (a section's limit)")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("key 'max_connections': must be at least 1")
        if len(self.suggested_prompts) > 4:
            raise ValueError("key 'suggested_prompts': Slack shows at most 4 prompts")
        if any(not p.strip() for p in self.suggested_prompts):
            raise ValueError("key 'suggested_prompts': empty prompt")
